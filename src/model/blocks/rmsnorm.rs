//! BB-RMS: y = x / sqrt(mean(x²) + ε) ⊙ g, ε = 1e-6.

use crate::kernels::ops::{lane_sum3, sum_row_chunks_with};
pub use crate::kernels::vec::RMS_EPS;

use crate::kernels::vec::dot;
use rayon::prelude::*;

crate::vectorized! {
    /// out\[r\] = inp\[r\] · rstd\[r\] ⊙ weight, storing rstd\[r\] = 1/sqrt(mean(inp\[r\]²) + ε).
    pub fn rmsnorm_forward(out: &mut [f32], rstd: &mut [f32], inp: &[f32], weight: &[f32], d: usize) {
        out.par_chunks_mut(d).zip(rstd.par_iter_mut()).zip(inp.par_chunks(d)).for_each(|((o, rs), x)| {
            // Σx² in vector lanes (a single running sum is a chain of dependent adds);
            // the decoder's `vec::rmsnorm` sums the same way, so both round alike
            let ms = dot(x, x) / d as f32;
            let r = 1.0 / (ms + RMS_EPS).sqrt();
            *rs = r;
            for ((o, &x), &g) in o.iter_mut().zip(x).zip(weight) {
                *o = x * r * g;
            }
        });
    }
}

crate::vectorized! {
    /// dinp += ∂L/∂inp and dweight += ∂L/∂weight, given dout = ∂L/∂out.
    ///
    /// With x̂ = x·r: dx = r·(dy⊙g) − x · r³/d · Σ(dy⊙g⊙x); dg = Σ_rows dy⊙x̂.
    /// One pass over the rows: each fixed chunk of rows (`sum_row_chunks_with`)
    /// adds its dg partial and writes its rows' dx while they are in cache; the
    /// partials are added in chunk order, so the bits do not depend on the thread
    /// count (and are those of the former two passes).
    pub fn rmsnorm_backward(dinp: &mut [f32], dweight: &mut [f32], dout: &[f32], inp: &[f32], weight: &[f32], rstd: &[f32], d: usize) {
        let rows = rstd.len();
        if rows == 0 || d == 0 {
            return;
        }
        assert!(dout.len() == rows * d && inp.len() == rows * d, "rmsnorm_backward: lengths differ");
        sum_row_chunks_with(rows, dweight, dinp, d, |range, acc, dxs| {
            for (r, dx) in range.zip(dxs.chunks_mut(d)) {
                let (dy, x, rs) = (&dout[r * d..(r + 1) * d], &inp[r * d..(r + 1) * d], rstd[r]);
                for j in 0..d {
                    acc[j] += dy[j] * x[j] * rs;
                }
                let coef = rs * rs * rs * lane_sum3(dy, weight, x, |a, b, c| a * b * c) / d as f32;
                for j in 0..d {
                    dx[j] += rs * dy[j] * weight[j] - coef * x[j];
                }
            }
        });
    }
}

crate::vectorized! {
    /// Recomputes out = inp · rstd ⊙ weight from a stored rstd (the backward pass
    /// rebuilds normalised activations instead of keeping one copy per layer).
    pub fn rmsnorm_apply(out: &mut [f32], inp: &[f32], weight: &[f32], rstd: &[f32], d: usize) {
        out.par_chunks_mut(d).zip(inp.par_chunks(d)).zip(rstd.par_iter()).for_each(|((o, x), &r)| {
            for ((o, &x), &g) in o.iter_mut().zip(x).zip(weight) {
                *o = x * r * g;
            }
        });
    }
}
