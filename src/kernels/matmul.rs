//! Row-major matrix products on top of the `gemm` crate.
//!
//! Rows of the output are split into one contiguous block per rayon thread and
//! each block runs a single-threaded gemm: on 2 cores this beats gemm's own
//! threading on our training shapes (see DESIGN.md), and because each output
//! element is computed by exactly one thread in a fixed order, the result does
//! not depend on scheduling (needed for bit-exact resume).

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

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

struct SendPtr(*mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// out[m×n] (row-major, leading dimension `ldo`) = (accumulate ? out : 0) + a[m×k] · b[k×n].
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
    // Small products are not worth a fork; large ones get one block per thread.
    let blocks = if (m * n * k) < (1 << 18) || m < 2 * threads { 1 } else { threads };
    let rows_per = m.div_ceil(blocks);
    let dst = SendPtr(out.as_mut_ptr());
    let dst = &dst;
    let run = |bi: usize| {
        let r0 = bi * rows_per;
        if r0 >= m {
            return;
        }
        let rows = rows_per.min(m - r0);
        // SAFETY: blocks write disjoint row ranges of `out`, bounds checked above.
        unsafe {
            gemm(
                rows,
                n,
                k,
                dst.0.add(r0 * ldo),
                1,
                ldo as isize,
                accumulate,
                a.data.as_ptr().add(r0 * a.rs),
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
    };
    if blocks == 1 {
        run(0);
    } else {
        (0..blocks).into_par_iter().for_each(run);
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
    unsafe {
        gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
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
