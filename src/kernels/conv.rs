//! Causal depthwise convolution over each of `b` windows of `t` positions, the
//! CONV_k of the gated conv mixer (`model::blocks::gated_conv`):
//! `out[t,c] = Σ_j w[c,j] · u[t−(k−1)+j, c]`, zero before the window start.
//!
//! [`conv_forward`] and [`conv_backward`] run in register tiles: 8 positions
//! × 16 channels of sums held in registers while the taps go by, so a tap
//! costs one load of its input and no load or store of the output. One zmm
//! register per row with AVX-512F; with AVX2 only, two passes of 8 channels in
//! ymm registers (8 sums + a weight + an input: 10 of the 16). Each sum is a
//! product then an add (not fused), taken in the plain loops' order
//! ([`conv_forward_plain`], [`conv_backward_plain`]), so the bits are theirs
//! at either width. Only the tiles whose every tap lies inside the window go
//! to registers; edges stay in portable loops.

use super::ops::{mul_add_into, sum_row_chunks, sum_rows};
use super::scratch;
use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::sync::atomic::{AtomicU8, Ordering};

/// Positions (or taps, for the weight gradient) per tile.
const TB: usize = 8;
/// Channels per tile: one AVX-512 register of f32, two AVX2 ones.
const CB: usize = 16;

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

/// acc += w ⊙ u over one tile row, for the tiles at the window's edges: a
/// product, then an add (not fused), as in the plain loops and the register tiles.
#[inline(always)]
fn mul_add16(acc: &mut [f32; CB], w: &[f32], u: &[f32]) {
    let (w, u): (&[f32; CB], &[f32; CB]) = (w[..CB].try_into().unwrap(), u[..CB].try_into().unwrap());
    for l in 0..CB {
        acc[l] += w[l] * u[l];
    }
}

crate::vectorized! {
    /// Causal depthwise conv over each of `b` sequences of `t` rows:
    /// `out[t,c] = Σ_j w[c,j] · u[t−(k−1)+j, c]`, zero before the window start.
    /// `u` has row stride `ldu` (it may be columns of a wider buffer).
    ///
    /// With AVX-512 or AVX2, in tiles of 8 positions × 16 channels held in
    /// registers (below), each sum over j = 0, 1, … as in
    /// [`conv_forward_plain`], so the bits are the same; otherwise (or for widths
    /// not a multiple of 16) the plain loops.
    pub fn conv_forward(out: &mut [f32], u: &[f32], ldu: usize, w: &[f32], t: usize, d: usize, k: usize) {
        if !d.is_multiple_of(CB) || !available() {
            return conv_forward_plain(out, u, ldu, w, t, d, k);
        }
        let mut wt = scratch::zeroed(k * d);
        taps_major(&mut wt, w, d, k);
        out.par_chunks_mut(t * d).enumerate().for_each(|(b, o)| {
            let us = &u[b * t * ldu..];
            for t0 in (0..t).step_by(TB) {
                let nt = TB.min(t - t0);
                for c0 in (0..d).step_by(CB) {
                    if nt == TB && t0 + 1 >= k {
                        // every tap of every position inside the window
                        let (first, last) = ((t0 + 1 - k) * ldu + c0, (t0 + TB - 1) * ldu + c0 + CB);
                        assert!(last <= us.len() && (t0 + TB) * d <= o.len());
                        // SAFETY: tiles available (checked above); rows t0+1−k ..= t0+7 of u and
                        // t0 .. t0+8 of out, 16 channels from c0, are in bounds (asserted).
                        unsafe { taps(o[t0 * d + c0..].as_mut_ptr(), d, us[first..].as_ptr(), ldu, ldu as isize, wt[c0..].as_ptr(), d, k) };
                        continue;
                    }
                    let mut acc = [[0.0f32; CB]; TB];
                    for j in 0..k {
                        let wj = &wt[j * d + c0..j * d + c0 + CB];
                        for (i, acc) in acc[..nt].iter_mut().enumerate() {
                            // input position t0 + i − (k−1) + j; taps before the window start are skipped
                            if t0 + i + j + 1 < k {
                                continue;
                            }
                            let s = (t0 + i + j + 1 - k) * ldu + c0;
                            mul_add16(acc, wj, &us[s..s + CB]);
                        }
                    }
                    for (i, acc) in acc[..nt].iter().enumerate() {
                        o[(t0 + i) * d + c0..(t0 + i) * d + c0 + CB].copy_from_slice(acc);
                    }
                }
            }
        });
    }
}

