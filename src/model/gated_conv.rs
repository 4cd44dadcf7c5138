//! BB-CONV + BB-GCM, the gated causal depthwise-conv mixer:
//! [g ; u] = W_up·a, c = CONV_k(u), m = c ⊙ σ(g), out = W_down·m.

use crate::kernels::ops::{mul_add_into, sigmoid, sum_rows};
use crate::kernels::scratch;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

/// Causal depthwise conv over each of `b` sequences of `t` rows:
/// out[t,c] = Σ_j w[c,j] · u[t−(k−1)+j, c], zero before the window start.
/// `u` has row stride `ldu` (it lives inside the [g ; u] buffer).
pub fn conv_forward(out: &mut [f32], u: &[f32], ldu: usize, w: &[f32], t: usize, d: usize, k: usize) {
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

/// du (row stride `ldu`, overwritten) and dw (+=) from dc = ∂L/∂out.
pub fn conv_backward(du: &mut [f32], ldu: usize, dw: &mut [f32], dc: &[f32], u: &[f32], w: &[f32], t: usize, d: usize, k: usize) {
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
/// into `dgated` first (cheaper than keeping it per layer).
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
    gate(dgated, conv, up, d);
    // out = gated · W_downᵀ
    matmul(g.down, d, true, MatRef::t(dout, d), MatRef::rows(dgated, d), d, d, rows);
    matmul(dgated, d, false, MatRef::rows(dout, d), MatRef::rows(w.down, d), rows, d, d);
    // gated = c ⊙ σ(g): dg = dm ⊙ c ⊙ σ'(g) into dup[:, :d], dc = dm ⊙ σ(g) into dgated.
    dup.par_chunks_mut(2 * d).zip(dgated.par_chunks_mut(d)).zip(up.par_chunks(2 * d)).zip(conv.par_chunks(d)).for_each(
        |(((dgu, dm), gu), c)| {
            for (((dg, dm), &c), &g) in dgu[..d].iter_mut().zip(dm.iter_mut()).zip(c).zip(&gu[..d]) {
                let s = sigmoid(g);
                *dg = *dm * c * s * (1.0 - s);
                *dm *= s;
            }
        },
    );
    conv_backward(&mut dup[d..], 2 * d, g.conv, dgated, &up[d..], w.conv, t, d, k);
    // up = a · W_upᵀ
    matmul(g.up, d, true, MatRef::t(dup, 2 * d), MatRef::rows(a, d), 2 * d, d, rows);
    matmul(da, d, false, MatRef::rows(dup, 2 * d), MatRef::rows(w.up, d), rows, d, 2 * d);
}
