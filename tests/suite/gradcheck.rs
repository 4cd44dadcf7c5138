//! Gradient checks, checker self-tests, causality and parameter counts for CORTEX
//! v7.1 / v7.2 (spec §2, §9, §10).
//!
//! Every hand-written backward in `src/model/` is compared with a central
//! difference of its own forward. For a block with outputs `out` we fix random
//! weights `w` and use the scalar L(θ) = Σ_i w_i·out_i, accumulated in f64; its
//! gradient is exactly the block backward with `dout = w`. For the whole model
//! L is `Cortex::loss` (mean next-token cross-entropy) and the analytic gradient
//! is `Cortex::loss_and_grad`.
//!
//! # Why these ε and tolerances fit f32
//!
//! The numeric derivative n = (L(θ+ε) − L(θ−ε)) / (θ₊ − θ₋) (θ₊, θ₋ the f32 values
//! actually stored, so the step is exact) has two errors:
//!
//! * **Rounding**: the forward runs in f32 (unit roundoff u = 2⁻²⁴ ≈ 6·10⁻⁸), so every
//!   output the perturbed element reaches carries a relative error of a few u (dot
//!   products here are ≤ ~50 terms long). Outputs the element does *not* reach are
//!   bit-identical in both evaluations and cancel exactly (L is summed in f64, whose
//!   own rounding, ~10⁻¹⁶, is negligible). Dividing the difference of two noisy
//!   values by 2ε amplifies the noise by 1/ε: |Δn| ≲ c·u·Σ|w_i·out_i| / ε, which
//!   for ε = 10⁻² and the O(1)…O(10²) sums of the tiny blocks is ≲ 10⁻⁴ absolute
//!   (observed: ≤ 8·10⁻⁵).
//! * **Truncation**: the central difference is exact for polynomials of degree ≤ 3
//!   and otherwise errs by ε²/6·|∂³L/∂θ³| ≈ 1.7·10⁻⁵·|∂³L| for ε = 10⁻², i.e.
//!   ~10⁻⁵…10⁻³ relative for the O(1)-scaled inputs used here. Conv, the memory read
//!   and the linear layers are polynomials of degree ≤ 3 in any single element, so
//!   only σ, SiLU, RMSNorm and softmax contribute (the largest case is the d = 2
//!   RMSNorm, whose rows can have a small norm: 1.8·10⁻³ observed).
//!
//! Halving ε doubles the first error, doubling it quadruples the second; ε = 10⁻²
//! balances them (ε = 3·10⁻³ made the whole-model rounding noise 3× larger, ε =
//! 3·10⁻² made the Hebbian truncation error 10× larger). An element passes iff
//! |a − n| ≤ atol + rtol·max(|a|, |n|):
//!
//! * [`BLOCK_TOL`]: ε = 10⁻², atol = 5·10⁻⁴ (~5× the rounding bound; the block
//!   gradients themselves are O(0.1…10)), rtol = 5·10⁻³ (~3× the worst truncation).
//! * [`MODEL_TOL`]: ε = 10⁻², atol = 10⁻⁴, rtol = 10⁻². The loss is a *mean* over
//!   B·T = 24 positions, so gradients are ~24× smaller (10⁻⁵…0.6) while every
//!   logit depends on almost every parameter, so little rounding cancels: the
//!   observed noise is ~3·10⁻⁵ absolute (it moves non-monotonically with ε, the
//!   signature of rounding, while a 4-point stencil confirms the analytic values).
//!
//! A wrong backward is off by O(1) relative (a sign flip: 200 %, the dropped
//! RMSNorm term: tens of %), hundreds of times the tolerance
//! (`checker_rejects_*`). Everything is deterministic (fixed seeds, 2 threads,
//! fixed-order reductions), so the margins above do not vary between runs.
//!
//! The per-tensor error statistics are printed by each test (`-- --nocapture`).

use super::check_util::*;
use super::common::{fixtures, pool, tiny_cortex};
use super::golden_util::{layout_shapes, read_json, state_dict};
use check::*;
use flashlm_tui::kernels::conv::{conv_backward, conv_forward};
use flashlm_tui::model::blocks::embedding::{embedding_backward, embedding_forward};
use flashlm_tui::model::blocks::gated_conv::{mixer_backward, mixer_forward, MixerActs, MixerGrads, MixerWeights};
use flashlm_tui::model::blocks::head::{cross_entropy_forward, head_ce_fused, head_forward, HEAD_BLOCK};
use flashlm_tui::model::blocks::hebbian::{memory_backward, memory_forward, MemoryGrads, MemoryShape, MemoryWeights};
use flashlm_tui::model::blocks::rmsnorm::{rmsnorm_backward, rmsnorm_forward};
use flashlm_tui::model::blocks::swiglu::{ffn_backward, ffn_forward, FfnGrads, FfnWeights};
use flashlm_tui::model::{Cortex, CortexConfig, LanguageModel, MemoryConfig, Workspace};
use flashlm_tui::rng::Rng;