crate::vectorized! {
    /// du (row stride `ldu`, overwritten) and dw (+=) from dc = ∂L/∂out. In
    /// register tiles like [`conv_forward`], each sum in
    /// [`conv_backward_plain`]'s order (same bits): du over taps j = 0, 1, …;
    /// dw over the rows of each fixed chunk, in order.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_backward(du: &mut [f32], ldu: usize, dw: &mut [f32], dc: &[f32], u: &[f32], w: &[f32], t: usize, d: usize, k: usize) {
        if !d.is_multiple_of(CB) || k < TB || !available() {
            return conv_backward_plain(du, ldu, dw, dc, u, w, t, d, k);
        }
        let mut wt = scratch::zeroed(k * d);
        taps_major(&mut wt, w, d, k);
        let mut dwt = scratch::zeroed(k * d);
        // dw[j] = Σ_r dc[r] ⊙ u[r − (k−1−j)] (same sequence), 8 taps × 16
        // channels at a time; the last group of taps starts at k − 8, so its first
        // taps may be the group before's: summed again, stored once
        sum_row_chunks(dc.len() / d, &mut dwt, |range, acc| {
            for g in 0..k.div_ceil(TB) {
                let j0 = (g * TB).min(k - TB);
                // taps j0 .. g·8 were the group before's
                let owned = g * TB - j0;
                for c0 in (0..d).step_by(CB) {
                    let mut sums = [[0.0f32; CB]; TB];
                    let mut r = range.start;
                    while r < range.end {
                        let ti = r % t;
                        if ti + 1 >= k {
                            // a run of rows whose every tap is inside the window
                            let run = (t - ti).min(range.end - r);
                            let first = (r + j0 + 1 - k) * ldu + c0;
                            assert!(first + (run + TB - 2) * ldu + CB <= u.len() && (r + run) * d <= dc.len());
                            // SAFETY: tiles available (checked above); rows r+j0+1−k .. r+run+j0+TB−k of u
                            // (the last row is r+run−1 − (k−1−(j0+7)) ≤ r+run−1) and r .. r+run
                            // of dc are in bounds (asserted); `sums` holds 8 × 16.
                            unsafe { tap_sums(sums.as_mut_ptr() as *mut f32, CB, dc[r * d + c0..].as_ptr(), d, u[first..].as_ptr(), ldu, run) };
                            r += run;
                            continue;
                        }
                        let dcr = &dc[r * d + c0..r * d + c0 + CB];
                        for (jj, s) in sums.iter_mut().enumerate() {
                            let back = k - 1 - (j0 + jj);
                            if ti < back {
                                continue;
                            }
                            let at = (r - back) * ldu + c0;
                            mul_add16(s, dcr, &u[at..at + CB]);
                        }
                        r += 1;
                    }
                    for (jj, s) in sums.iter().enumerate().skip(owned) {
                        acc[(j0 + jj) * d + c0..(j0 + jj) * d + c0 + CB].copy_from_slice(s);
                    }
                }
            }
        });
        for c in 0..d {
            for j in 0..k {
                dw[c * k + j] += dwt[j * d + c];
            }
        }
        // du[ti] = Σ_j w_j ⊙ dc[ti + (k−1−j)], taps past the window's end skipped
        du.par_chunks_mut(t * ldu).enumerate().for_each(|(b, dus)| {
            let dcs = &dc[b * t * d..(b + 1) * t * d];
            for t0 in (0..t).step_by(TB) {
                let nt = TB.min(t - t0);
                for c0 in (0..d).step_by(CB) {
                    if nt == TB && t0 + TB - 1 + k - 1 < t {
                        let at = (t0 + k - 1) * d + c0;
                        assert!(at + (TB - 1) * d + CB <= dcs.len() && (t0 + TB - 1) * ldu + c0 + CB <= dus.len());
                        // SAFETY: tiles available (checked above); rows t0 .. t0+8+k−1 of dc (tap j of
                        // position i reads row t0+i+k−1−j) and t0 .. t0+8 of du are in bounds.
                        unsafe { taps(dus[t0 * ldu + c0..].as_mut_ptr(), ldu, dcs[at..].as_ptr(), d, -(d as isize), wt[c0..].as_ptr(), d, k) };
                        continue;
                    }
                    let mut acc = [[0.0f32; CB]; TB];
                    for j in 0..k {
                        let wj = &wt[j * d + c0..j * d + c0 + CB];
                        for (i, acc) in acc[..nt].iter_mut().enumerate() {
                            let dst = t0 + i + (k - 1 - j);
                            if dst >= t {
                                continue;
                            }
                            mul_add16(acc, wj, &dcs[dst * d + c0..dst * d + c0 + CB]);
                        }
                    }
                    for (i, acc) in acc[..nt].iter().enumerate() {
                        dus[(t0 + i) * ldu + c0..(t0 + i) * ldu + c0 + CB].copy_from_slice(acc);
                    }
                }
            }
        });
    }
}

