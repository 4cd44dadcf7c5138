//! GroupNorm of v5 (spec §5.2, defect D4): G groups of w = d/G adjacent channels,
//! ε = 1e-5, affine γ, β ∈ R^d:
//!
//!   y = (x − μ)/sqrt(v + ε) ⊙ γ + β,  μ and the biased variance v of one set.
//!
//! A set is one group's channels over `span` consecutive positions:
//! * `span = 1` (the fix, default): per position and group, causal;
//! * `span = t` (reference_compat): the group's channels **and all t positions of
//!   the window** — what PyTorch's GroupNorm does on the reference's [B, C, T]
//!   tensor; every position sees statistics of later positions.
//!
//! Rows are [b·t × d]; statistics are stored per set, [b·t/span × G].
//! Sums run in f64 (a reference set has up to 256·48 elements).

use crate::kernels::ops::sum_rows;
use rayon::prelude::*;

pub const GN_EPS: f32 = 1e-5;

crate::vectorized! {
    /// Serial forward of one chunk of `span` rows ([span × d], `span` = x.len()/d):
    /// fills `mean`, `rstd` \[G\] and `out`. The streaming decoder calls it with one row.
    #[allow(clippy::too_many_arguments)]
    pub fn groupnorm_chunk(
        out: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        d: usize,
        groups: usize,
    ) {
        let w = d / groups;
        let span = x.len() / d;
        let n = (span * w) as f64;
        for g in 0..groups {
            let cols = g * w..(g + 1) * w;
            let mut s = 0.0f64;
            for r in 0..span {
                s += x[r * d + cols.start..r * d + cols.end].iter().map(|&v| v as f64).sum::<f64>();
            }
            let m = s / n;
            let mut ss = 0.0f64;
            for r in 0..span {
                ss += x[r * d + cols.start..r * d + cols.end].iter().map(|&v| (v as f64 - m) * (v as f64 - m)).sum::<f64>();
            }
            let (m, rs) = (m as f32, (1.0 / (ss / n + GN_EPS as f64).sqrt()) as f32);
            mean[g] = m;
            rstd[g] = rs;
            for r in 0..span {
                for j in cols.clone() {
                    out[r * d + j] = (x[r * d + j] - m) * rs * gamma[j] + beta[j];
                }
            }
        }
    }
}

crate::vectorized! {
    /// out = GN(inp), keeping mean/rstd per set ([rows/span × G] each).
    #[allow(clippy::too_many_arguments)]
    pub fn groupnorm_forward(
        out: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
        inp: &[f32],
        gamma: &[f32],
        beta: &[f32],
        d: usize,
        groups: usize,
        span: usize,
    ) {
        let cd = span * d;
        out.par_chunks_mut(cd)
            .zip(inp.par_chunks(cd))
            .zip(mean.par_chunks_mut(groups).zip(rstd.par_chunks_mut(groups)))
            .for_each(|((o, x), (m, r))| groupnorm_chunk(o, m, r, x, gamma, beta, d, groups));
    }
}

crate::vectorized! {
    /// Backward, given dout = ∂L/∂out: dinp is *overwritten*; dgamma += Σ dy⊙x̂,
    /// dbeta += Σ dy. Per set of n elements, with x̂ = (x − μ)·r and ĝ = dy⊙γ:
    /// dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)).
    #[allow(clippy::too_many_arguments)]
    pub fn groupnorm_backward(
        dinp: &mut [f32],
        dgamma: &mut [f32],
        dbeta: &mut [f32],
        dout: &[f32],
        inp: &[f32],
        gamma: &[f32],
        mean: &[f32],
        rstd: &[f32],
        d: usize,
        groups: usize,
        span: usize,
    ) {
        let rows = dout.len() / d;
        let w = d / groups;
        sum_rows(rows, dgamma, |r, acc| {
            let st = (r / span) * groups;
            let (dy, x) = (&dout[r * d..(r + 1) * d], &inp[r * d..(r + 1) * d]);
            for j in 0..d {
                let g = st + j / w;
                acc[j] += dy[j] * (x[j] - mean[g]) * rstd[g];
            }
        });
        sum_rows(rows, dbeta, |r, acc| {
            for (a, g) in acc.iter_mut().zip(&dout[r * d..(r + 1) * d]) {
                *a += g;
            }
        });
        let cd = span * d;
        dinp.par_chunks_mut(cd)
            .zip(dout.par_chunks(cd).zip(inp.par_chunks(cd)))
            .zip(mean.par_chunks(groups).zip(rstd.par_chunks(groups)))
            .for_each(|((dx, (dy, x)), (m, r))| {
                let sp = x.len() / d;
                let n = (sp * w) as f64;
                for g in 0..groups {
                    let cols = g * w..(g + 1) * w;
                    let (mu, rs) = (m[g], r[g]);
                    let (mut s1, mut s2) = (0.0f64, 0.0f64);
                    for row in 0..sp {
                        for j in cols.clone() {
                            let gh = (dy[row * d + j] * gamma[j]) as f64;
                            s1 += gh;
                            s2 += gh * ((x[row * d + j] - mu) * rs) as f64;
                        }
                    }
                    let (s1, s2) = ((s1 / n) as f32, (s2 / n) as f32);
                    for row in 0..sp {
                        for j in cols.clone() {
                            let i = row * d + j;
                            let xh = (x[i] - mu) * rs;
                            dx[i] = rs * (dy[i] * gamma[j] - s1 - xh * s2);
                        }
                    }
                }
            });
    }
}
