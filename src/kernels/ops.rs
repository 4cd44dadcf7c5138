//! Element-wise functions and deterministic reductions.

use rayon::prelude::*;

#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[inline]
pub fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

/// d/dx SiLU(x) = σ(x)·(1 + x·(1 − σ(x))).
#[inline]
pub fn silu_grad(x: f32) -> f32 {
    let s = sigmoid(x);
    s * (1.0 + x * (1.0 - s))
}

/// Rows per chunk in reductions. Fixed (not derived from the thread count) so a
/// sum over rows is computed in the same order on any number of threads.
pub const REDUCE_CHUNK: usize = 64;

/// out[j] += Σ_rows f(row)[j]: `f(r, acc)` adds row r's contribution into `acc`
/// (length `out.len()`). Parallel over fixed chunks of rows, partial sums added
/// in chunk order, so the result is bit-identical whatever the thread count.
pub fn sum_rows<F>(rows: usize, out: &mut [f32], f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let d = out.len();
    let chunks = rows.div_ceil(REDUCE_CHUNK);
    let mut partials = vec![0.0f32; chunks * d];
    partials.par_chunks_mut(d.max(1)).enumerate().for_each(|(c, acc)| {
        let r0 = c * REDUCE_CHUNK;
        for r in r0..(r0 + REDUCE_CHUNK).min(rows) {
            f(r, acc);
        }
    });
    for p in partials.chunks(d.max(1)) {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
}

/// Σ of squares in f64, in a fixed order.
pub fn sum_sq_f64(x: &[f32]) -> f64 {
    x.par_chunks(1 << 14).map(|c| c.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>()).collect::<Vec<f64>>().into_iter().sum()
}