crate::vectorized! {
    /// Causal depthwise conv over each of `b` sequences of `t` rows, in plain loops
    /// (the reference [`conv_forward`] is tested against, bit for bit):
    /// `out[t,c] = Σ_j w[c,j] · u[t−(k−1)+j, c]`, zero before the window start.
    /// `u` has row stride `ldu` (it may be columns of a wider buffer).
    pub fn conv_forward_plain(out: &mut [f32], u: &[f32], ldu: usize, w: &[f32], t: usize, d: usize, k: usize) {
        let mut wt = scratch::zeroed(k * d);
        taps_major(&mut wt, w, d, k);
        out.par_chunks_mut(t * d).enumerate().for_each(|(b, o)| {
            let base = b * t * ldu;
            for ti in 0..t {
                let orow = &mut o[ti * d..(ti + 1) * d];
                orow.fill(0.0);
                for j in 0..k {
                    let src = ti as isize - (k as isize - 1) + j as isize;
                    if src < 0 {
                        continue;
                    }
                    let urow = &u[base + src as usize * ldu..base + src as usize * ldu + d];
                    let wj = &wt[j * d..(j + 1) * d];
                    mul_add_into(orow, wj, urow);
                }
            }
        });
    }
}

crate::vectorized! {
    /// The [d, 1, k] weight as [k × d] into `wt`, so the inner loops run over contiguous channels.
    pub fn taps_major(wt: &mut [f32], w: &[f32], d: usize, k: usize) {
        for c in 0..d {
            for j in 0..k {
                wt[j * d + c] = w[c * k + j];
            }
        }
    }
}

crate::vectorized! {
    /// [`conv_backward`] in plain loops (the reference it is tested against, bit for bit).
    #[allow(clippy::too_many_arguments)]
    pub fn conv_backward_plain(du: &mut [f32], ldu: usize, dw: &mut [f32], dc: &[f32], u: &[f32], w: &[f32], t: usize, d: usize, k: usize) {
        let rows = dc.len() / d;
        let mut wt = scratch::zeroed(k * d);
        taps_major(&mut wt, w, d, k);
        let mut dwt = scratch::zeroed(k * d);
        sum_rows(rows, &mut dwt, |r, acc| {
            let ti = r % t;
            let dcr = &dc[r * d..(r + 1) * d];
            for j in 0..k {
                let back = k - 1 - j;
                if ti < back {
                    continue;
                }
                let s = (r - back) * ldu;
                let urow = &u[s..s + d];
                let aj = &mut acc[j * d..(j + 1) * d];
                mul_add_into(aj, dcr, urow);
            }
        });
        for c in 0..d {
            for j in 0..k {
                dw[c * k + j] += dwt[j * d + c];
            }
        }
        du.par_chunks_mut(t * ldu).enumerate().for_each(|(b, dus)| {
            for ti in 0..t {
                let drow = &mut dus[ti * ldu..ti * ldu + d];
                drow.fill(0.0);
                // u at ti feeds out at ti + (k−1−j) through tap j.
                for j in 0..k {
                    let dst = ti + (k - 1 - j);
                    if dst >= t {
                        continue;
                    }
                    let dcr = &dc[(b * t + dst) * d..(b * t + dst + 1) * d];
                    let wj = &wt[j * d..(j + 1) * d];
                    mul_add_into(drow, wj, dcr);
                }
            }
        });
    }
}

