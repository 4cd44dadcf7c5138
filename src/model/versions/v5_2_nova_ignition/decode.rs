//! v5.2 incremental decoder: a KV cache per layer (keys stored already rotated),
//! O(t) work per token for the attention over the t cached positions.
//!
//! Positions keep counting from 0 for the whole stream, so feeding a sequence
//! token by token gives the full forward's logits over that sequence at any
//! length. The model was *trained* on 128-token windows (spec §6.1), so
//! positions ≥ 128 are RoPE angles it never saw; the reference generator instead
//! crops to the last 128 tokens and restarts positions at 0 (spec §6.6). A caller
//! that wants the reference behaviour can use `WindowDecoder` with window 128.

use super::model::Nova;
use crate::kernels::vec::matvec;
use crate::model::blocks::attention::rope_table;
use crate::model::blocks::geglu::gelu;
use crate::model::blocks::layernorm::layernorm_row;
use crate::model::blocks::transformer::KvCache;

pub struct Decoder<'a> {
    model: &'a Nova,
    params: &'a [f32],
    pub layers: Vec<KvCache>,
    pub pos: usize,
    pub parallel: bool,
    h: Vec<f32>,
    a: Vec<f32>,
    qkv: Vec<f32>,
    q: Vec<f32>,
    o: Vec<f32>,
    y: Vec<f32>,
    ab: Vec<f32>,
    act: Vec<f32>,
    scores: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
    pub logits: Vec<f32>,
}

impl<'a> Decoder<'a> {
    pub fn new(model: &'a Nova, params: &'a [f32]) -> Self {
        let c = &model.cfg;
        let (d, h) = (c.d_model, c.d_ff);
        let half = model.inv_freq.len();
        Decoder {
            model,
            params,
            layers: vec![KvCache::new(c.n_heads); c.n_layers],
            pos: 0,
            parallel: false,
            h: vec![0.0; d],
            a: vec![0.0; d],
            qkv: vec![0.0; 3 * d],
            q: vec![0.0; d],
            o: vec![0.0; d],
            y: vec![0.0; d],
            ab: vec![0.0; 2 * h],
            act: vec![0.0; h],
            scores: Vec::new(),
            cos: vec![0.0; half],
            sin: vec![0.0; half],
            logits: vec![0.0; c.vocab],
        }
    }

    /// Feeds one token at position `self.pos`; `self.logits` then holds the next-token logits.
    #[inline(always)]
    pub fn step(&mut self, token: u32) {
        let c = &self.model.cfg;
        let (d, h) = (c.d_model, c.d_ff);
        let par = self.parallel;
        let (emb, (gout, bout)) = self.model.outer_view(self.params);
        let t = token as usize;
        self.h.copy_from_slice(&emb[t * d..(t + 1) * d]);
        rope_table(&mut self.cos, &mut self.sin, self.pos, &self.model.inv_freq);
        for li in 0..c.n_layers {
            let bv = self.model.block_view(self.params, li);
            let kv = &mut self.layers[li];
            // attention
            layernorm_row(&mut self.a, &self.h, bv.ln1.0, bv.ln1.1);
            matvec(&mut self.qkv, bv.qkv, &self.a, par);
            kv.push(&mut self.q, &self.qkv, &self.cos, &self.sin, false);
            kv.attend(&mut self.o, &mut self.scores, &self.q, par);
            matvec(&mut self.y, bv.out, &self.o, par);
            for i in 0..d {
                self.h[i] += self.y[i];
            }
            // GEGLU
            layernorm_row(&mut self.a, &self.h, bv.ln2.0, bv.ln2.1);
            matvec(&mut self.ab, bv.up, &self.a, par);
            for j in 0..h {
                self.act[j] = gelu(self.ab[j]) * self.ab[h + j];
            }
            matvec(&mut self.y, bv.down, &self.act, par);
            for i in 0..d {
                self.h[i] += self.y[i];
            }
        }
        layernorm_row(&mut self.a, &self.h, gout, bout);
        matvec(&mut self.logits, emb, &self.a, par);
        self.pos += 1;
    }
}

crate::model::lm::impl_decode!(Decoder {});
