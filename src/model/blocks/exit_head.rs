//! v7 exit heads (spec §8.2 item 4) and the per-position pieces of the v7
//! training objective, forward and backward side by side.
//!
//!   ê = RMS_j(h),  ℓ^j = U_j·ê  (U_j [V × d], float, untied)
//!   c^j = σ(w2·ReLU(W1·ê + b1) + b2)  (W1 [64 × d], w2 [1 × 64])
//!
//! Objective terms of one exit over N scored positions (agree_t = [argmax ℓ^j_t =
//! argmax z_t], no gradient; κ_t = 1 − H(softmax ℓ^j_t)/ln V):
//!   CE_exit = mean_t CE(ℓ^j_t, y_t)
//!   BCE     = mean_t −[agree_t·ln c_t + (1 − agree_t)·ln(1 − c_t)]
//!   D       = mean_t κ_t·(1 − agree_t)   (0 when every position agrees)
//!
//! BCE is evaluated from the gate logit s (c = σ(s)) as softplus(s) − agree·s,
//! which equals the formula above without PyTorch's log clamp at −100 (that
//! clamp only matters once σ saturates in f32, |s| ≳ 17).

use super::head::HEAD_BLOCK;
use super::rmsnorm::{rmsnorm_backward, rmsnorm_forward};
use crate::kernels::ops::{exp, exp_shift_sums, row_max, sigmoid, sum_rows};
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

/// Hidden width of the confidence gate (hard-coded 64 in the reference).
pub const GATE_HIDDEN: usize = 64;

pub struct ExitWeights<'a> {
    /// RMS_j gain \[d\]
    pub ln: &'a [f32],
    /// U_j [V × d]
    pub head: &'a [f32],
    /// W1 [64 × d], b1 \[64\]
    pub w1: &'a [f32],
    pub b1: &'a [f32],
    /// w2 [1 × 64], b2 \[1\]
    pub w2: &'a [f32],
    pub b2: &'a [f32],
}

pub struct ExitGrads<'a> {
    pub ln: &'a mut [f32],
    pub head: &'a mut [f32],
    pub w1: &'a mut [f32],
    pub b1: &'a mut [f32],
    pub w2: &'a mut [f32],
    pub b2: &'a mut [f32],
}

/// What one head pass records per position.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RowStats {
    /// −log softmax(z)\[y\]
    pub ce: f32,
    /// first index of the largest logit (PyTorch's argmax)
    pub argmax: u32,
    /// κ = 1 − H(softmax z)/ln V
    pub conf: f32,
}

crate::vectorized! {
    /// One logit row: CE against `y`, argmax and κ. With `grad`, `z` is replaced by
    /// ∂L/∂z for L = ce_scale·CE + div_scale·[argmax ≠ main]·κ (the diversity term
    /// only when `main` is given and disagrees):
    ///   ∂CE/∂z_i = p_i − [i = y],  ∂κ/∂z_i = p_i·(ln p_i + H)/ln V.
    pub fn row_objective(z: &mut [f32], y: u32, grad: bool, ce_scale: f32, main: Option<u32>, div_scale: f32) -> RowStats {
        let v = z.len();
        let max = row_max(z);
        // the first index of the largest value (PyTorch's argmax); NaN rows give 0
        let argmax = z.iter().position(|&x| x == max).unwrap_or(0);
        let zy = z[y as usize] - max;
        let diverse = grad && div_scale != 0.0 && main.is_some_and(|m| m as usize != argmax);
        // Σ e_i and Σ e_i·(z_i − max), e_i = exp(z_i − max); keep z − max if the
        // diversity gradient needs ln p, else keep e.
        let (sum, sez) = exp_shift_sums(z, max, diverse);
        let ln_sum = sum.ln();
        let ce = ln_sum - zy;
        let h = ln_sum - sez / sum; // H = −Σ p ln p
        let ln_v = (v as f32).ln();
        let conf = 1.0 - h / ln_v;
        if grad {
            let inv = 1.0 / sum;
            if diverse {
                let k = div_scale / ln_v;
                for x in z.iter_mut() {
                    let lnp = *x - ln_sum;
                    let p = exp(*x) * inv;
                    *x = ce_scale * p + k * p * (lnp + h);
                }
            } else {
                for x in z.iter_mut() {
                    *x *= ce_scale * inv;
                }
            }
            z[y as usize] -= ce_scale;
        }
        RowStats { ce, argmax: argmax as u32, conf }
    }
}

