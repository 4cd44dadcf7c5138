//! BB-FFN GEGLU (v5.2): [a ; b] = split(W_up·x), W_up ∈ [2H × d] (first H rows
//! go through GELU); y = W_down·(GELU(a) ⊙ b), W_down ∈ [d × H]. GELU is the exact
//! erf form z·Φ(z) (spec §0), not the tanh approximation.

use crate::kernels::ops::exp;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;
use std::f32::consts::FRAC_1_SQRT_2;

/// 1/√(2π)
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// erf(x) by Abramowitz & Stegun 7.1.26: 1 − t·(a₁ + t(a₂ + t(a₃ + t(a₄ + t·a₅))))·e^{−x²},
/// t = 1/(1 + p|x|), odd in x; absolute error ≤ 1.5e-7 in exact arithmetic,
/// ≤ 4e-7 in f32 (tested against f64 erf; libm's erff is within an ulp, and
/// GEMM summation order alone moves activations more). No branches, so the
/// GELU loops vectorise: libm's erff, branchy and scalar, was 5.5 % self time of a v5.2 step.
#[inline(always)]
fn erf_and_gauss(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152_1, 1.061_405_4];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let g = exp(-a * a);
    // below 0.5 the series 2/√π·Σ (−1)ⁿ x^(2n+1)/(n!(2n+1)) (to n = 6) is exact
    // to f32, where 1 − poly·g would lose bits to cancellation; both are
    // computed and one selected, so the loop stays branch-free
    let x2 = x * x;
    let series = x
        * (std::f32::consts::FRAC_2_SQRT_PI
            + x2 * (-0.376_126_4
                + x2 * (0.112_837_92 + x2 * (-0.026_866_17 + x2 * (0.005_223_977 + x2 * (-8.548_327e-4 + x2 * 1.205_533_7e-4))))));
    let e = if a < 0.5 { series } else { (1.0 - poly * g).copysign(x) };
    (e, g)
}

/// erf(x) (see `erf_and_gauss`).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    erf_and_gauss(x).0
}

/// GELU(z) = z·Φ(z) = z·½(1 + erf(z/√2)), in PyTorch's operation order.
#[inline]
pub fn gelu(z: f32) -> f32 {
    z * 0.5 * (1.0 + erf(z * FRAC_1_SQRT_2))
}

/// GELU'(z) = Φ(z) + z·φ(z), φ the standard normal density (e^{−z²/2} is the
/// same exponential the erf needs).
#[inline]
pub fn gelu_grad(z: f32) -> f32 {
    let (e, g) = erf_and_gauss(z * FRAC_1_SQRT_2);
    0.5 * (1.0 + e) + z * INV_SQRT_2PI * g
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

crate::vectorized! {
    /// act = GELU(a) ⊙ b for each [a ; b] row.
    fn activate(act: &mut [f32], ab: &[f32], h: usize) {
        act.par_chunks_mut(h).zip(ab.par_chunks(2 * h)).for_each(|(o, x)| {
            for j in 0..h {
                o[j] = gelu(x[j]) * x[h + j];
            }
        });
    }
}

crate::vectorized! {
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
}
