//! P-RCSM state gate and planner (spec §7.2), per position:
//!
//!   η = σ(W_pg·p),  r = e ⊙ η,
//!   ē = summary of e,  p' = p + W_pu·RMS_c(p + W_ep·ē)  (p' feeds the next block)
//!
//! The summary is the causal running mean ē_t = (1/(t+1))·Σ_{τ≤t} e_τ (fix D6),
//! or with `reference_compat` the mean over all T positions of the window, as
//! the reference did (D6: later blocks then see future tokens). Either way p is
//! stored per position; in compat mode all positions of a sequence hold the same p.

use crate::kernels::ops::sigmoid;
use crate::kernels::{matmul, MatRef};
use crate::model::blocks::rmsnorm::{rmsnorm_backward, rmsnorm_forward};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug)]
pub struct GateShape {
    pub t: usize,
    pub d_r: usize,
    pub d_p: usize,
    /// window-mean summary (D6) instead of the causal running mean
    pub compat: bool,
}

crate::vectorized! {
    /// η = σ(p·W_pgᵀ) and r = e ⊙ η, for p [rows × d_p], e, η, r [rows × d_r].
    pub fn gate_forward(r: &mut [f32], eta: &mut [f32], e: &[f32], p: &[f32], w_pg: &[f32], sh: GateShape) {
        let (dr, dp) = (sh.d_r, sh.d_p);
        let rows = e.len() / dr;
        matmul(eta, dr, false, MatRef::rows(p, dp), MatRef::t(w_pg, dp), rows, dr, dp);
        r.par_chunks_mut(dr).zip(eta.par_chunks_mut(dr)).zip(e.par_chunks(dr)).for_each(|((r, eta), e)| {
            for j in 0..dr {
                eta[j] = sigmoid(eta[j]);
                r[j] = e[j] * eta[j];
            }
        });
    }
}

crate::vectorized! {
    /// de = ∂L/∂e (overwritten) and dp += ∂L/∂p through the gate, from dr = ∂L/∂r;
    /// dW_pg added. `deta` [rows × d_r] is scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn gate_backward(
        de: &mut [f32],
        dp: &mut [f32],
        g_pg: &mut [f32],
        dr: &[f32],
        e: &[f32],
        eta: &[f32],
        p: &[f32],
        w_pg: &[f32],
        deta: &mut [f32],
        sh: GateShape,
    ) {
        let (d_r, d_p) = (sh.d_r, sh.d_p);
        let rows = e.len() / d_r;
        de.par_chunks_mut(d_r).zip(deta.par_chunks_mut(d_r)).zip(dr.par_chunks(d_r).zip(e.par_chunks(d_r)).zip(eta.par_chunks(d_r))).for_each(
            |((de, dz), ((dr, e), eta))| {
                for j in 0..d_r {
                    de[j] = dr[j] * eta[j];
                    dz[j] = dr[j] * e[j] * eta[j] * (1.0 - eta[j]);
                }
            },
        );
        matmul(g_pg, d_p, true, MatRef::t(deta, d_r), MatRef::rows(p, d_p), d_r, d_p, rows);
        matmul(dp, d_p, true, MatRef::rows(deta, d_r), MatRef::rows(w_pg, d_p), rows, d_p, d_r);
    }
}

crate::vectorized! {
    /// ē per position: causal running mean, or the window mean with `compat`.
    pub fn summary_forward(ebar: &mut [f32], e: &[f32], sh: GateShape) {
        let (t, dr) = (sh.t, sh.d_r);
        ebar.par_chunks_mut(t * dr).zip(e.par_chunks(t * dr)).for_each(|(o, x)| {
            if sh.compat {
                let (mean, rest) = o.split_at_mut(dr);
                mean.copy_from_slice(&x[..dr]);
                for row in x[dr..].chunks(dr) {
                    for (m, v) in mean.iter_mut().zip(row) {
                        *m += v;
                    }
                }
                for m in mean.iter_mut() {
                    *m /= t as f32;
                }
                for row in rest.chunks_mut(dr) {
                    row.copy_from_slice(mean);
                }
            } else {
                // prefix sums first (the decoder keeps the same running sum), then ÷ (t+1)
                o[..dr].copy_from_slice(&x[..dr]);
                for ti in 1..t {
                    let (done, cur) = o.split_at_mut(ti * dr);
                    let prev = &done[(ti - 1) * dr..];
                    for j in 0..dr {
                        cur[j] = prev[j] + x[ti * dr + j];
                    }
                }
                for (ti, row) in o.chunks_mut(dr).enumerate() {
                    let n = (ti + 1) as f32;
                    for v in row {
                        *v /= n;
                    }
                }
            }
        });
    }
}

