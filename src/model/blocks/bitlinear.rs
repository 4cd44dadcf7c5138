//! BB-BIT — ternary linear ("BitLinear"), spec §2. The forward uses Q(W); the
//! backward is straight-through: ∂L/∂W := ∂L/∂Q(W) (the scale gets no
//! gradient), so a model quantises its latent float W into a scratch matrix
//! once per step, runs the ordinary float matmuls with Q(W), and adds the
//! weight gradient of that matmul straight into W's gradient slot. AdamW then
//! updates the latent W.

use crate::model::lm::TernaryShare;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The three scale rules (spec §2 table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitVariant {
    /// v4: α = mean|W| over the matrix; Q = α·clip(round(W/(α+1e-8)), −1, 1).
    A,
    /// v5: α = max(mean|W|, 1e-5); Q = α·clip(round(W/α), −1, 1).
    B,
    /// v6, v7: per output row α_o = max(mean_i|W_oi|, 1e-5).
    C,
}

#[inline]
fn trit(w: f32, div: f32) -> f32 {
    (w / div).round_ties_even().clamp(-1.0, 1.0)
}

/// Mean of |x| accumulated in f64 (order-independent enough that no trit flips),
/// in 8 lanes (one running f64 sum is a chain of dependent adds, ~4 cycles an
/// element): the per-row scale of v6/v7.
fn mean_abs(x: &[f32]) -> f32 {
    (abs_sum(x) / x.len().max(1) as f64) as f32
}

crate::vectorized! {
    fn abs_sum(x: &[f32]) -> f64 {
        let mut acc = [0.0f64; 8];
        let c = x.chunks_exact(8);
        let tail: f64 = c.remainder().iter().map(|v| v.abs() as f64).sum();
        for ch in c {
            for l in 0..8 {
                acc[l] += ch[l].abs() as f64;
            }
        }
        acc.iter().sum::<f64>() + tail
    }
}

crate::vectorized! {
    /// [`mean_abs`] of a whole matrix (v4, v5), over 64 fixed parts summed in
    /// parallel and then in order, so the same whatever the thread count. As one
    /// serial chain over v4's ~2.4 M ternary weights it cost ~1 ms of a 25 ms bf16
    /// step while the other core waited (measured: 25.7–26.3 → 25.0–25.3 ms).
    fn mean_abs_matrix(x: &[f32]) -> f32 {
        const PARTS: usize = 64;
        let len = x.len().div_ceil(PARTS).max(1);
        let mut sums = [0.0f64; PARTS];
        sums.par_iter_mut().zip(x.par_chunks(len)).for_each(|(s, c)| *s = abs_sum(c));
        (sums.iter().sum::<f64>() / x.len().max(1) as f64) as f32
    }
}

/// Scale(s) of W [out × in]: one per matrix (A, B) or one per row (C).
fn row_scale(v: BitVariant, whole: f32, row: &[f32]) -> (f32, f32) {
    // (divisor, multiplier)
    match v {
        BitVariant::A => (whole + 1e-8, whole),
        BitVariant::B => (whole.max(1e-5), whole.max(1e-5)),
        BitVariant::C => {
            let a = mean_abs(row).max(1e-5);
            (a, a)
        }
    }
}

crate::vectorized! {
    /// q = Q(w) for w stored [out × in].
    pub fn quantize(q: &mut [f32], w: &[f32], out: usize, inp: usize, v: BitVariant) {
        debug_assert_eq!(w.len(), out * inp);
        debug_assert_eq!(q.len(), out * inp);
        let whole = if v == BitVariant::C { 0.0 } else { mean_abs_matrix(w) };
        q.par_chunks_mut(inp).zip(w.par_chunks(inp)).for_each(|(qr, wr)| {
            let (div, mul) = row_scale(v, whole, wr);
            for (qo, &wi) in qr.iter_mut().zip(wr) {
                *qo = mul * trit(wi, div);
            }
        });
    }
}

crate::vectorized! {
    /// Share of −1 / 0 / +1 in Q(w).
    pub fn ternary_share(name: &str, w: &[f32], out: usize, inp: usize, v: BitVariant) -> TernaryShare {
        let whole = if v == BitVariant::C { 0.0 } else { mean_abs_matrix(w) };
        let (mut neg, mut zero, mut pos) = (0usize, 0usize, 0usize);
        for wr in w.chunks(inp).take(out) {
            let (div, _) = row_scale(v, whole, wr);
            for &wi in wr {
                match trit(wi, div) {
                    t if t < 0.0 => neg += 1,
                    t if t > 0.0 => pos += 1,
                    _ => zero += 1,
                }
            }
        }
        let n = (neg + zero + pos).max(1) as f32;
        TernaryShare { name: name.to_string(), neg: neg as f32 / n, zero: zero as f32 / n, pos: pos as f32 / n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_follow_the_spec_table() {
        // α = mean|W| = 0.3875: W/α = [2.58, -1.03, 0.26, -0.13] → [1, -1, 0, 0]
        let w = [1.0f32, -0.4, 0.1, -0.05];
        let mut q = [0.0f32; 4];
        quantize(&mut q, &w, 1, 4, BitVariant::B);
        let a = (1.0 + 0.4 + 0.1 + 0.05) / 4.0;
        assert_eq!(q, [a, -a, 0.0, 0.0]);
        // per-row scale: second row all tiny → α clamps at 1e-5
        let w2 = [2.0f32, -2.0, 1e-7, -1e-7];
        quantize(&mut q, &w2, 2, 2, BitVariant::C);
        assert_eq!(q, [2.0, -2.0, 0.0, -0.0]);
        // round half to even: W/α = 0.5 exactly → 0
        let w3 = [0.5f32, 1.5, -1.0, 0.0]; // mean 0.75: 0.667, 2, -1.33, 0
        quantize(&mut q, &w3, 1, 4, BitVariant::A);
        let a = 0.75f32;
        assert_eq!(q, [a, a, -a, 0.0]);
        let s = ternary_share("w", &w3, 1, 4, BitVariant::A);
        assert_eq!((s.neg, s.zero, s.pos), (0.25, 0.25, 0.5));
    }
}
