//! The bf16 side of the sgemm for `--precision bf16` training (AVX512-BF16):
//! packing that rounds both operands to bf16 as it lays them out, and the
//! 8 × 32 tile of `vdpbf16ps` dot products. The loops around them are the
//! sgemm's (`sgemm.rs`, `Kernel::Bf16`).
//!
//! `vdpbf16ps` multiplies pairs: lane j of the accumulator gains
//! a₀·b₀ⱼ + a₁·b₁ⱼ, where each 32-bit lane of the operands holds two bf16
//! values. So a packed unit is a pair of adjacent depths (2q low, 2q + 1 high;
//! zero past the depth), A's pair broadcast to all lanes, B's 32 columns in two
//! registers. Accumulation is f32, in the order pair 0, 1, … of each depth
//! block. How the instruction adds a pair's two products (Intel documents two
//! roundings, odd depth first, denormals flushed) is the CPU's: the bits are
//! reproducible on one CPU model (bf16 runs resume exactly there), not
//! necessarily across vendors, as fp32's are.

use super::sgemm::{pack, prefetch_rows, store_tile};
use std::arch::x86_64::*;
use std::cell::RefCell;

thread_local! {
    /// The operand block as bf16 pairs, before it is cut into slivers.
    static PAIRS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Packs `n` lines × `kc` depths (element (l, p) = `src[l·sl + p·sp]`) into
/// slivers of `W` lines of ⌈kc / 2⌉ bf16 pairs each (round to nearest even,
/// by the same instruction on every path): lines adjacent at each depth go
/// straight into the slivers; otherwise each line is rounded into pairs first
/// and cut into slivers by the fp32 packing, which moves 32-bit units without
/// looking at them.
///
/// # Safety
/// The CPU has AVX-512F, AVX-512BW and AVX512-BF16; the elements named are in
/// bounds; `dst` holds ⌈n / W⌉·W·⌈kc / 2⌉ units.
pub(super) unsafe fn pack_pairs<const W: usize>(dst: &mut [f32], src: *const f32, sl: usize, sp: usize, n: usize, kc: usize) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        let kp = kc.div_ceil(2);
        PAIRS.with(|t| {
            let mut t = t.borrow_mut();
            // the pairs, and one gathered line for strided sources
            if t.len() < n * kp + kc {
                t.resize(n * kp + kc, 0.0);
            }
            let tmp = t.as_mut_ptr();
            if sp == 1 {
                // each line contiguous in depth: its pairs are adjacent floats
                for l in 0..n {
                    round_line(tmp.add(l * kp) as *mut u16, src.add(l * sl), kc);
                }
                pack::<W>(dst, tmp, kp, 1, n, kp);
            } else if sl == 1 && (W == 8 || W.is_multiple_of(16)) {
                // lines adjacent at each depth: two depths' rows interleaved,
                // straight into the slivers
                interleave_into::<W>(dst.as_mut_ptr() as *mut u32, kp, kc, src, sp, n);
            } else {
                // neither stride is 1 (no `MatRef` view makes this; kept general):
                // gather each line, then round it like a contiguous one
                let line = tmp.add(n * kp);
                for l in 0..n {
                    for p in 0..kc {
                        *line.add(p) = *src.add(l * sl + p * sp);
                    }
                    round_line(tmp.add(l * kp) as *mut u16, line, kc);
                }
                pack::<W>(dst, tmp, kp, 1, n, kp);
            }
        })
    }
}

/// `len` floats to bf16, plus one zero when `len` is odd (the pad of the last pair).
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn round_line(dst: *mut u16, src: *const f32, len: usize) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        let whole = len / 32 * 32;
        for i in (0..whole).step_by(32) {
            let v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src.add(i + 16)), _mm512_loadu_ps(src.add(i)));
            _mm512_storeu_si512(dst.add(i) as *mut __m512i, std::mem::transmute::<__m512bh, __m512i>(v));
        }
        let rest = len - whole;
        if rest > 0 {
            // masked loads read zeros past the line, which round to the zero pad
            // (no pointer is formed past the line's last 16)
            let lo = _mm512_maskz_loadu_ps(mask16(rest), src.add(whole));
            let hi = if rest > 16 { _mm512_maskz_loadu_ps(mask16(rest - 16), src.add(whole + 16)) } else { _mm512_setzero_ps() };
            let v = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo));
            let units = rest.next_multiple_of(2);
            let m: __mmask32 = if units >= 32 { !0 } else { (1u32 << units) - 1 };
            _mm512_mask_storeu_epi16(dst.add(whole) as *mut i16, m, v);
        }
    }
}

