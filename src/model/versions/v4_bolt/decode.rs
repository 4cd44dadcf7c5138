//! v4 incremental decoder.

use super::model::Bolt;
use crate::kernels::ops::{sigmoid, silu};
use crate::kernels::vec::{matvec, matvec_mat, rmsnorm, OwnedMat};

/// Incremental decoder: weights quantised once at creation, a ring buffer of the
/// last k−1 conv inputs u per layer, O(1) work per token (exact for any length,
/// the conv stack has a finite receptive field).
pub struct Decoder<'a> {
    model: &'a Bolt,
    params: &'a [f32],
    /// per layer Q(W) of up, down, SwiGLU gate;up, SwiGLU down, packed as
    /// ternary bytes + row scales (a quarter of the bytes of f32 per token)
    q: Vec<[OwnedMat; 4]>,
    /// per layer: last k−1 conv inputs, [(k−1) × d] as a ring starting at `ring_pos`
    rings: Vec<Vec<f32>>,
    ring_pos: usize,
    pos: usize,
    parallel: bool,
    h: Vec<f32>,
    a: Vec<f32>,
    up: Vec<f32>,
    m: Vec<f32>,
    y: Vec<f32>,
    gu: Vec<f32>,
    act: Vec<f32>,
    logits: Vec<f32>,
}

impl<'a> Decoder<'a> {
    pub fn new(model: &'a Bolt, params: &'a [f32]) -> Self {
        let c = &model.cfg;
        let d = c.d_model;
        let mut tb = Vec::new();
        model.quantize_all(&mut tb, params);
        let q = tb
            .into_iter()
            .map(|b| [OwnedMat::new(b.up, d), OwnedMat::new(b.down, d), OwnedMat::new(b.gu, d), OwnedMat::new(b.w_down, c.d_ff)])
            .collect();
        Decoder {
            model,
            params,
            q,
            rings: vec![vec![0.0; (c.kernel_size - 1) * d]; c.n_layers],
            ring_pos: 0,
            pos: 0,
            parallel: false,
            h: vec![0.0; d],
            a: vec![0.0; d],
            up: vec![0.0; 2 * d],
            m: vec![0.0; d],
            y: vec![0.0; d],
            gu: vec![0.0; 2 * c.d_ff],
            act: vec![0.0; c.d_ff],
            logits: vec![0.0; c.vocab],
        }
    }

    #[inline(always)]
    pub fn step(&mut self, token: u32) {
        let m = self.model;
        let (d, h, k) = (m.cfg.d_model, m.cfg.d_ff, m.cfg.kernel_size);
        let (p, par) = (self.params, self.parallel);
        let emb = &p[m.embed.clone()];
        let tok = token as usize;
        self.h.copy_from_slice(&emb[tok * d..(tok + 1) * d]);
        for ((br, q), ring) in m.blocks.iter().zip(&self.q).zip(&mut self.rings) {
            // gated conv mixer; tap k−1 is the current token, tap j the token k−1−j back
            rmsnorm(&mut self.a, &self.h, &p[br.norm1.clone()]);
            matvec_mat(&mut self.up, q[0].mat(), &self.a, par);
            let (g, u) = self.up.split_at(d);
            let conv = &p[br.conv.clone()];
            for ch in 0..d {
                let mut acc = conv[ch * k + k - 1] * u[ch];
                for j in 0..k - 1 {
                    // slot of the token k−1−j steps back (the ring's oldest entry is at ring_pos)
                    let slot = (self.ring_pos + j) % (k - 1);
                    acc += conv[ch * k + j] * ring[slot * d + ch];
                }
                self.m[ch] = acc * sigmoid(g[ch]);
            }
            if k > 1 {
                ring[self.ring_pos * d..(self.ring_pos + 1) * d].copy_from_slice(u);
            }
            matvec_mat(&mut self.y, q[1].mat(), &self.m, par);
            self.h.iter_mut().zip(&self.y).for_each(|(h, y)| *h += y);
            // SwiGLU
            rmsnorm(&mut self.a, &self.h, &p[br.norm2.clone()]);
            matvec_mat(&mut self.gu, q[2].mat(), &self.a, par);
            for j in 0..h {
                self.act[j] = silu(self.gu[j]) * self.gu[h + j];
            }
            matvec_mat(&mut self.y, q[3].mat(), &self.act, par);
            self.h.iter_mut().zip(&self.y).for_each(|(h, y)| *h += y);
        }
        if k > 1 {
            self.ring_pos = (self.ring_pos + 1) % (k - 1);
        }
        rmsnorm(&mut self.a, &self.h, &p[m.final_norm.clone()]);
        matvec(&mut self.logits, emb, &self.a, par);
        self.pos += 1;
    }
}

crate::model::lm::impl_decode!(Decoder {});