/// The reusable central-difference checker and the packing helpers.
pub mod check {
    use flashlm_tui::rng::Rng;
    use std::ops::Range;

    /// Step and pass criterion |a − n| ≤ atol + rtol·max(|a|, |n|).
    #[derive(Clone, Copy, Debug)]
    pub struct Tol {
        pub eps: f32,
        pub atol: f64,
        pub rtol: f64,
    }

    /// See the file doc comment for the derivation.
    pub const BLOCK_TOL: Tol = Tol { eps: 1e-2, atol: 5e-4, rtol: 5e-3 };
    pub const MODEL_TOL: Tol = Tol { eps: 1e-2, atol: 1e-4, rtol: 1e-2 };

    /// A named range of the flat vector θ (one block input or parameter tensor).
    #[derive(Clone, Debug)]
    pub struct Segment {
        pub name: String,
        pub range: Range<usize>,
    }

    /// Builds θ = [segment₀ ; segment₁ ; …] with entries mean + std·N(0,1).
    pub struct Packer<'r> {
        pub theta: Vec<f32>,
        pub segs: Vec<Segment>,
        rng: &'r mut Rng,
    }

    impl<'r> Packer<'r> {
        pub fn new(rng: &'r mut Rng) -> Self {
            Packer { theta: Vec::new(), segs: Vec::new(), rng }
        }
        pub fn push(mut self, name: &str, len: usize, mean: f32, std: f32) -> Self {
            let start = self.theta.len();
            for _ in 0..len {
                let v = mean + std * self.rng.normal();
                self.theta.push(v);
            }
            self.segs.push(Segment { name: name.to_string(), range: start..start + len });
            self
        }
        pub fn done(self) -> (Vec<f32>, Vec<Segment>) {
            (self.theta, self.segs)
        }
    }

    /// The slices of θ, one per segment, in order.
    pub fn split<'a>(theta: &'a [f32], segs: &[Segment]) -> Vec<&'a [f32]> {
        segs.iter().map(|s| &theta[s.range.clone()]).collect()
    }

    /// The element where |a − n| is largest relative to its tolerance.
    #[derive(Clone, Debug)]
    pub struct Worst {
        pub segment: String,
        pub index: usize,
        pub analytic: f64,
        pub numeric: f64,
        /// |a − n| / (atol + rtol·max(|a|,|n|)); the element passes iff ≤ 1.
        pub ratio: f64,
    }

    #[derive(Clone, Debug)]
    pub struct SegStats {
        pub name: String,
        pub checked: usize,
        pub max_grad: f64,
        pub worst_abs: f64,
        /// worst |a − n| / max(|a|,|n|) over elements where the rtol term dominates
        /// (max(|a|,|n|) ≥ atol/rtol); 0 if there are none.
        pub worst_rel: f64,
    }

    #[derive(Clone, Debug)]
    pub struct Report {
        pub label: String,
        pub stats: Vec<SegStats>,
        pub worst: Option<Worst>,
    }

    impl Report {
        /// The worst element if it breaks the tolerance.
        pub fn violation(&self) -> Option<&Worst> {
            self.worst.as_ref().filter(|w| w.ratio > 1.0)
        }

        pub fn print(&self) {
            eprintln!("── gradcheck {}", self.label);
            for s in &self.stats {
                eprintln!(
                    "   {:<28} n={:<4} max|g|={:<10.3e} worst abs={:<10.3e} worst rel={:.3e}",
                    s.name, s.checked, s.max_grad, s.worst_abs, s.worst_rel
                );
            }
            if let Some(w) = &self.worst {
                eprintln!(
                    "   worst: {}[{}] analytic {:.6e} numeric {:.6e} ({:.3} of tolerance)",
                    w.segment, w.index, w.analytic, w.numeric, w.ratio
                );
            }
        }

        /// Prints, then returns the worst element, which must break the tolerance
        /// (a checker self-test: a planted bug must be rejected).
        pub fn assert_rejected(&self, what: &str) -> &Worst {
            self.print();
            self.violation().unwrap_or_else(|| panic!("{}: the checker must reject {what}", self.label))
        }

        /// Prints, then panics with the worst element if anything broke the tolerance.
        pub fn assert_ok(&self) {
            self.print();
            if let Some(w) = self.violation() {
                panic!(
                    "{}: gradient of {}[{}] analytic {:e} vs numeric {:e} ({:.2}× the tolerance)",
                    self.label, w.segment, w.index, w.analytic, w.numeric, w.ratio
                );
            }
            assert!(self.stats.iter().all(|s| s.checked > 0), "{}: a segment was not checked", self.label);
        }
    }

    /// Central-difference check of `analytic` (∂L/∂θ, same layout as θ) against
    /// `loss`. Per segment, every element is checked if it has at most
    /// `per_segment` elements, otherwise a random subset of `per_segment`.
    /// Returns the per-segment error statistics and the worst element.
    #[allow(clippy::too_many_arguments)]
    pub fn gradcheck(
        label: &str,
        theta: &[f32],
        analytic: &[f32],
        segs: &[Segment],
        per_segment: usize,
        tol: Tol,
        rng: &mut Rng,
        loss: &mut dyn FnMut(&[f32]) -> f64,
    ) -> Report {
        assert_eq!(theta.len(), analytic.len(), "{label}: gradient layout");
        let mut p = theta.to_vec();
        let mut stats = Vec::new();
        let mut worst: Option<Worst> = None;
        for s in segs {
            let len = s.range.len();
            let picks: Vec<usize> = if len <= per_segment {
                (0..len).collect()
            } else {
                let mut all: Vec<usize> = (0..len).collect();
                rng.shuffle(&mut all);
                all.truncate(per_segment);
                all.sort_unstable();
                all
            };
            let mut st = SegStats { name: s.name.clone(), checked: 0, max_grad: 0.0, worst_abs: 0.0, worst_rel: 0.0 };
            for &j in &picks {
                let i = s.range.start + j;
                let orig = p[i];
                p[i] = orig + tol.eps;
                let (hi, lp) = (p[i], loss(&p));
                p[i] = orig - tol.eps;
                let (lo, lm) = (p[i], loss(&p));
                p[i] = orig;
                let numeric = (lp - lm) / (hi as f64 - lo as f64);
                let a = analytic[i] as f64;
                let err = (a - numeric).abs();
                let scale = a.abs().max(numeric.abs());
                let ratio = if err.is_nan() { f64::INFINITY } else { err / (tol.atol + tol.rtol * scale) };
                st.checked += 1;
                st.max_grad = st.max_grad.max(scale);
                st.worst_abs = st.worst_abs.max(err);
                if scale >= tol.atol / tol.rtol {
                    st.worst_rel = st.worst_rel.max(err / scale);
                }
                if worst.as_ref().is_none_or(|w| ratio > w.ratio) {
                    worst = Some(Worst { segment: s.name.clone(), index: j, analytic: a, numeric, ratio });
                }
            }
            stats.push(st);
        }
        Report { label: label.to_string(), stats, worst }
    }

    pub type Forward<'f> = Box<dyn Fn(&[f32]) -> Vec<f32> + Sync + 'f>;
    pub type Backward<'f> = Box<dyn Fn(&[f32], &[f32]) -> Vec<f32> + Sync + 'f>;

    /// A block under test: θ packs its inputs and parameters; `forward(θ)` returns
    /// the outputs; `backward(θ, dout)` returns ∂(Σ dout⊙out)/∂θ in θ's layout.
    pub struct Block<'f> {
        pub label: String,
        pub theta: Vec<f32>,
        pub segs: Vec<Segment>,
        pub forward: Forward<'f>,
        pub backward: Backward<'f>,
    }

    /// `g` split at the (ascending) segment ranges, any number of them.
    fn carve<'a>(mut g: &'a mut [f32], ranges: &[std::ops::Range<usize>]) -> Vec<&'a mut [f32]> {
        let mut pos = 0;
        ranges
            .iter()
            .map(|r| {
                assert!(r.start >= pos, "carve: ranges must ascend and not overlap");
                let (_, rest) = std::mem::take(&mut g).split_at_mut(r.start - pos);
                let (piece, rest) = rest.split_at_mut(r.len());
                (g, pos) = (rest, r.end);
                piece
            })
            .collect()
    }

    impl Block<'static> {
        /// A block from θ = [segment₀ ; segment₁ ; …] (a [`Packer`]'s output), its
        /// forward `forward(parts) = (out, saved)` on θ split into its segments, and
        /// its backward `backward(parts, saved, dout, grads)` writing into the
        /// zeroed gradient split the same way. The backward reruns the forward.
        pub fn new<S, F, B>(label: String, (theta, segs): (Vec<f32>, Vec<Segment>), forward: F, backward: B) -> Self
        where
            F: Fn(&[&[f32]]) -> (Vec<f32>, S) + Send + Sync + 'static,
            B: Fn(&[&[f32]], S, &[f32], Vec<&mut [f32]>) + Sync + 'static,
        {
            let forward = std::sync::Arc::new(forward);
            let (f1, s1, s2) = (forward.clone(), segs.clone(), segs.clone());
            Block {
                label,
                theta,
                segs,
                forward: Box::new(move |th| f1(&split(th, &s1)).0),
                backward: Box::new(move |th, dout| {
                    let p = split(th, &s2);
                    let (_, saved) = forward(&p);
                    let mut g = vec![0.0; th.len()];
                    let ranges: Vec<_> = s2.iter().map(|s| s.range.clone()).collect();
                    backward(&p, saved, dout, carve(&mut g, &ranges));
                    g
                }),
            }
        }
    }

    impl<'f> Block<'f> {
        /// The same θ and forward with another backward (a planted bug).
        pub fn with_backward<'a>(&'a self, label: &str, backward: Backward<'a>) -> Block<'a> {
            Block {
                label: label.into(),
                theta: self.theta.clone(),
                segs: self.segs.clone(),
                forward: Box::new(|th| (self.forward)(th)),
                backward,
            }
        }

        /// L(θ) = Σ w_i·out_i (f64) with fixed random w; analytic = backward(θ, w).
        pub fn check(&self, per_segment: usize, tol: Tol, rng: &mut Rng) -> Report {
            let n_out = (self.forward)(&self.theta).len();
            let w: Vec<f32> = (0..n_out).map(|_| rng.normal()).collect();
            let analytic = (self.backward)(&self.theta, &w);
            let mut loss = |t: &[f32]| -> f64 {
                let out = (self.forward)(t);
                out.iter().zip(&w).map(|(&o, &w)| o as f64 * w as f64).sum()
            };
            gradcheck(&self.label, &self.theta, &analytic, &self.segs, per_segment, tol, rng, &mut loss)
        }
    }
}

