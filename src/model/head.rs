//! Tied output head and BB-CE: logits z = E·h (E is the embedding table),
//! loss = mean over rows of logsumexp(z) − z[y].

use crate::kernels::ops::exp;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

/// logits [rows × V] = hf [rows × d] · Eᵀ.
pub fn head_forward(logits: &mut [f32], hf: &[f32], emb: &[f32], d: usize, vocab: usize) {
    let rows = hf.len() / d;
    matmul(logits, vocab, false, MatRef::rows(hf, d), MatRef::t(emb, d), rows, vocab, d);
}

/// Per-row loss −log softmax(z)[y] into `losses`.
pub fn cross_entropy_forward(losses: &mut [f32], logits: &[f32], targets: &[u32], vocab: usize) {
    losses.par_iter_mut().zip(logits.par_chunks(vocab)).zip(targets.par_iter()).for_each(|((l, z), &y)| {
        let max = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
        *l = max + sum.ln() - z[y as usize];
    });
}

/// Training pass in one sweep per row: per-row loss into `losses`, and the
/// logits replaced by ∂L/∂z = scale·(softmax(z) − onehot(y)) (one exp per logit).
pub fn cross_entropy_fused(losses: &mut [f32], logits: &mut [f32], targets: &[u32], vocab: usize, scale: f32) {
    losses.par_iter_mut().zip(logits.par_chunks_mut(vocab)).zip(targets.par_iter()).for_each(|((l, z), &y)| {
        let max = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let zy = z[y as usize];
        let mut sum = 0.0f32;
        for v in z.iter_mut() {
            *v = exp(*v - max);
            sum += *v;
        }
        *l = max + sum.ln() - zy;
        let inv = scale / sum;
        for v in z.iter_mut() {
            *v *= inv;
        }
        z[y as usize] -= scale;
    });
}

/// Turns logits into ∂L/∂z = scale·(softmax(z) − onehot(y)) in place.
pub fn cross_entropy_backward_inplace(logits: &mut [f32], targets: &[u32], vocab: usize, scale: f32) {
    logits.par_chunks_mut(vocab).zip(targets.par_iter()).for_each(|(z, &y)| {
        let max = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for v in z.iter_mut() {
            *v = exp(*v - max);
            sum += *v;
        }
        let inv = scale / sum;
        for v in z.iter_mut() {
            *v *= inv;
        }
        z[y as usize] -= scale;
    });
}

/// dhf [rows × d] (overwritten) and dE (+=) from dlogits.
pub fn head_backward(dhf: &mut [f32], demb: &mut [f32], dlogits: &[f32], hf: &[f32], emb: &[f32], d: usize, vocab: usize) {
    let rows = hf.len() / d;
    matmul(dhf, d, false, MatRef::rows(dlogits, vocab), MatRef::rows(emb, d), rows, d, vocab);
    matmul(demb, d, true, MatRef::t(dlogits, vocab), MatRef::rows(hf, d), vocab, d, rows);
}
