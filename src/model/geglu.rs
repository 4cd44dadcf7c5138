//! BB-FFN GEGLU (v5.2): [a ; b] = split(W_up·x), W_up ∈ [2H × d] (first H rows
//! go through GELU); y = W_down·(GELU(a) ⊙ b), W_down ∈ [d × H]. GELU is the exact
//! erf form z·Φ(z) (spec §0), not the tanh approximation.

use crate::kernels::ops::exp;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;
use std::f32::consts::FRAC_1_SQRT_2;

/// 1/√(2π)
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// GELU(z) = z·Φ(z) = z·½(1 + erf(z/√2)), in PyTorch's operation order.
#[inline]
pub fn gelu(z: f32) -> f32 {
    z * 0.5 * (1.0 + libm::erff(z * FRAC_1_SQRT_2))
}

/// GELU'(z) = Φ(z) + z·φ(z), φ the standard normal density.
#[inline]
pub fn gelu_grad(z: f32) -> f32 {
    0.5 * (1.0 + libm::erff(z * FRAC_1_SQRT_2)) + z * INV_SQRT_2PI * exp(-0.5 * z * z)
}

pub struct GegluWeights<'a> {
    /// W_up: [2H × d], GELU half first
    pub up: &'a [f32],
    /// W_down: [d × H]
    pub down: &'a [f32],
}

pub struct GegluGrads<'a> {
    pub up: &'a mut [f32],
    pub down: &'a mut [f32],
}

/// Forward; keeps `ab` [rows × 2H] for backward (`act` [rows × H] is scratch).
pub fn geglu_forward(out: &mut [f32], ab: &mut [f32], act: &mut [f32], x: &[f32], w: &GegluWeights, d: usize, h: usize) {
    let rows = x.len() / d;
    matmul(ab, 2 * h, false, MatRef::rows(x, d), MatRef::t(w.up, d), rows, 2 * h, d);
    activate(act, ab, h);
    matmul(out, d, false, MatRef::rows(act, h), MatRef::t(w.down, h), rows, d, h);
}

/// act = GELU(a) ⊙ b for each [a ; b] row.
fn activate(act: &mut [f32], ab: &[f32], h: usize) {
    act.par_chunks_mut(h).zip(ab.par_chunks(2 * h)).for_each(|(o, x)| {
        for j in 0..h {
            o[j] = gelu(x[j]) * x[h + j];
        }
    });
}

/// Backward: `dx` overwritten; weight gradients added. Scratch `dact` [rows × H]
/// (first holds the recomputed activation), `dab` [rows × 2H].
#[allow(clippy::too_many_arguments)]
pub fn geglu_backward(
    dx: &mut [f32],
    g: GegluGrads,
    dout: &[f32],
    x: &[f32],
    ab: &[f32],
    w: &GegluWeights,
    dact: &mut [f32],
    dab: &mut [f32],
    d: usize,
    h: usize,
) {
    let rows = x.len() / d;
    activate(dact, ab, h);
    matmul(g.down, h, true, MatRef::t(dout, d), MatRef::rows(dact, h), d, h, rows);
    matmul(dact, h, false, MatRef::rows(dout, d), MatRef::rows(w.down, h), rows, h, d);
    dab.par_chunks_mut(2 * h).zip(dact.par_chunks(h)).zip(ab.par_chunks(2 * h)).for_each(|((dz, dy), z)| {
        for j in 0..h {
            dz[j] = dy[j] * z[h + j] * gelu_grad(z[j]);
            dz[h + j] = dy[j] * gelu(z[j]);
        }
    });
    matmul(g.up, d, true, MatRef::t(dab, 2 * h), MatRef::rows(x, d), 2 * h, d, rows);
    matmul(dx, d, false, MatRef::rows(dab, 2 * h), MatRef::rows(w.up, d), rows, d, 2 * h);
}
