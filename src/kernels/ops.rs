//! Element-wise functions and deterministic reductions.

use rayon::prelude::*;

/// e^x in f32, vectorisable (no libm call): Cody–Waite range reduction
/// x = n·ln2 + r, |r| ≤ ln2/2, then the Cephes expf polynomial (relative error
/// ≈ 2e-7, like libm's within a couple of ulps). Inputs below −87.3 give ~1e-38
/// instead of 0, above 88.7 saturate: harmless for softmax and gates.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

/// d/dx SiLU(x) = σ(x)·(1 + x·(1 − σ(x))).
#[inline(always)]
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
/// out = a + b elementwise (residual adds), in parallel blocks.
pub fn add(out: &mut [f32], a: &[f32], b: &[f32]) {
    out.par_chunks_mut(4096).zip(a.par_chunks(4096)).zip(b.par_chunks(4096)).for_each(|((o, a), b)| {
        for i in 0..o.len() {
            o[i] = a[i] + b[i];
        }
    });
}

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
