//! BB-NCS, the normalised cumulative scan (the CPUFlow token mixer), for one
//! LayerNorm'd input a [b·t × d]:
//!
//!   [q; k̃; ṽ] = W_proj·a_t (W_proj [3k × d]); κ = σ(k̃), ν = tanh(ṽ)
//!   n_t = Σ_{i≤t} κ_i⊙ν_i,  δ_t = Σ_{i≤t} κ_i + ε,  s_t = (q_t⊙n_t)/δ_t
//!   out = W_m·s_t (W_m [k × k])
//!
//! A σ(k)-weighted running mean of tanh(v) without decay; causal, |n/δ| < 1 and
//! δ ≥ ε. The running sums accumulate in f64 and are rounded once per position
//! (PyTorch's CPU cumsum does the same: bit-faithful, D32). Backward with
//! Σ' the reverse running sum over t' ≥ t:
//! g_q = g_s⊙n/δ; G_n = Σ'(g_s⊙q/δ); G_δ = Σ'(−g_s⊙q⊙n/δ²);
//! g_κ = G_n⊙ν + G_δ; g_ν = G_n⊙κ; g_k̃ = g_κ·κ(1−κ); g_ṽ = g_ν·(1−ν²).

use crate::kernels::ops::sigmoid;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

/// ε of δ (`SCAN_EPS`).
pub const SCAN_EPS: f32 = 1e-3;

/// Channels per block of f64 accumulators (kept on the stack).
const BLOCK: usize = 64;

pub struct ScanWeights<'a> {
    /// W_proj [3k × d]
    pub proj: &'a [f32],
    /// W_m [k × k]
    pub m: &'a [f32],
}

pub struct ScanGrads<'a> {
    pub proj: &'a mut [f32],
    pub m: &'a mut [f32],
}

/// What the forward keeps for the backward.
pub struct ScanActs<'a> {
    /// [rows × 3k]: q, κ = σ(k̃), ν = tanh(ṽ) (after the activations)
    pub qkv: &'a mut [f32],
    /// running sums n [rows × k]
    pub n: &'a mut [f32],
    /// running sums δ [rows × k] (ε included)
    pub den: &'a mut [f32],
    /// s [rows × k]
    pub s: &'a mut [f32],
}

crate::vectorized! {
    /// out [rows × k] = W_m·s (overwritten); `t` is the window (rows = b·t).
    pub fn scan_forward(out: &mut [f32], acts: ScanActs, a: &[f32], w: &ScanWeights, t: usize, d: usize, k: usize) {
        let rows = a.len() / d;
        matmul(acts.qkv, 3 * k, false, MatRef::rows(a, d), MatRef::t(w.proj, d), rows, 3 * k, d);
        let ScanActs { qkv, n, den, s } = acts;
        qkv.par_chunks_mut(t * 3 * k).zip(n.par_chunks_mut(t * k)).zip(den.par_chunks_mut(t * k)).zip(s.par_chunks_mut(t * k)).for_each(
            |(((qkv, n), den), s)| {
                for c0 in (0..k).step_by(BLOCK) {
                    let wd = BLOCK.min(k - c0);
                    let (mut an, mut ad) = ([0.0f64; BLOCK], [0.0f64; BLOCK]);
                    for i in 0..t {
                        let row = &mut qkv[i * 3 * k..(i + 1) * 3 * k];
                        let o = i * k + c0;
                        for j in 0..wd {
                            let c = c0 + j;
                            let kappa = sigmoid(row[k + c]);
                            let nu = row[2 * k + c].tanh();
                            row[k + c] = kappa;
                            row[2 * k + c] = nu;
                            an[j] += (kappa * nu) as f64;
                            ad[j] += kappa as f64;
                            let (nv, dv) = (an[j] as f32, ad[j] as f32 + SCAN_EPS);
                            n[o + j] = nv;
                            den[o + j] = dv;
                            s[o + j] = row[c] * nv / dv;
                        }
                    }
                }
            },
        );
        matmul(out, k, false, MatRef::rows(s, k), MatRef::t(w.m, k), rows, k, k);
    }
}

crate::vectorized! {
    /// One position's streaming step (decoders): `qkv` = W_proj·a_t on entry, the
    /// running sums `n`, `den` (f64, ε not included) updated; s written to `s`.
    pub fn scan_step(s: &mut [f32], qkv: &[f32], n: &mut [f64], den: &mut [f64], k: usize) {
        for c in 0..k {
            let kappa = sigmoid(qkv[k + c]);
            let nu = qkv[2 * k + c].tanh();
            n[c] += (kappa * nu) as f64;
            den[c] += kappa as f64;
            s[c] = qkv[c] * (n[c] as f32) / (den[c] as f32 + SCAN_EPS);
        }
    }
}

crate::vectorized! {
    /// Backward: `da` overwritten with ∂L/∂a, weight gradients added. `ds` [rows × k]
    /// and `dqkv` [rows × 3k] are scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn scan_backward(
        da: &mut [f32],
        g: ScanGrads,
        dout: &[f32],
        a: &[f32],
        acts: (&[f32], &[f32], &[f32], &[f32]),
        w: &ScanWeights,
        ds: &mut [f32],
        dqkv: &mut [f32],
        t: usize,
        d: usize,
        k: usize,
    ) {
        let rows = a.len() / d;
        let (qkv, n, den, s) = acts;
        matmul(g.m, k, true, MatRef::t(dout, k), MatRef::rows(s, k), k, k, rows);
        matmul(ds, k, false, MatRef::rows(dout, k), MatRef::rows(w.m, k), rows, k, k);
        dqkv.par_chunks_mut(t * 3 * k)
            .zip(qkv.par_chunks(t * 3 * k))
            .zip(n.par_chunks(t * k).zip(den.par_chunks(t * k)))
            .zip(ds.par_chunks(t * k))
            .for_each(|(((dq, qkv), (n, den)), ds)| {
                for c0 in (0..k).step_by(BLOCK) {
                    let wd = BLOCK.min(k - c0);
                    let (mut gn, mut gd) = ([0.0f64; BLOCK], [0.0f64; BLOCK]);
                    for i in (0..t).rev() {
                        let (row, drow) = (&qkv[i * 3 * k..(i + 1) * 3 * k], &mut dq[i * 3 * k..(i + 1) * 3 * k]);
                        let o = i * k + c0;
                        for j in 0..wd {
                            let c = c0 + j;
                            let (q, kappa, nu) = (row[c], row[k + c], row[2 * k + c]);
                            let (nv, dv, gs) = (n[o + j], den[o + j], ds[o + j]);
                            drow[c] = gs * nv / dv;
                            let gq = (gs * q / dv) as f64;
                            gn[j] += gq;
                            gd[j] -= gq * (nv / dv) as f64;
                            let (gnj, gdj) = (gn[j] as f32, gd[j] as f32);
                            let gk = gnj * nu + gdj;
                            let gv = gnj * kappa;
                            drow[k + c] = gk * kappa * (1.0 - kappa);
                            drow[2 * k + c] = gv * (1.0 - nu * nu);
                        }
                    }
                }
            });
        matmul(g.proj, d, true, MatRef::t(dqkv, 3 * k), MatRef::rows(a, d), 3 * k, d, rows);
        matmul(da, d, false, MatRef::rows(dqkv, 3 * k), MatRef::rows(w.proj, d), rows, d, 3 * k);
    }
}