/// A head over `e` [rows × d] with matrix `u` [V × d], block by block of rows
/// (the [rows × V] logits are never materialised): logits = e·uᵀ, `f(row, z)`
/// records the row's stats (and with `grad` replaces z by ∂L/∂z), then
/// de = dz·u (overwritten) and du += dzᵀ·e. `buf` holds one block of logits.
#[allow(clippy::too_many_arguments)]
pub fn head_pass<F>(
    stats: &mut [RowStats],
    mut grad: Option<(&mut [f32], &mut [f32])>,
    buf: &mut [f32],
    e: &[f32],
    u: &[f32],
    d: usize,
    v: usize,
    f: F,
) where
    F: Fn(usize, &mut [f32]) -> RowStats + Sync,
{
    let rows = stats.len();
    for r0 in (0..rows).step_by(HEAD_BLOCK) {
        let n = HEAD_BLOCK.min(rows - r0);
        let (eb, z) = (&e[r0 * d..(r0 + n) * d], &mut buf[..n * v]);
        matmul(z, v, false, MatRef::rows(eb, d), MatRef::t(u, d), n, v, d);
        z.par_chunks_mut(v).zip(stats[r0..r0 + n].par_iter_mut()).enumerate().for_each(|(i, (zr, st))| *st = f(r0 + i, zr));
        if let Some((de, du)) = grad.as_mut() {
            matmul(&mut de[r0 * d..(r0 + n) * d], d, false, MatRef::rows(z, v), MatRef::rows(u, d), n, d, v);
            matmul(du, d, true, MatRef::t(z, v), MatRef::rows(eb, d), v, d, n);
        }
    }
}

crate::vectorized! {
    /// Gate logits s \[rows\] = w2·ReLU(W1·e + b1) + b2; `hid` [rows × 64] keeps the
    /// pre-activations W1·e + b1.
    pub fn gate_forward(s: &mut [f32], hid: &mut [f32], e: &[f32], w: &ExitWeights, d: usize) {
        let rows = s.len();
        matmul(hid, GATE_HIDDEN, false, MatRef::rows(e, d), MatRef::t(w.w1, d), rows, GATE_HIDDEN, d);
        s.par_iter_mut().zip(hid.par_chunks_mut(GATE_HIDDEN)).for_each(|(s, hr)| {
            let mut acc = w.b2[0];
            for j in 0..GATE_HIDDEN {
                hr[j] += w.b1[j];
                acc += hr[j].max(0.0) * w.w2[j];
            }
            *s = acc;
        });
    }
}

crate::vectorized! {
    /// Backward of the gate from ds = ∂L/∂s \[rows\]: weight gradients added, de += ∂L/∂e.
    /// `hid` (the pre-activations) is overwritten with their gradient.
    pub fn gate_backward(de: &mut [f32], g: &mut ExitGrads, ds: &[f32], hid: &mut [f32], e: &[f32], w: &ExitWeights, d: usize) {
        let rows = ds.len();
        sum_rows(rows, g.w2, |r, acc| {
            for j in 0..GATE_HIDDEN {
                acc[j] += ds[r] * hid[r * GATE_HIDDEN + j].max(0.0);
            }
        });
        sum_rows(rows, g.b2, |r, acc| acc[0] += ds[r]);
        hid.par_chunks_mut(GATE_HIDDEN).zip(ds.par_iter()).for_each(|(hr, &ds)| {
            for j in 0..GATE_HIDDEN {
                hr[j] = if hr[j] > 0.0 { ds * w.w2[j] } else { 0.0 };
            }
        });
        let dpre: &[f32] = hid;
        sum_rows(rows, g.b1, |r, acc| {
            for j in 0..GATE_HIDDEN {
                acc[j] += dpre[r * GATE_HIDDEN + j];
            }
        });
        matmul(g.w1, d, true, MatRef::t(dpre, GATE_HIDDEN), MatRef::rows(e, d), GATE_HIDDEN, d, rows);
        matmul(de, d, true, MatRef::rows(dpre, GATE_HIDDEN), MatRef::rows(w.w1, d), rows, d, GATE_HIDDEN);
    }
}

crate::vectorized! {
    /// Exit-head outputs for inspection and decoding: logits [rows × V] and the gate
    /// confidence c \[rows\]. Scratch: `e` [rows × d], `rstd` \[rows\], `hid` [rows × 64].
    #[allow(clippy::too_many_arguments)]
    pub fn exit_forward(
        logits: &mut [f32],
        conf: &mut [f32],
        e: &mut [f32],
        rstd: &mut [f32],
        hid: &mut [f32],
        h: &[f32],
        w: &ExitWeights,
        d: usize,
        v: usize,
    ) {
        let rows = conf.len();
        rmsnorm_forward(e, rstd, h, w.ln, d);
        matmul(logits, v, false, MatRef::rows(e, d), MatRef::t(w.head, d), rows, v, d);
        gate_forward(conf, hid, e, w, d);
        conf.iter_mut().for_each(|c| *c = sigmoid(*c));
    }
}

/// Coefficients of one exit's terms in the objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExitCoefs {
    pub ce: f32,
    pub consistency: f32,
    pub diversity: f32,
}

impl ExitCoefs {
    pub fn is_zero(&self) -> bool {
        self.ce == 0.0 && self.consistency == 0.0 && self.diversity == 0.0
    }
}

/// An exit's objective terms (unweighted means over the scored positions).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExitTerms {
    pub ce: f64,
    /// mean BCE(c, agree)
    pub consistency: f64,
    /// D = mean κ·(1 − agree)
    pub diversity: f64,
    /// share of positions where the exit's argmax equals the main head's
    pub agree: f64,
    /// mean gate confidence c
    pub gate: f64,
}