// ───────────────────────────── block definitions ─────────────────────────────

/// RMSNorm on `rows` rows of width d: θ = [x ; g]. The test's 67 rows cross the
/// fixed 64-row reduction chunk of `sum_rows` (used for dg).
fn rmsnorm_block(rng: &mut Rng, rows: usize, d: usize) -> Block<'static> {
    let packed = Packer::new(rng).push("x", rows * d, 0.0, 1.0).push("gain", d, 1.0, 0.3).done();
    let fwd = move |p: &[&[f32]]| {
        let (mut out, mut rstd) = (vec![0.0; rows * d], vec![0.0; rows]);
        rmsnorm_forward(&mut out, &mut rstd, p[0], p[1], d);
        (out, rstd)
    };
    Block::new(format!("rmsnorm rows={rows} d={d}"), packed, fwd, move |p, rstd, dout, g| {
        let [gx, gg]: [&mut [f32]; 2] = g.try_into().ok().unwrap();
        rmsnorm_backward(gx, gg, dout, p[0], p[1], &rstd, d);
    })
}

/// The RMSNorm backward written out in the test (the control for the dropped-term
/// self-test): dx = r·(dy⊙g) − x·r³/d·Σ(dy⊙g⊙x), dg = Σ_rows dy⊙x·r.
fn rmsnorm_backward_by_hand(t: &[f32], dout: &[f32], rows: usize, d: usize, drop_projection: bool) -> Vec<f32> {
    let (x, g) = t.split_at(rows * d);
    let mut grad = vec![0.0f32; t.len()];
    for r in 0..rows {
        let (xr, dy) = (&x[r * d..(r + 1) * d], &dout[r * d..(r + 1) * d]);
        let ms = xr.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let rs = 1.0 / (ms + flashlm_tui::model::blocks::rmsnorm::RMS_EPS).sqrt();
        let dot: f32 = (0..d).map(|j| dy[j] * g[j] * xr[j]).sum();
        for j in 0..d {
            let proj = if drop_projection { 0.0 } else { xr[j] * rs * rs * rs / d as f32 * dot };
            grad[r * d + j] = rs * dy[j] * g[j] - proj;
            grad[rows * d + j] += dy[j] * xr[j] * rs;
        }
    }
    grad
}

