//! v7 time mix, the "RWKV" decayed sum of spec §8.2 with fix D8:
//!
//!   r = σ(W_r·a), k = W_k·a, v = W_v·a, w = σ(δ)
//!   S_t = w ⊙ S_{t−1} + k_t ⊙ v_t   (S_{−1} = 0, element-wise per channel)
//!   out = W_o · RMS_x(r ⊙ S)
//!
//! S is computed as a true recurrence (a sequential scan over t, one task per
//! sequence of the batch, channels vectorised inside), not the reference's
//! w^t·cumsum(kv/w^s), which loses every contribution older than ~73 tokens.
//! The backward scans in reverse: with G_t = ∂L/∂S_t (total),
//!   G_t = (∂L/∂S_t)_direct + w ⊙ G_{t+1},  ∂(k_t⊙v_t) = G_t,  ∂w = Σ_t G_t ⊙ S_{t−1},
//! and δ gets ∂δ = ∂w ⊙ w(1 − w).
//!
//! The block is float: callers pass the quantised matrices Q(W) (BIT-C) and add
//! the returned weight gradients straight into the latent W (straight-through).

use super::rmsnorm::{rmsnorm_apply, rmsnorm_backward, RMS_EPS};
use crate::kernels::ops::sigmoid;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

pub struct TimeMixWeights<'a> {
    /// W_r; W_k; W_v stacked (they are adjacent in the reference state dict): [3d × d]
    pub rkv: &'a [f32],
    /// w = σ(δ) \[d\] (see [`decay_weights`])
    pub w: &'a [f32],
    /// RMS_x gain \[d\]
    pub ln_x: &'a [f32],
    /// W_o [d × d]
    pub o: &'a [f32],
}

pub struct TimeMixGrads<'a> {
    pub rkv: &'a mut [f32],
    /// ∂L/∂δ (the raw decay parameter, not w)
    pub decay: &'a mut [f32],
    pub ln_x: &'a mut [f32],
    pub o: &'a mut [f32],
}

/// What the forward keeps for the backward.
pub struct TimeMixActs<'a> {
    /// [rows × 3d]: σ(W_r·a), W_k·a, W_v·a
    pub rkv: &'a mut [f32],
    /// the state S_t [rows × d]
    pub s: &'a mut [f32],
    /// 1/rms of r ⊙ S per row
    pub rstd_x: &'a mut [f32],
}

/// Backward scratch.
pub struct TimeMixScratch<'a> {
    /// [rows × d] each
    pub y: &'a mut [f32],
    pub n: &'a mut [f32],
    /// [rows × 3d]
    pub drkv: &'a mut [f32],
    /// [b × 2d]: the reverse-scan carry and the per-sequence ∂w partial sums
    pub carry: &'a mut [f32],
}

crate::vectorized! {
    /// w = σ(δ).
    pub fn decay_weights(w: &mut [f32], delta: &[f32]) {
        for (w, &x) in w.iter_mut().zip(delta) {
            *w = sigmoid(x);
        }
    }
}

crate::vectorized! {
    /// out [rows × d] = W_o·RMS_x(r ⊙ S) for `a` [rows × d], rows = b·t in sequence
    /// order. `n` [rows × d] is scratch (the normalised input of W_o).
    pub fn time_mix_forward(out: &mut [f32], acts: TimeMixActs, n: &mut [f32], a: &[f32], w: &TimeMixWeights, t: usize, d: usize) {
        let rows = a.len() / d;
        matmul(acts.rkv, 3 * d, false, MatRef::rows(a, d), MatRef::t(w.rkv, d), rows, 3 * d, d);
        scan_forward(acts.rkv, acts.s, w.w, t, d);
        // n = RMS_x(r ⊙ S), fused in one pass per row
        n.par_chunks_mut(d).zip(acts.rstd_x.par_iter_mut()).zip(acts.rkv.par_chunks(3 * d)).zip(acts.s.par_chunks(d)).for_each(
            |(((nr, rs), rkv), s)| {
                for c in 0..d {
                    nr[c] = rkv[c] * s[c];
                }
                let ms = nr.iter().map(|v| v * v).sum::<f32>() / d as f32;
                let r = 1.0 / (ms + RMS_EPS).sqrt();
                *rs = r;
                for (o, &g) in nr.iter_mut().zip(w.ln_x) {
                    *o = *o * r * g;
                }
            },
        );
        matmul(out, d, false, MatRef::rows(n, d), MatRef::t(w.o, d), rows, d, d);
    }
}

