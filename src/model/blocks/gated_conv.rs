//! BB-CONV + BB-GCM, the gated causal depthwise-conv mixer:
//! [g ; u] = W_up·a, c = CONV_k(u), m = c ⊙ σ(g), out = W_down·m.

use crate::kernels::conv::{conv_backward, conv_forward};
use crate::kernels::ops::sigmoid;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

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

crate::vectorized! {
    /// m = c ⊙ σ(g), with g the first half of each [g ; u] row.
    fn gate(m: &mut [f32], conv: &[f32], up: &[f32], d: usize) {
        m.par_chunks_mut(d).zip(conv.par_chunks(d)).zip(up.par_chunks(2 * d)).for_each(|((m, c), gu)| {
            for ((m, &c), &g) in m.iter_mut().zip(c).zip(&gu[..d]) {
                *m = c * sigmoid(g);
            }
        });
    }
}

/// out = W_down·(CONV(u) ⊙ σ(g)) with [g ; u] = W_up·a.
pub fn mixer_forward(out: &mut [f32], acts: MixerActs, a: &[f32], w: &MixerWeights, t: usize, d: usize, k: usize) {
    let rows = a.len() / d;
    matmul(acts.up, 2 * d, false, MatRef::rows(a, d), MatRef::t(w.up, d), rows, 2 * d, d);
    conv_forward(acts.conv, &acts.up[d..], 2 * d, w.conv, t, d, k);
    gate(acts.gated, acts.conv, acts.up, d);
    matmul(out, d, false, MatRef::rows(acts.gated, d), MatRef::t(w.down, d), rows, d, d);
}

crate::vectorized! {
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
}
