//! Token shift (v5, spec §5.2): TS(u; ω)_t = s ⊙ u_t + (1 − s) ⊙ u_{t−1}, s = σ(ω),
//! with u_{−1} = 0 at the first position of every window (shift_1 of §0).
//! Rows are [b·t × d], sequence-major; rows of different sequences never mix.

use crate::kernels::ops::{sigmoid, sum_rows};
use rayon::prelude::*;

/// One output element: s·cur + (1 − s)·prev (shared with the streaming decoder
/// so both paths round identically).
#[inline(always)]
pub fn shift_mix(s: f32, cur: f32, prev: f32) -> f32 {
    s * cur + (1.0 - s) * prev
}

crate::vectorized! {
    /// out = TS(inp; mix) over windows of `t` positions.
    pub fn token_shift_forward(out: &mut [f32], inp: &[f32], mix: &[f32], t: usize, d: usize) {
        out.par_chunks_mut(d).enumerate().for_each(|(r, o)| {
            // zipped slices, the window-start test once per row: the σ vectorise
            let cur = &inp[r * d..(r + 1) * d];
            if r % t == 0 {
                for ((o, &c), &m) in o.iter_mut().zip(cur).zip(mix) {
                    *o = shift_mix(sigmoid(m), c, 0.0);
                }
            } else {
                for (((o, &c), &m), &p) in o.iter_mut().zip(cur).zip(mix).zip(&inp[(r - 1) * d..r * d]) {
                    *o = shift_mix(sigmoid(m), c, p);
                }
            }
        });
    }
}

crate::vectorized! {
    /// Backward, given dout = ∂L/∂out: dinp is *overwritten* with
    /// ∂L/∂u_t = s ⊙ dout_t + (1 − s) ⊙ dout_{t+1} (no t+1 at the window end), and
    /// dmix += Σ_rows dout_t ⊙ (u_t − u_{t−1}) ⊙ s(1 − s).
    pub fn token_shift_backward(dinp: &mut [f32], dmix: &mut [f32], dout: &[f32], inp: &[f32], mix: &[f32], t: usize, d: usize) {
        let rows = dinp.len() / d;
        sum_rows(rows, dmix, |r, acc| {
            let (dy, cur) = (&dout[r * d..(r + 1) * d], &inp[r * d..(r + 1) * d]);
            let lanes = acc.iter_mut().zip(dy).zip(cur).zip(mix);
            if r % t == 0 {
                for (((a, &dy), &c), &m) in lanes {
                    let s = sigmoid(m);
                    *a += dy * (c - 0.0) * s * (1.0 - s);
                }
            } else {
                for ((((a, &dy), &c), &m), &p) in lanes.zip(&inp[(r - 1) * d..r * d]) {
                    let s = sigmoid(m);
                    *a += dy * (c - p) * s * (1.0 - s);
                }
            }
        });
        dinp.par_chunks_mut(d).enumerate().for_each(|(r, dx)| {
            let dy = &dout[r * d..(r + 1) * d];
            let lanes = dx.iter_mut().zip(dy).zip(mix);
            if r % t == t - 1 {
                for ((dx, &dy), &m) in lanes {
                    let s = sigmoid(m);
                    *dx = s * dy + (1.0 - s) * 0.0;
                }
            } else {
                for (((dx, &dy), &m), &n) in lanes.zip(&dout[(r + 1) * d..(r + 2) * d]) {
                    let s = sigmoid(m);
                    *dx = s * dy + (1.0 - s) * n;
                }
            }
        });
    }
}
