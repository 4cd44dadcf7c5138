//! Tied output head and BB-CE: logits z = E·h (E is the embedding table),
//! loss = mean over rows of logsumexp(z) − z\[y\].

use super::fsp::{fsp_train, FspState};
use crate::kernels::ops::{exp_shift_sums, exp_sum, row_max};
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;
use std::ops::Range;

/// logits [rows × V] = hf [rows × d] · Eᵀ.
pub fn head_forward(logits: &mut [f32], hf: &[f32], emb: &[f32], d: usize, vocab: usize) {
    let rows = hf.len() / d;
    matmul(logits, vocab, false, MatRef::rows(hf, d), MatRef::t(emb, d), rows, vocab, d);
}

crate::vectorized! {
    /// Per-row loss −log softmax(z)\[y\] into `losses`.
    pub fn cross_entropy_forward(losses: &mut [f32], logits: &[f32], targets: &[u32], vocab: usize) {
        losses.par_iter_mut().zip(logits.par_chunks(vocab)).zip(targets.par_iter()).for_each(|((l, z), &y)| {
            let max = row_max(z);
            let sum = exp_sum(z, max);
            *l = max + sum.ln() - z[y as usize];
        });
    }
}

crate::vectorized! {
    /// Training pass in one sweep per row: per-row loss into `losses`, and the
    /// logits replaced by ∂L/∂z = scale·(softmax(z) − onehot(y)) (one exp per logit).
    pub fn cross_entropy_fused(losses: &mut [f32], logits: &mut [f32], targets: &[u32], vocab: usize, scale: f32) {
        losses.par_iter_mut().zip(logits.par_chunks_mut(vocab)).zip(targets.par_iter()).for_each(|((l, z), &y)| {
            let max = row_max(z);
            let zy = z[y as usize];
            let (sum, _) = exp_shift_sums(z, max, false);
            *l = max + sum.ln() - zy;
            let inv = scale / sum;
            for v in z.iter_mut() {
                *v *= inv;
            }
            z[y as usize] -= scale;
        });
    }
}

/// Rows per block of the fused head: the [block × V] logits stay in cache-sized
/// pieces and the whole [B·T × V] tensor is never materialised.
pub const HEAD_BLOCK: usize = 512;

crate::vectorized! {
    /// Mean-loss training pass of head + cross-entropy, block by block of rows:
    /// logits = hf·Eᵀ, per-row loss, dlogits = (softmax − onehot)/N, then
    /// dhf = dlogits·E (overwritten) and dE += dlogitsᵀ·hf. `buf` holds one block of logits.
    #[allow(clippy::too_many_arguments)]
    pub fn head_ce_fused(
        losses: &mut [f32],
        dhf: &mut [f32],
        demb: &mut [f32],
        buf: &mut [f32],
        hf: &[f32],
        emb: &[f32],
        targets: &[u32],
        d: usize,
        vocab: usize,
    ) {
        let rows = targets.len();
        let scale = 1.0 / rows as f32;
        for r0 in (0..rows).step_by(HEAD_BLOCK) {
            let n = HEAD_BLOCK.min(rows - r0);
            let (h, z) = (&hf[r0 * d..(r0 + n) * d], &mut buf[..n * vocab]);
            matmul(z, vocab, false, MatRef::rows(h, d), MatRef::t(emb, d), n, vocab, d);
            cross_entropy_fused(&mut losses[r0..r0 + n], z, &targets[r0..r0 + n], vocab, scale);
            matmul(&mut dhf[r0 * d..(r0 + n) * d], d, false, MatRef::rows(z, vocab), MatRef::rows(emb, d), n, d, vocab);
            matmul(demb, d, true, MatRef::t(z, vocab), MatRef::rows(h, d), vocab, d, n);
        }
    }
}

crate::vectorized! {
    /// Per-row losses without gradients, block by block (evaluation).
    pub fn head_ce_loss(losses: &mut [f32], buf: &mut [f32], hf: &[f32], emb: &[f32], targets: &[u32], d: usize, vocab: usize) {
        let rows = targets.len();
        for r0 in (0..rows).step_by(HEAD_BLOCK) {
            let n = HEAD_BLOCK.min(rows - r0);
            let z = &mut buf[..n * vocab];
            matmul(z, vocab, false, MatRef::rows(&hf[r0 * d..(r0 + n) * d], d), MatRef::t(emb, d), n, vocab, d);
            cross_entropy_forward(&mut losses[r0..r0 + n], z, &targets[r0..r0 + n], vocab);
        }
    }
}

/// `model.forward` after the hidden states: `logits` (resized to \[rows × V\])
/// = hf·Hᵀ with `head` H \[V × d\] (the tied embedding, or a head of its own).
pub fn head_logits(logits: &mut Vec<f32>, hf: &[f32], head: &[f32], d: usize, vocab: usize) {
    let n = hf.len() / d * vocab;
    logits.resize(n, 0.0);
    head_forward(&mut logits[..n], hf, head, d, vocab);
}

/// The LM head of a training step: its matrix \[V × d\] (the tied embedding,
/// a head of its own, or a quantised head's effective matrix) and where its
/// gradient lies in the flat gradient buffer.
pub struct TrainHead<'a> {
    pub matrix: &'a [f32],
    pub grad: &'a Range<usize>,
}

/// `model.loss_and_grad` after the hidden states `hf` \[b·t × d\]: mean CE
/// with per-row losses in `losses` (resized to the rows of `y`), ∂L/∂hf
/// written into `dhf`, the head's gradient added into `grads`, then, with FSP
/// on, α·FSP's gradients added into `dhf` and `grads` and its value recorded
/// in `fsp`. `buf` holds one block of logits ([`HEAD_BLOCK`] × V). Returns
/// the mean CE (FSP not included).
#[allow(clippy::too_many_arguments)]
pub fn head_train(
    losses: &mut Vec<f32>,
    dhf: &mut [f32],
    buf: &mut [f32],
    grads: &mut [f32],
    head: TrainHead<'_>,
    fsp: Option<&mut FspState>,
    params: &[f32],
    hf: &[f32],
    y: &[u32],
    b: usize,
    t: usize,
    d: usize,
    vocab: usize,
) -> f64 {
    let (rows, n) = (b * t, b * t * d);
    losses.resize(rows, 0.0);
    let (dhf, hf) = (&mut dhf[..n], &hf[..n]);
    head_ce_fused(&mut losses[..rows], dhf, &mut grads[head.grad.clone()], buf, hf, head.matrix, y, d, vocab);
    fsp_train(fsp, dhf, grads, head.grad, head.matrix, params, hf, y, b, t, d, vocab);
    mean_loss(&losses[..rows])
}

/// `model.loss` after the hidden states: per-row losses into `losses` (resized
/// to the rows of `targets`) and their mean.
#[allow(clippy::too_many_arguments)]
pub fn head_loss(losses: &mut Vec<f32>, buf: &mut [f32], hf: &[f32], emb: &[f32], targets: &[u32], d: usize, vocab: usize) -> f64 {
    let rows = targets.len();
    losses.resize(rows, 0.0);
    head_ce_loss(&mut losses[..rows], buf, hf, emb, targets, d, vocab);
    mean_loss(&losses[..rows])
}

crate::vectorized! {
    /// Mean of per-position losses, accumulated in f64 in position order (the
    /// value every model's `loss` and `loss_and_grad` return).
    pub fn mean_loss(losses: &[f32]) -> f64 {
        losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64
    }
}
