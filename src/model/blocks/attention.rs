//! Causal multi-head softmax attention with rotary position embeddings (v5.2,
//! spec §6.2), forward and backward side by side.
//!
//!   [q ; k ; v] = W_qkv·x          W_qkv ∈ [3d × d], rows q | k | v
//!   head n uses features n·hd … n·hd+hd−1 of each (hd = d / heads)
//!   q', k' = RoPE(q), RoPE(k)      rotate-half: for i < hd/2, θ_i(t) = t·10000^(−2i/hd),
//!                                  x'_i = x_i cos θ − x_{i+hd/2} sin θ,
//!                                  x'_{i+hd/2} = x_{i+hd/2} cos θ + x_i sin θ
//!                                  (v10: interleaved pairs (2i, 2i+1) instead, `Rope::interleaved`)
//!   a_{t,j} = softmax_{j ≤ t}(q'_t·k'_j / √hd), then Dropout(p) on a
//!   o_t = Σ_j a_{t,j} v_j, heads concatenated; y = W_out·o
//!
//! Training runs in parallel over (batch, head): q', k', v are copied into a
//! head-major buffer [b, heads, {q,k,v}, T, hd] so every (b, h) pair works on
//! contiguous memory with plain T×T products (`matmul_serial` inside the rayon
//! task). The softmax probabilities (before dropout) are *kept* per layer
//! ([b·heads × T × T]); dropout masks are re-derived from their hash in backward.
//! Entries above the diagonal are exact zeros, so future positions contribute
//! exactly nothing (0·v) and the forward is bitwise causal.

use super::dropout::DropMask;
use crate::kernels::matmul::matmul_serial;
use crate::kernels::ops::softmax;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

/// RoPE base (the reference's `RotaryEmbedding(base=10000)`).
pub const ROPE_BASE: f32 = 10_000.0;

/// inv_freq_i = 1/10000^(2i/hd), i < hd/2: the reference's `rotary.inv_freq`
/// buffer, computed in f32 in the same order (θ_i(t) = t·inv_freq_i).
pub fn rope_inv_freq(hd: usize) -> Vec<f32> {
    (0..hd / 2).map(|i| 1.0 / ROPE_BASE.powf((2 * i) as f32 / hd as f32)).collect()
}

crate::vectorized! {
    /// cos/sin of θ_i(t) = t·inv_freq_i for the rows t = t0, t0+1, … of the
    /// [len × hd/2] tables (the angle is formed in f32, like the reference).
    pub fn rope_table(cos: &mut [f32], sin: &mut [f32], t0: usize, inv_freq: &[f32]) {
        let half = inv_freq.len();
        for (r, (c, s)) in cos.chunks_mut(half).zip(sin.chunks_mut(half)).enumerate() {
            let t = (t0 + r) as f32;
            for i in 0..half {
                let (sn, cs) = (t * inv_freq[i]).sin_cos();
                c[i] = cs;
                s[i] = sn;
            }
        }
    }
}

