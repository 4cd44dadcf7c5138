//! BB-CSP, the learned cumulative position table (CPUFlow v5-LN, v9.7):
//! P_t = Σ_{i≤t} steps_i, added to the token embedding. The table has S_max
//! rows; a window longer than that has no positions (fix D22: decoders
//! re-prefill instead of extrapolating). Sums run in f64 and are rounded once
//! per position, as PyTorch's CPU cumsum does for f32 input (bit-faithful, D32).

use rayon::prelude::*;

crate::vectorized! {
    /// P [t × d] = running sums of the first t rows of `steps` (f64 accumulation,
    /// a block of channels at a time so the accumulators live on the stack).
    pub fn positions(p: &mut [f32], steps: &[f32], t: usize, d: usize) {
        for c0 in (0..d).step_by(BLOCK) {
            let w = BLOCK.min(d - c0);
            let mut acc = [0.0f64; BLOCK];
            for i in 0..t {
                let (s, o) = (&steps[i * d + c0..i * d + c0 + w], &mut p[i * d + c0..i * d + c0 + w]);
                for j in 0..w {
                    acc[j] += s[j] as f64;
                    o[j] = acc[j] as f32;
                }
            }
        }
    }
}

/// Channels per block of f64 accumulators.
const BLOCK: usize = 64;

crate::vectorized! {
    /// h\[b, t\] **+=** P_t for every sequence of `h` [b·t × d]; `p` is the table of [`positions`].
    pub fn cumstep_forward(h: &mut [f32], p: &[f32], t: usize, d: usize) {
        h.par_chunks_mut(t * d).for_each(|seq| {
            for (x, &q) in seq.iter_mut().zip(&p[..t * d]) {
                *x += q;
            }
        });
    }
}

crate::vectorized! {
    /// dsteps_i **+=** Σ_b Σ_{t' ≥ i} dh\[b, t'\] (reverse running sum, f64), for i < t;
    /// rows ≥ t get nothing. Row 0 collects the gradient of every position (D32).
    pub fn cumstep_backward(dsteps: &mut [f32], dh: &[f32], b: usize, t: usize, d: usize) {
        for c0 in (0..d).step_by(BLOCK) {
            let w = BLOCK.min(d - c0);
            let mut acc = [0.0f64; BLOCK];
            for i in (0..t).rev() {
                for s in 0..b {
                    let row = &dh[(s * t + i) * d + c0..(s * t + i) * d + c0 + w];
                    for j in 0..w {
                        acc[j] += row[j] as f64;
                    }
                }
                for (g, &a) in dsteps[i * d + c0..i * d + c0 + w].iter_mut().zip(&acc) {
                    *g += a as f32;
                }
            }
        }
    }
}
