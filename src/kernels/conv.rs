//! Register tiles of the gated conv's loops (`model::gated_conv`): 8 positions
//! × 16 channels of sums held in registers while the taps go by, so a tap
//! costs one load of its input and no load or store of the output. One zmm
//! register per row with AVX-512F; with AVX2 only, two passes of 8 channels in
//! ymm registers (8 sums + a weight + an input: 10 of the 16). Each sum is a
//! product then an add (not fused), taken in the plain loops' order, so the
//! bits are theirs at either width. Only the tiles whose every tap lies inside
//! the window come here; edges stay in the portable loops.

#![allow(unsafe_op_in_unsafe_fn)] // TEMP-LINT

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::sync::atomic::{AtomicU8, Ordering};

/// Positions (or taps, for the weight gradient) per tile.
pub const TB: usize = 8;
/// Channels per tile: one AVX-512 register of f32, two AVX2 ones.
pub const CB: usize = 16;

/// The register width the tiles run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// no tiles: the plain loops
    None,
    Avx2,
    Avx512,
}

/// 0: not chosen yet, else Width as 1 + index.
static WIDTH: AtomicU8 = AtomicU8::new(0);

/// The widest the CPU has (AVX-512F, else AVX2, else none).
pub fn width() -> Width {
    match WIDTH.load(Ordering::Relaxed) {
        1 => Width::None,
        2 => Width::Avx2,
        3 => Width::Avx512,
        _ => {
            let w = detect();
            set_width(w);
            w
        }
    }
}

/// Forces a width (tests run both on one machine); the CPU must have it.
/// Returns false, changing nothing, where it does not.
pub fn set_width(w: Width) -> bool {
    let ok = match w {
        Width::None => true,
        Width::Avx2 => matches!(detect(), Width::Avx2 | Width::Avx512),
        Width::Avx512 => detect() == Width::Avx512,
    };
    if ok {
        WIDTH.store(1 + w as u8, Ordering::Relaxed);
    }
    ok
}

fn detect() -> Width {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Width::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Width::Avx2;
        }
    }
    Width::None
}

/// Whether the tiles run at all on this CPU (at the chosen width).
pub fn available() -> bool {
    width() != Width::None
}

