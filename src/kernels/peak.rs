//! Machine peaks that MFU figures are measured against: the GEMM peak over
//! the training shapes and the cores' bare FMA rate. Measured, never assumed.

use super::{matmul, MatRef};
use crate::rng::Rng;
use std::time::Instant;

/// Best GFLOP/s of our matmul over the training shapes (M = B·T rows), best of
/// 4 timed runs per shape after one warm-up.
pub fn sgemm_peak(rows: usize) -> f64 {
    let shapes = [(rows, 512, 256), (rows, 256, 512), (rows, 1024, 256), (rows, 256, 1024)];
    let mut best = 0.0f64;
    let mut rng = Rng::new(7);
    for &(m, n, k) in &shapes {
        let a: Vec<f32> = (0..m * k).map(|_| rng.next_f32() - 0.5).collect();
        let b: Vec<f32> = (0..n * k).map(|_| rng.next_f32() - 0.5).collect();
        let mut c = vec![0.0f32; m * n];
        for rep in 0..5 {
            let t0 = Instant::now();
            matmul(&mut c, n, false, MatRef::rows(&a, k), MatRef::t(&b, k), m, n, k);
            let dt = t0.elapsed().as_secs_f64();
            if rep > 0 {
                best = best.max(2.0 * (m * n * k) as f64 / dt / 1e9);
            }
        }
    }
    best
}

/// The sgemm kernel this machine runs, for the output.
pub fn kernel_label() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if super::simd::available() {
        return super::sgemm::kernel().label();
    }
    "gemm crate"
}

/// Which AVX-512 fp32 tile this process runs and why (`None` without the AVX-512 kernel).
pub fn tile_line() -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    if super::simd::available() && super::sgemm::kernel() == super::sgemm::Kernel::Avx512 {
        let (tile, measured) = super::sgemm::tile_choice();
        let ignored = match super::sgemm::forced_tile() {
            Err(v) => format!(" (FLASHLM_TILE={v:?} ignored: 8x32 or 6x64)"),
            Ok(_) => String::new(),
        };
        return Some(match measured {
            Some((square, wide)) => format!(
                "AVX-512 tile {}: the faster on this CPU at start-up (8 × 32 {square:.0}, 6 × 64 {wide:.0} GFLOP/s on one thread, a 384 × 256 × 512 product; FLASHLM_TILE=8x32 or 6x64 forces one){ignored}",
                tile.label()
            ),
            None => format!("AVX-512 tile {} (set by FLASHLM_TILE)", tile.label()),
        });
    }
    None
}

/// The cores' bare FMA peak: every thread of the current pool runs the
/// register-only FMA loop at once (about 16 ms), their GFLOP/s summed; best of 3.
pub fn fma_peak() -> f64 {
    best_of_3(|| rayon::broadcast(|_| super::simd::fma_gflops(FMA_ROUNDS)).iter().sum())
}

const FMA_ROUNDS: usize = 8_000_000;

fn best_of_3(f: impl Fn() -> f64) -> f64 {
    (0..3).map(|_| f()).fold(0.0, f64::max)
}

/// One thread's FMA peak (best of 3), the yardstick for [`cores_available`].
pub fn fma_single() -> f64 {
    best_of_3(|| super::simd::fma_gflops(FMA_ROUNDS))
}

/// Whether all `threads` cores delivered (≥ 80 % of `threads` × one thread's
/// FMA rate) when the all-threads peak was taken: on a shared host another
/// load can take a core away for a while, and figures taken then are low.
pub fn cores_available(all: f64, single: f64, threads: usize) -> bool {
    single <= 0.0 || all >= 0.8 * threads as f64 * single
}

/// The best read bandwidth (GB/s) over `data`, split in one block per thread
/// of the current pool: best of 10 passes after one warm-up. A decoder that
/// reads all its weights for each token can go no faster than this over the
/// weights' size.
pub fn read_bandwidth(data: &[f32]) -> f64 {
    use rayon::prelude::*;
    if data.is_empty() {
        return 0.0;
    }
    let per = data.len().div_ceil(rayon::current_num_threads()).next_multiple_of(64);
    let mut best = 0.0f64;
    for pass in 0..11 {
        let t0 = Instant::now();
        let s: f32 = data.par_chunks(per).map(lane_sum).sum();
        let dt = t0.elapsed().as_secs_f64();
        std::hint::black_box(s);
        if pass > 0 && dt > 0.0 {
            best = best.max(std::mem::size_of_val(data) as f64 / dt / 1e9);
        }
    }
    best
}

crate::vectorized! {
    /// Σ x over 64 independent lanes (enough loads in flight to stream).
    fn lane_sum(x: &[f32]) -> f32 {
        let mut acc = [0.0f32; 64];
        let chunks = x.chunks_exact(64);
        let tail: f32 = chunks.remainder().iter().sum();
        for c in chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a += v;
            }
        }
        acc.iter().sum::<f32>() + tail
    }
}
