//! v7 CORTEX (spec §8): golden forward/backward and exit-head outputs against the
//! reference fixture, parameter counts, finite-difference checks of the time-mix
//! block and of the FULL objective (exit CE, consistency BCE, diversity), the
//! straight-through gradient of the ternary matrices, the true recurrence (D8),
//! causality, the incremental decoder and its adaptive early exit (D18).

use super::check_util::*;
use super::common::{fixtures, pool};
use super::golden_util::{layout_shapes, max_diff, read_json, state_dict, Golden};
use super::gradcheck::check::*;
use flashlm_tui::model::blocks::bitlinear::{quantize, BitVariant};
use flashlm_tui::model::blocks::decayed_sum::{
    decay_weights, time_mix_backward, time_mix_forward, TimeMixActs, TimeMixGrads, TimeMixScratch, TimeMixWeights,
};
use flashlm_tui::model::blocks::exit_head::entropy_confidence;
use flashlm_tui::model::versions::v7_cortex::{AdaptiveExit, CortexV7, CortexV7Config, Decoder};
use flashlm_tui::model::{LanguageModel, Workspace};
use flashlm_tui::rng::Rng;

// ───────────────────────────────── golden ─────────────────────────────────

/// The fixture's loss is the plain main-head CE, so the model is built with every
/// auxiliary weight 0: objective = CE_main and the exit parameters get exact zero
/// gradients (as the fixture stores them). The exit-head forward is compared with
/// the stored aux.* outputs separately.
#[test]
fn cortex_v7_golden_logits_exits_and_every_gradient() {
    let golden = Golden::open("v7");
    let cfg = &golden.cfg;
    let c = &cfg["config"];
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    let exits: Vec<(usize, f32, f32)> = c["exit_layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(c["exit_thresholds"].as_array().unwrap())
        .map(|(l, thr)| (l.as_u64().unwrap() as usize, 0.0, thr.as_f64().unwrap() as f32))
        .collect();
    assert_eq!(exits, vec![(1, 0.0, 0.55)]);
    let model = CortexV7::new(CortexV7Config {
        vocab: u("vocab_size"),
        d_model: u("d_model"),
        n_layers: u("n_layers"),
        d_ff: u("d_ff"),
        exits,
        consistency_weight: 0.0,
        diversity_weight: 0.0,
    });
    let reference: Vec<String> = state_dict(cfg).into_iter().map(|(n, _)| n).filter(|n| n != "head.weight").collect();
    let ours: Vec<String> = model.layout.tensors.iter().map(|t| t.name.clone()).collect();
    assert_eq!(ours, reference);
    let bit: Vec<String> =
        cfg["ternary"]["bitlinear_modules"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    let params = golden.params(&model);
    let shares: Vec<String> = model.ternary_shares(&params).into_iter().map(|s| s.name).collect();
    assert_eq!(shares, bit, "one ternary share per BitLinear module");

    let mut ws = Workspace::new();
    let run = golden.run(&model, &params, &mut ws);
    let (x, y, b, t) = (&run.case.x, &run.case.y, run.case.b, run.case.t);
    let obj = pool().install(|| model.objective(&mut ws, &params, x, y, b, t));
    assert_eq!(obj.total, obj.main, "all auxiliary weights 0: objective = CE_main");

    let outs = pool().install(|| model.exit_outputs(&mut ws, &params, x, b, t));
    assert_eq!(outs.len(), 1);
    let exit_logit_err = golden.assert_close("aux.exit_gates.0.logits", &outs[0].0);
    let conf_err = golden.assert_close("aux.exit_gates.0.conf", &outs[0].1);

    let mut zeros = 0;
    let (checked, worst_ratio) = golden.assert_every_gradient(&model, &run.grads, |pname, ours| {
        if pname.starts_with("exit_gates.") {
            assert!(ours.iter().all(|&g| g == 0.0), "{pname}: exit parameters get no gradient from CE_main");
            zeros += 1;
        }
    });
    assert_eq!(checked, model.layout.tensors.len() + 1, "every parameter's gradient (and the tied head alias) checked");
    assert_eq!(zeros, 6);
    eprintln!(
        "v7 golden: loss |Δ| {:.2e}, logits {:.2e}, exit logits {exit_logit_err:.2e}, conf {conf_err:.2e}, \
         worst grad {worst_ratio:.3} of tolerance",
        run.loss_err, run.logit_err
    );
}

#[test]
fn cortex_v7_full_size_param_count_and_names() {
    let model = CortexV7::new(CortexV7Config::full_size());
    assert_eq!(model.num_params(), 7_118_082);
    let j = read_json(fixtures().join("v7/full_size.json"));
    assert_eq!(j["param_count"].as_u64().unwrap(), 7_118_082);
    let reference: Vec<_> = state_dict(&j).into_iter().filter(|(n, _)| n != "head.weight").collect();
    assert_eq!(layout_shapes(&model), reference, "names, order and shapes");
    // §8.4: ternary 3 932 160, backbone without exits 4 987 392
    let ternary: usize = model.layout.tensors.iter().filter(|t| t.name.contains("_mix.W")).map(|t| t.len()).sum();
    assert_eq!(ternary, 3_932_160);
    let exits: usize = model.layout.tensors.iter().filter(|t| t.name.starts_with("exit_gates.")).map(|t| t.len()).sum();
    assert_eq!(model.num_params() - exits, 4_987_392);
    // §8.3 init: δ = 0.99, gains 1, BIT-C std √(2/out), exit heads U(±1/√fan_in)
    let params = model.init_params(1);
    let get = |n: &str| &params[model.layout.get(n).unwrap().range()];
    assert!(get("blocks.3.time_mix.decay").iter().all(|&x| x == 0.99));
    assert!(get("blocks.3.time_mix.ln_x.weight").iter().chain(get("exit_gates.1.ln.weight")).all(|&x| x == 1.0));
    let std = |x: &[f32]| (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    assert!((std(get("blocks.0.time_mix.Wk.weight")) - 0.0884).abs() < 0.002);
    assert!((std(get("blocks.0.channel_mix.W1.weight")) - 0.0625).abs() < 0.002);
    assert!((std(get("embed.weight")) - 0.02).abs() < 0.001);
    for (name, bound) in
        [("exit_gates.0.head.weight", 1.0 / 16.0), ("exit_gates.0.gate.0.bias", 1.0 / 16.0), ("exit_gates.1.gate.2.weight", 0.125)]
    {
        let x = get(name);
        assert!(x.iter().all(|v| v.abs() <= bound) && x.iter().any(|v| v.abs() > 0.8 * bound), "{name}: U(±{bound})");
    }
    assert_eq!(model.ternary_shares(&params).len(), 42);
    // 6·(matmul parameters) ≈ 6·(all parameters): only gains, δ and biases are not matmul weights
    let rel = (model.flops_per_token(256) / (6.0 * 7_118_082.0) - 1.0).abs();
    assert!(rel < 0.01, "flops per token off by {rel}");
}

// ───────────────────────────── tiny test model ─────────────────────────────

/// Three blocks, exits after blocks 1 and 2, every objective term on.
fn tiny() -> CortexV7 {
    CortexV7::new(CortexV7Config {
        vocab: 13,
        d_model: 16,
        n_layers: 3,
        d_ff: 24,
        exits: vec![(1, 0.3, 0.5), (2, 0.7, 0.4)],
        consistency_weight: 0.5,
        diversity_weight: 0.4,
    })
}

/// O(1) activations: gains 1 + 0.2·N, δ ~ N(0.5, 1) (w spread over (0,1)),
/// b2 ~ N(0, 0.5²), E ~ N(0, 0.5²), matrices N(0, 1/fan_in), gate W1 N(0, 1/(16·fan_in)). The second exit's
/// head is E plus noise so its argmax agrees with the main head at some positions
/// and not at others (both BCE targets and the diversity term are exercised).
fn test_params(model: &CortexV7, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut p = draw_params(model, &mut rng, |t| match t.shape.as_slice() {
        _ if t.name.ends_with("decay") => (0.5, 1.0),
        _ if t.name.ends_with("bias") => (0.0, 0.5),
        [_] => (1.0, 0.2),
        _ if t.name == "embed.weight" => (0.0, 0.5),
        [_, fan_in] => (0.0, 1.0 / (*fan_in as f32).sqrt()),
        s => panic!("unexpected shape {s:?} for {}", t.name),
    });
    // gate pre-activations W1·ê + b1 kept ≥ ~2 away from the ReLU kink (b1 = ±3,
    // small W1): a finite difference across a kink is not a derivative
    for j in 0..model.cfg.exits.len() {
        let b1 = model.layout.get(&format!("exit_gates.{j}.gate.0.bias")).unwrap().range();
        for x in &mut p[b1] {
            *x = if rng.below(2) == 0 { 3.0 } else { -3.0 };
        }
        let w1 = model.layout.get(&format!("exit_gates.{j}.gate.0.weight")).unwrap().range();
        for x in &mut p[w1] {
            *x *= 0.25;
        }
    }
    let e = model.layout.get("embed.weight").unwrap().range();
    let u = model.layout.get("exit_gates.1.head.weight").unwrap().range();
    for (i, j) in e.zip(u) {
        p[j] = p[i] + 0.15 * rng.normal();
    }
    p
}

/// The BitLinear matrices replaced by Q(W).
fn quantised(model: &CortexV7, params: &[f32]) -> Vec<f32> {
    let mut q = params.to_vec();
    for t in model.layout.tensors.iter().filter(|t| t.name.contains("_mix.W")) {
        quantize(&mut q[t.range()], &params[t.range()], t.shape[0], t.shape[1], BitVariant::C);
    }
    q
}

// ──────────────────────────── gradient checks ────────────────────────────

/// Time mix alone (float, as the model calls it with Q(W)): θ = [a ; W_rkv ; δ ; g_x ; W_o],
/// L = Σ w_i·out_i. Seven positions per sequence so the reverse scan carries G
/// across several steps; δ spread so w covers (0.2, 0.9).
#[test]
fn cortex_v7_time_mix_block_gradcheck() {
    let (b, t, d) = (2, 7, 5);
    let rows = b * t;
    let mut rng = Rng::new(71);
    let sd = 1.0 / (d as f32).sqrt();
    let packed = Packer::new(&mut rng)
        .push("a", rows * d, 0.0, 1.0)
        .push("Wr/Wk/Wv", 3 * d * d, 0.0, sd)
        .push("decay δ", d, 0.3, 1.0)
        .push("ln_x", d, 1.0, 0.2)
        .push("Wo", d * d, 0.0, sd)
        .done();
    let fwd = move |p: &[&[f32]]| {
        let mut w = vec![0.0; d];
        decay_weights(&mut w, p[2]);
        let (mut rkv, mut s, mut rstd, mut n, mut out) =
            (vec![0.0; 3 * rows * d], vec![0.0; rows * d], vec![0.0; rows], vec![0.0; rows * d], vec![0.0; rows * d]);
        let tw = TimeMixWeights { rkv: p[1], w: &w, ln_x: p[3], o: p[4] };
        time_mix_forward(&mut out, TimeMixActs { rkv: &mut rkv, s: &mut s, rstd_x: &mut rstd }, &mut n, p[0], &tw, t, d);
        (out, (rkv, s, rstd, w))
    };
    let block = Block::new(format!("v7 time mix b={b} t={t} d={d}"), packed, fwd, move |p, (rkv, s, rstd, w), dout, g| {
        let tw = TimeMixWeights { rkv: p[1], w: &w, ln_x: p[3], o: p[4] };
        let [ga, grkv, gdec, glnx, go]: [&mut [f32]; 5] = g.try_into().ok().unwrap();
        let (mut y, mut n, mut drkv, mut carry) = (vec![0.0; rows * d], vec![0.0; rows * d], vec![0.0; 3 * rows * d], vec![0.0; 2 * b * d]);
        let sc = TimeMixScratch { y: &mut y, n: &mut n, drkv: &mut drkv, carry: &mut carry };
        let tg = TimeMixGrads { rkv: grkv, decay: gdec, ln_x: glnx, o: go };
        time_mix_backward(ga, tg, dout, p[0], (&rkv, &s, &rstd), &tw, sc, t, d);
    });
    pool().install(|| block.check(usize::MAX, BLOCK_TOL, &mut rng)).assert_ok();
}

/// Central differences of the FULL objective (main CE + weighted exit CEs +
/// consistency BCE + diversity) on the float path, every parameter tensor (a
/// random subset of 16 elements per tensor). agree is a step function of the
/// parameters with no gradient: the check asserts it does not flip at any θ ± ε.
#[test]
fn cortex_v7_gradcheck_full_objective() {
    let (report, flips, obj) = full_objective_check(SEED);
    eprintln!("objective {obj:?}");
    for (j, e) in obj.exits.iter().enumerate() {
        assert!(e.agree > 0.0 && e.agree < 1.0, "exit {j}: agreement share {} — both targets must occur", e.agree);
        assert!(e.ce > 0.0 && e.consistency > 0.0 && e.diversity > 0.0);
    }
    report.print();
    assert_eq!(flips, 0, "an argmax agreement flipped under ±ε: pick another seed");
    report.assert_ok();
}

/// Parameters and tokens with no argmax within reach of ±ε of a tie. (A scan of
/// seeds 0..40: every seed with an agreement flip at some θ ± ε fails by ~100×
/// the tolerance — the BCE target jumps — and every seed without one passes; near
/// a tie the curvature is also large, so the chosen seed is one with wide margins.)
const SEED: u64 = 6;

/// Control: gradients computed without the diversity term (or without the
/// consistency term) are rejected against the full objective.
#[test]
fn cortex_v7_gradcheck_rejects_a_dropped_objective_term() {
    let (model, params, (x, y), mut rng) = objective_case(SEED);
    let (b, t) = OBJECTIVE_BT;
    for (drop, tensor) in [("diversity", "exit_gates.1.head.weight"), ("consistency", "exit_gates.0.gate.2.weight")] {
        let mut partial = tiny();
        partial.ternary = false;
        match drop {
            "diversity" => partial.cfg.diversity_weight = 0.0,
            _ => partial.cfg.consistency_weight = 0.0,
        }
        let ti = model.layout.get(tensor).unwrap();
        let segs = vec![Segment { name: ti.name.clone(), range: ti.range() }];
        let report = pool().install(|| {
            let mut ws = Workspace::new();
            let mut grads = vec![0.0f32; model.num_params()];
            partial.objective_and_grad(&mut ws, &params, &mut grads, &x, &y, b, t);
            let mut loss = |p: &[f32]| model.objective(&mut ws, p, &x, &y, b, t).total;
            gradcheck(&format!("v7 objective, {drop} term dropped"), &params, &grads, &segs, 16, MODEL_TOL, &mut rng, &mut loss)
        });
        let w = report.assert_rejected(&format!("a gradient without the {drop} term"));
        assert!(w.ratio > 10.0, "the checker must reject a gradient without the {drop} term by far");
    }
}

/// (B, T) of the objective checks.
const OBJECTIVE_BT: (usize, usize) = (2, 12);

/// The tiny model on the float path, its test parameters, a batch with a repeated
/// token and the checker's random stream, for the objective checks.
#[allow(clippy::type_complexity)]
fn objective_case(seed: u64) -> (CortexV7, Vec<f32>, (Vec<u32>, Vec<u32>), Rng) {
    let mut model = tiny();
    model.ternary = false;
    let (b, t) = OBJECTIVE_BT;
    let params = test_params(&model, seed);
    let mut rng = Rng::new(seed + 1000);
    let xy = tokens_with_repeat(&mut rng, b * t, model.cfg.vocab, (7, 2));
    (model, params, xy, rng)
}

fn full_objective_check(seed: u64) -> (Report, usize, flashlm_tui::model::versions::v7_cortex::Objective) {
    let (model, params, (x, y), mut rng) = objective_case(seed);
    let (b, t) = OBJECTIVE_BT;
    let segs = every_tensor(&model);
    pool().install(|| {
        let mut ws = Workspace::new();
        let mut grads = vec![0.0f32; model.num_params()];
        let obj = model.objective_and_grad(&mut ws, &params, &mut grads, &x, &y, b, t);
        let base = model.last_agreement(&mut ws);
        let mut flips = 0;
        let mut loss = |p: &[f32]| {
            let o = model.objective(&mut ws, p, &x, &y, b, t);
            flips += (model.last_agreement(&mut ws) != base) as usize;
            o.total
        };
        let r = gradcheck("v7 tiny model, full objective", &params, &grads, &segs, 16, MODEL_TOL, &mut rng, &mut loss);
        (r, flips, obj)
    })
}

/// Straight-through estimator: the gradient reported for a latent ternary W equals
/// the gradient of the float model w.r.t. the matrix it actually used, Q(W).
#[test]
fn cortex_v7_ste_latent_grad_equals_grad_wrt_quantised() {
    let ternary = tiny();
    let mut float = tiny();
    float.ternary = false;
    let (b, t, v) = (2, 9, ternary.cfg.vocab);
    let params = test_params(&ternary, 8);
    let q = quantised(&ternary, &params);
    assert!(params != q);
    let mut rng = Rng::new(9);
    let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
    let n = ternary.num_params();
    let (mut g_latent, mut g_q) = (vec![0.0f32; n], vec![0.0f32; n]);
    let (o1, o2) = pool().install(|| {
        let mut ws = Workspace::new();
        let o1 = ternary.objective_and_grad(&mut ws, &params, &mut g_latent, &x, &y, b, t);
        let o2 = float.objective_and_grad(&mut ws, &q, &mut g_q, &x, &y, b, t);
        (o1, o2)
    });
    assert_eq!(o1, o2, "the ternary forward is the float forward at Q(W)");
    for ti in &ternary.layout.tensors {
        let r = ti.range();
        let err = max_diff(&g_latent[r.clone()], &g_q[r.clone()]);
        let scale = g_q[r].iter().fold(0.0f32, |m, g| m.max(g.abs()));
        assert!(err <= 1e-6 * scale.max(1e-6), "{}: latent grad vs grad w.r.t. Q(W) differ by {err}", ti.name);
    }
}

/// The objective's parts recomputed here from the materialised logits and gate
/// outputs with the spec's formulas (f64): CE_main, w_j·CE_exit, BCE(c, agree),
/// D = mean κ·(1 − agree); `loss_and_grad` and `loss` return CE_main only (D9).
#[test]
fn cortex_v7_objective_parts_follow_the_spec() {
    let model = tiny();
    let c = &model.cfg;
    let (b, t, v) = (2, 10, c.vocab);
    let params = test_params(&model, 12);
    let mut rng = Rng::new(13);
    let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
    let rows = b * t;
    let mut ws = Workspace::new();
    let (obj, main_logits, outs, ret, eval) = pool().install(|| {
        let obj = model.objective(&mut ws, &params, &x, &y, b, t);
        model.forward(&mut ws, &params, &x, b, t);
        let main_logits = ws.logits[..rows * v].to_vec();
        let outs = model.exit_outputs(&mut ws, &params, &x, b, t);
        let mut g = vec![0.0; model.num_params()];
        let ret = model.loss_and_grad(&mut ws, &params, &mut g, &x, &y, b, t);
        let eval = model.loss(&mut ws, &params, &x, &y, b, t);
        (obj, main_logits, outs, ret, eval)
    });
    let row = |z: &[f32], r: usize| -> (f64, usize, f64) {
        let z = &z[r * v..(r + 1) * v];
        let max = z.iter().fold(f64::NEG_INFINITY, |m, &a| m.max(a as f64));
        let arg = z.iter().position(|&a| a as f64 == max).unwrap();
        let sum: f64 = z.iter().map(|&a| (a as f64 - max).exp()).sum();
        let lse = max + sum.ln();
        let h: f64 = -z.iter().map(|&a| (a as f64 - lse).exp() * (a as f64 - lse)).sum::<f64>();
        (lse - z[y[r] as usize] as f64, arg, 1.0 - h / (v as f64).ln())
    };
    let main: Vec<_> = (0..rows).map(|r| row(&main_logits, r)).collect();
    let ce_main = main.iter().map(|m| m.0).sum::<f64>() / rows as f64;
    let mut total = ce_main;
    for (j, (logits, conf)) in outs.iter().enumerate() {
        let (mut ce, mut bce, mut div, mut agree) = (0.0, 0.0, 0.0, 0.0);
        for r in 0..rows {
            let (ce_r, arg, kappa) = row(logits, r);
            let a = (arg == main[r].1) as u8 as f64;
            let cr = conf[r] as f64;
            ce += ce_r;
            bce -= a * cr.ln() + (1.0 - a) * (1.0 - cr).ln();
            div += kappa * (1.0 - a);
            agree += a;
        }
        let n = rows as f64;
        let e = &obj.exits[j];
        for (what, ours, theirs) in
            [("CE", e.ce, ce / n), ("BCE", e.consistency, bce / n), ("D", e.diversity, div / n), ("agree", e.agree, agree / n)]
        {
            assert!((ours - theirs).abs() <= 1e-5, "exit {j} {what}: {ours} vs {theirs}");
        }
        total += c.exits[j].1 as f64 * ce / n + c.consistency_weight as f64 * bce / n + c.diversity_weight as f64 * div / n;
    }
    assert!((obj.main - ce_main).abs() <= 1e-5, "{} vs {ce_main}", obj.main);
    assert!((obj.total - total).abs() <= 1e-5, "{} vs {total}", obj.total);
    assert!(obj.total > obj.main + 0.1);
    assert_eq!(ret, obj.main, "loss_and_grad returns CE_main");
    assert!((eval - obj.main).abs() <= 1e-6, "loss {eval} vs objective main {}", obj.main);
}

/// `loss_and_grad` adds into `grads` and keeps no state between calls.
#[test]
fn cortex_v7_loss_and_grad_accumulates_and_repeats() {
    let model = tiny();
    let (b, t, v) = (3, 8, model.cfg.vocab);
    let params = test_params(&model, 31);
    let mut rng = Rng::new(32);
    let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
    pool().install(|| {
        let mut ws = Workspace::new();
        let n = model.num_params();
        // a smaller shape first: buffers sized for it must grow correctly
        model.loss_and_grad(&mut ws, &params, &mut vec![0.0; n], &x[..8], &y[..8], 1, 8);
        model.exit_outputs(&mut ws, &params, &x[..4], 1, 4);
        assert_accumulates_and_repeats("v7", &model, &mut ws, &params, (&x, &y, b, t), |_| {});
    });
}

// ─────────────────────── recurrence, causality, decoding ───────────────────────

/// Fix D8: with k⊙v ≡ 1 the state is Σ_{s≤t} w^s = (1 − w^{t+1})/(1 − w), 3.69 at
/// init (w = σ(0.99)) for every t ≥ 50; the reference's cumsum form gives 1e-23 at t = 255.
#[test]
fn cortex_v7_recurrence_is_exact_over_long_windows() {
    let (t, d) = (300, 4);
    let mut a = vec![0.0f32; t * d];
    for r in 0..t {
        a[r * d] = 1.0; // a = e₀ at every position
    }
    let mut rkv = vec![0.0f32; 3 * d * d];
    for o in d..3 * d {
        rkv[o * d] = 1.0; // k = v = 1
    }
    let mut w = vec![0.0; d];
    decay_weights(&mut w, &[0.99, 0.99, 3.0, -2.0]);
    let (ln_x, wo) = (vec![1.0; d], vec![0.0; d * d]);
    let tw = TimeMixWeights { rkv: &rkv, w: &w, ln_x: &ln_x, o: &wo };
    let (mut acts_rkv, mut s, mut rstd, mut n, mut out) =
        (vec![0.0; 3 * t * d], vec![0.0; t * d], vec![0.0; t], vec![0.0; t * d], vec![0.0; t * d]);
    pool().install(|| time_mix_forward(&mut out, TimeMixActs { rkv: &mut acts_rkv, s: &mut s, rstd_x: &mut rstd }, &mut n, &a, &tw, t, d));
    for ti in [0, 72, 73, 100, 255, 299] {
        for c in 0..d {
            let wc = w[c] as f64;
            let exact = (1.0 - wc.powi(ti as i32 + 1)) / (1.0 - wc);
            let got = s[ti * d + c] as f64;
            assert!((got - exact).abs() <= 1e-5 * exact, "t={ti} c={c}: S = {got}, exact {exact}");
        }
    }
    assert!((s[255 * d] - 3.6904).abs() < 1e-3, "S_255 at init decay: {}", s[255 * d]);
}

/// Changing the tokens after position p leaves every main and exit logit at
/// positions ≤ p bit-identical, and each sequence of the batch independent.
#[test]
fn cortex_v7_causality() {
    let model = tiny();
    let (b, t, v) = (2, 12, model.cfg.vocab);
    for params in [test_params(&model, 3), model.init_params(4)] {
        let mut rng = Rng::new(17);
        let x = random_tokens(&mut rng, b * t, v);
        pool().install(|| {
            let mut ws = Workspace::new();
            let all = |ws: &mut Workspace, x: &[u32]| {
                model.forward(ws, &params, x, b, t);
                let mut out = vec![ws.logits[..b * t * v].to_vec()];
                out.extend(model.exit_outputs(ws, &params, x, b, t).into_iter().map(|e| e.0));
                out
            };
            let base = all(&mut ws, &x);
            for p in [0, 5, t - 2] {
                let mut x2 = x.clone();
                for tok in &mut x2[p + 1..t] {
                    *tok = ((*tok as usize + 1 + rng.below(v - 1)) % v) as u32;
                }
                let changed = all(&mut ws, &x2);
                for (head, (a, c)) in base.iter().zip(&changed).enumerate() {
                    let same = |r: std::ops::Range<usize>| a[r.clone()].iter().zip(&c[r]).all(|(p, q)| p.to_bits() == q.to_bits());
                    assert!(same(0..(p + 1) * v), "head {head}: positions ≤ {p} changed");
                    assert!(!same((p + 1) * v..t * v), "head {head}: later positions must change");
                    assert!(same(t * v..2 * t * v), "head {head}: sequence 1 changed");
                }
            }
        });
    }
}

/// Per exit: (logits, gate confidence).
type ExitOutputs = Vec<(Vec<f32>, Vec<f32>)>;

fn full_forward(model: &CortexV7, params: &[f32], tokens: &[u32]) -> (Vec<f32>, ExitOutputs) {
    let mut ws = Workspace::new();
    pool().install(|| {
        model.forward(&mut ws, params, tokens, 1, tokens.len());
        let exits = model.exit_outputs(&mut ws, params, tokens, 1, tokens.len());
        (ws.logits[..tokens.len() * model.cfg.vocab].to_vec(), exits)
    })
}

/// Token-by-token decoding (one state S per layer) equals the full forward at
/// every position, ternary path, spec init and O(1) test weights.
#[test]
fn cortex_v7_incremental_decoder_equals_full_forward() {
    let model = tiny();
    let v = model.cfg.vocab;
    let len = 40;
    for params in [model.init_params(21), test_params(&model, 22)] {
        let mut rng = Rng::new(5);
        let tokens = random_tokens(&mut rng, len, v);
        let (full, _) = full_forward(&model, &params, &tokens);
        let mut dec = model.decoder(&params);
        let worst = decoder_worst(dec.as_mut(), &tokens, &full, v);
        assert_eq!(dec.pos(), len);
        assert!(worst <= 1e-4, "incremental logits differ from the full forward by {worst}");
        eprintln!("v7 decoder vs full forward: {worst:.2e}");
    }
}

/// Adaptive depth (D18): the decision uses the current token's κ at temperature τ
/// against the exit's threshold; an exited token emits the exit logits, the rest
/// the main head's, and the per-layer states always equal the exact decoder's, so
/// later tokens stay exact. Exit 0 (after block 1 of 3) is set at the median κ so
/// both outcomes occur; exit 1 never fires. Off by default.
#[test]
fn cortex_v7_adaptive_exit_keeps_states_exact() {
    let base = tiny();
    let params = test_params(&base, 41);
    let v = base.cfg.vocab;
    let tau = 0.8;
    let mut rng = Rng::new(42);
    let tokens = random_tokens(&mut rng, 30, v);
    let (full, exits) = full_forward(&base, &params, &tokens);
    let mut kappas: Vec<f32> = (0..tokens.len()).map(|i| entropy_confidence(&exits[0].0[i * v..(i + 1) * v], tau)).collect();
    let decide = kappas.clone();
    kappas.sort_by(f32::total_cmp);
    let threshold = (kappas[14] + kappas[15]) / 2.0;
    let mut cfg = base.cfg.clone();
    cfg.exits[0].2 = threshold;
    cfg.exits[1].2 = 2.0;
    let model = CortexV7::new(cfg);
    let mut exact = Decoder::new(&model, &params);
    assert_eq!(exact.adaptive, None, "off by default");
    let mut fast = Decoder::new(&model, &params);
    fast.adaptive = Some(AdaptiveExit { temperature: tau });
    let mut n_exited = 0;
    for (i, &tok) in tokens.iter().enumerate() {
        exact.step(tok);
        fast.step(tok);
        assert_eq!(exact.exited, None);
        let should = decide[i] > threshold;
        assert_eq!(fast.exited, should.then_some(0), "token {i}: κ {} vs threshold {threshold}", decide[i]);
        let want = if should { &exits[0].0[i * v..(i + 1) * v] } else { &full[i * v..(i + 1) * v] };
        assert!(max_diff(&fast.logits, want) <= 1e-4, "token {i}: logits");
        assert!(max_diff(&exact.logits, &full[i * v..(i + 1) * v]) <= 1e-4);
        for (l, (a, b)) in exact.state.iter().zip(&fast.state).enumerate() {
            assert!(a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()), "token {i}: state of layer {l} differs");
        }
        n_exited += should as usize;
    }
    assert_eq!(n_exited, 15);
}