/// Per-exit activations, sized by the caller for `rows` positions.
#[derive(Default)]
pub struct ExitBuffers {
    /// ê [rows × d] and its 1/rms
    pub e: Vec<f32>,
    pub rstd: Vec<f32>,
    /// gate pre-activations [rows × 64]
    pub hid: Vec<f32>,
    /// gate logits s, then ∂L/∂s \[rows\]
    pub s: Vec<f32>,
    /// agree_t as 0/1 \[rows\]
    pub agree: Vec<f32>,
    pub stats: Vec<RowStats>,
}

impl ExitBuffers {
    /// Grows the buffers to fit `rows` positions (never shrinks).
    pub fn ensure(&mut self, rows: usize, d: usize) {
        if self.stats.len() >= rows && self.e.len() >= rows * d {
            return;
        }
        self.e.resize(rows * d, 0.0);
        self.rstd.resize(rows, 0.0);
        self.hid.resize(rows * GATE_HIDDEN, 0.0);
        self.s.resize(rows, 0.0);
        self.agree.resize(rows, 0.0);
        self.stats.resize(rows, RowStats::default());
    }
}

/// Backward targets of [`exit_objective`]: `dh` += ∂L/∂h; `de` [rows × d] scratch.
pub struct ExitBackward<'a> {
    pub dh: &'a mut [f32],
    pub de: &'a mut [f32],
    pub grads: ExitGrads<'a>,
}

crate::vectorized! {
    /// One exit's terms at hidden states `h` [rows × d] against targets `y` and the
    /// main head's argmax per position; with `back`, the gradient of
    /// coefs.ce·CE_exit + coefs.consistency·BCE + coefs.diversity·D.
    #[allow(clippy::too_many_arguments)]
    pub fn exit_objective(
        bufs: &mut ExitBuffers,
        back: Option<ExitBackward>,
        head_buf: &mut [f32],
        h: &[f32],
        w: &ExitWeights,
        y: &[u32],
        main_argmax: &[u32],
        coefs: ExitCoefs,
        d: usize,
        v: usize,
    ) -> ExitTerms {
        let rows = y.len();
        let n = rows as f32;
        let grad = back.is_some();
        let (e, rstd) = (&mut bufs.e[..rows * d], &mut bufs.rstd[..rows]);
        rmsnorm_forward(e, rstd, h, w.ln, d);
        let (ce_scale, div_scale) = (coefs.ce / n, coefs.diversity / n);
        let row = |r: usize, z: &mut [f32]| row_objective(z, y[r], grad, ce_scale, Some(main_argmax[r]), div_scale);
        let stats = &mut bufs.stats[..rows];
        let mut back = back;
        let hp_grad = back.as_mut().map(|b| (&mut b.de[..rows * d], &mut *b.grads.head));
        head_pass(stats, hp_grad, head_buf, e, w.head, d, v, row);
        let agree = &mut bufs.agree[..rows];
        for ((a, st), &m) in agree.iter_mut().zip(stats.iter()).zip(main_argmax) {
            *a = if st.argmax == m { 1.0 } else { 0.0 };
        }
        let (s, hid) = (&mut bufs.s[..rows], &mut bufs.hid[..rows * GATE_HIDDEN]);
        gate_forward(s, hid, e, w, d);
        let mut terms = ExitTerms::default();
        for r in 0..rows {
            let (sr, a, st) = (s[r], agree[r], stats[r]);
            let softplus = sr.max(0.0) + (-sr.abs()).exp().ln_1p();
            terms.ce += st.ce as f64;
            terms.consistency += (softplus - a * sr) as f64;
            terms.diversity += (st.conf * (1.0 - a)) as f64;
            terms.agree += a as f64;
            terms.gate += sigmoid(sr) as f64;
        }
        for x in [&mut terms.ce, &mut terms.consistency, &mut terms.diversity, &mut terms.agree, &mut terms.gate] {
            *x /= rows as f64;
        }
        if let Some(b) = back {
            let cs = coefs.consistency / n;
            for (sr, &a) in s.iter_mut().zip(agree.iter()) {
                *sr = cs * (sigmoid(*sr) - a);
            }
            let mut g = b.grads;
            let de = &mut b.de[..rows * d];
            gate_backward(de, &mut g, s, hid, e, w, d);
            rmsnorm_backward(b.dh, g.ln, de, h, w.ln, rstd, d);
        }
        terms
    }
}

crate::vectorized! {
    /// κ = 1 − H(softmax(z/τ))/ln V (τ floored at 1e-5), the decoder's exit confidence (§8.6).
    pub fn entropy_confidence(z: &[f32], temperature: f32) -> f32 {
        let inv_t = 1.0 / temperature.max(1e-5);
        let max = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max) * inv_t;
        let (mut sum, mut sez) = (0.0f32, 0.0f32);
        for &x in z {
            let zc = x * inv_t - max;
            let e = exp(zc);
            sum += e;
            sez += e * zc;
        }
        let h = sum.ln() - sez / sum;
        1.0 - h / (z.len() as f32).ln()
    }
}