/// out = RoPE(x) for one head vector (rotate-half layout).
#[inline]
pub fn rope_rotate(out: &mut [f32], x: &[f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    for i in 0..half {
        let (x1, x2, c, s) = (x[i], x[i + half], cos[i], sin[i]);
        out[i] = x1 * c - x2 * s;
        out[i + half] = x2 * c + x1 * s;
    }
}

/// out = RoPE(x) for one head vector, interleaved pairs (v10, spec §14.2):
/// (x_{2i}, x_{2i+1}) ← (x_{2i} cos θ_i − x_{2i+1} sin θ_i, x_{2i} sin θ_i + x_{2i+1} cos θ_i).
#[inline]
pub fn rope_rotate_pairs(out: &mut [f32], x: &[f32], cos: &[f32], sin: &[f32]) {
    for (i, (&c, &s)) in cos.iter().zip(sin).enumerate() {
        let (x1, x2) = (x[2 * i], x[2 * i + 1]);
        out[2 * i] = x1 * c - x2 * s;
        out[2 * i + 1] = x1 * s + x2 * c;
    }
}

/// The backward of [`rope_rotate_pairs`] (rotation of each pair by −θ).
#[inline]
pub fn rope_rotate_pairs_back(dx: &mut [f32], dy: &[f32], cos: &[f32], sin: &[f32]) {
    for (i, (&c, &s)) in cos.iter().zip(sin).enumerate() {
        let (d1, d2) = (dy[2 * i], dy[2 * i + 1]);
        dx[2 * i] = d1 * c + d2 * s;
        dx[2 * i + 1] = d2 * c - d1 * s;
    }
}

/// dx = RoPE(·)ᵀ·dy: the rotation by −θ (the backward of [`rope_rotate`]).
#[inline]
pub fn rope_rotate_back(dx: &mut [f32], dy: &[f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    for i in 0..half {
        let (d1, d2, c, s) = (dy[i], dy[i + half], cos[i], sin[i]);
        dx[i] = d1 * c + d2 * s;
        dx[i + half] = d2 * c - d1 * s;
    }
}

/// row ← softmax(row·scale) in place (max-subtracted).
#[inline]
pub fn softmax_scaled(row: &mut [f32], scale: f32) {
    for v in row.iter_mut() {
        *v *= scale;
    }
    softmax(row);
}

#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub b: usize,
    pub t: usize,
    pub d: usize,
    pub heads: usize,
}

impl AttnShape {
    pub fn hd(&self) -> usize {
        self.d / self.heads
    }
    pub fn rows(&self) -> usize {
        self.b * self.t
    }
    /// Length of the kept probabilities and of the `pd` scratch: b·heads·T·T.
    pub fn probs_len(&self) -> usize {
        self.b * self.heads * self.t * self.t
    }
}

pub struct AttnWeights<'a> {
    /// W_qkv: [3d × d]
    pub qkv: &'a [f32],
    /// W_out: [d × d]
    pub out: &'a [f32],
}

pub struct AttnGrads<'a> {
    pub qkv: &'a mut [f32],
    pub out: &'a mut [f32],
}

/// cos/sin tables [T × hd/2] for positions 0…T−1.
#[derive(Clone, Copy)]
pub struct Rope<'a> {
    pub cos: &'a [f32],
    pub sin: &'a [f32],
    /// Rotate pairs (2i, 2i+1) (v10) instead of halves (i, i + hd/2) (v5.2).
    pub interleaved: bool,
}

impl Rope<'_> {
    #[inline]
    fn rotate(&self, out: &mut [f32], x: &[f32], cos: &[f32], sin: &[f32]) {
        if self.interleaved {
            rope_rotate_pairs(out, x, cos, sin)
        } else {
            rope_rotate(out, x, cos, sin)
        }
    }
    #[inline]
    fn rotate_back(&self, dx: &mut [f32], dy: &[f32], cos: &[f32], sin: &[f32]) {
        if self.interleaved {
            rope_rotate_pairs_back(dx, dy, cos, sin)
        } else {
            rope_rotate_back(dx, dy, cos, sin)
        }
    }
}

/// Activations kept for backward (lengths 3·rows·d, b·heads·T·T, rows·d).
pub struct AttnActs<'a> {
    /// head-major [b, heads, {q', k', v}, T, hd]
    pub qkvh: &'a mut [f32],
    /// softmax probabilities before dropout, [b·heads × T × T], zero above the diagonal
    pub probs: &'a mut [f32],
    /// concatenated head outputs o [rows × d]
    pub att: &'a mut [f32],
}

/// Scratch shared by forward and backward (lengths 3·rows·d, 3·rows·d, b·heads·T·T, rows·d).
pub struct AttnScratch<'a> {
    /// forward: x·W_qkvᵀ; backward: ∂L/∂(W_qkv·x)
    pub qkv: &'a mut [f32],
    /// forward: head-major outputs (first rows·d); backward: head-major ∂q', ∂k', ∂v
    pub heads: &'a mut [f32],
    /// dropped probabilities, then ∂scores, per (b, h)
    pub pd: &'a mut [f32],
    /// backward: ∂L/∂o [rows × d]
    pub datt: &'a mut [f32],
}

