//! v7 incremental decoder: one decayed state S [d] per layer, O(1) work per
//! token (S_t = w⊙S_{t−1} + k_t⊙v_t), exactly the full forward by default.
//!
//! Optional adaptive depth (§8.6 with fix D18), off unless `adaptive` is set:
//! after a block that has an exit head, the exit logits ℓ^j of the *current*
//! token are computed and, if κ = 1 − H(softmax(ℓ^j/τ))/ln V exceeds the exit's
//! threshold, they are emitted instead of the main head's. The blocks after the
//! exit still run far enough to update their state S (every block but the last
//! in full, since each feeds the next one's k and v; the last one only its k, v
//! and S), so later tokens see exactly the states of a full forward. The saving
//! is therefore small (the last block's r, W_o and SwiGLU and the main head, minus
//! the exit head): skipping the deeper blocks outright would make every later
//! token's deep states — and so its logits — differ from training-time numerics.

use super::model::CortexV7;
use crate::kernels::ops::{sigmoid, silu};
use crate::kernels::vec::{matvec, matvec_mat, rmsnorm, OwnedMat};
use crate::model::blocks::exit_head::entropy_confidence;

/// Adaptive early exit settings: κ is computed at this temperature (the
/// sampling temperature in the reference).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveExit {
    pub temperature: f32,
}

/// Incremental decoder over a fixed parameter buffer.
pub struct Decoder<'a> {
    model: &'a CortexV7,
    params: &'a [f32],
    /// per layer the products' matrices (rkv, o, SwiGLU gate;up, SwiGLU down):
    /// Q(W) packed as ternary bytes + row scales, or W on the float path
    mats: Vec<[OwnedMat; 4]>,
    /// quantised block matrices (empty on the float path) and w = σ(δ) [L × d]
    q: Vec<f32>,
    w: Vec<f32>,
    /// decayed state S per layer \[d\]
    pub state: Vec<Vec<f32>>,
    pub pos: usize,
    /// split large products over the current rayon pool
    pub parallel: bool,
    /// None (default): exact, every token runs every block and the main head.
    pub adaptive: Option<AdaptiveExit>,
    /// Which exit (index into `cfg.exits`) produced the last logits; None = main head.
    pub exited: Option<usize>,
    h: Vec<f32>,
    a: Vec<f32>,
    rkv: Vec<f32>,
    y: Vec<f32>,
    n: Vec<f32>,
    gu: Vec<f32>,
    act: Vec<f32>,
    pub logits: Vec<f32>,
}

impl<'a> Decoder<'a> {
    pub fn new(model: &'a CortexV7, params: &'a [f32]) -> Self {
        let c = &model.cfg;
        let d = c.d_model;
        let (q, w) = model.decode_weights(params);
        let f = c.d_ff;
        let mats = (0..c.n_layers)
            .map(|li| {
                let (tw, fw) = model.block_weights(params, &q, &w, li);
                [
                    OwnedMat::new(tw.rkv.to_vec(), d),
                    OwnedMat::new(tw.o.to_vec(), d),
                    OwnedMat::new(fw.gu.to_vec(), d),
                    OwnedMat::new(fw.o.to_vec(), f),
                ]
            })
            .collect();
        Decoder {
            model,
            params,
            mats,
            q,
            w,
            state: vec![vec![0.0; d]; c.n_layers],
            pos: 0,
            parallel: false,
            adaptive: None,
            exited: None,
            h: vec![0.0; d],
            a: vec![0.0; d],
            rkv: vec![0.0; 3 * d],
            y: vec![0.0; d],
            n: vec![0.0; d],
            gu: vec![0.0; 2 * c.d_ff],
            act: vec![0.0; c.d_ff],
            logits: vec![0.0; c.vocab],
        }
    }

    /// Feeds one token; `self.logits` then holds the next-token logits.
    #[inline(always)]
    pub fn step(&mut self, token: u32) {
        let m = self.model;
        let c = &m.cfg;
        let (d, f, nl) = (c.d_model, c.d_ff, c.n_layers);
        let (p, par) = (self.params, self.parallel);
        let emb = &p[m.embed.clone()];
        let t = token as usize;
        rmsnorm(&mut self.h, &emb[t * d..(t + 1) * d], &p[m.ln_in.clone()]);
        self.exited = None;
        for li in 0..nl {
            let br = &m.blocks[li];
            let (tw, _) = m.block_weights(p, &self.q, &self.w, li);
            let mats = &self.mats[li];
            let s = &mut self.state[li];
            rmsnorm(&mut self.a, &self.h, &p[br.ln1.clone()]);
            if self.exited.is_some() && li + 1 == nl {
                // after an early exit the last block only needs its state
                matvec_mat(&mut self.rkv[d..], mats[0].rows(d..3 * d, d), &self.a, par);
                let (k, v) = self.rkv[d..].split_at(d);
                for ch in 0..d {
                    s[ch] = tw.w[ch] * s[ch] + k[ch] * v[ch];
                }
                break;
            }
            matvec_mat(&mut self.rkv, mats[0].mat(), &self.a, par);
            let (r, kv) = self.rkv.split_at(d);
            let (k, v) = kv.split_at(d);
            for ch in 0..d {
                s[ch] = tw.w[ch] * s[ch] + k[ch] * v[ch];
                self.y[ch] = sigmoid(r[ch]) * s[ch];
            }
            rmsnorm(&mut self.n, &self.y, tw.ln_x);
            matvec_mat(&mut self.y, mats[1].mat(), &self.n, par);
            add(&mut self.h, &self.y);
            rmsnorm(&mut self.a, &self.h, &p[br.ln2.clone()]);
            matvec_mat(&mut self.gu, mats[2].mat(), &self.a, par);
            for j in 0..f {
                self.act[j] = silu(self.gu[j]) * self.gu[f + j];
            }
            matvec_mat(&mut self.y, mats[3].mat(), &self.act, par);
            add(&mut self.h, &self.y);
            if let (None, Some(ad)) = (self.exited, self.adaptive) {
                for (j, &(after, _, threshold)) in c.exits.iter().enumerate() {
                    if after != li + 1 {
                        continue;
                    }
                    let ew = m.exit_weights(p, j);
                    rmsnorm(&mut self.a, &self.h, ew.ln);
                    matvec(&mut self.logits, ew.head, &self.a, par);
                    if entropy_confidence(&self.logits, ad.temperature) > threshold {
                        self.exited = Some(j);
                        break;
                    }
                }
            }
        }
        if self.exited.is_none() {
            rmsnorm(&mut self.a, &self.h, &p[m.ln_out.clone()]);
            matvec(&mut self.logits, emb, &self.a, par);
        }
        self.pos += 1;
    }
}

fn add(h: &mut [f32], y: &[f32]) {
    for (h, y) in h.iter_mut().zip(y) {
        *h += y;
    }
}

crate::model::lm::impl_decode!(Decoder {});
