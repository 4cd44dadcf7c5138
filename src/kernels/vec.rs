//! Single-token (decode-time) vector kernels: FMA dot product, parallel-when-large
//! matrix–vector product, RMSNorm of one row.

use crate::model::rmsnorm::RMS_EPS;

/// Dot product with 16 independent FMA lanes (vectorises to AVX2/AVX-512 FMAs).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Products at least this large (multiply-adds) are split over the current rayon pool.
pub const PAR_MATVEC: usize = 1 << 17;

/// y[o] = Σ_i w[o, i]·x[i] for w stored [out × in]; large products run on the
/// current rayon pool when `parallel` (never from a thread outside the pool).
pub fn matvec(y: &mut [f32], w: &[f32], x: &[f32], parallel: bool) {
    let n = x.len();
    if parallel && y.len() * n >= PAR_MATVEC {
        use rayon::prelude::*;
        // one contiguous block per thread: a fork/join costs microseconds, a token ~1 ms
        let per = y.len().div_ceil(rayon::current_num_threads());
        y.par_chunks_mut(per).enumerate().for_each(|(c, ys)| {
            for (i, yo) in ys.iter_mut().enumerate() {
                let o = c * per + i;
                *yo = dot(&w[o * n..(o + 1) * n], x);
            }
        });
    } else {
        for (o, yo) in y.iter_mut().enumerate() {
            *yo = dot(&w[o * n..(o + 1) * n], x);
        }
    }
}

pub fn rmsnorm(out: &mut [f32], x: &[f32], g: &[f32]) {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (ms + RMS_EPS).sqrt();
    for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
        *o = x * r * g;
    }
}
