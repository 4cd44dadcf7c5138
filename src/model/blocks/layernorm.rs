//! BB-LN: y = (x − μ)/sqrt(v + ε) ⊙ γ + β, μ and the *biased* variance v over
//! the d features of a row (ε = 1e-5 in every FlashLM version that uses it).

use crate::kernels::ops::{lane_sum3, sum_rows};
use rayon::prelude::*;

pub const LN_EPS: f32 = 1e-5;

/// (mean, 1/sqrt(biased variance + ε)) of a row: the forward pass and the
/// decoders' `layernorm_row` share it, so both round alike.
#[inline(always)]
fn row_stats(x: &[f32]) -> (f32, f32) {
    let d = x.len() as f32;
    let m = lane_sum3(x, x, x, |x, _, _| x) / d;
    let v = lane_sum3(x, x, x, |x, _, _| (x - m) * (x - m)) / d;
    (m, 1.0 / (v + LN_EPS).sqrt())
}

crate::vectorized! {
    /// out\[r\] = (inp\[r\] − mean\[r\])·rstd\[r\] ⊙ gamma + beta; keeps mean and rstd per row.
    pub fn layernorm_forward(out: &mut [f32], mean: &mut [f32], rstd: &mut [f32], inp: &[f32], gamma: &[f32], beta: &[f32], d: usize) {
        out.par_chunks_mut(d).zip(mean.par_iter_mut()).zip(rstd.par_iter_mut()).zip(inp.par_chunks(d)).for_each(|(((o, mu), rs), x)| {
            let (m, r) = row_stats(x);
            *mu = m;
            *rs = r;
            for j in 0..d {
                o[j] = (x[j] - m) * r * gamma[j] + beta[j];
            }
        });
    }
}

crate::vectorized! {
    /// Recomputes the forward output from stored mean/rstd (backward passes rebuild
    /// normalised inputs instead of keeping a copy per layer).
    pub fn layernorm_apply(out: &mut [f32], inp: &[f32], gamma: &[f32], beta: &[f32], mean: &[f32], rstd: &[f32], d: usize) {
        out.par_chunks_mut(d).zip(inp.par_chunks(d)).zip(mean.par_iter().zip(rstd.par_iter())).for_each(|((o, x), (&m, &r))| {
            for j in 0..d {
                o[j] = (x[j] - m) * r * gamma[j] + beta[j];
            }
        });
    }
}

crate::vectorized! {
    /// dinp += ∂L/∂inp, dgamma += Σ dy⊙x̂, dbeta += Σ dy, given dout = ∂L/∂out.
    ///
    /// With x̂ = (x − μ)·r and ĝ = dy⊙γ: dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)).
    #[allow(clippy::too_many_arguments)]
    pub fn layernorm_backward(
        dinp: &mut [f32],
        dgamma: &mut [f32],
        dbeta: &mut [f32],
        dout: &[f32],
        inp: &[f32],
        gamma: &[f32],
        mean: &[f32],
        rstd: &[f32],
        d: usize,
    ) {
        let rows = rstd.len();
        sum_rows(rows, dgamma, |r, acc| {
            let (dy, x, m, rs) = (&dout[r * d..(r + 1) * d], &inp[r * d..(r + 1) * d], mean[r], rstd[r]);
            for j in 0..d {
                acc[j] += dy[j] * (x[j] - m) * rs;
            }
        });
        sum_rows(rows, dbeta, |r, acc| {
            let dy = &dout[r * d..(r + 1) * d];
            for j in 0..d {
                acc[j] += dy[j];
            }
        });
        dinp.par_chunks_mut(d).zip(dout.par_chunks(d)).zip(inp.par_chunks(d)).zip(mean.par_iter().zip(rstd.par_iter())).for_each(
            |(((dx, dy), x), (&m, &r))| {
                let s1 = lane_sum3(dy, gamma, dy, |dy, g, _| dy * g) / d as f32;
                let s2 = lane_sum3(dy, gamma, x, |dy, g, x| dy * g * (x - m) * r) / d as f32;
                for j in 0..d {
                    let xh = (x[j] - m) * r;
                    dx[j] += r * (dy[j] * gamma[j] - s1 - xh * s2);
                }
            },
        );
    }
}

crate::vectorized! {
    /// LayerNorm of one row (decoders), in the order of `layernorm_forward`.
    pub fn layernorm_row(out: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32]) {
        let (m, r) = row_stats(x);
        for j in 0..x.len() {
            out[j] = (x[j] - m) * r * gamma[j] + beta[j];
        }
    }
}