/// out\[i\] = Σ_{j<k} w\[j\] ⊙ src\[i·ld + j·step\] for i < 8 (16 channels each,
/// j in order from a zero sum): the forward conv (src at input position
/// t0 − (k−1), step = +row) and its input gradient (src at t0 + k − 1,
/// step = −row). `w` holds tap j's 16 channels at `j·wld`.
///
/// # Safety
/// [`available`] is true; every element named is in bounds.
#[allow(clippy::too_many_arguments)]
unsafe fn taps(out: *mut f32, ldo: usize, src: *const f32, ld: usize, step: isize, w: *const f32, wld: usize, k: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `width()` names a width this CPU has (`set_width` refuses others),
    // and the caller keeps every element named in bounds.
    unsafe {
        match width() {
            Width::Avx512 => taps512(out, ldo, src, ld, step, w, wld, k),
            Width::Avx2 => {
                // two halves of 8 channels
                taps256(out, ldo, src, ld, step, w, wld, k);
                taps256(out.add(8), ldo, src.add(8), ld, step, w.add(8), wld, k);
            }
            Width::None => unreachable!("conv tiles without AVX2 (`available()` is false)"),
        }
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
    // SAFETY: the caller checked AVX-512F and keeps every address formed in bounds.
    unsafe {
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
}

/// [`taps512`] for 8 channels in ymm registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn taps256(out: *mut f32, ldo: usize, src: *const f32, ld: usize, step: isize, w: *const f32, wld: usize, k: usize) {
    // SAFETY: the caller checked AVX2 and keeps every address formed in bounds.
    unsafe {
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
}

/// sums\[jj\] += Σ_{r<rows} dc\[r·ldc\] ⊙ u\[r·ldu + jj·ldu\] for jj < 8 (rows in
/// order, onto the sums at `sums + jj·lds`, 16 channels each): 8 taps of the
/// conv's weight gradient over a run of rows (u at the first tap's input row).
///
/// # Safety
/// [`available`] is true; every element named is in bounds.
unsafe fn tap_sums(sums: *mut f32, lds: usize, dc: *const f32, ldc: usize, u: *const f32, ldu: usize, rows: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `width()` names a width this CPU has (`set_width` refuses others),
    // and the caller keeps every element named in bounds.
    unsafe {
        match width() {
            Width::Avx512 => tap_sums512(sums, lds, dc, ldc, u, ldu, rows),
            Width::Avx2 => {
                tap_sums256(sums, lds, dc, ldc, u, ldu, rows);
                tap_sums256(sums.add(8), lds, dc.add(8), ldc, u.add(8), ldu, rows);
            }
            Width::None => unreachable!("conv tiles without AVX2 (`available()` is false)"),
        }
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
    // SAFETY: the caller checked AVX-512F and keeps every address formed in bounds.
    unsafe {
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
}

/// [`tap_sums512`] for 8 channels in ymm registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tap_sums256(sums: *mut f32, lds: usize, dc: *const f32, ldc: usize, u: *const f32, ldu: usize, rows: usize) {
    // SAFETY: the caller checked AVX2 and keeps every address formed in bounds.
    unsafe {
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
}
