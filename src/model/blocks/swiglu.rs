//! BB-FFN SwiGLU: out = W_o·(SiLU(W_g·a) ⊙ (W_u·a)). W_g and W_u are stored next to
//! each other, so one product gives [g ; u] = W_gu·a.

use crate::kernels::ops::{silu, silu_grad};
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

pub struct FfnWeights<'a> {
    /// Wg then Wu: [2H × d]
    pub gu: &'a [f32],
    /// Wo: [d × H]
    pub o: &'a [f32],
}

pub struct FfnGrads<'a> {
    pub gu: &'a mut [f32],
    pub o: &'a mut [f32],
}

/// Forward; keeps `gu` [rows × 2H] for backward (`act` [rows × H] is scratch).
pub fn ffn_forward(out: &mut [f32], gu: &mut [f32], act: &mut [f32], a: &[f32], w: &FfnWeights, d: usize, h: usize) {
    let rows = a.len() / d;
    matmul(gu, 2 * h, false, MatRef::rows(a, d), MatRef::t(w.gu, d), rows, 2 * h, d);
    activate(act, gu, h);
    matmul(out, d, false, MatRef::rows(act, h), MatRef::t(w.o, h), rows, d, h);
}

crate::vectorized! {
    /// act = SiLU(g) ⊙ u for each [g ; u] row.
    fn activate(act: &mut [f32], gu: &[f32], h: usize) {
        act.par_chunks_mut(h).zip(gu.par_chunks(2 * h)).for_each(|(o, x)| {
            // zipped halves, no indexing: the σ vectorise
            let (g, u) = x.split_at(h);
            for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                *o = silu(g) * u;
            }
        });
    }
}

crate::vectorized! {
    /// Backward: da overwritten; weight gradients added. Scratch `dact` [rows × H]
    /// (∂L/∂act, then the recomputed activation), `dgu` [rows × 2H].
    #[allow(clippy::too_many_arguments)]
    pub fn ffn_backward(
        da: &mut [f32],
        g: FfnGrads,
        dout: &[f32],
        a: &[f32],
        gu: &[f32],
        w: &FfnWeights,
        dact: &mut [f32],
        dgu: &mut [f32],
        d: usize,
        h: usize,
    ) {
        let rows = a.len() / d;
        // ∂L/∂act first, so that one pass over [g ; u] gives both [dg ; du] and
        // the activation W_o's gradient needs (written over ∂L/∂act as it is read)
        matmul(dact, h, false, MatRef::rows(dout, d), MatRef::rows(w.o, h), rows, h, d);
        dgu.par_chunks_mut(2 * h).zip(dact.par_chunks_mut(h)).zip(gu.par_chunks(2 * h)).for_each(|((dx, dy), x)| {
            let (dg, du) = dx.split_at_mut(h);
            let (g, u) = x.split_at(h);
            for ((((dg, du), dy), &g), &u) in dg.iter_mut().zip(du).zip(dy).zip(g).zip(u) {
                let s = silu(g);
                *dg = *dy * u * silu_grad(g);
                *du = *dy * s;
                *dy = s * u;
            }
        });
        matmul(g.o, h, true, MatRef::t(dout, d), MatRef::rows(dact, h), d, h, rows);
        matmul(g.gu, d, true, MatRef::t(dgu, 2 * h), MatRef::rows(a, d), 2 * h, d, rows);
        matmul(da, d, false, MatRef::rows(dgu, 2 * h), MatRef::rows(w.gu, d), rows, d, 2 * h);
    }
}