crate::vectorized! {
    /// de += the adjoint of the summary applied to debar = ∂L/∂ē (`debar` is
    /// consumed as scratch: it ends up holding the per-position contributions).
    pub fn summary_backward(de: &mut [f32], debar: &mut [f32], sh: GateShape) {
        let (t, dr) = (sh.t, sh.d_r);
        de.par_chunks_mut(t * dr).zip(debar.par_chunks_mut(t * dr)).for_each(|(o, g)| {
            if sh.compat {
                // every ē_t is the same mean: de_τ += (1/T)·Σ_t debar_t
                let (sum, rest) = g.split_at_mut(dr);
                for row in rest.chunks(dr) {
                    for (a, v) in sum.iter_mut().zip(row) {
                        *a += v;
                    }
                }
                for a in sum.iter_mut() {
                    *a /= t as f32;
                }
                for row in o.chunks_mut(dr) {
                    for (x, a) in row.iter_mut().zip(sum.iter()) {
                        *x += a;
                    }
                }
            } else {
                // de_τ += Σ_{t ≥ τ} debar_t / (t+1), as suffix sums from the end
                for ti in (0..t).rev() {
                    let (head, tail) = g.split_at_mut((ti + 1) * dr);
                    let cur = &mut head[ti * dr..];
                    let n = (ti + 1) as f32;
                    for j in 0..dr {
                        cur[j] /= n;
                        if ti + 1 < t {
                            cur[j] += tail[j];
                        }
                        o[ti * dr + j] += cur[j];
                    }
                }
            }
        });
    }
}

pub struct PlannerWeights<'a> {
    /// W_ep [d_p × d_r]
    pub ep: &'a [f32],
    /// W_pu [d_p × d_p]
    pub pu: &'a [f32],
    /// RMS_c gain \[d_p\]
    pub norm: &'a [f32],
}

pub struct PlannerGrads<'a> {
    pub ep: &'a mut [f32],
    pub pu: &'a mut [f32],
    pub norm: &'a mut [f32],
}

/// Activations of the planner update, kept for backward.
pub struct PlannerActs<'a> {
    /// c = p + W_ep·ē, [rows × d_p]
    pub c: &'a mut [f32],
    /// rstd of RMS_c, \[rows\]
    pub rstd: &'a mut [f32],
    /// RMS_c(c), [rows × d_p]
    pub nc: &'a mut [f32],
}

/// p' = p + W_pu·RMS_c(p + W_ep·ē).
pub fn planner_forward(p_next: &mut [f32], acts: PlannerActs, p: &[f32], ebar: &[f32], w: &PlannerWeights, sh: GateShape) {
    let (dr, dp) = (sh.d_r, sh.d_p);
    let rows = p.len() / dp;
    acts.c.copy_from_slice(p);
    matmul(acts.c, dp, true, MatRef::rows(ebar, dr), MatRef::t(w.ep, dr), rows, dp, dr);
    rmsnorm_forward(acts.nc, acts.rstd, acts.c, w.norm, dp);
    p_next.copy_from_slice(p);
    matmul(p_next, dp, true, MatRef::rows(acts.nc, dp), MatRef::t(w.pu, dp), rows, dp, dp);
}

crate::vectorized! {
    /// dp += ∂L/∂p and debar = ∂L/∂ē (overwritten) from dp_next = ∂L/∂p'; weight
    /// gradients added. `acts` = (c, rstd, RMS_c(c)); `dnc`, `dc` [rows × d_p] are scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn planner_backward(
        dp: &mut [f32],
        debar: &mut [f32],
        g: PlannerGrads,
        dp_next: &[f32],
        ebar: &[f32],
        acts: (&[f32], &[f32], &[f32]),
        w: &PlannerWeights,
        dnc: &mut [f32],
        dc: &mut [f32],
        sh: GateShape,
    ) {
        let (c, rstd, nc) = acts;
        let (dr, d_p) = (sh.d_r, sh.d_p);
        let rows = dp.len() / d_p;
        matmul(g.pu, d_p, true, MatRef::t(dp_next, d_p), MatRef::rows(nc, d_p), d_p, d_p, rows);
        matmul(dnc, d_p, false, MatRef::rows(dp_next, d_p), MatRef::rows(w.pu, d_p), rows, d_p, d_p);
        dc.fill(0.0);
        rmsnorm_backward(dc, g.norm, dnc, c, w.norm, rstd, d_p);
        dp.par_chunks_mut(d_p).zip(dp_next.par_chunks(d_p)).zip(dc.par_chunks(d_p)).for_each(|((dp, dn), dc)| {
            for j in 0..d_p {
                dp[j] += dn[j] + dc[j];
            }
        });
        matmul(g.ep, dr, true, MatRef::t(dc, d_p), MatRef::rows(ebar, dr), d_p, dr, rows);
        matmul(debar, dr, false, MatRef::rows(dc, d_p), MatRef::rows(w.ep, dr), rows, dr, d_p);
    }
}
