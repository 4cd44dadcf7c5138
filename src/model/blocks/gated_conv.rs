//! BB-CONV + BB-GCM, the gated causal depthwise-conv mixer:
//! [g ; u] = W_up·a, c = CONV_k(u), m = c ⊙ σ(g), out = W_down·m.

use crate::kernels::conv::{self, CB, TB};
use crate::kernels::ops::{mul_add_into, sigmoid, sum_row_chunks, sum_rows};
use crate::kernels::scratch;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

/// acc += w ⊙ u over one tile row, for the tiles at the window's edges: a
/// product, then an add (not fused), as in the plain loops and the register tiles.
#[inline(always)]
fn mul_add16(acc: &mut [f32; CB], w: &[f32], u: &[f32]) {
    let (w, u): (&[f32; CB], &[f32; CB]) = (w[..CB].try_into().unwrap(), u[..CB].try_into().unwrap());
    for l in 0..CB {
        acc[l] += w[l] * u[l];
    }
}

/// Causal depthwise conv over each of `b` sequences of `t` rows:
/// out[t,c] = Σ_j w[c,j] · u[t−(k−1)+j, c], zero before the window start.
/// `u` has row stride `ldu` (it lives inside the [g ; u] buffer).
///
/// With AVX-512 or AVX2, in tiles of 8 positions × 16 channels held in
/// registers (`kernels::conv`), each sum over j = 0, 1, … as in
/// [`conv_forward_plain`], so the bits are the same; otherwise (or for widths
/// not a multiple of 16) the plain loops.
pub fn conv_forward(out: &mut [f32], u: &[f32], ldu: usize, w: &[f32], t: usize, d: usize, k: usize) {
    if !d.is_multiple_of(CB) || !conv::available() {
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
                    unsafe {
                        conv::taps(o[t0 * d + c0..].as_mut_ptr(), d, us[first..].as_ptr(), ldu, ldu as isize, wt[c0..].as_ptr(), d, k)
                    };
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

/// du (row stride `ldu`, overwritten) and dw (+=) from dc = ∂L/∂out. In
/// register tiles like [`conv_forward`], each sum in
/// [`conv_backward_plain`]'s order (same bits): du over taps j = 0, 1, …;
/// dw over the rows of each fixed chunk, in order.
#[allow(clippy::too_many_arguments)]
pub fn conv_backward(du: &mut [f32], ldu: usize, dw: &mut [f32], dc: &[f32], u: &[f32], w: &[f32], t: usize, d: usize, k: usize) {
    if !d.is_multiple_of(CB) || k < TB || !conv::available() {
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
                        unsafe {
                            conv::tap_sums(sums.as_mut_ptr() as *mut f32, CB, dc[r * d + c0..].as_ptr(), d, u[first..].as_ptr(), ldu, run)
                        };
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
                    unsafe {
                        conv::taps(dus[t0 * ldu + c0..].as_mut_ptr(), ldu, dcs[at..].as_ptr(), d, -(d as isize), wt[c0..].as_ptr(), d, k)
                    };
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

/// Causal depthwise conv over each of `b` sequences of `t` rows, in plain loops
/// (the reference [`conv_forward`] is tested against, bit for bit):
/// out[t,c] = Σ_j w[c,j] · u[t−(k−1)+j, c], zero before the window start.
/// `u` has row stride `ldu` (it lives inside the [g ; u] buffer).
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

/// The [d, 1, k] weight as [k × d] into `wt`, so the inner loops run over contiguous channels.
pub(crate) fn taps_major(wt: &mut [f32], w: &[f32], d: usize, k: usize) {
    for c in 0..d {
        for j in 0..k {
            wt[j * d + c] = w[c * k + j];
        }
    }
}

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

pub struct MixerWeights<'a> {
    pub up: &'a [f32],
    pub conv: &'a [f32],
    pub down: &'a [f32],
}

pub struct MixerGrads<'a> {
    pub up: &'a mut [f32],
    pub conv: &'a mut [f32],
    pub down: &'a mut [f32],
}

/// Activations kept for the backward pass, each [rows × width].
pub struct MixerActs<'a> {
    /// [g ; u] = W_up·a, [rows × 2d]
    pub up: &'a mut [f32],
    /// CONV(u), [rows × d]
    pub conv: &'a mut [f32],
    /// scratch for c ⊙ σ(g), [rows × d] (recomputed in backward, not kept)
    pub gated: &'a mut [f32],
}

/// m = c ⊙ σ(g), with g the first half of each [g ; u] row.
fn gate(m: &mut [f32], conv: &[f32], up: &[f32], d: usize) {
    m.par_chunks_mut(d).zip(conv.par_chunks(d)).zip(up.par_chunks(2 * d)).for_each(|((m, c), gu)| {
        for ((m, &c), &g) in m.iter_mut().zip(c).zip(&gu[..d]) {
            *m = c * sigmoid(g);
        }
    });
}

/// out = W_down·(CONV(u) ⊙ σ(g)) with [g ; u] = W_up·a.
pub fn mixer_forward(out: &mut [f32], acts: MixerActs, a: &[f32], w: &MixerWeights, t: usize, d: usize, k: usize) {
    let rows = a.len() / d;
    matmul(acts.up, 2 * d, false, MatRef::rows(a, d), MatRef::t(w.up, d), rows, 2 * d, d);
    conv_forward(acts.conv, &acts.up[d..], 2 * d, w.conv, t, d, k);
    gate(acts.gated, acts.conv, acts.up, d);
    matmul(out, d, false, MatRef::rows(acts.gated, d), MatRef::t(w.down, d), rows, d, d);
}

/// da = ∂L/∂a (overwritten); weight gradients added into `g`. `acts` = ([g ; u], CONV(u)).
/// `dgated` [rows × d] and `dup` [rows × 2d] are scratch; c ⊙ σ(g) is recomputed
/// (cheaper than keeping it per layer) into `da` (free until its own product at
/// the end), in the same pass as the gate's gradient.
#[allow(clippy::too_many_arguments)]
pub fn mixer_backward(
    da: &mut [f32],
    g: MixerGrads,
    dout: &[f32],
    a: &[f32],
    acts: (&[f32], &[f32]),
    w: &MixerWeights,
    dgated: &mut [f32],
    dup: &mut [f32],
    t: usize,
    d: usize,
    k: usize,
) {
    let (up, conv) = acts;
    let rows = a.len() / d;
    // out = gated · W_downᵀ: dm = dout · W_down into dgated
    matmul(dgated, d, false, MatRef::rows(dout, d), MatRef::rows(w.down, d), rows, d, d);
    // gated = c ⊙ σ(g), recomputed into da; dg = dm ⊙ c ⊙ σ'(g) into dup[:, :d],
    // dc = dm ⊙ σ(g) into dgated
    da.par_chunks_mut(d)
        .zip(dup.par_chunks_mut(2 * d))
        .zip(dgated.par_chunks_mut(d))
        .zip(up.par_chunks(2 * d))
        .zip(conv.par_chunks(d))
        .for_each(|((((m, dgu), dm), gu), c)| {
            for ((((m, dg), dm), &c), &g) in m.iter_mut().zip(&mut dgu[..d]).zip(dm.iter_mut()).zip(c).zip(&gu[..d]) {
                let s = sigmoid(g);
                *m = c * s;
                *dg = *dm * c * s * (1.0 - s);
                *dm *= s;
            }
        });
    matmul(g.down, d, true, MatRef::t(dout, d), MatRef::rows(da, d), d, d, rows);
    conv_backward(&mut dup[d..], 2 * d, g.conv, dgated, &up[d..], w.conv, t, d, k);
    // up = a · W_upᵀ
    matmul(g.up, d, true, MatRef::t(dup, 2 * d), MatRef::rows(a, d), 2 * d, d, rows);
    matmul(da, d, false, MatRef::rows(dup, 2 * d), MatRef::rows(w.up, d), rows, d, 2 * d);
}
