//! FSP, the "future sentence prediction" auxiliary head (spec §15): from the
//! final hidden states at every `stride`-th position, predict the *bag* of
//! the next `horizon` target tokens.
//!
//!   P = arange(0, T − τ, r)                 (n = ⌈(T − τ)/r⌉ positions; none if T ≤ τ)
//!   u_{b,i} = W_f·H_{b,p_i}                 (W_f = `fsp_proj.weight` \[d × d\])
//!   ℓ_{b,i} = E·u_{b,i}                     (E = the LM head's matrix \[V × d\])
//!   Y_{b,i,v} = 1 iff v ∈ {y_{b,p_i}, …, y_{b,p_i+τ−1}}
//!   FSP = mean over B·n·V of (1−Y)·ℓ + (1 + (w−1)·Y)·(log1p(e^−|ℓ|) + max(−ℓ, 0))
//!
//! BCE-with-logits with pos_weight w, PyTorch's stable form. Backward with
//! σ = σ(ℓ), N = B·n·V and the objective's weight α:
//! g_ℓ = (α/N)·(σ·(1 + (w−1)·Y) − w·Y); ∂E += g_ℓᵀ·u; g_u = g_ℓ·E;
//! ∂W_f += g_uᵀ·H_P; ∂H_P += g_u·W_f (added, only at the n positions).
//! Only targets lie in the future: H_p depends on x_{≤p}, so the head is
//! causal exactly when the model's hidden states are.

use crate::kernels::{matmul, MatRef};
use std::ops::Range;

/// The preset's `fsp: Some((weight, horizon, stride, pos_weight))`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FspConfig {
    /// α: the objective is CE + α·FSP.
    pub weight: f32,
    /// τ: tokens in each future bag.
    pub horizon: usize,
    /// r: distance between the positions that predict a bag.
    pub stride: usize,
    /// w: BCE weight of the present tokens.
    pub pos_weight: f32,
}

impl Default for FspConfig {
    /// The reference's constants (`--fsp`): α 0.1, τ 64, r 16, w 50.
    fn default() -> Self {
        FspConfig { weight: 0.1, horizon: 64, stride: 16, pos_weight: 50.0 }
    }
}

impl FspConfig {
    /// The positions arange(0, T − τ, r) (end exclusive; empty if T ≤ τ).
    pub fn positions(&self, t: usize) -> impl Iterator<Item = usize> {
        (0..t.saturating_sub(self.horizon)).step_by(self.stride.max(1))
    }

    /// n = |P| for a window of `t`.
    pub fn n_positions(&self, t: usize) -> usize {
        t.saturating_sub(self.horizon).div_ceil(self.stride.max(1))
    }
}

/// Activations and scratch of one FSP pass, grown on demand (m = B·n rows).
#[derive(Default)]
pub struct FspScratch {
    /// H at the positions \[m × d\]
    pub hp: Vec<f32>,
    /// u = H_P·W_fᵀ \[m × d\]
    pub u: Vec<f32>,
    /// ℓ \[m × V\], replaced by g_ℓ in the backward
    pub logits: Vec<f32>,
    /// Y \[m × V\] (0 or 1)
    pub target: Vec<f32>,
    /// g_u, then ∂H_P \[m × d\]
    pub gu: Vec<f32>,
    pub gh: Vec<f32>,
}

impl FspScratch {
    fn ensure(&mut self, m: usize, d: usize, v: usize) {
        for (buf, len) in [(&mut self.hp, m * d), (&mut self.u, m * d), (&mut self.gu, m * d), (&mut self.gh, m * d)] {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        }
        for (buf, len) in [(&mut self.logits, m * v), (&mut self.target, m * v)] {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        }
    }
}

/// What a training step carries when the preset enables FSP: the setting,
/// where `fsp_proj.weight` lives in the flat parameter and gradient buffers
/// (after the model's own tensors), scratch, and the FSP value of the last
/// micro-batch (0 when T ≤ τ).
pub struct FspState {
    pub cfg: FspConfig,
    pub proj: Range<usize>,
    pub scratch: FspScratch,
    pub loss: f64,
}

impl FspState {
    pub fn new(cfg: FspConfig, proj: Range<usize>) -> Self {
        FspState { cfg, proj, scratch: FspScratch::default(), loss: 0.0 }
    }
}

crate::vectorized! {
    /// Forward: gathers H_P, computes u, ℓ and Y into `s`, returns the FSP loss
    /// (f64 sum in row order, before α). `hf` [b·t × d], `y` [b·t], `head` [V × d],
    /// `proj` [d × d]. Returns 0 and leaves `s` untouched when T ≤ τ.
    #[allow(clippy::too_many_arguments)]
    pub fn fsp_forward(
        s: &mut FspScratch,
        cfg: &FspConfig,
        hf: &[f32],
        y: &[u32],
        head: &[f32],
        proj: &[f32],
        b: usize,
        t: usize,
        d: usize,
        v: usize,
    ) -> f64 {
        let n = cfg.n_positions(t);
        let m = b * n;
        if m == 0 {
            return 0.0;
        }
        s.ensure(m, d, v);
        for bi in 0..b {
            for (i, p) in cfg.positions(t).enumerate() {
                let row = bi * n + i;
                let src = (bi * t + p) * d;
                s.hp[row * d..(row + 1) * d].copy_from_slice(&hf[src..src + d]);
                let tgt = &mut s.target[row * v..(row + 1) * v];
                tgt.fill(0.0);
                for &tok in &y[bi * t + p..bi * t + p + cfg.horizon] {
                    tgt[tok as usize] = 1.0;
                }
            }
        }
        let (hp, u, z) = (&s.hp[..m * d], &mut s.u[..m * d], &mut s.logits[..m * v]);
        matmul(u, d, false, MatRef::rows(hp, d), MatRef::t(proj, d), m, d, d);
        matmul(z, v, false, MatRef::rows(u, d), MatRef::t(head, d), m, v, d);
        let w = cfg.pos_weight;
        let mut sum = 0.0f64;
        for (&l, &yy) in z.iter().zip(&s.target[..m * v]) {
            sum += bce_term(l, yy, w) as f64;
        }
        sum / (m * v) as f64
    }
}

