//! Row-major matrix products: our sgemm (`sgemm.rs`: AVX-512 or AVX2 + FMA
//! kernels, and the AVX512-BF16 one for `--precision bf16`) where the CPU has
//! them, the `gemm` crate elsewhere.
//!
//! The output is split into one contiguous block per rayon thread and each
//! block runs a single-threaded product: on 2 cores this beats gemm's own
//! threading on our training shapes (see DESIGN.md), and because each output
//! element is computed by exactly one thread in a fixed order, the result does
//! not depend on scheduling (needed for bit-exact resume).

use gemm::{gemm, Parallelism};
use rayon::prelude::*;
use std::cell::Cell;

thread_local! {
    static BF16: Cell<bool> = const { Cell::new(false) };
}

/// Makes this thread's products round both operands to bf16 (AVX512-BF16 dot
/// products, f32 accumulation: `--precision bf16` training), or go back to
/// fp32. A per-thread setting, so runs and tests in one process do not see each
/// other's: training pools set it on every worker as it starts
/// ([`bf16_start_handler`]). Returns false (and stays fp32) where the CPU lacks
/// AVX512-BF16.
pub fn set_bf16_products(on: bool) -> bool {
    let ok = !on || bf16_supported();
    BF16.with(|b| b.set(on && ok));
    ok
}

/// Whether this thread's products run in bf16.
pub fn bf16_products() -> bool {
    BF16.with(|b| b.get())
}

/// Whether the CPU has what the bf16 products need (AVX-512F, -BW, AVX512-BF16).
pub fn bf16_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A rayon `start_handler` giving each worker of a pool this precision of products.
pub fn bf16_start_handler(on: bool) -> impl Fn(usize) + Send + Sync + 'static {
    move |_| {
        set_bf16_products(on);
    }
}

/// A read-only strided matrix view: element (i, j) is `data[i*rs + j*cs]`.
/// Transposition is free: swap `rs` and `cs`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major matrix with leading dimension `ld`.
    pub fn rows(data: &'a [f32], ld: usize) -> Self {
        MatRef { data, rs: ld, cs: 1 }
    }
    /// The transpose of a row-major matrix with leading dimension `ld`.
    pub fn t(data: &'a [f32], ld: usize) -> Self {
        MatRef { data, rs: 1, cs: ld }
    }
}

/// The output pointer handed to the threads of one product.
struct SendPtr(*mut f32);
// SAFETY: each thread writes only its own disjoint block of the output, and
// the product returns only after every thread is done.
unsafe impl Send for SendPtr {}
// SAFETY: as for Send: shared only to reach disjoint blocks.
unsafe impl Sync for SendPtr {}

/// out\[m×n\] (row-major, leading dimension `ldo`) = (accumulate ? out : 0) + a\[m×k\] · b\[k×n\].
///
/// Panics if a view would read out of bounds (a programming error, never user input).
pub fn matmul(out: &mut [f32], ldo: usize, accumulate: bool, a: MatRef, b: MatRef, m: usize, n: usize, k: usize) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(out.len() >= (m - 1) * ldo + n, "matmul: output too small");
    if k > 0 {
        assert!(a.data.len() > (m - 1) * a.rs + (k - 1) * a.cs, "matmul: lhs too small");
        assert!(b.data.len() > (k - 1) * b.rs + (n - 1) * b.cs, "matmul: rhs too small");
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                out[i * ldo..i * ldo + n].fill(0.0);
            }
        }
        return;
    }
    let threads = rayon::current_num_threads();
    let bf16 = bf16_products();
    // Small products are not worth a fork; large ones get one block per thread,
    // cut along the larger of m and n (each block packs its share of the other
    // operand: cutting the larger side packs least). Every element is computed
    // by one block in a fixed order, so the split never changes the result.
    let small = (m * n * k) < (1 << 18);
    let split_m = m >= n;
    let cols = tile_columns(bf16);
    let blocks = if small || (split_m && m < 2 * threads) || (!split_m && n < cols * threads) { 1 } else { threads };
    if blocks == 1 {
        // SAFETY: bounds checked above.
        unsafe { serial(bf16, out.as_mut_ptr(), ldo, accumulate, a, b, m, n, k) };
        return;
    }
    let per = if split_m { m.div_ceil(blocks) } else { n.div_ceil(blocks).next_multiple_of(cols) };
    let dst = SendPtr(out.as_mut_ptr());
    let dst = &dst;
    (0..blocks).into_par_iter().for_each(|bi| {
        let s0 = bi * per;
        let end = if split_m { m } else { n };
        if s0 >= end {
            return;
        }
        let len = per.min(end - s0);
        // SAFETY: blocks write disjoint rows (or columns) of `out`, bounds checked above.
        unsafe {
            if split_m {
                let a = MatRef { data: &a.data[s0 * a.rs..], ..a };
                serial(bf16, dst.0.add(s0 * ldo), ldo, accumulate, a, b, len, n, k);
            } else {
                let b = MatRef { data: &b.data[s0 * b.cs..], ..b };
                serial(bf16, dst.0.add(s0), ldo, accumulate, a, b, m, len, k);
            }
        }
    });
}

