//! v6 shift mixer (spec §7.2) and the zero-filled token shift it shares with
//! the P-RCSM scale bank:
//!
//!   m = W_mix·[u ; shift₁(u)],  g = σ(W_gate·u),  y = g ⊙ (W_val·m)
//!
//! with u = RMS_a(h) computed by the caller and y added into the residual.
//! shift_o(X)_t = X_{t−o} for t ≥ o, else 0, for any window length (fix D17).

use crate::kernels::ops::sigmoid;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

/// The temporal offset 2^i of bank scale i (saturating: an offset past any
/// window just reads zeros).
pub fn scale_offset(i: usize) -> usize {
    u32::try_from(i).ok().and_then(|i| 1usize.checked_shl(i)).unwrap_or(usize::MAX)
}

crate::vectorized! {
    /// cat\[r\] = [x_r ; x_{r−o}] (zero when the position inside its sequence is < o),
    /// for sequences of `t` rows of width `d`; `cat` is [rows × 2d].
    pub fn shift_concat(cat: &mut [f32], x: &[f32], t: usize, d: usize, o: usize) {
        cat.par_chunks_mut(t * 2 * d).zip(x.par_chunks(t * d)).for_each(|(cs, xs)| {
            for ti in 0..t {
                let row = &mut cs[ti * 2 * d..(ti + 1) * 2 * d];
                let (cur, prev) = row.split_at_mut(d);
                cur.copy_from_slice(&xs[ti * d..(ti + 1) * d]);
                if ti >= o {
                    prev.copy_from_slice(&xs[(ti - o) * d..(ti - o + 1) * d]);
                } else {
                    prev.fill(0.0);
                }
            }
        });
    }
}

crate::vectorized! {
    /// The adjoint of [`shift_concat`]: dx_r += dcat_r\[..d\] + dcat_{r+o}\[d..\]
    /// (the second term only while r+o stays inside the sequence).
    pub fn unshift_add(dx: &mut [f32], dcat: &[f32], t: usize, d: usize, o: usize) {
        dx.par_chunks_mut(t * d).zip(dcat.par_chunks(t * 2 * d)).for_each(|(xs, cs)| {
            for ti in 0..t {
                let dxr = &mut xs[ti * d..(ti + 1) * d];
                let cur = &cs[ti * 2 * d..ti * 2 * d + d];
                for j in 0..d {
                    dxr[j] += cur[j];
                }
                if o < t - ti {
                    let later = &cs[(ti + o) * 2 * d + d..(ti + o + 1) * 2 * d];
                    for j in 0..d {
                        dxr[j] += later[j];
                    }
                }
            }
        });
    }
}

pub struct ShiftMixerWeights<'a> {
    /// W_mix [d × 2d]
    pub mix: &'a [f32],
    /// W_gate [d × d]
    pub gate: &'a [f32],
    /// W_val [d × d]
    pub val: &'a [f32],
}

pub struct ShiftMixerGrads<'a> {
    pub mix: &'a mut [f32],
    pub gate: &'a mut [f32],
    pub val: &'a mut [f32],
}

/// Activations kept for backward, each [rows × d].
pub struct ShiftMixerActs<'a> {
    /// m = W_mix·[u ; shift₁(u)]
    pub m: &'a mut [f32],
    /// g = σ(W_gate·u)
    pub g: &'a mut [f32],
    /// v = W_val·m
    pub v: &'a mut [f32],
}

crate::vectorized! {
    /// h += g ⊙ (W_val·m). `cat` [rows × 2d] is scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn shift_mixer_forward(h: &mut [f32], acts: ShiftMixerActs, cat: &mut [f32], u: &[f32], w: &ShiftMixerWeights, t: usize, d: usize) {
        let rows = u.len() / d;
        shift_concat(cat, u, t, d, 1);
        matmul(acts.m, d, false, MatRef::rows(cat, 2 * d), MatRef::t(w.mix, 2 * d), rows, d, 2 * d);
        matmul(acts.g, d, false, MatRef::rows(u, d), MatRef::t(w.gate, d), rows, d, d);
        matmul(acts.v, d, false, MatRef::rows(acts.m, d), MatRef::t(w.val, d), rows, d, d);
        h.par_chunks_mut(d).zip(acts.g.par_chunks_mut(d)).zip(acts.v.par_chunks(d)).for_each(|((h, g), v)| {
            for j in 0..d {
                g[j] = sigmoid(g[j]);
                h[j] += g[j] * v[j];
            }
        });
    }
}

/// Scratch for [`shift_mixer_backward`].
pub struct ShiftMixerScratch<'a> {
    /// [rows × d] each
    pub dv: &'a mut [f32],
    pub dg: &'a mut [f32],
    /// [rows × 2d] each
    pub cat: &'a mut [f32],
    pub dcat: &'a mut [f32],
}

crate::vectorized! {
    /// du = ∂L/∂u (overwritten) from dy = ∂L/∂y; weight gradients added.
    /// `acts` = (m, g, v) from the forward.
    #[allow(clippy::too_many_arguments)]
    pub fn shift_mixer_backward(
        du: &mut [f32],
        grads: ShiftMixerGrads,
        dy: &[f32],
        u: &[f32],
        acts: (&[f32], &[f32], &[f32]),
        w: &ShiftMixerWeights,
        s: ShiftMixerScratch,
        t: usize,
        d: usize,
    ) {
        let (m, g, v) = acts;
        let rows = u.len() / d;
        // y = g ⊙ v: dv = dy ⊙ g, d(pre-gate) = dy ⊙ v ⊙ g(1 − g)
        s.dv.par_chunks_mut(d).zip(s.dg.par_chunks_mut(d)).zip(dy.par_chunks(d).zip(g.par_chunks(d)).zip(v.par_chunks(d))).for_each(
            |((dv, dg), ((dy, g), v))| {
                for j in 0..d {
                    dv[j] = dy[j] * g[j];
                    dg[j] = dy[j] * v[j] * g[j] * (1.0 - g[j]);
                }
            },
        );
        // v = m·W_valᵀ; dm is parked in `du` until the end
        matmul(grads.val, d, true, MatRef::t(s.dv, d), MatRef::rows(m, d), d, d, rows);
        matmul(du, d, false, MatRef::rows(s.dv, d), MatRef::rows(w.val, d), rows, d, d);
        // m = cat·W_mixᵀ
        shift_concat(s.cat, u, t, d, 1);
        matmul(grads.mix, 2 * d, true, MatRef::t(du, d), MatRef::rows(s.cat, 2 * d), d, 2 * d, rows);
        matmul(s.dcat, 2 * d, false, MatRef::rows(du, d), MatRef::rows(w.mix, 2 * d), rows, 2 * d, d);
        // pre-gate = u·W_gateᵀ
        matmul(grads.gate, d, true, MatRef::t(s.dg, d), MatRef::rows(u, d), d, d, rows);
        matmul(du, d, false, MatRef::rows(s.dg, d), MatRef::rows(w.gate, d), rows, d, d);
        unshift_add(du, s.dcat, t, d, 1);
    }
}
