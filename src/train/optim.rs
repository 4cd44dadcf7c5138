//! BB-OPT (AdamW, decoupled weight decay, global-norm clip) and the S-C
//! schedule with the D11 fix (horizon from the real budget, progress clamped).

use crate::kernels::ops::sum_sq_f64;
use rayon::prelude::*;

#[derive(Clone, Copy, Debug)]
pub struct AdamW {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
}

/// Global L2 norm of the gradient (f64 accumulation, fixed order).
pub fn grad_norm(grads: &[f32]) -> f64 {
    sum_sq_f64(grads).sqrt()
}

/// The global-norm clip: returns the pre-clip norm N and the factor
/// min(1, clip/(N + 1e-6)) that [`AdamW::update`] applies to each gradient as it
/// reads it (one pass over the gradients fewer than scaling them in place).
pub fn clip_grad_norm(grads: &[f32], clip: f32) -> (f64, f32) {
    let n = grad_norm(grads);
    let f = (clip as f64 / (n + 1e-6)).min(1.0) as f32;
    (n, f)
}

impl AdamW {
    /// One update with gradients `grad_scale`·`grads` (the clip factor);
    /// `step` = number of optimiser steps already taken (0 for the first).
    #[allow(clippy::too_many_arguments)]
    pub fn update(&self, params: &mut [f32], grads: &[f32], grad_scale: f32, m: &mut [f32], v: &mut [f32], lr: f32, step: u64) {
        let (b1, b2) = (self.beta1, self.beta2);
        let bc1 = 1.0 - (b1 as f64).powi(step as i32 + 1);
        let bc2 = 1.0 - (b2 as f64).powi(step as i32 + 1);
        let (bc1, bc2) = (bc1 as f32, bc2 as f32);
        let k = StepConsts { grad_scale, decay: 1.0 - lr * self.weight_decay, b1, b2, bc1, bc2, lr, eps: self.eps };
        params
            .par_chunks_mut(4096)
            .zip(grads.par_chunks(4096))
            .zip(m.par_chunks_mut(4096))
            .zip(v.par_chunks_mut(4096))
            .for_each(|(((p, g), m), v)| adamw_chunk(p, g, m, v, &k));
    }
}

/// What one AdamW step applies to every parameter.
struct StepConsts {
    grad_scale: f32,
    decay: f32,
    b1: f32,
    b2: f32,
    bc1: f32,
    bc2: f32,
    lr: f32,
    eps: f32,
}

crate::vectorized! {
    /// The update of one chunk, compiled for each vector width (a plain
    /// x86-64 build otherwise ran it 4 floats at a time, and v5's 29.7 M
    /// parameters made that a few percent of its step). Plain multiplies,
    /// divides and square roots: the same bits at every width.
    fn adamw_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &StepConsts) {
        // zipped, no indexing: vectorises (the pass is memory-bound: four arrays)
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            // a factor of 1 leaves g exact, as scaling in place did
            let g = if k.grad_scale < 1.0 { g * k.grad_scale } else { g };
            *p *= k.decay;
            *m = k.b1 * *m + (1.0 - k.b1) * g;
            *v = k.b2 * *v + (1.0 - k.b2) * g * g;
            let mhat = *m / k.bc1;
            let vhat = *v / k.bc2;
            *p -= k.lr * mhat / (vhat.sqrt() + k.eps);
        }
    }
}

/// The preset's schedule at optimiser step `step` (0 for the first update).
pub fn schedule_lr(s: &crate::preset::Schedule, step: u64, peak: f32, min: f32, warmup: u64, horizon: u64) -> f32 {
    match *s {
        crate::preset::Schedule::Cosine => lr_at(step, peak, min, warmup, horizon),
        crate::preset::Schedule::Cyclic { cycle, gamma } => cyclic_lr(step, peak, min, warmup, cycle, gamma),
    }
}

/// S-D: warm-up P·(s+1)/W, then e = s − W, c = ⌊e/C⌋, φ = (e mod C)/C,
/// lr = m + ½(P·γ^c − m)(1 + cos πφ). Once P·γ^c < m this oscillates
/// between P·γ^c and m, exactly as the spec describes the reference.
pub fn cyclic_lr(step: u64, peak: f32, min: f32, warmup: u64, cycle: u64, gamma: f32) -> f32 {
    if step < warmup {
        return peak * (step + 1) as f32 / warmup as f32;
    }
    let e = step - warmup;
    let c = e / cycle.max(1);
    let phi = (e % cycle.max(1)) as f64 / cycle.max(1) as f64;
    let top = peak as f64 * (gamma as f64).powf(c as f64);
    let lr = min as f64 + 0.5 * (top - min as f64) * (1.0 + (std::f64::consts::PI * phi).cos());
    lr as f32
}

/// S-C with the D11 fix: linear warm-up P·(s+1)/W, then cosine from P to m over
/// the horizon N with progress clamped to [0, 1] (LR stays at m after the end).
pub fn lr_at(step: u64, peak: f32, min: f32, warmup: u64, horizon: u64) -> f32 {
    if step < warmup {
        return peak * (step + 1) as f32 / warmup as f32;
    }
    let span = horizon.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).clamp(0.0, 1.0);
    (min as f64 + 0.5 * (peak - min) as f64 * (1.0 + (std::f64::consts::PI * progress).cos())) as f32
}