/// Embedding lookup with repeated tokens: θ = table.
fn embedding_block(rng: &mut Rng) -> Block<'static> {
    let (v, d) = (6, 4);
    let tokens: Vec<u32> = vec![3, 0, 3, 5, 1, 3, 0, 2]; // 4 never used, 3 thrice
    let (theta, segs) = Packer::new(rng).push("table", v * d, 0.0, 1.0).done();
    let t2 = tokens.clone();
    Block {
        label: "embedding".into(),
        theta,
        segs,
        forward: Box::new(move |t| {
            let mut out = vec![0.0; tokens.len() * d];
            embedding_forward(&mut out, &tokens, t, d);
            out
        }),
        backward: Box::new(move |t, dout| {
            let mut g = vec![0.0; t.len()];
            embedding_backward(&mut g, dout, &t2, d);
            g
        }),
    }
}

/// Causal depthwise conv alone on a strided input, like inside the mixer: u row r
/// starts at `off + r·ldu`, ldu > d, so θ also holds gap elements whose gradient
/// must be exactly zero. θ = [u buffer ; w].
fn conv_block(rng: &mut Rng, b: usize, t: usize, d: usize, k: usize) -> Block<'static> {
    let (ldu, off) = (d + 3, 2);
    let packed = Packer::new(rng).push("u (strided)", b * t * ldu, 0.0, 1.0).push("conv w", d * k, 0.0, 0.5).done();
    let fwd = move |p: &[&[f32]]| {
        let mut out = vec![0.0; b * t * d];
        conv_forward(&mut out, &p[0][off..], ldu, p[1], t, d, k);
        (out, ())
    };
    Block::new(format!("conv b={b} t={t} d={d} k={k} ldu={ldu}"), packed, fwd, move |p, (), dout, g| {
        let [gu, gw]: [&mut [f32]; 2] = g.try_into().ok().unwrap();
        conv_backward(&mut gu[off..], ldu, gw, dout, &p[0][off..], p[1], t, d, k);
    })
}