crate::vectorized! {
    /// r ← σ(r) in place and S_t = w⊙S_{t−1} + k_t⊙v_t, one task per sequence.
    fn scan_forward(rkv: &mut [f32], s: &mut [f32], w: &[f32], t: usize, d: usize) {
        rkv.par_chunks_mut(t * 3 * d).zip(s.par_chunks_mut(t * d)).for_each(|(rkv, s)| {
            for ti in 0..t {
                let row = &mut rkv[ti * 3 * d..(ti + 1) * 3 * d];
                let (r, kv) = row.split_at_mut(d);
                let (k, v) = kv.split_at(d);
                for x in r.iter_mut() {
                    *x = sigmoid(*x);
                }
                let (prev, cur) = s.split_at_mut(ti * d);
                let cur = &mut cur[..d];
                if ti == 0 {
                    for c in 0..d {
                        cur[c] = k[c] * v[c];
                    }
                } else {
                    let p = &prev[(ti - 1) * d..];
                    for c in 0..d {
                        cur[c] = w[c] * p[c] + k[c] * v[c];
                    }
                }
            }
        });
    }
}

crate::vectorized! {
    /// Backward: `da` overwritten with ∂L/∂a; weight gradients added.
    #[allow(clippy::too_many_arguments)]
    pub fn time_mix_backward(
        da: &mut [f32],
        g: TimeMixGrads,
        dout: &[f32],
        a: &[f32],
        acts: (&[f32], &[f32], &[f32]),
        w: &TimeMixWeights,
        sc: TimeMixScratch,
        t: usize,
        d: usize,
    ) {
        let (rkv, s, rstd_x) = acts;
        let rows = a.len() / d;
        // y = r ⊙ S and n = RMS_x(y), recomputed
        sc.y.par_chunks_mut(d).zip(rkv.par_chunks(3 * d)).zip(s.par_chunks(d)).for_each(|((y, rkv), s)| {
            for c in 0..d {
                y[c] = rkv[c] * s[c];
            }
        });
        rmsnorm_apply(sc.n, sc.y, w.ln_x, rstd_x, d);
        matmul(g.o, d, true, MatRef::t(dout, d), MatRef::rows(sc.n, d), d, d, rows);
        // dn (into n), then dy (into da, used as scratch until the last product)
        matmul(sc.n, d, false, MatRef::rows(dout, d), MatRef::rows(w.o, d), rows, d, d);
        da.fill(0.0);
        rmsnorm_backward(da, g.ln_x, sc.n, sc.y, w.ln_x, rstd_x, d);
        scan_backward(sc.drkv, sc.carry, da, rkv, s, w.w, t, d);
        // ∂δ = Σ_sequences ∂w ⊙ w(1−w), partial sums added in sequence order
        for part in sc.carry.chunks(2 * d) {
            for c in 0..d {
                g.decay[c] += part[d + c] * w.w[c] * (1.0 - w.w[c]);
            }
        }
        matmul(g.rkv, d, true, MatRef::t(sc.drkv, 3 * d), MatRef::rows(a, d), 3 * d, d, rows);
        matmul(da, d, false, MatRef::rows(sc.drkv, 3 * d), MatRef::rows(w.rkv, d), rows, d, 3 * d);
    }
}

crate::vectorized! {
    /// Reverse scan per sequence: drkv = [∂r_pre ; ∂k ; ∂v]; carry\[b\] = [G_{t+1} ; Σ_t G_t⊙S_{t−1}].
    #[allow(clippy::too_many_arguments)]
    fn scan_backward(drkv: &mut [f32], carry: &mut [f32], dy: &[f32], rkv: &[f32], s: &[f32], w: &[f32], t: usize, d: usize) {
        drkv.par_chunks_mut(t * 3 * d)
            .zip(carry.par_chunks_mut(2 * d))
            .zip(dy.par_chunks(t * d))
            .zip(rkv.par_chunks(t * 3 * d))
            .zip(s.par_chunks(t * d))
            .for_each(|((((drkv, carry), dy), rkv), s)| {
                let (gnext, dw) = carry.split_at_mut(d);
                gnext.fill(0.0);
                dw.fill(0.0);
                for ti in (0..t).rev() {
                    let row = &rkv[ti * 3 * d..(ti + 1) * 3 * d];
                    let (r, k, v) = (&row[..d], &row[d..2 * d], &row[2 * d..]);
                    let dyt = &dy[ti * d..(ti + 1) * d];
                    let st = &s[ti * d..(ti + 1) * d];
                    let out = &mut drkv[ti * 3 * d..(ti + 1) * 3 * d];
                    for c in 0..d {
                        let gs = dyt[c] * r[c] + w[c] * gnext[c];
                        gnext[c] = gs;
                        out[c] = dyt[c] * st[c] * r[c] * (1.0 - r[c]);
                        out[d + c] = gs * v[c];
                        out[2 * d + c] = gs * k[c];
                    }
                    if ti > 0 {
                        let sp = &s[(ti - 1) * d..ti * d];
                        for c in 0..d {
                            dw[c] += gnext[c] * sp[c];
                        }
                    }
                }
            });
    }
}
