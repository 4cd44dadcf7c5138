//! v10 incremental decoder. Up to `window` (the training T) tokens: a KV
//! cache per layer and head (keys stored rotated), O(t) per token, equal to
//! the full forward over the same tokens.
//!
//! Past the window it does what the reference generator does (spec §14.6):
//! a full forward over the last `window` tokens, last row's logits. The
//! reference runs that crop at absolute positions; RoPE scores depend only on
//! position differences, so positions restarting at 0 give the same logits
//! up to the rounding of the angles. A KV cache that merely evicts its
//! oldest key would not be the same model: with more than one layer, the
//! cached keys of layers ≥ 1 still carry context from tokens that left the
//! window (measured: logits off by 4e-2 on the tiny model), so generation
//! past the window pays one window forward per token instead.

use super::model::GptFsp;
use crate::kernels::ops::silu;
use crate::model::lm::{LanguageModel, Workspace};
use crate::kernels::vec::{matvec, rmsnorm};
use crate::model::blocks::attention::rope_table;
use crate::model::blocks::transformer::KvCache;

pub struct Decoder<'a> {
    model: &'a GptFsp,
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
    gu: Vec<f32>,
    act: Vec<f32>,
    scores: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
    pub logits: Vec<f32>,
    /// the last `window` tokens, for the cropped forward past the window
    history: Vec<u32>,
    ws: Workspace,
}

impl<'a> Decoder<'a> {
    pub fn new(model: &'a GptFsp, params: &'a [f32]) -> Self {
        let c = &model.cfg;
        let (d, f) = (c.d_model, c.d_ff);
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
            gu: vec![0.0; 2 * f],
            act: vec![0.0; f],
            scores: Vec::new(),
            cos: vec![0.0; half],
            sin: vec![0.0; half],
            logits: vec![0.0; c.vocab],
            history: Vec::new(),
            ws: Workspace::new(),
        }
    }

    /// Feeds one token at position `self.pos`; `self.logits` then holds the next-token logits.
    #[inline(always)]
    pub fn step(&mut self, token: u32) {
        let w = self.model.window;
        self.history.push(token);
        if self.history.len() > w {
            self.history.drain(..self.history.len() - w);
        }
        if self.pos < w {
            self.cached_step(token);
        } else {
            if !self.layers[0].is_empty() {
                // the caches are of no further use
                self.layers.iter_mut().for_each(KvCache::release);
            }
            self.model.forward(&mut self.ws, self.params, &self.history, 1, w);
            let v = self.logits.len();
            self.logits.copy_from_slice(&self.ws.logits[(w - 1) * v..w * v]);
        }
        self.pos += 1;
    }

    /// One token through the KV caches at position `self.pos` (< window).
    fn cached_step(&mut self, token: u32) {
        let c = &self.model.cfg;
        let (d, f) = (c.d_model, c.d_ff);
        let par = self.parallel;
        let (emb, g_out) = self.model.outer_view(self.params);
        let t = token as usize;
        self.h.copy_from_slice(&emb[t * d..(t + 1) * d]);
        rope_table(&mut self.cos, &mut self.sin, self.pos, &self.model.inv_freq);
        for li in 0..c.n_layers {
            let bv = self.model.block_view(self.params, li);
            let kv = &mut self.layers[li];
            // attention
            rmsnorm(&mut self.a, &self.h, bv.ln1);
            matvec(&mut self.qkv, bv.qkv, &self.a, par);
            kv.push(&mut self.q, &self.qkv, &self.cos, &self.sin, true);
            kv.attend(&mut self.o, &mut self.scores, &self.q, par);
            matvec(&mut self.y, bv.out, &self.o, par);
            for i in 0..d {
                self.h[i] += self.y[i];
            }
            // SwiGLU
            rmsnorm(&mut self.a, &self.h, bv.ln2);
            matvec(&mut self.gu, bv.gate_up, &self.a, par);
            for j in 0..f {
                self.act[j] = silu(self.gu[j]) * self.gu[f + j];
            }
            matvec(&mut self.y, bv.down, &self.act, par);
            for i in 0..d {
                self.h[i] += self.y[i];
            }
        }
        rmsnorm(&mut self.a, &self.h, g_out);
        matvec(&mut self.logits, emb, &self.a, par);
    }
}

crate::model::lm::impl_decode!(Decoder {});
