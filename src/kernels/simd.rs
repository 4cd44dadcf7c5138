//! AVX2 + FMA kernels for decode-time products, chosen at run time.
//!
//! The portable loops in `vec.rs` leave the codegen to LLVM, which for rows of
//! 256–512 weights spent as long summing the 16 lanes one after another as on
//! the products, and for bf16 / int8 weights sometimes fell back to 128-bit
//! vectors. Here four rows share each load of x, eight FMA chains are in
//! flight, and the four row sums come out of one horizontal reduction.
//! Results differ from the portable loops only in summation order.

/// True where the AVX2 kernels can run (and `FLASHLM_SIMD` allows them).
#[inline]
pub fn available() -> bool {
    super::dispatch::products() >= super::dispatch::Level::Avx2
}

#[cfg(target_arch = "x86_64")]
pub use x86::*;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// A weight element type: eight consecutive weights to eight f32 lanes.
    pub trait Lanes: Copy {
        /// # Safety
        /// `p` points at 8 readable elements; the CPU has AVX2.
        unsafe fn load8(p: *const Self) -> __m256;
        /// one weight as f32 (the row tails)
        fn to_f32(self) -> f32;
    }
    impl Lanes for f32 {
        #[inline(always)]
        unsafe fn load8(p: *const f32) -> __m256 {
            // SAFETY: the caller upholds this function's contract (its doc and target features).
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        fn to_f32(self) -> f32 {
            self
        }
    }
    /// bf16 bits: the f32 whose upper half they are
    impl Lanes for u16 {
        #[inline(always)]
        unsafe fn load8(p: *const u16) -> __m256 {
            // SAFETY: the caller upholds this function's contract (its doc and target features).
            unsafe { _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p as *const __m128i)), 16)) }
        }
        #[inline(always)]
        fn to_f32(self) -> f32 {
            super::super::vec::from_bf16(self)
        }
    }
    impl Lanes for i8 {
        #[inline(always)]
        unsafe fn load8(p: *const i8) -> __m256 {
            // SAFETY: the caller upholds this function's contract (its doc and target features).
            unsafe { _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i))) }
        }
        #[inline(always)]
        fn to_f32(self) -> f32 {
            self as f32
        }
    }

    /// The four lane sums of a0..a3 as one 128-bit vector.
    #[inline(always)]
    unsafe fn hsum4(a0: __m256, a1: __m256, a2: __m256, a3: __m256) -> [f32; 4] {
        // SAFETY: the caller upholds this function's contract (its doc and target features).
        unsafe {
            let t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
            let s = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
            let mut out = [0.0f32; 4];
            _mm_storeu_ps(out.as_mut_ptr(), s);
            out
        }
    }

    #[inline(always)]
    unsafe fn hsum(a: __m256) -> f32 {
        // SAFETY: the caller upholds this function's contract (its doc and target features).
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
        }
    }

    /// Σ_i w\[i\]·x\[i\] for one row.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA (`super::available()`).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot<W: Lanes>(w: &[W], x: &[f32]) -> f32 {
        // SAFETY: the caller upholds this function's contract (its doc and target features).
        unsafe {
            let n = w.len().min(x.len());
            let (wp, xp) = (w.as_ptr(), x.as_ptr());
            let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut i = 0;
            while i + 16 <= n {
                a0 = _mm256_fmadd_ps(W::load8(wp.add(i)), _mm256_loadu_ps(xp.add(i)), a0);
                a1 = _mm256_fmadd_ps(W::load8(wp.add(i + 8)), _mm256_loadu_ps(xp.add(i + 8)), a1);
                i += 16;
            }
            let mut s = hsum(_mm256_add_ps(a0, a1));
            for j in i..n {
                s += w[j].to_f32() * x[j];
            }
            s
        }
    }

    /// y\[r\] = Σ_i w\[r·n + i\]·x\[i\] for the rows of y (n = x.len()), four rows
    /// per pass over x.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; w holds y.len()·x.len() weights.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec<W: Lanes>(y: &mut [f32], w: &[W], x: &[f32]) {
        // SAFETY: the caller upholds this function's contract (its doc and target features).
        unsafe {
            let n = x.len();
            assert!(w.len() >= y.len() * n);
            let (wp, xp) = (w.as_ptr(), x.as_ptr());
            let full = n - n % 8;
            let mut r = 0;
            while r + 4 <= y.len() {
                let rows = [wp.add(r * n), wp.add((r + 1) * n), wp.add((r + 2) * n), wp.add((r + 3) * n)];
                let mut a = [_mm256_setzero_ps(); 4];
                let mut b = [_mm256_setzero_ps(); 4];
                let mut i = 0;
                while i + 16 <= full {
                    let (x0, x1) = (_mm256_loadu_ps(xp.add(i)), _mm256_loadu_ps(xp.add(i + 8)));
                    for k in 0..4 {
                        a[k] = _mm256_fmadd_ps(W::load8(rows[k].add(i)), x0, a[k]);
                        b[k] = _mm256_fmadd_ps(W::load8(rows[k].add(i + 8)), x1, b[k]);
                    }
                    i += 16;
                }
                if i < full {
                    let x0 = _mm256_loadu_ps(xp.add(i));
                    for k in 0..4 {
                        a[k] = _mm256_fmadd_ps(W::load8(rows[k].add(i)), x0, a[k]);
                    }
                }
                let s = hsum4(_mm256_add_ps(a[0], b[0]), _mm256_add_ps(a[1], b[1]), _mm256_add_ps(a[2], b[2]), _mm256_add_ps(a[3], b[3]));
                store4(y, r, s, w, x, full);
                r += 4;
            }
            for (o, yo) in y.iter_mut().enumerate().skip(r) {
                *yo = dot(&w[o * n..(o + 1) * n], x);
            }
        }
    }

    /// Four row sums of a four-row pass plus their scalar tails (depths
    /// full..n), stored at y\[r..r+4\]: the end both widths' passes share.
    #[inline(always)]
    fn store4<W: Lanes>(y: &mut [f32], r: usize, s: [f32; 4], w: &[W], x: &[f32], full: usize) {
        let n = x.len();
        for (k, &sum) in s.iter().enumerate() {
            let mut v = sum;
            for j in full..n {
                v += w[(r + k) * n + j].to_f32() * x[j];
            }
            y[r + k] = v;
        }
    }

    /// f32 rows: [`matvec`] in zmm registers where the CPU has AVX-512F, else
    /// `matvec` itself. Each zmm accumulator holds both of `matvec`'s chains for
    /// a row (lanes 0–7 its first, 8–15 its second), so the sums are the same
    /// bits at half the instructions.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; w holds y.len()·x.len() weights.
    #[inline]
    pub unsafe fn matvec_f32(y: &mut [f32], w: &[f32], x: &[f32]) {
        // SAFETY: the caller upholds this function's contract; AVX-512F is checked here.
        unsafe {
            if super::super::dispatch::products() == super::super::dispatch::Level::Avx512 {
                matvec_f32_512(y, w, x)
            } else {
                matvec(y, w, x)
            }
        }
    }

    /// [`matvec_f32`]'s AVX-512 body.
    ///
    /// # Safety
    /// The CPU has AVX-512F; w holds y.len()·x.len() weights.
    #[target_feature(enable = "avx512f")]
    unsafe fn matvec_f32_512(y: &mut [f32], w: &[f32], x: &[f32]) {
        // SAFETY: the caller upholds this function's contract (its doc and target features).
        unsafe {
            let n = x.len();
            assert!(w.len() >= y.len() * n);
            let (wp, xp) = (w.as_ptr(), x.as_ptr());
            let full = n - n % 8;
            let mut r = 0;
            while r + 4 <= y.len() {
                let rows = [wp.add(r * n), wp.add((r + 1) * n), wp.add((r + 2) * n), wp.add((r + 3) * n)];
                let mut acc = [_mm512_setzero_ps(); 4];
                let mut i = 0;
                while i + 16 <= full {
                    let xv = _mm512_loadu_ps(xp.add(i));
                    for k in 0..4 {
                        acc[k] = _mm512_fmadd_ps(_mm512_loadu_ps(rows[k].add(i)), xv, acc[k]);
                    }
                    i += 16;
                }
                let lo = |v: __m512| _mm512_castps512_ps256(v);
                let hi = |v: __m512| _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
                let mut a = [lo(acc[0]), lo(acc[1]), lo(acc[2]), lo(acc[3])];
                if i < full {
                    let x0 = _mm256_loadu_ps(xp.add(i));
                    for k in 0..4 {
                        a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(rows[k].add(i)), x0, a[k]);
                    }
                }
                let s = hsum4(
                    _mm256_add_ps(a[0], hi(acc[0])),
                    _mm256_add_ps(a[1], hi(acc[1])),
                    _mm256_add_ps(a[2], hi(acc[2])),
                    _mm256_add_ps(a[3], hi(acc[3])),
                );
                store4(y, r, s, w, x, full);
                r += 4;
            }
            for (o, yo) in y.iter_mut().enumerate().skip(r) {
                *yo = dot(&w[o * n..(o + 1) * n], x);
            }
        }
    }

    /// Block-scaled int8 rows: y\[r\] = Σ_b s\[r·n/32 + b\]·Σ_{i in block b} c·x;
    /// n = x.len() is a multiple of 32.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; c holds y.len()·n codes and s one scale per 32.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec_q8(y: &mut [f32], c: &[i8], s: &[f32], x: &[f32]) {
        // SAFETY: the caller upholds this function's contract (its doc and target features).
        unsafe {
            const B: usize = super::super::vec::Q8_BLOCK;
            let n = x.len();
            assert!(n.is_multiple_of(B) && c.len() >= y.len() * n && s.len() >= y.len() * n / B);
            let nb = n / B;
            let (cp, sp, xp) = (c.as_ptr(), s.as_ptr(), x.as_ptr());
            let mut r = 0;
            while r < y.len() {
                let k_rows = (y.len() - r).min(4);
                let mut acc = [_mm256_setzero_ps(); 4];
                for blk in 0..nb {
                    let i = blk * B;
                    let xs = [
                        _mm256_loadu_ps(xp.add(i)),
                        _mm256_loadu_ps(xp.add(i + 8)),
                        _mm256_loadu_ps(xp.add(i + 16)),
                        _mm256_loadu_ps(xp.add(i + 24)),
                    ];
                    for (k, acc_k) in acc.iter_mut().enumerate().take(k_rows) {
                        let p = cp.add((r + k) * n + i);
                        let lo = _mm256_fmadd_ps(i8::load8(p), xs[0], _mm256_mul_ps(i8::load8(p.add(16)), xs[2]));
                        let hi = _mm256_fmadd_ps(i8::load8(p.add(8)), xs[1], _mm256_mul_ps(i8::load8(p.add(24)), xs[3]));
                        let scale = _mm256_broadcast_ss(&*sp.add((r + k) * nb + blk));
                        *acc_k = _mm256_fmadd_ps(_mm256_add_ps(lo, hi), scale, *acc_k);
                    }
                }
                let sums = hsum4(acc[0], acc[1], acc[2], acc[3]);
                y[r..r + k_rows].copy_from_slice(&sums[..k_rows]);
                r += k_rows;
            }
        }
    }
}