/// Gated conv mixer: θ = [a ; W_up ; conv ; W_down].
fn mixer_block(rng: &mut Rng, b: usize, t: usize, d: usize, k: usize) -> Block<'static> {
    let rows = b * t;
    let sd = 1.0 / (d as f32).sqrt();
    let packed = Packer::new(rng)
        .push("a", rows * d, 0.0, 1.0)
        .push("mixer_up", 2 * d * d, 0.0, sd)
        .push("conv", d * k, 0.0, 0.5)
        .push("mixer_down", d * d, 0.0, sd)
        .done();
    let fwd = move |p: &[&[f32]]| {
        let w = MixerWeights { up: p[1], conv: p[2], down: p[3] };
        let (mut up, mut conv, mut gated) = (vec![0.0; 2 * rows * d], vec![0.0; rows * d], vec![0.0; rows * d]);
        let mut out = vec![0.0; rows * d];
        mixer_forward(&mut out, MixerActs { up: &mut up, conv: &mut conv, gated: &mut gated }, p[0], &w, t, d, k);
        (out, (up, conv))
    };
    Block::new(format!("gated conv mixer b={b} t={t} d={d} k={k}"), packed, fwd, move |p, (up, conv), dout, g| {
        let w = MixerWeights { up: p[1], conv: p[2], down: p[3] };
        let [ga, gup, gconv, gdown]: [&mut [f32]; 4] = g.try_into().ok().unwrap();
        let (mut dgated, mut dup) = (vec![0.0; rows * d], vec![0.0; 2 * rows * d]);
        let grads = MixerGrads { up: gup, conv: gconv, down: gdown };
        mixer_backward(ga, grads, dout, p[0], (&up, &conv), &w, &mut dgated, &mut dup, t, d, k);
    })
}

/// Hebbian memory (chunkwise form, chunks of 4 so the state crosses chunk
/// borders): θ = [a ; W_kvq ; W_mo], decay 0.9, c = 1/√(8·12).
fn memory_block(rng: &mut Rng, b: usize, t: usize, d: usize, dm: usize) -> Block<'static> {
    let rows = b * t;
    let sh = MemoryShape { t, d, d_mem: dm, decay: 0.9, scale: 1.0 / (8.0f32 * 12.0).sqrt(), chunk: 4 };
    let packed = Packer::new(rng)
        .push("a", rows * d, 0.0, 1.0)
        .push("key/val/query_proj", 3 * dm * d, 0.0, 1.0 / (d as f32).sqrt())
        .push("mem_out", d * dm, 0.0, 1.0 / (dm as f32).sqrt())
        .done();
    let fwd = move |p: &[&[f32]]| {
        let w = MemoryWeights { kvq: p[1], out: p[2] };
        let (mut kvq, mut s, mut r) = (vec![0.0; rows * 3 * dm], vec![0.0; b * sh.cache_len()], vec![0.0; rows * dm]);
        let mut out = vec![0.0; rows * d];
        memory_forward(&mut out, &mut kvq, &mut s, &mut r, p[0], &w, sh);
        (out, (kvq, s, r))
    };
    Block::new(format!("hebbian memory b={b} t={t} d={d} d_mem={dm}"), packed, fwd, move |p, (kvq, mut s, r), dout, g| {
        let w = MemoryWeights { kvq: p[1], out: p[2] };
        let [ga, gkvq, gout]: [&mut [f32]; 3] = g.try_into().ok().unwrap();
        let (mut dr, mut ds, mut dkvq) = (vec![0.0; rows * dm], vec![0.0; b * sh.scratch_len()], vec![0.0; rows * 3 * dm]);
        let grads = MemoryGrads { kvq: gkvq, out: gout };
        memory_backward(ga, grads, dout, p[0], (&kvq, &mut s, &r), &w, &mut dr, &mut ds, &mut dkvq, sh);
    })
}

