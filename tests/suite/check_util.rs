//! Whole-model scaffolding shared by every model's checks: O(1) test parameters,
//! random tokens, whole-model gradient checks, causality probes, the
//! accumulate-and-repeat rule, the straight-through rule and decoder comparisons.
//! The central-difference checker itself is `gradcheck::check`.

use super::common::pool;
use super::golden_util::max_diff;
use super::gradcheck::check::{gradcheck, Report, Segment, Tol};
use flashlm_tui::model::{Decode, LanguageModel, TensorInfo, Workspace};
use flashlm_tui::rng::Rng;

/// Parameters drawn tensor by tensor in layout order as mean + std·N(0,1), with
/// `(mean, std) = dist(tensor)`; `rng` is left where the draws end.
pub fn draw_params(model: &dyn LanguageModel, rng: &mut Rng, dist: impl Fn(&TensorInfo) -> (f32, f32)) -> Vec<f32> {
    let mut p = vec![0.0f32; model.num_params()];
    for t in &model.layout().tensors {
        let (mean, std) = dist(t);
        for x in &mut p[t.range()] {
            *x = mean + std * rng.normal();
        }
    }
    p
}

pub fn random_tokens(rng: &mut Rng, n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|_| rng.below(vocab) as u32).collect()
}

/// Random inputs x with x[dst] = x[src] (a repeated input token: embedding
/// gradients must add up), then random targets y.
pub fn tokens_with_repeat(rng: &mut Rng, n: usize, vocab: usize, (dst, src): (usize, usize)) -> (Vec<u32>, Vec<u32>) {
    let mut x = random_tokens(rng, n, vocab);
    x[dst] = x[src];
    (x, random_tokens(rng, n, vocab))
}

/// A random token other than `tok`.
pub fn other_token(rng: &mut Rng, tok: u32, vocab: usize) -> u32 {
    ((tok as usize + 1 + rng.below(vocab - 1)) % vocab) as u32
}

/// One checker segment per parameter tensor.
pub fn every_tensor(model: &dyn LanguageModel) -> Vec<Segment> {
    model.layout().tensors.iter().map(|ti| Segment { name: ti.name.clone(), range: ti.range() }).collect()
}

/// The B·T·V logits of a forward.
pub fn logits(model: &dyn LanguageModel, ws: &mut Workspace, params: &[f32], x: &[u32], b: usize, t: usize) -> Vec<f32> {
    model.forward(ws, params, x, b, t);
    ws.logits[..b * t * model.vocab()].to_vec()
}

/// Per position of sequence `seq`: is any logit different (compared bitwise)?
pub fn changed_positions(a: &[f32], c: &[f32], seq: usize, t: usize, v: usize) -> Vec<bool> {
    (0..t)
        .map(|p| {
            let r = (seq * t + p) * v..(seq * t + p + 1) * v;
            a[r.clone()].iter().zip(&c[r]).any(|(x, y)| x.to_bits() != y.to_bits())
        })
        .collect()
}