crate::vectorized! {
    /// y = Attn(x) for x [rows × d] (rows = b·T, batch-major). `drop` masks the
    /// attention probabilities; element (b, h, i, j) uses index ((b·heads+h)·T+i)·T+j.
    #[allow(clippy::too_many_arguments)]
    pub fn attention_forward(
        out: &mut [f32],
        acts: AttnActs,
        s: AttnScratch,
        x: &[f32],
        w: &AttnWeights,
        rope: Rope,
        drop: DropMask,
        sh: AttnShape,
    ) {
        let (t, d, hd, rows) = (sh.t, sh.d, sh.hd(), sh.rows());
        let n = rows * d;
        let scale = 1.0 / (hd as f32).sqrt();
        matmul(&mut s.qkv[..3 * n], 3 * d, false, MatRef::rows(x, d), MatRef::t(w.qkv, d), rows, 3 * d, d);
        split_heads(acts.qkvh, &s.qkv[..3 * n], rope, sh);
        let oh = &mut s.heads[..n];
        oh.par_chunks_mut(t * hd)
            .zip(acts.qkvh.par_chunks(3 * t * hd))
            .zip(acts.probs[..sh.probs_len()].par_chunks_mut(t * t))
            .zip(s.pd[..sh.probs_len()].par_chunks_mut(t * t))
            .enumerate()
            .for_each(|(bh, (((o, c), p), pd))| {
                let (q, rest) = c.split_at(t * hd);
                let (k, v) = rest.split_at(t * hd);
                // scores below the diagonal only, a block of rows at a time
                for (r0, r1) in causal_blocks(t) {
                    matmul_serial(&mut p[r0 * t..], t, false, MatRef::rows(&q[r0 * hd..], hd), MatRef::t(k, hd), r1 - r0, r1, hd);
                }
                for i in 0..t {
                    let row = &mut p[i * t..(i + 1) * t];
                    softmax_scaled(&mut row[..=i], scale);
                    row[i + 1..].fill(0.0);
                }
                let pv: &[f32] = if drop.is_active() {
                    apply_mask(pd, p, drop, bh, t);
                    pd
                } else {
                    p
                };
                for (r0, r1) in causal_blocks(t) {
                    matmul_serial(&mut o[r0 * hd..], hd, false, MatRef::rows(&pv[r0 * t..], t), MatRef::rows(v, hd), r1 - r0, hd, r1);
                }
            });
        merge_heads(acts.att, oh, sh);
        matmul(out, d, false, MatRef::rows(acts.att, d), MatRef::t(w.out, d), rows, d, d);
    }
}

/// Rows per block of the causal products: each block of rows multiplies only
/// the columns up to its last row, the zeros above the diagonal are skipped
/// (3/8 of the work at T = 256). Terms left out are exact zeros, so the sums
/// are those of the full product.
const CAUSAL_BLOCK: usize = 64;

/// The row blocks (r0, r1) of a T-row causal product.
fn causal_blocks(t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..t).step_by(CAUSAL_BLOCK).map(move |r0| (r0, (r0 + CAUSAL_BLOCK).min(t)))
}

crate::vectorized! {
    /// pd = p ⊙ mask for the (b, h) pair `bh` (lower triangle; the rest is zero in p).
    fn apply_mask(pd: &mut [f32], p: &[f32], drop: DropMask, bh: usize, t: usize) {
        let base = (bh * t * t) as u64;
        for i in 0..t {
            // the causal prefix j ≤ i with its dropout factors, then zeros
            let (row, prow) = (&mut pd[i * t..(i + 1) * t], &p[i * t..(i + 1) * t]);
            let (keep, zero) = row.split_at_mut(i + 1);
            for (j, (o, &pv)) in keep.iter_mut().zip(prow).enumerate() {
                *o = pv * drop.factor(base + (i * t + j) as u64);
            }
            zero.fill(0.0);
        }
    }
}