/// SwiGLU FFN: θ = [a ; W_g,W_u ; W_o].
fn swiglu_block(rng: &mut Rng, rows: usize, d: usize, h: usize) -> Block<'static> {
    let packed = Packer::new(rng)
        .push("a", rows * d, 0.0, 1.0)
        .push("Wg/Wu", 2 * h * d, 0.0, 1.0 / (d as f32).sqrt())
        .push("Wo", d * h, 0.0, 1.0 / (h as f32).sqrt())
        .done();
    let fwd = move |p: &[&[f32]]| {
        let w = FfnWeights { gu: p[1], o: p[2] };
        let (mut gu, mut act, mut out) = (vec![0.0; rows * 2 * h], vec![0.0; rows * h], vec![0.0; rows * d]);
        ffn_forward(&mut out, &mut gu, &mut act, p[0], &w, d, h);
        (out, gu)
    };
    Block::new(format!("swiglu rows={rows} d={d} h={h}"), packed, fwd, move |p, gu, dout, g| {
        let w = FfnWeights { gu: p[1], o: p[2] };
        let [ga, ggu, go]: [&mut [f32]; 3] = g.try_into().ok().unwrap();
        let (mut dact, mut dgu) = (vec![0.0; rows * h], vec![0.0; rows * 2 * h]);
        ffn_backward(ga, FfnGrads { gu: ggu, o: go }, dout, p[0], &gu, &w, &mut dact, &mut dgu, d, h);
    })
}

/// Tied head + cross-entropy, checked directly with L = Σ_rows CE_r (f64): the
/// CE backward takes one uniform scale, so it does not fit the Σ w_i·out_i form.
/// θ = [h_f ; E].
fn check_head_ce(rng: &mut Rng, rows: usize, d: usize, v: usize) -> Report {
    let (theta, segs) = Packer::new(rng).push("h_f", rows * d, 0.0, 1.0).push("E (tied)", v * d, 0.0, 0.7).done();
    let targets: Vec<u32> = (0..rows).map(|_| rng.below(v) as u32).collect();
    let mut loss = |th: &[f32]| -> f64 {
        let p = split(th, &segs);
        let (mut logits, mut losses) = (vec![0.0; rows * v], vec![0.0; rows]);
        head_forward(&mut logits, p[0], p[1], d, v);
        cross_entropy_forward(&mut losses, &logits, &targets, v);
        losses.iter().map(|&l| l as f64).sum()
    };
    let p = split(&theta, &segs);
    // the training path: blocked, fused head + CE of the *mean* loss, scaled back to the sum
    let (mut losses, mut buf) = (vec![0.0; rows], vec![0.0; HEAD_BLOCK.min(rows) * v]);
    let mut g = vec![0.0; theta.len()];
    let (gh, ge) = g.split_at_mut(rows * d);
    head_ce_fused(&mut losses, gh, ge, &mut buf, p[0], p[1], &targets, d, v);
    g.iter_mut().for_each(|x| *x *= rows as f32);
    let label = format!("head+cross-entropy rows={rows} d={d} V={v}");
    gradcheck(&label, &theta, &g, &segs, usize::MAX, BLOCK_TOL, rng, &mut loss)
}

// ─────────────────────────── whole-model helpers ───────────────────────────

/// Parameters with O(1) activations everywhere (the spec init has E ~ 0.02 and
/// W_mo ~ 0.01, which would make the memory's gradients too small to test):
/// gains 1 + 0.2·N, E ~ N(0, 0.5²), conv N(0, 1/k), linears N(0, 1/fan_in).
fn test_params(model: &Cortex, seed: u64) -> Vec<f32> {
    draw_params(model, &mut Rng::new(seed), |t| match t.shape.as_slice() {
        [_] => (1.0, 0.2),
        _ if t.name == "embed.weight" => (0.0, 0.5),
        [_, 1, k] => (0.0, 1.0 / (*k as f32).sqrt()),
        [_, fan_in] => (0.0, 1.0 / (*fan_in as f32).sqrt()),
        s => panic!("unexpected shape {s:?} for {}", t.name),
    })
}