/// `loss_and_grad` (must be finite) in a fresh workspace, in the 2-thread pool.
pub fn analytic_grads(model: &dyn LanguageModel, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> Vec<f32> {
    let mut grads = vec![0.0f32; model.num_params()];
    let loss = pool().install(|| model.loss_and_grad(&mut Workspace::new(), params, &mut grads, x, y, b, t));
    assert!(loss.is_finite(), "loss {loss}");
    grads
}

/// `grads` against central differences of `model.loss` on `segs` (see `gradcheck`).
#[allow(clippy::too_many_arguments)]
pub fn check_grads(
    label: &str,
    model: &dyn LanguageModel,
    params: &[f32],
    grads: &[f32],
    (x, y, b, t): (&[u32], &[u32], usize, usize),
    segs: &[Segment],
    per_segment: usize,
    tol: Tol,
    rng: &mut Rng,
) -> Report {
    pool().install(|| {
        let mut ws = Workspace::new();
        let mut loss = |p: &[f32]| model.loss(&mut ws, p, x, y, b, t);
        gradcheck(label, params, grads, segs, per_segment, tol, rng, &mut loss)
    })
}

/// [`analytic_grads`] checked by [`check_grads`].
#[allow(clippy::too_many_arguments)]
pub fn model_gradcheck(
    label: &str,
    model: &dyn LanguageModel,
    params: &[f32],
    batch: (&[u32], &[u32], usize, usize),
    segs: &[Segment],
    per_segment: usize,
    tol: Tol,
    rng: &mut Rng,
) -> Report {
    let (x, y, b, t) = batch;
    let grads = analytic_grads(model, params, x, y, b, t);
    check_grads(label, model, params, &grads, batch, segs, per_segment, tol, rng)
}

/// For every `pos` of `positions` and every sequence `seq`: the logits with token
/// `pos` of `seq` replaced by another random one, passed to
/// `check(pos, seq, &base, &changed)`. Returns the base logits.
#[allow(clippy::too_many_arguments)]
pub fn single_token_changes(
    model: &dyn LanguageModel,
    ws: &mut Workspace,
    params: &[f32],
    x: &[u32],
    (b, t): (usize, usize),
    positions: &[usize],
    rng: &mut Rng,
    mut check: impl FnMut(usize, usize, &[f32], &[f32]),
) -> Vec<f32> {
    let base = logits(model, ws, params, x, b, t);
    for &pos in positions {
        for seq in 0..b {
            let mut x2 = x.to_vec();
            let i = seq * t + pos;
            x2[i] = other_token(rng, x2[i], model.vocab());
            let changed = logits(model, ws, params, &x2, b, t);
            check(pos, seq, &base, &changed);
        }
    }
    base
}

/// After a change in sequence `seq`: its position p changed iff `should(p)`, and
/// no other sequence of the batch changed at all (bitwise).
pub fn assert_changed_exactly(
    base: &[f32],
    changed: &[f32],
    (b, t, v): (usize, usize, usize),
    seq: usize,
    should: impl Fn(usize) -> bool,
    what: &str,
) {
    for (p, &ch) in changed_positions(base, changed, seq, t, v).iter().enumerate() {
        assert_eq!(ch, should(p), "{what}: logits at position {p} of seq {seq} changed={ch}");
    }
    for other in (0..b).filter(|&s| s != seq) {
        assert!(changed_positions(base, changed, other, t, v).iter().all(|c| !c), "{what}: seq {seq} leaked into seq {other}");
    }
}

/// `loss_and_grad` adds into `grads` and leaves no state behind in the workspace:
/// a repeat into a fresh buffer is bit-identical (loss and gradient; `between` runs
/// before the repeat), and a second call on one buffer doubles it (up to 1e-5 of
/// the largest element: partial sums added onto a non-zero buffer round
/// differently). Run it in the pool; returns the first loss and gradient.
#[allow(clippy::too_many_arguments)]
pub fn assert_accumulates_and_repeats(
    what: &str,
    model: &dyn LanguageModel,
    ws: &mut Workspace,
    params: &[f32],
    (x, y, b, t): (&[u32], &[u32], usize, usize),
    between: impl FnOnce(&mut Workspace),
) -> (f64, Vec<f32>) {
    let n = model.num_params();
    let (mut once, mut again, mut twice) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
    let l1 = model.loss_and_grad(ws, params, &mut once, x, y, b, t);
    between(ws);
    let l2 = model.loss_and_grad(ws, params, &mut again, x, y, b, t);
    assert_eq!(l1.to_bits(), l2.to_bits(), "{what}: loss not repeatable");
    assert!(once.iter().zip(&again).all(|(p, q)| p.to_bits() == q.to_bits()), "{what}: gradient not repeatable");
    model.loss_and_grad(ws, params, &mut twice, x, y, b, t);
    model.loss_and_grad(ws, params, &mut twice, x, y, b, t);
    let scale = once.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    for (i, (a, c)) in once.iter().zip(&twice).enumerate() {
        assert!((c - 2.0 * a).abs() <= 1e-5 * scale, "{what}: element {i}: {c} after two calls, {a} after one");
    }
    (l1, once)
}

/// Straight-through rule: `ternary` at the latent `params` and `float` (Q = identity)
/// at `qparams` = Q(W) give the same loss and, for every tensor, the same gradient,
/// bit for bit (and a non-zero one per tensor if `nonzero`). Returns the loss.
#[allow(clippy::too_many_arguments)]
pub fn assert_ste(
    ternary: &dyn LanguageModel,
    float: &dyn LanguageModel,
    params: &[f32],
    qparams: &[f32],
    (x, y, b, t): (&[u32], &[u32], usize, usize),
    nonzero: bool,
) -> f64 {
    pool().install(|| {
        let mut ws = Workspace::new();
        let n = ternary.num_params();
        let (mut g_ste, mut g_q) = (vec![0.0f32; n], vec![0.0f32; n]);
        let l_ste = ternary.loss_and_grad(&mut ws, params, &mut g_ste, x, y, b, t);
        let l_q = float.loss_and_grad(&mut ws, qparams, &mut g_q, x, y, b, t);
        assert_eq!(l_ste.to_bits(), l_q.to_bits(), "the ternary forward is the float forward at Q(W)");
        for ti in &ternary.layout().tensors {
            let (a, c) = (&g_ste[ti.range()], &g_q[ti.range()]);
            assert!(a.iter().zip(c).all(|(p, q)| p.to_bits() == q.to_bits()), "{}: STE gradient ≠ gradient at Q(W)", ti.name);
            assert!(!nonzero || a.iter().any(|&g| g != 0.0), "{}: zero gradient", ti.name);
        }
        l_ste
    })
}

/// Steps `dec` through `tokens` (its position must count them) and returns the
/// largest |Δ| between its logits and row i of `reference` (V = `v` wide).
pub fn decoder_worst(dec: &mut dyn Decode, tokens: &[u32], reference: &[f32], v: usize) -> f32 {
    let mut worst = 0.0f32;
    for (i, &tok) in tokens.iter().enumerate() {
        dec.step(tok);
        assert_eq!(dec.pos(), i + 1);
        worst = worst.max(max_diff(dec.logits(), &reference[i * v..(i + 1) * v]));
    }
    worst
}
