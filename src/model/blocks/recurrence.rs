//! v5 gated linear recurrence (spec §5.2), element-wise per channel:
//!
//!   f_t = b + (1 − b)·σ(z_f,t + β_f),  v_t = z_v,t,  o_t = σ(z_o,t)
//!   c_t = f_t ⊙ c_{t−1} + (1 − f_t) ⊙ v_t,  c_{−1} = 0
//!   q_t = o_t ⊙ c_t
//!
//! with b the layer's constant lower bound and z = [z_f | z_v | z_o] the three
//! projections of the token-shifted input, stored [b·t × 3d] (one row per
//! position, z_f first). The reference evaluates the scan with a log-step
//! (Hillis–Steele) parallel form; here it is the plain sequential scan over t,
//! parallel over the batch (rayon) and over channels (the inner loop runs across
//! all d channels of a position, so it vectorises). The backward is the reverse
//! scan.

use crate::kernels::ops::{sigmoid, sum_rows};
use rayon::prelude::*;

/// One step of the scan for one channel: returns (c_t, q_t). Shared with the
/// streaming decoder so both paths round identically.
#[inline(always)]
pub fn recurrence_step(c_prev: f32, zf: f32, zv: f32, zo: f32, f_bias: f32, lb: f32) -> (f32, f32) {
    let f = lb + (1.0 - lb) * sigmoid(zf + f_bias);
    let c = f * c_prev + (1.0 - f) * zv;
    (c, sigmoid(zo) * c)
}

crate::vectorized! {
    /// q = o ⊙ c and the states c (both [b·t × d]) from z [b·t × 3d], windows of `t`.
    pub fn recurrence_forward(q: &mut [f32], c: &mut [f32], z: &[f32], f_bias: &[f32], lb: f32, t: usize, d: usize) {
        q.par_chunks_mut(t * d).zip(c.par_chunks_mut(t * d)).zip(z.par_chunks(t * 3 * d)).for_each(|((q, c), z)| {
            for ti in 0..t {
                let (done, rest) = c.split_at_mut(ti * d);
                let cur = &mut rest[..d];
                let (zf, zvo) = z[ti * 3 * d..(ti + 1) * 3 * d].split_at(d);
                let (zv, zo) = zvo.split_at(d);
                let qr = &mut q[ti * d..(ti + 1) * d];
                // slices zipped, no index or branch per channel, so the loop vectorises
                // (it had kept the σ scalar); c_{−1} = 0 for the first position
                let lanes = cur.iter_mut().zip(qr.iter_mut()).zip(zf).zip(zv).zip(zo).zip(f_bias);
                if ti == 0 {
                    for (((((cj, qj), &zf), &zv), &zo), &fb) in lanes {
                        (*cj, *qj) = recurrence_step(0.0, zf, zv, zo, fb, lb);
                    }
                } else {
                    for ((((((cj, qj), &zf), &zv), &zo), &fb), &prev) in lanes.zip(&done[(ti - 1) * d..]) {
                        (*cj, *qj) = recurrence_step(prev, zf, zv, zo, fb, lb);
                    }
                }
            }
        });
    }
}

/// One channel of the reverse scan at one position: writes ∂L/∂z_f, ∂L/∂z_v
/// (whose slot held the carry in) and ∂L/∂z_o; returns the carry f_t ⊙ dc_t.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn back_step(df: &mut f32, dv: &mut f32, d_o: &mut f32, z: [f32; 3], dq: f32, c: f32, fb: f32, prev: f32, lb: f32) -> f32 {
    let [zf, zv, zo] = z;
    let sf = sigmoid(zf + fb);
    let f = lb + (1.0 - lb) * sf;
    let o = sigmoid(zo);
    let dc = dq * o + *dv;
    *df = dc * (prev - zv) * (1.0 - lb) * sf * (1.0 - sf);
    *dv = dc * (1.0 - f);
    *d_o = dq * c * o * (1.0 - o);
    dc * f
}

crate::vectorized! {
    /// Reverse scan. Given dq = ∂L/∂q and the forward states c, `dz` [b·t × 3d] is
    /// *overwritten* with ∂L/∂z and `df_bias` += Σ_rows ∂L/∂z_f:
    ///
    ///   dc_t  = dq_t ⊙ o_t + f_{t+1} ⊙ dc_{t+1}
    ///   dz_o  = dq_t ⊙ c_t ⊙ o_t(1 − o_t)
    ///   dz_f  = dc_t ⊙ (c_{t−1} − v_t) ⊙ (1 − b)·σ_f(1 − σ_f)
    ///   dz_v  = dc_t ⊙ (1 − f_t)
    ///
    /// The carry f_{t+1} ⊙ dc_{t+1} is parked in row t's z_v slot until row t is done,
    /// so no extra scratch is needed.
    #[allow(clippy::too_many_arguments)]
    pub fn recurrence_backward(
        dz: &mut [f32],
        df_bias: &mut [f32],
        dq: &[f32],
        z: &[f32],
        c: &[f32],
        f_bias: &[f32],
        lb: f32,
        t: usize,
        d: usize,
    ) {
        let w = 3 * d;
        dz.par_chunks_mut(t * w).zip(dq.par_chunks(t * d)).zip(z.par_chunks(t * w)).zip(c.par_chunks(t * d)).for_each(|(((dz, dq), z), c)| {
            dz[(t - 1) * w + d..(t - 1) * w + 2 * d].fill(0.0);
            for ti in (0..t).rev() {
                let (head, row) = dz.split_at_mut(ti * w);
                let (rf, rvo) = row[..w].split_at_mut(d);
                let (rv, ro) = rvo.split_at_mut(d);
                let (zf, zvo) = z[ti * w..(ti + 1) * w].split_at(d);
                let (zv, zo) = zvo.split_at(d);
                let (dqr, cr) = (&dq[ti * d..(ti + 1) * d], &c[ti * d..(ti + 1) * d]);
                // c_{t−1} and the carry f_t ⊙ dc_t into row t−1's z_v slot (none for row 0)
                let (prev, carry): (&[f32], &mut [f32]) =
                    if ti > 0 { (&c[(ti - 1) * d..ti * d], &mut head[(ti - 1) * w + d..(ti - 1) * w + 2 * d]) } else { (&[], &mut []) };
                let lanes = rf.iter_mut().zip(rv.iter_mut()).zip(ro.iter_mut()).zip(zf).zip(zv).zip(zo).zip(dqr).zip(cr).zip(f_bias);
                // zipped slices, no index or branch per channel: the σ vectorise
                if ti > 0 {
                    for ((((((((((df, dv), d_o), &zf), &zv), &zo), &dq), &cj), &fb), &p), cy) in lanes.zip(prev).zip(carry.iter_mut()) {
                        *cy = back_step(df, dv, d_o, [zf, zv, zo], dq, cj, fb, p, lb);
                    }
                } else {
                    for ((((((((df, dv), d_o), &zf), &zv), &zo), &dq), &cj), &fb) in lanes {
                        back_step(df, dv, d_o, [zf, zv, zo], dq, cj, fb, 0.0, lb);
                    }
                }
            }
        });
        let rows = dq.len() / d;
        sum_rows(rows, df_bias, |r, acc| {
            for (a, g) in acc.iter_mut().zip(&dz[r * w..r * w + d]) {
                *a += g;
            }
        });
    }
}