/// Columns of the tile the product will run on: a thread's share of the
/// columns is cut at a multiple of it, so no cut leaves a partial tile.
fn tile_columns(bf16: bool) -> usize {
    #[cfg(target_arch = "x86_64")]
    if bf16 {
        return super::sgemm::Kernel::Bf16.columns();
    } else if super::simd::available() {
        return super::sgemm::kernel().columns();
    }
    let _ = bf16;
    16
}

/// Settles which AVX-512 tile this process runs (it times both, about 25 ms)
/// on the calling thread, before a pool's workers are busy: callers that are
/// about to start long work call it so the timing sees a quiet core. A no-op
/// without the AVX-512 kernel, or once chosen.
pub fn choose_tile() {
    #[cfg(target_arch = "x86_64")]
    if super::simd::available() {
        super::sgemm::tile_choice();
    }
}

/// One thread's product: the bf16 kernel when asked (`bf16`, only ever set
/// where the CPU has it), else our AVX-512 / AVX2 kernel where the CPU has one,
/// else `gemm`.
///
/// # Safety
/// `out` holds rows `0..m` of `ldo` floats (n used); the views are in bounds.
#[allow(clippy::too_many_arguments)]
unsafe fn serial(bf16: bool, out: *mut f32, ldo: usize, accumulate: bool, a: MatRef, b: MatRef, m: usize, n: usize, k: usize) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        #[cfg(target_arch = "x86_64")]
        if super::simd::available() {
            use super::sgemm::{kernel, sgemm_with, Kernel};
            let kern = if bf16 { Kernel::Bf16 } else { kernel() };
            sgemm_with(kern, None, m, n, k, out, ldo, accumulate, a.data.as_ptr(), a.rs, a.cs, b.data.as_ptr(), b.rs, b.cs);
            return;
        }
        let _ = bf16;
        gemm(
            m,
            n,
            k,
            out,
            1,
            ldo as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// Single-threaded variant for use inside an already-parallel region
/// (never nest thread pools).
pub fn matmul_serial(out: &mut [f32], ldo: usize, accumulate: bool, a: MatRef, b: MatRef, m: usize, n: usize, k: usize) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(out.len() >= (m - 1) * ldo + n, "matmul: output too small");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                out[i * ldo..i * ldo + n].fill(0.0);
            }
        }
        return;
    }
    assert!(a.data.len() > (m - 1) * a.rs + (k - 1) * a.cs, "matmul: lhs too small");
    assert!(b.data.len() > (k - 1) * b.rs + (n - 1) * b.cs, "matmul: rhs too small");
    // SAFETY: bounds checked above.
    unsafe { serial(bf16_products(), out.as_mut_ptr(), ldo, accumulate, a, b, m, n, k) }
}