crate::vectorized! {
    /// qkv rows [rows × 3d] → head-major [b, heads, {RoPE(q), RoPE(k), v}, T, hd].
    fn split_heads(qkvh: &mut [f32], qkv: &[f32], rope: Rope, sh: AttnShape) {
        let (t, d, hd) = (sh.t, sh.d, sh.hd());
        let half = hd / 2;
        qkvh[..3 * sh.rows() * d].par_chunks_mut(3 * t * hd).enumerate().for_each(|(bh, c)| {
            let (bi, hi) = (bh / sh.heads, bh % sh.heads);
            let (q, rest) = c.split_at_mut(t * hd);
            let (k, v) = rest.split_at_mut(t * hd);
            for tt in 0..t {
                let row = &qkv[(bi * t + tt) * 3 * d..(bi * t + tt + 1) * 3 * d];
                let (cs, sn) = (&rope.cos[tt * half..(tt + 1) * half], &rope.sin[tt * half..(tt + 1) * half]);
                let col = hi * hd;
                rope.rotate(&mut q[tt * hd..(tt + 1) * hd], &row[col..col + hd], cs, sn);
                rope.rotate(&mut k[tt * hd..(tt + 1) * hd], &row[d + col..d + col + hd], cs, sn);
                v[tt * hd..(tt + 1) * hd].copy_from_slice(&row[2 * d + col..2 * d + col + hd]);
            }
        });
    }
}

crate::vectorized! {
    /// Head-major outputs [b, heads, T, hd] → rows [rows × d], heads concatenated in order.
    fn merge_heads(att: &mut [f32], oh: &[f32], sh: AttnShape) {
        let (t, d, hd) = (sh.t, sh.d, sh.hd());
        att[..sh.rows() * d].par_chunks_mut(d).enumerate().for_each(|(r, row)| {
            let (bi, tt) = (r / t, r % t);
            for hi in 0..sh.heads {
                let src = ((bi * sh.heads + hi) * t + tt) * hd;
                row[hi * hd..(hi + 1) * hd].copy_from_slice(&oh[src..src + hd]);
            }
        });
    }
}

/// Saved forward activations (see [`AttnActs`]).
#[derive(Clone, Copy)]
pub struct AttnSaved<'a> {
    pub qkvh: &'a [f32],
    pub probs: &'a [f32],
    pub att: &'a [f32],
}