fn check_model(memory: bool) {
    let model = tiny_cortex(memory);
    let (b, t, v) = (2, model.cfg.seq_len, model.cfg.vocab);
    let params = test_params(&model, 11 + memory as u64);
    let mut rng = Rng::new(21 + memory as u64);
    let (x, y) = tokens_with_repeat(&mut rng, b * t, v, (7, 2));
    let label = if memory { "v7.2 tiny model (memory)" } else { "v7.1 tiny model (no memory)" };
    model_gradcheck(label, &model, &params, (&x, &y, b, t), &every_tensor(&model), usize::MAX, MODEL_TOL, &mut rng).assert_ok();
}

fn check_causality(memory: bool) {
    let model = tiny_cortex(memory);
    let c = &model.cfg;
    let (b, t, v) = (2, c.seq_len, c.vocab);
    let receptive_field = 1 + c.n_layers * (c.kernel_size - 1);
    for (seed, params) in [(1u64, test_params(&model, 3)), (2, model.init_params(4))] {
        let mut rng = Rng::new(seed + 100 * memory as u64);
        pool().install(|| {
            let mut ws = Workspace::new();
            let x = random_tokens(&mut rng, b * t, v);
            let positions = [0, 1, 5, t / 2, t - 2, t - 1];
            let base = single_token_changes(&model, &mut ws, &params, &x, (b, t), &positions, &mut rng, |pos, seq, base, l2| {
                // Exactly equal before `pos`; changed from `pos` on, up to the conv
                // receptive field without memory, up to the window end with it.
                let should = |p| p >= pos && (memory || p < pos + receptive_field);
                let what = format!("memory={memory}: token {pos} (receptive field {receptive_field})");
                assert_changed_exactly(base, l2, (b, t, v), seq, should, &what);
            });
            // Batch rows are independent: replace all of sequence 0 (and then all of 1).
            for seq in 0..b {
                let mut x2 = x.clone();
                for tok in &mut x2[seq * t..(seq + 1) * t] {
                    *tok = other_token(&mut rng, *tok, v);
                }
                let l2 = logits(&model, &mut ws, &params, &x2, b, t);
                assert_changed_exactly(&base, &l2, (b, t, v), seq, |_| true, &format!("memory={memory}: sequence {seq} replaced"));
            }
        });
    }
}

// ─────────────────────────────────── tests ───────────────────────────────────

#[test]
fn gradcheck_rmsnorm() {
    let mut rng = Rng::new(1);
    pool().install(|| {
        rmsnorm_block(&mut rng, 67, 7).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        rmsnorm_block(&mut rng, 5, 2).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
    });
}

#[test]
fn gradcheck_embedding() {
    let mut rng = Rng::new(2);
    let block = embedding_block(&mut rng);
    let report = pool().install(|| block.check(usize::MAX, BLOCK_TOL, &mut rng));
    report.assert_ok();
}

#[test]
fn gradcheck_conv() {
    let mut rng = Rng::new(3);
    pool().install(|| {
        conv_block(&mut rng, 2, 6, 3, 4).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        // kernel longer than the window: taps reaching before position 0
        conv_block(&mut rng, 3, 3, 2, 5).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        // 16 channels and 9 taps: the AVX-512 tiles (8 positions or taps × 16
        // channels) where the CPU has them, beside the edge tiles
        conv_block(&mut rng, 2, 24, 16, 9).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
    });
}

#[test]
fn gradcheck_gated_conv_mixer() {
    let mut rng = Rng::new(4);
    pool().install(|| {
        mixer_block(&mut rng, 2, 7, 5, 3).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        mixer_block(&mut rng, 1, 3, 4, 5).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
    });
}

#[test]
fn gradcheck_hebbian_memory() {
    let mut rng = Rng::new(5);
    pool().install(|| {
        memory_block(&mut rng, 2, 7, 6, 4).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        memory_block(&mut rng, 1, 12, 5, 8).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
    });
}

#[test]
fn gradcheck_swiglu() {
    let mut rng = Rng::new(6);
    pool().install(|| swiglu_block(&mut rng, 8, 5, 7).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok());
}

#[test]
fn gradcheck_head_cross_entropy() {
    let mut rng = Rng::new(7);
    pool().install(|| check_head_ce(&mut rng, 6, 5, 11)).assert_ok();
    // more rows than one head block (512): the dE accumulation crosses blocks
    pool().install(|| check_head_ce(&mut rng, 600, 3, 7)).assert_ok();
}

#[test]
fn gradcheck_whole_model_v7_1() {
    check_model(false);
}

#[test]
fn gradcheck_whole_model_v7_2() {
    check_model(true);
}