/// Every pair q of every line: (src\[l + 2q·sp\], src\[l + (2q+1)·sp\]) as bf16
/// (the odd one zero past `kc`), written to unit q of line l's sliver (`W`
/// lines a sliver, `kp` units a line; lines past `n` up to the last sliver's
/// end get zeros). Sixteen lines at a time through all the pairs, so each
/// sliver is written front to back and each source line read once: pair by
/// pair across all lines instead wrote one 32-byte piece to every sliver in
/// turn, and with 128 pairs the slivers lie 4 KB (W = 8) or 16 KB apart, the
/// same L1 set for all of them.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn interleave_into<const W: usize>(dst: *mut u32, kp: usize, kc: usize, src: *const f32, sp: usize, n: usize) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        debug_assert!(W == 8 || W.is_multiple_of(16), "slivers of 8 lines or a multiple of 16");
        // lane 2j takes even[j] (unit j of the low half), lane 2j + 1 odd[j] (unit 16 + j)
        const IDX: [i16; 32] = {
            let mut t = [0i16; 32];
            let mut j = 0;
            while j < 16 {
                t[2 * j] = j as i16;
                t[2 * j + 1] = 16 + j as i16;
                j += 1;
            }
            t
        };
        let idx = _mm512_loadu_si512(IDX.as_ptr() as *const __m512i);
        let lines = n.next_multiple_of(W);
        for l0 in (0..lines).step_by(16) {
            // unit q of line l lives at (l / W · kp + q) · W + l % W
            let at = |l: usize, q: usize| dst.add(((l / W) * kp + q) * W + l % W);
            if l0 >= n {
                // the last sliver's padding lines: zeros, read from nowhere
                for q in 0..kp {
                    if W == 8 {
                        _mm256_storeu_si256(at(l0, q) as *mut __m256i, _mm256_setzero_si256());
                    } else {
                        _mm512_storeu_si512(at(l0, q) as *mut __m512i, _mm512_setzero_si512());
                    }
                }
                continue;
            }
            let m = mask16(n - l0);
            let second = l0 + 8 < lines;
            for q in 0..kp {
                let e = _mm512_maskz_loadu_ps(m, src.add(2 * q * sp + l0));
                let o = if 2 * q + 1 < kc { _mm512_maskz_loadu_ps(m, src.add((2 * q + 1) * sp + l0)) } else { _mm512_setzero_ps() };
                let v = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(o, e));
                let units = _mm512_permutexvar_epi16(idx, v);
                if W == 8 {
                    _mm256_storeu_si256(at(l0, q) as *mut __m256i, _mm512_castsi512_si256(units));
                    if second {
                        _mm256_storeu_si256(at(l0 + 8, q) as *mut __m256i, _mm512_extracti64x4_epi64::<1>(units));
                    }
                } else {
                    _mm512_storeu_si512(at(l0, q) as *mut __m512i, units);
                }
            }
        }
    }
}

/// The first `n` (at most 16) lanes.
fn mask16(n: usize) -> __mmask16 {
    if n >= 16 {
        !0
    } else {
        (1u16 << n) - 1
    }
}

/// The `R` × 32 tile: c (row stride ldc) = or += Σ_q Σ_{h∈0,1} a\[q·R + i\]_h · b\[q·32 + j\]_h.
///
/// # Safety
/// The CPU has AVX-512F and AVX512-BF16; `a` holds `kp`·R units, `b` `kp`·32,
/// c's R rows of 32 are writable.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn kernel<const R: usize>(kp: usize, a: *const u32, b: *const u32, c: *mut f32, ldc: usize, overwrite: bool) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        prefetch_rows::<R, 2>(c, ldc);
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let (mut a, mut b) = (a, b);
        for _ in 0..kp {
            let b0 = std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(b as *const __m512i));
            let b1 = std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(b.add(16) as *const __m512i));
            for (i, row) in acc.iter_mut().enumerate() {
                let x = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*a.add(i) as i32));
                row[0] = _mm512_dpbf16_ps(row[0], x, b0);
                row[1] = _mm512_dpbf16_ps(row[1], x, b1);
            }
            a = a.add(R);
            b = b.add(32);
        }
        store_tile::<R, 2>(&acc, c, ldc, overwrite);
    }
}
