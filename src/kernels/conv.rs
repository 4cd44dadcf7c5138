//! AVX-512 tiles of the gated conv's loops (`model::gated_conv`): 8 positions
//! × 16 channels of sums held in zmm registers while the taps go by, so a tap
//! costs one load of its input and no load or store of the output. Each sum is
//! a product then an add (not fused), taken in the plain loops' order, so the
//! bits are theirs. Only the tiles whose every tap lies inside the window come
//! here; edges stay in the portable loops.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Positions (or taps, for the weight gradient) per tile.
pub const TB: usize = 8;
/// Channels per tile: one register of f32.
pub const CB: usize = 16;

/// Whether the CPU runs these tiles (AVX-512F).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// out[i] = Σ_{j<k} w[j] ⊙ src[i·ld + j·step] for i < 8 (16 channels each,
/// j in order from a zero sum): the forward conv (src at input position
/// t0 − (k−1), step = +row) and its input gradient (src at t0 + k − 1,
/// step = −row). `w` holds tap j's 16 channels at `j·wld`.
///
/// # Safety
/// The CPU has AVX-512F; every element named is in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn taps(out: *mut f32, ldo: usize, src: *const f32, ld: usize, step: isize, w: *const f32, wld: usize, k: usize) {
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

/// sums[jj] += Σ_{r<rows} dc[r·ldc] ⊙ u[r·ldu + jj·ldu] for jj < 8 (rows in
/// order, onto the sums at `sums + jj·lds`): 8 taps of the conv's weight
/// gradient over a run of rows (u at the first tap's input row).
///
/// # Safety
/// The CPU has AVX-512F; every element named is in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn tap_sums(sums: *mut f32, lds: usize, dc: *const f32, ldc: usize, u: *const f32, ldu: usize, rows: usize) {
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

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
pub unsafe fn taps(_: *mut f32, _: usize, _: *const f32, _: usize, _: isize, _: *const f32, _: usize, _: usize) {
    unreachable!("conv tiles need AVX-512F (`available()` is false here)")
}

#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn tap_sums(_: *mut f32, _: usize, _: *const f32, _: usize, _: *const f32, _: usize, _: usize) {
    unreachable!("conv tiles need AVX-512F (`available()` is false here)")
}