/// GFLOP/s of this thread running nothing but independent FMAs as wide as the
/// sgemm kernel's (8 lanes for AVX2, 16 for AVX-512; 12 chains, no memory
/// traffic) for `iters` rounds: the core's arithmetic ceiling, against which a
/// GEMM's own peak can be judged. 0 without AVX2.
pub fn fma_gflops(iters: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if available() {
        let wide = super::sgemm::kernel() == super::sgemm::Kernel::Avx512;
        let t0 = std::time::Instant::now();
        // SAFETY: AVX2 + FMA checked just above; AVX-512F where the sgemm uses it.
        let sink = unsafe {
            if wide {
                fma_loop512(iters)
            } else {
                fma_loop(iters)
            }
        };
        let dt = t0.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        let lanes = if wide { 32 } else { 16 };
        return (iters * 12 * lanes) as f64 / dt / 1e9;
    }
    let _ = iters;
    0.0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); 12];
    let a = _mm256_set1_ps(std::hint::black_box(1.000_000_1));
    let b = _mm256_set1_ps(std::hint::black_box(0.999_999_9));
    for _ in 0..iters {
        for c in acc.iter_mut() {
            *c = _mm256_fmadd_ps(a, b, *c);
        }
    }
    let mut s = _mm256_setzero_ps();
    for c in acc {
        s = _mm256_add_ps(s, c);
    }
    _mm256_cvtss_f32(s)
}

/// [`fma_loop`] in zmm registers (16 lanes), the AVX-512 sgemm's ceiling.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop512(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); 12];
    let a = _mm512_set1_ps(std::hint::black_box(1.000_000_1));
    let b = _mm512_set1_ps(std::hint::black_box(0.999_999_9));
    for _ in 0..iters {
        for c in acc.iter_mut() {
            *c = _mm512_fmadd_ps(a, b, *c);
        }
    }
    let mut s = _mm512_setzero_ps();
    for c in acc {
        s = _mm512_add_ps(s, c);
    }
    _mm512_reduce_add_ps(s)
}
