//! P-RCSM slot memory (spec §7.2), position-wise (no time mixing):
//!
//!   q = W_q·r,  α = softmax_j(q·S_j / √d_r),  m̃ = Σ_j α_j S_j,
//!   r' = r + W_mg·[r ; m̃]
//!
//! S [n_slots × d_r] is a float parameter; W_q [d_r × d_r], W_mg [d_r × 2d_r] BIT-C.

use crate::kernels::ops::softmax;
use crate::kernels::vec::dot;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

pub struct SlotWeights<'a> {
    /// S [n_slots × d_r]
    pub slots: &'a [f32],
    /// W_q [d_r × d_r]
    pub q: &'a [f32],
    /// W_mg [d_r × 2d_r]
    pub mg: &'a [f32],
}

pub struct SlotGrads<'a> {
    pub slots: &'a mut [f32],
    pub q: &'a mut [f32],
    pub mg: &'a mut [f32],
}

/// Activations kept for backward.
pub struct SlotActs<'a> {
    /// q [rows × d_r]
    pub q: &'a mut [f32],
    /// α [rows × n_slots]
    pub alpha: &'a mut [f32],
    /// [r ; m̃] [rows × 2d_r]
    pub cat: &'a mut [f32],
}

crate::vectorized! {
    /// out = r + W_mg·[r ; m̃].
    pub fn slots_forward(out: &mut [f32], acts: SlotActs, r: &[f32], w: &SlotWeights, d_r: usize, n_slots: usize) {
        let rows = r.len() / d_r;
        let scale = 1.0 / (d_r as f32).sqrt();
        matmul(acts.q, d_r, false, MatRef::rows(r, d_r), MatRef::t(w.q, d_r), rows, d_r, d_r);
        acts.cat.par_chunks_mut(2 * d_r).zip(acts.alpha.par_chunks_mut(n_slots)).zip(r.par_chunks(d_r).zip(acts.q.par_chunks(d_r))).for_each(
            |((cat, al), (r, q))| {
                for (j, a) in al.iter_mut().enumerate() {
                    *a = dot(q, &w.slots[j * d_r..(j + 1) * d_r]) * scale;
                }
                softmax(al);
                let (rc, m) = cat.split_at_mut(d_r);
                rc.copy_from_slice(r);
                m.fill(0.0);
                for (j, &a) in al.iter().enumerate() {
                    for (mv, sv) in m.iter_mut().zip(&w.slots[j * d_r..(j + 1) * d_r]) {
                        *mv += a * sv;
                    }
                }
            },
        );
        out.copy_from_slice(r);
        matmul(out, d_r, true, MatRef::rows(acts.cat, 2 * d_r), MatRef::t(w.mg, 2 * d_r), rows, d_r, 2 * d_r);
    }
}

/// Scratch for [`slots_backward`].
pub struct SlotScratch<'a> {
    /// [rows × 2d_r]
    pub dcat: &'a mut [f32],
    /// ∂L/∂scores · (1/√d_r), [rows × n_slots]
    pub dsc: &'a mut [f32],
    /// [rows × d_r]
    pub dq: &'a mut [f32],
}

crate::vectorized! {
    /// dr = ∂L/∂r (overwritten) from dout = ∂L/∂out; gradients added. `acts` = (q, α, [r ; m̃]).
    #[allow(clippy::too_many_arguments)]
    pub fn slots_backward(
        dr: &mut [f32],
        g: SlotGrads,
        dout: &[f32],
        acts: (&[f32], &[f32], &[f32]),
        w: &SlotWeights,
        sc: SlotScratch,
        d_r: usize,
        n_slots: usize,
    ) {
        let (q, alpha, cat) = acts;
        let rows = dout.len() / d_r;
        let scale = 1.0 / (d_r as f32).sqrt();
        matmul(g.mg, 2 * d_r, true, MatRef::t(dout, d_r), MatRef::rows(cat, 2 * d_r), d_r, 2 * d_r, rows);
        matmul(sc.dcat, 2 * d_r, false, MatRef::rows(dout, d_r), MatRef::rows(w.mg, 2 * d_r), rows, 2 * d_r, d_r);
        // m̃ = αS: dα_j = dm̃·S_j; softmax: dz_j = α_j(dα_j − Σ α dα); scores = q·S_j/√d_r
        sc.dsc.par_chunks_mut(n_slots).zip(sc.dq.par_chunks_mut(d_r)).zip(sc.dcat.par_chunks(2 * d_r).zip(alpha.par_chunks(n_slots))).for_each(
            |((dz, dq), (dcat, al))| {
                let dm = &dcat[d_r..];
                let mut mean = 0.0;
                for j in 0..n_slots {
                    dz[j] = dot(dm, &w.slots[j * d_r..(j + 1) * d_r]);
                    mean += al[j] * dz[j];
                }
                dq.fill(0.0);
                for j in 0..n_slots {
                    dz[j] = al[j] * (dz[j] - mean) * scale;
                    for (o, sv) in dq.iter_mut().zip(&w.slots[j * d_r..(j + 1) * d_r]) {
                        *o += dz[j] * sv;
                    }
                }
            },
        );
        // dS = αᵀ·dm̃ + dscᵀ·q
        matmul(g.slots, d_r, true, MatRef::t(alpha, n_slots), MatRef::rows(&sc.dcat[d_r..], 2 * d_r), n_slots, d_r, rows);
        matmul(g.slots, d_r, true, MatRef::t(sc.dsc, n_slots), MatRef::rows(q, d_r), n_slots, d_r, rows);
        // q = r·W_qᵀ with r the first half of `cat`
        matmul(g.q, d_r, true, MatRef::t(sc.dq, d_r), MatRef::rows(cat, 2 * d_r), d_r, d_r, rows);
        matmul(dr, d_r, false, MatRef::rows(sc.dq, d_r), MatRef::rows(w.q, d_r), rows, d_r, d_r);
        dr.par_chunks_mut(d_r).zip(dout.par_chunks(d_r)).zip(sc.dcat.par_chunks(2 * d_r)).for_each(|((dr, dy), dcat)| {
            for j in 0..d_r {
                dr[j] += dy[j] + dcat[j];
            }
        });
    }
}