crate::vectorized! {
    /// Backward: `dx` overwritten with ∂L/∂x, weight gradients added, given
    /// `dout` = ∂L/∂y. `drop` must be the forward's mask.
    ///
    /// Per (b, h), with P the kept probabilities, M the mask factors, P̃ = P⊙M:
    /// ∂V = P̃ᵀ·∂O, ∂P̃ = ∂O·Vᵀ, ∂P = ∂P̃⊙M, ∂S_ij = P_ij(∂P_ij − Σ_j' P_ij'∂P_ij')/√hd,
    /// ∂Q' = ∂S·K', ∂K' = ∂Sᵀ·Q'; then RoPE is undone on ∂Q', ∂K'.
    #[allow(clippy::too_many_arguments)]
    pub fn attention_backward(
        dx: &mut [f32],
        g: AttnGrads,
        dout: &[f32],
        x: &[f32],
        saved: AttnSaved,
        w: &AttnWeights,
        s: AttnScratch,
        rope: Rope,
        drop: DropMask,
        sh: AttnShape,
    ) {
        let (t, d, hd, rows) = (sh.t, sh.d, sh.hd(), sh.rows());
        let n = rows * d;
        let scale = 1.0 / (hd as f32).sqrt();
        // y = o·W_outᵀ
        matmul(g.out, d, true, MatRef::t(dout, d), MatRef::rows(saved.att, d), d, d, rows);
        let datt = &mut s.datt[..n];
        matmul(datt, d, false, MatRef::rows(dout, d), MatRef::rows(w.out, d), rows, d, d);
        let datt: &[f32] = datt;
        let dqkvh = &mut s.heads[..3 * n];
        dqkvh
            .par_chunks_mut(3 * t * hd)
            .zip(saved.qkvh.par_chunks(3 * t * hd))
            .zip(saved.probs[..sh.probs_len()].par_chunks(t * t))
            .zip(s.pd[..sh.probs_len()].par_chunks_mut(t * t))
            .enumerate()
            .for_each(|(bh, (((dc, c), p), pd))| {
                let (bi, hi) = (bh / sh.heads, bh % sh.heads);
                let (q, rest) = c.split_at(t * hd);
                let (k, v) = rest.split_at(t * hd);
                let (dq, rest) = dc.split_at_mut(t * hd);
                let (dk, dv) = rest.split_at_mut(t * hd);
                // ∂O of this head from row r: rows of datt, columns hi·hd…, read in place
                let d_o = |r: usize| MatRef::rows(&datt[(bi * t + r) * d + hi * hd..], d);
                {
                    let pv: &[f32] = if drop.is_active() {
                        apply_mask(pd, p, drop, bh, t);
                        pd
                    } else {
                        p
                    };
                    // ∂v_j = Σ_{i ≥ j} p_ij·∂o_i
                    for (c0, c1) in causal_blocks(t) {
                        matmul_serial(&mut dv[c0 * hd..], hd, false, MatRef::t(&pv[c0 * t + c0..], t), d_o(c0), c1 - c0, hd, t - c0);
                    }
                }
                for (r0, r1) in causal_blocks(t) {
                    matmul_serial(&mut pd[r0 * t..], t, false, d_o(r0), MatRef::t(v, hd), r1 - r0, r1, hd);
                }
                let base = (bh * t * t) as u64;
                for i in 0..t {
                    let (row, prow) = (&mut pd[i * t..(i + 1) * t], &p[i * t..(i + 1) * t]);
                    let mut c = 0.0f32;
                    for j in 0..=i {
                        row[j] *= drop.factor(base + (i * t + j) as u64);
                        c += prow[j] * row[j];
                    }
                    for j in 0..=i {
                        row[j] = prow[j] * (row[j] - c) * scale;
                    }
                    row[i + 1..].fill(0.0);
                }
                for (r0, r1) in causal_blocks(t) {
                    matmul_serial(&mut dq[r0 * hd..], hd, false, MatRef::rows(&pd[r0 * t..], t), MatRef::rows(k, hd), r1 - r0, hd, r1);
                    // ∂k_j = Σ_{i ≥ j} ∂s_ij·q_i
                    let c0 = r0;
                    matmul_serial(&mut dk[c0 * hd..], hd, false, MatRef::t(&pd[c0 * t + c0..], t), MatRef::rows(&q[c0 * hd..], hd), r1 - c0, hd, t - c0);
                }
            });
        // head-major gradients → rows [rows × 3d], RoPE undone on q and k
        let half = hd / 2;
        let dqkvh: &[f32] = dqkvh;
        let dqkv = &mut s.qkv[..3 * n];
        dqkv.par_chunks_mut(3 * d).enumerate().for_each(|(r, row)| {
            let (bi, tt) = (r / t, r % t);
            let (cs, sn) = (&rope.cos[tt * half..(tt + 1) * half], &rope.sin[tt * half..(tt + 1) * half]);
            for hi in 0..sh.heads {
                let c = &dqkvh[(bi * sh.heads + hi) * 3 * t * hd..];
                let col = hi * hd;
                rope.rotate_back(&mut row[col..col + hd], &c[tt * hd..(tt + 1) * hd], cs, sn);
                rope.rotate_back(&mut row[d + col..d + col + hd], &c[(t + tt) * hd..(t + tt + 1) * hd], cs, sn);
                row[2 * d + col..2 * d + col + hd].copy_from_slice(&c[(2 * t + tt) * hd..(2 * t + tt + 1) * hd]);
            }
        });
        let dqkv: &[f32] = dqkv;
        matmul(g.qkv, d, true, MatRef::t(dqkv, 3 * d), MatRef::rows(x, d), 3 * d, d, rows);
        matmul(dx, d, false, MatRef::rows(dqkv, 3 * d), MatRef::rows(w.qkv, d), rows, d, 3 * d);
    }
}