/// `loss_and_grad` adds into `grads` and leaves no state behind in the workspace:
/// a repeat into a fresh buffer is bit-identical, and a second call on the same
/// buffer doubles it (up to the rounding of adding partial sums onto a non-zero
/// buffer). Catches scratch buffers that are not reset between calls.
#[test]
fn loss_and_grad_accumulates_and_repeats() {
    for memory in [false, true] {
        let model = tiny_cortex(memory);
        let (b, t, v) = (2, model.cfg.seq_len, model.cfg.vocab);
        let params = test_params(&model, 31);
        let mut rng = Rng::new(32);
        let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
        let what = format!("memory={memory}");
        pool().install(|| assert_accumulates_and_repeats(&what, &model, &mut Workspace::new(), &params, (&x, &y, b, t), |_| {}));
    }
}

/// (a) A sign flip in one parameter's gradient must be rejected by the checker.
#[test]
fn checker_rejects_sign_flip() {
    let mut rng = Rng::new(8);
    pool().install(|| {
        let good = mixer_block(&mut rng, 2, 5, 4, 3);
        // Whole conv-weight gradient negated.
        let conv = good.segs[2].range.clone();
        let bad = good.with_backward(
            "mixer, conv gradient negated",
            Box::new(|th, dout| {
                let mut g = (good.backward)(th, dout);
                g[conv.clone()].iter_mut().for_each(|v| *v = -*v);
                g
            }),
        );
        let report = bad.check(usize::MAX, BLOCK_TOL, &mut rng.clone());
        assert_eq!(report.assert_rejected("a negated conv gradient").segment, "conv");
        // A single flipped element: the largest |∂L/∂W_down| entry.
        let down = good.segs[3].range.clone();
        let n_out = (good.forward)(&good.theta).len();
        let mut rng_w = rng.clone();
        let w0: Vec<f32> = (0..n_out).map(|_| rng_w.normal()).collect();
        let g0 = (good.backward)(&good.theta, &w0);
        let big = down.clone().max_by(|&i, &j| g0[i].abs().total_cmp(&g0[j].abs())).unwrap();
        let one = good.with_backward(
            "mixer, one W_down element negated",
            Box::new(|th, dout| {
                let mut g = (good.backward)(th, dout);
                g[big] = -g[big];
                g
            }),
        );
        let report = one.check(usize::MAX, BLOCK_TOL, &mut rng.clone());
        let w = report.assert_rejected("one flipped element");
        assert_eq!((w.segment.as_str(), w.index), ("mixer_down", big - down.start));
        // Control: the unmodified block passes with the same random weights.
        good.check(usize::MAX, BLOCK_TOL, &mut rng.clone()).assert_ok();
    });
}

/// (b) An RMSNorm backward without the −x·r³/d·Σ(dy⊙g⊙x) term must be rejected,
/// while the same hand-written backward with the term passes.
#[test]
fn checker_rejects_dropped_rmsnorm_term() {
    let (rows, d) = (5, 6);
    let rng = Rng::new(9);
    pool().install(|| {
        for drop in [false, true] {
            let mut block = rmsnorm_block(&mut rng.clone(), rows, d);
            block.label = format!("rmsnorm by hand, projection term dropped={drop}");
            block.backward = Box::new(move |th, dout| rmsnorm_backward_by_hand(th, dout, rows, d, drop));
            let report = block.check(usize::MAX, BLOCK_TOL, &mut rng.clone());
            if drop {
                assert_eq!(report.assert_rejected("the dropped term").segment, "x", "only dx loses the term");
            } else {
                report.assert_ok();
            }
        }
    });
}

#[test]
fn causality_v7_1() {
    check_causality(false);
}

#[test]
fn causality_v7_2() {
    check_causality(true);
}

fn full_size(memory: bool) -> Cortex {
    Cortex::new(CortexConfig {
        vocab: 4096,
        d_model: 256,
        n_layers: 6,
        d_ff: 512,
        kernel_size: 15,
        memory: memory.then_some(MemoryConfig { d_mem: 64, decay: 0.99 }),
        seq_len: 256,
    })
}

fn check_full_size(version: &str, memory: bool, expected: usize) {
    let model = full_size(memory);
    assert_eq!(model.num_params(), expected, "{version}: parameter count");
    let j = read_json(fixtures().join(version).join("full_size.json"));
    assert_eq!(j["param_count"].as_u64().unwrap() as usize, expected, "{version}: fixture count");
    let reference: Vec<_> = state_dict(&j).into_iter().filter(|(n, _)| n != "head.weight" && !n.ends_with("decay_mask")).collect();
    let ours = layout_shapes(&model);
    assert_eq!(ours, reference, "{version}: parameter names, order and shapes");
}

#[test]
fn param_counts_full_size() {
    check_full_size("v7.1", false, 4_614_144);
    check_full_size("v7.2", true, 5_008_896);
}
