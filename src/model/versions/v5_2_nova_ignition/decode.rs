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
use crate::kernels::vec::{dot, matvec};
use crate::model::blocks::attention::{rope_rotate, rope_table, softmax_scaled};
use crate::model::blocks::geglu::gelu;
use crate::model::blocks::layernorm::layernorm_row;

/// Keys (RoPE applied) and values of every position fed so far, per head
/// [pos × head_dim] each: one head's scan reads contiguous memory (with
/// [pos × d] rows it read 256 bytes every 1 KB, and long contexts ran at the
/// speed of cache misses).
#[derive(Clone, Default)]
pub struct KvCache {
    pub k: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

/// Context length from which the heads of one layer run on the rayon pool.
const PAR_KEYS: usize = 256;

/// One head's attention for the newest query: scores over all cached keys
/// `k` [pos × hd], softmax, weighted sum of the values `v` [pos × hd].
fn attend_head(o: &mut [f32], scores: &mut [f32], q: &[f32], k: &[f32], v: &[f32], scale: f32) {
    let hd = q.len();
    for (s, kj) in scores.iter_mut().zip(k.chunks_exact(hd)) {
        *s = dot(q, kj);
    }
    softmax_scaled(scores, scale);
    o.fill(0.0);
    for (&p, vj) in scores.iter().zip(v.chunks_exact(hd)) {
        for (oi, &vi) in o.iter_mut().zip(vj) {
            *oi += p * vi;
        }
    }
}

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
            layers: vec![KvCache { k: vec![Vec::new(); c.n_heads], v: vec![Vec::new(); c.n_heads] }; c.n_layers],
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
        let (d, h, heads) = (c.d_model, c.d_ff, c.n_heads);
        let hd = d / heads;
        let par = self.parallel;
        let (emb, (gout, bout)) = self.model.outer_view(self.params);
        let t = token as usize;
        self.h.copy_from_slice(&emb[t * d..(t + 1) * d]);
        rope_table(&mut self.cos, &mut self.sin, self.pos, &self.model.inv_freq);
        let scale = 1.0 / (hd as f32).sqrt();
        let n_keys = self.pos + 1;
        self.scores.resize(heads * n_keys, 0.0);
        for li in 0..c.n_layers {
            let bv = self.model.block_view(self.params, li);
            let kv = &mut self.layers[li];
            // attention
            layernorm_row(&mut self.a, &self.h, bv.ln1.0, bv.ln1.1);
            matvec(&mut self.qkv, bv.qkv, &self.a, par);
            for hi in 0..heads {
                let r = hi * hd..(hi + 1) * hd;
                rope_rotate(&mut self.q[r.clone()], &self.qkv[r.clone()], &self.cos, &self.sin);
                let k = &mut kv.k[hi];
                k.resize(k.len() + hd, 0.0);
                let start = k.len() - hd;
                rope_rotate(&mut k[start..], &self.qkv[d + r.start..d + r.end], &self.cos, &self.sin);
                kv.v[hi].extend_from_slice(&self.qkv[2 * d + r.start..2 * d + r.end]);
            }
            // heads are independent: over the pool once the context is long
            let (q, kv) = (&self.q, &*kv);
            let head =
                |hi: usize, o: &mut [f32], sc: &mut [f32]| attend_head(o, sc, &q[hi * hd..(hi + 1) * hd], &kv.k[hi], &kv.v[hi], scale);
            if par && n_keys >= PAR_KEYS {
                use rayon::prelude::*;
                self.o.par_chunks_mut(hd).zip(self.scores.par_chunks_mut(n_keys)).enumerate().for_each(|(hi, (o, sc))| head(hi, o, sc));
            } else {
                for (hi, (o, sc)) in self.o.chunks_mut(hd).zip(self.scores.chunks_mut(n_keys)).enumerate() {
                    head(hi, o, sc);
                }
            }
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
