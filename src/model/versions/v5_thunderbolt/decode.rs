//! v5 streaming decoder (D4 fixed, so the model is a causal recurrence): per layer
//! the scan state c and the previous LN₁ / LN₂ outputs (the token shifts' u_{t−1}),
//! O(1) work per token at any length. Same arithmetic per element as the full
//! forward (shared `shift_mix`, `recurrence_step`, `groupnorm_chunk`), so only
//! the matmul summation order differs.

use super::model::{BlockWeights, Thunderbolt};
use crate::kernels::ops::sigmoid;
use crate::kernels::vec::{matvec, matvec_mat, OwnedMat};
use crate::model::blocks::groupnorm::groupnorm_chunk;
use crate::model::blocks::layernorm::layernorm_row;
use crate::model::blocks::recurrence::recurrence_step;
use crate::model::blocks::token_shift::shift_mix;

/// Recurrent state of one layer after the tokens fed so far.
#[derive(Clone)]
struct LayerState {
    c: Vec<f32>,
    prev1: Vec<f32>,
    prev2: Vec<f32>,
}

pub struct Decoder<'a> {
    model: &'a Thunderbolt,
    params: &'a [f32],
    /// Q(W) of every block (W_f;W_v;W_o, proj, up, down), quantised once and
    /// packed as ternary bytes + row scales (full size: 26.5 M weights = 26.5 MB
    /// instead of 106 MB of f32 streamed per token)
    weights: Vec<[OwnedMat; 4]>,
    layers: Vec<LayerState>,
    pos: usize,
    parallel: bool,
    h: Vec<f32>,
    n: Vec<f32>,
    a: Vec<f32>,
    z: Vec<f32>,
    q: Vec<f32>,
    gn: Vec<f32>,
    gstat: (Vec<f32>, Vec<f32>),
    u: Vec<f32>,
    y: Vec<f32>,
    logits: Vec<f32>,
}

impl<'a> Decoder<'a> {
    pub fn new(model: &'a Thunderbolt, params: &'a [f32]) -> Self {
        let c = &model.cfg;
        let (d, h) = (c.d_model, c.d_ff);
        let weights = (0..c.n_layers)
            .map(|l| {
                let mut w = BlockWeights::default();
                model.block_weights(&mut w, params, l, false);
                [OwnedMat::new(w.fvo, d), OwnedMat::new(w.proj, d), OwnedMat::new(w.up, d), OwnedMat::new(w.down, h)]
            })
            .collect();
        Decoder {
            model,
            params,
            weights,
            layers: (0..c.n_layers).map(|_| LayerState { c: vec![0.0; d], prev1: vec![0.0; d], prev2: vec![0.0; d] }).collect(),
            pos: 0,
            parallel: false,
            h: vec![0.0; d],
            n: vec![0.0; d],
            a: vec![0.0; d],
            z: vec![0.0; 3 * d],
            q: vec![0.0; d],
            gn: vec![0.0; d],
            gstat: (vec![0.0; c.groups], vec![0.0; c.groups]),
            u: vec![0.0; h],
            y: vec![0.0; d],
            logits: vec![0.0; c.vocab],
        }
    }

    /// a = TS(LN(h)) for one token, updating the shift's previous row.
    fn norm_shift(n: &mut [f32], a: &mut [f32], prev: &mut [f32], h: &[f32], w: &[f32], b: &[f32], mix: &[f32]) {
        layernorm_row(n, h, w, b);
        for j in 0..h.len() {
            a[j] = shift_mix(sigmoid(mix[j]), n[j], prev[j]);
        }
        prev.copy_from_slice(n);
    }

    #[inline(always)]
    pub fn step(&mut self, token: u32) {
        let m = self.model;
        let c = &m.cfg;
        let (d, g) = (c.d_model, c.groups);
        let p = self.params;
        let par = self.parallel;
        let emb = &p[m.embed.clone()];
        let tok = token as usize;
        self.h.copy_from_slice(&emb[tok * d..(tok + 1) * d]);
        for (li, br) in m.blocks.iter().enumerate() {
            let (w, st) = (&self.weights[li], &mut self.layers[li]);
            // gated recurrence
            let (l1w, l1b) = (&p[br.ln1_w.clone()], &p[br.ln1_b.clone()]);
            Self::norm_shift(&mut self.n, &mut self.a, &mut st.prev1, &self.h, l1w, l1b, &p[br.mix1.clone()]);
            matvec_mat(&mut self.z, w[0].mat(), &self.a, par);
            let (f_bias, lb) = (&p[br.f_bias.clone()], m.gate_lower_bound(li));
            for j in 0..d {
                let (cj, qj) = recurrence_step(st.c[j], self.z[j], self.z[d + j], self.z[2 * d + j], f_bias[j], lb);
                st.c[j] = cj;
                self.q[j] = qj;
            }
            let (gw, gb) = (&p[br.gn_w.clone()], &p[br.gn_b.clone()]);
            groupnorm_chunk(&mut self.gn, &mut self.gstat.0, &mut self.gstat.1, &self.q, gw, gb, d, g);
            matvec_mat(&mut self.y, w[1].mat(), &self.gn, par);
            self.h.iter_mut().zip(&self.y).for_each(|(h, y)| *h += y);
            // ReLU² FFN
            let (l2w, l2b) = (&p[br.ln2_w.clone()], &p[br.ln2_b.clone()]);
            Self::norm_shift(&mut self.n, &mut self.a, &mut st.prev2, &self.h, l2w, l2b, &p[br.mix2.clone()]);
            matvec_mat(&mut self.u, w[2].mat(), &self.a, par);
            self.u.iter_mut().for_each(|u| {
                let r = u.max(0.0);
                *u = r * r;
            });
            matvec_mat(&mut self.y, w[3].mat(), &self.u, par);
            self.h.iter_mut().zip(&self.y).for_each(|(h, y)| *h += y);
        }
        layernorm_row(&mut self.n, &self.h, &p[m.ln_out_w.clone()], &p[m.ln_out_b.clone()]);
        matvec(&mut self.logits, emb, &self.n, par);
        self.pos += 1;
    }
}

crate::model::lm::impl_decode!(Decoder {});