/// One element of BCE-with-logits with pos_weight `w`.
#[inline]
pub fn bce_term(l: f32, y: f32, w: f32) -> f32 {
    (1.0 - y) * l + (1.0 + (w - 1.0) * y) * ((-l.abs()).exp().ln_1p() + (-l).max(0.0))
}

/// Gradients of one FSP pass; all three are *added* into.
pub struct FspGrads<'a> {
    /// ∂L/∂hf [b·t × d]: the head's part is already there
    pub dhf: &'a mut [f32],
    /// ∂L/∂(head matrix) \[V × d\]
    pub dhead: &'a mut [f32],
    /// ∂L/∂W_f \[d × d\]
    pub dproj: &'a mut [f32],
}

crate::vectorized! {
    /// Forward and backward of α·FSP: returns FSP (before α) and adds the
    /// gradients of α·FSP into `g`. A no-op returning 0 when T ≤ τ.
    #[allow(clippy::too_many_arguments)]
    pub fn fsp_loss_and_grad(
        s: &mut FspScratch,
        g: FspGrads<'_>,
        cfg: &FspConfig,
        hf: &[f32],
        y: &[u32],
        head: &[f32],
        proj: &[f32],
        b: usize,
        t: usize,
        d: usize,
        v: usize,
    ) -> f64 {
        let n = cfg.n_positions(t);
        let m = b * n;
        if m == 0 {
            return 0.0;
        }
        let loss = fsp_forward(s, cfg, hf, y, head, proj, b, t, d, v);
        let (w, scale) = (cfg.pos_weight, cfg.weight / (m * v) as f32);
        // g_ℓ in place of ℓ
        for (zr, yr) in s.logits[..m * v].chunks_mut(v).zip(s.target[..m * v].chunks(v)) {
            for (l, &yy) in zr.iter_mut().zip(yr) {
                let sig = 1.0 / (1.0 + (-*l).exp());
                *l = scale * (sig * (1.0 + (w - 1.0) * yy) - w * yy);
            }
        }
        let (hp, u, gz) = (&s.hp[..m * d], &s.u[..m * d], &s.logits[..m * v]);
        let (gu, gh) = (&mut s.gu[..m * d], &mut s.gh[..m * d]);
        matmul(g.dhead, d, true, MatRef::t(gz, v), MatRef::rows(u, d), v, d, m);
        matmul(gu, d, false, MatRef::rows(gz, v), MatRef::rows(head, d), m, d, v);
        matmul(g.dproj, d, true, MatRef::t(gu, d), MatRef::rows(hp, d), d, d, m);
        matmul(gh, d, false, MatRef::rows(gu, d), MatRef::rows(proj, d), m, d, d);
        for bi in 0..b {
            for (i, p) in cfg.positions(t).enumerate() {
                let (row, dst) = (bi * n + i, (bi * t + p) * d);
                for (a, &x) in g.dhf[dst..dst + d].iter_mut().zip(&gh[row * d..(row + 1) * d]) {
                    *a += x;
                }
            }
        }
        loss
    }
}

/// The FSP hook of a training step, called right after the LM head's
/// backward wrote ∂L/∂hf into `dhf`: with FSP on (`fsp` is Some), runs
/// [`fsp_loss_and_grad`] on the same `hf` and head matrix `head` (whose
/// gradient is the `head_grad` range of `grads`; for a quantised head, its
/// effective matrix with the gradient passed straight through), reading
/// W_f from `params` and adding into its gradient, and records the FSP value.
#[allow(clippy::too_many_arguments)]
pub fn fsp_train(
    fsp: Option<&mut FspState>,
    dhf: &mut [f32],
    grads: &mut [f32],
    head_grad: &Range<usize>,
    head: &[f32],
    params: &[f32],
    hf: &[f32],
    y: &[u32],
    b: usize,
    t: usize,
    d: usize,
    v: usize,
) {
    let Some(f) = fsp else {
        return;
    };
    f.loss = 0.0;
    if f.cfg.n_positions(t) == 0 {
        return;
    }
    let [dhead, dproj] = crate::model::params::carve_mut(grads, &[head_grad.clone(), f.proj.clone()]);
    let proj = &params[f.proj.clone()];
    f.loss = fsp_loss_and_grad(&mut f.scratch, FspGrads { dhf, dhead, dproj }, &f.cfg, hf, y, head, proj, b, t, d, v);
}