/// out[i] = Σ_{j<k} w[j] ⊙ src[i·ld + j·step] for i < 8 (16 channels each,
/// j in order from a zero sum): the forward conv (src at input position
/// t0 − (k−1), step = +row) and its input gradient (src at t0 + k − 1,
/// step = −row). `w` holds tap j's 16 channels at `j·wld`.
///
/// # Safety
/// [`available`] is true; every element named is in bounds.
#[allow(clippy::too_many_arguments)]
pub unsafe fn taps(out: *mut f32, ldo: usize, src: *const f32, ld: usize, step: isize, w: *const f32, wld: usize, k: usize) {
    #[cfg(target_arch = "x86_64")]
    match width() {
        Width::Avx512 => taps512(out, ldo, src, ld, step, w, wld, k),
        Width::Avx2 => {
            // two halves of 8 channels
            taps256(out, ldo, src, ld, step, w, wld, k);
            taps256(out.add(8), ldo, src.add(8), ld, step, w.add(8), wld, k);
        }
        Width::None => unreachable!("conv tiles without AVX2 (`available()` is false)"),
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (out, ldo, src, ld, step, w, wld, k);
        unreachable!("conv tiles need x86-64 (`available()` is false here)")
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn taps512(out: *mut f32, ldo: usize, src: *const f32, ld: usize, step: isize, w: *const f32, wld: usize, k: usize) {
    let mut acc = [_mm512_setzero_ps(); TB];
    for j in 0..k {
        let wj = _mm512_loadu_ps(w.add(j * wld));
        // formed per tap (stepping on past the last one would point outside)
        let s = src.offset(j as isize * step);
        for (i, a) in acc.iter_mut().enumerate() {
            *a = _mm512_add_ps(*a, _mm512_mul_ps(wj, _mm512_loadu_ps(s.add(i * ld))));
        }
    }
    for (i, a) in acc.iter().enumerate() {
        _mm512_storeu_ps(out.add(i * ldo), *a);
    }
}

/// [`taps512`] for 8 channels in ymm registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn taps256(out: *mut f32, ldo: usize, src: *const f32, ld: usize, step: isize, w: *const f32, wld: usize, k: usize) {
    let mut acc = [_mm256_setzero_ps(); TB];
    for j in 0..k {
        let wj = _mm256_loadu_ps(w.add(j * wld));
        let s = src.offset(j as isize * step);
        for (i, a) in acc.iter_mut().enumerate() {
            *a = _mm256_add_ps(*a, _mm256_mul_ps(wj, _mm256_loadu_ps(s.add(i * ld))));
        }
    }
    for (i, a) in acc.iter().enumerate() {
        _mm256_storeu_ps(out.add(i * ldo), *a);
    }
}

/// sums[jj] += Σ_{r<rows} dc[r·ldc] ⊙ u[r·ldu + jj·ldu] for jj < 8 (rows in
/// order, onto the sums at `sums + jj·lds`, 16 channels each): 8 taps of the
/// conv's weight gradient over a run of rows (u at the first tap's input row).
///
/// # Safety
/// [`available`] is true; every element named is in bounds.
pub unsafe fn tap_sums(sums: *mut f32, lds: usize, dc: *const f32, ldc: usize, u: *const f32, ldu: usize, rows: usize) {
    #[cfg(target_arch = "x86_64")]
    match width() {
        Width::Avx512 => tap_sums512(sums, lds, dc, ldc, u, ldu, rows),
        Width::Avx2 => {
            tap_sums256(sums, lds, dc, ldc, u, ldu, rows);
            tap_sums256(sums.add(8), lds, dc.add(8), ldc, u.add(8), ldu, rows);
        }
        Width::None => unreachable!("conv tiles without AVX2 (`available()` is false)"),
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (sums, lds, dc, ldc, u, ldu, rows);
        unreachable!("conv tiles need x86-64 (`available()` is false here)")
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tap_sums512(sums: *mut f32, lds: usize, dc: *const f32, ldc: usize, u: *const f32, ldu: usize, rows: usize) {
    let mut acc = [_mm512_setzero_ps(); TB];
    for (jj, a) in acc.iter_mut().enumerate() {
        *a = _mm512_loadu_ps(sums.add(jj * lds));
    }
    for r in 0..rows {
        let g = _mm512_loadu_ps(dc.add(r * ldc));
        let ur = u.add(r * ldu);
        for (jj, a) in acc.iter_mut().enumerate() {
            *a = _mm512_add_ps(*a, _mm512_mul_ps(g, _mm512_loadu_ps(ur.add(jj * ldu))));
        }
    }
    for (jj, a) in acc.iter().enumerate() {
        _mm512_storeu_ps(sums.add(jj * lds), *a);
    }
}

/// [`tap_sums512`] for 8 channels in ymm registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tap_sums256(sums: *mut f32, lds: usize, dc: *const f32, ldc: usize, u: *const f32, ldu: usize, rows: usize) {
    let mut acc = [_mm256_setzero_ps(); TB];
    for (jj, a) in acc.iter_mut().enumerate() {
        *a = _mm256_loadu_ps(sums.add(jj * lds));
    }
    for r in 0..rows {
        let g = _mm256_loadu_ps(dc.add(r * ldc));
        let ur = u.add(r * ldu);
        for (jj, a) in acc.iter_mut().enumerate() {
            *a = _mm256_add_ps(*a, _mm256_mul_ps(g, _mm256_loadu_ps(ur.add(jj * ldu))));
        }
    }
    for (jj, a) in acc.iter().enumerate() {
        _mm256_storeu_ps(sums.add(jj * lds), *a);
    }
}
