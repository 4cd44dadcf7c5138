//! v5 Thunderbolt (spec §5): golden fixture (reference_compat = on, the
//! window-pooled GroupNorm of the reference), parameter count, block and
//! whole-model gradient checks, the straight-through rule, causality and the
//! streaming decoder (fix D4 on), and the workspace size at 64×256.
//! Tolerances and the checker are those of gradcheck.rs (see its doc comment).

use super::check_util::*;
use super::common::{fixtures, pool};
use super::golden_util::{layout_shapes, read_json, state_dict, Golden};
use super::gradcheck::check::*;
use flashlm_tui::model::blocks::bitlinear::{quantize, BitVariant};
use flashlm_tui::model::blocks::groupnorm::{groupnorm_backward, groupnorm_forward};
use flashlm_tui::model::blocks::recurrence::{recurrence_backward, recurrence_forward};
use flashlm_tui::model::blocks::relu2_ffn::{relu2_ffn_backward, relu2_ffn_forward, Relu2Grads, Relu2Weights};
use flashlm_tui::model::blocks::token_shift::{token_shift_backward, token_shift_forward};
use flashlm_tui::model::versions::v5_thunderbolt::{Thunderbolt, ThunderboltConfig, ThunderboltWs, TRAIN_WINDOW};
use flashlm_tui::model::{LanguageModel, Workspace};
use flashlm_tui::rng::Rng;

fn tiny(reference_compat: bool) -> Thunderbolt {
    Thunderbolt::new(ThunderboltConfig { vocab: 37, d_model: 16, n_layers: 2, groups: 4, d_ff: 24, reference_compat })
}

const TERNARY: [&str; 6] = ["rec.W_f.weight", "rec.W_v.weight", "rec.W_o.weight", "rec.W_proj.weight", "ffn_up.weight", "ffn_down.weight"];

fn is_ternary(name: &str) -> bool {
    TERNARY.iter().any(|s| name.ends_with(s))
}

/// O(1) activations everywhere: gains 1 + 0.2·N, biases/mix/f_bias 0.5·N,
/// E ~ N(0, 0.5²), matrices N(0, 1/fan_in).
fn test_params(model: &Thunderbolt, seed: u64) -> Vec<f32> {
    draw_params(model, &mut Rng::new(seed), |t| match t.shape.as_slice() {
        [_] if t.name.ends_with(".weight") => (1.0, 0.2),
        [_] => (0.0, 0.5),
        _ if t.name == "embed.weight" => (0.0, 0.5),
        [_, fan_in] => (0.0, 1.0 / (*fan_in as f32).sqrt()),
        s => panic!("unexpected shape {s:?} for {}", t.name),
    })
}

// ─────────────────────────────── golden fixture ───────────────────────────────

/// The reference forward/backward (train.py@b734fa4, ThunderboltLM), tiny config,
/// loaded with reference_compat = true: the fixture's GroupNorm pools over all T
/// positions (D4). |Δ| ≤ 1e-5 for logits and loss, ≤ 1e-5 + 1e-4·max|ref| per
/// gradient tensor, all 34 gradient tensors (33 + the tied head.weight).
#[test]
fn thunderbolt_golden_reference_compat() {
    let golden = Golden::open("v5");
    let c = &golden.cfg["config"];
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    let model = Thunderbolt::new(ThunderboltConfig {
        vocab: u("vocab"),
        d_model: u("d_model"),
        n_layers: u("n_layers"),
        groups: u("n_heads"),
        d_ff: u("d_ffn"),
        reference_compat: true,
    });
    assert_eq!(u("n_heads") * u("d_head"), u("d_model"));
    // notes: gate_lb = 0.9·layer_idx/max(n_layers−1, 1) → 0.0 and 0.9 here
    assert_eq!((model.gate_lower_bound(0), model.gate_lower_bound(1)), (0.0, 0.9));
    let params = golden.params(&model);
    let mut ws = Workspace::new();
    let run = golden.run(&model, &params, &mut ws);
    let (x, y, b, t) = (&run.case.x, &run.case.y, run.case.b, run.case.t);
    let eval = pool().install(|| model.loss(&mut ws, &params, x, y, b, t));
    golden.assert_loss("eval loss", eval);
    let (checked, _) = golden.assert_every_gradient(&model, &run.grads, |_, _| {});
    assert_eq!(checked, 34, "every gradient tensor (33 parameters + tied head.weight) must be compared");
}

/// Names, order and shapes of the reference default config (full_size.json), and
/// the spec §5.4 totals: 29,750,784 parameters, 26,542,080 of them ternary.
#[test]
fn thunderbolt_param_count_full_size() {
    let model = Thunderbolt::new(ThunderboltConfig::full_size());
    assert_eq!(model.num_params(), 29_750_784);
    assert_eq!(model.ternary_params(), 26_542_080);
    let j = read_json(fixtures().join("v5/full_size.json"));
    assert_eq!(j["param_count"].as_u64().unwrap(), 29_750_784);
    let c = &j["config"];
    let cfg = ThunderboltConfig::full_size();
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    assert_eq!(
        (cfg.vocab, cfg.d_model, cfg.n_layers, cfg.groups, cfg.d_ff),
        (u("vocab"), u("d_model"), u("n_layers"), u("n_heads"), u("d_ffn"))
    );
    let reference: Vec<_> = state_dict(&j).into_iter().filter(|(n, _)| n != "head.weight").collect();
    assert_eq!(layout_shapes(&model), reference);
    // b_l = 0.9·l/17 at L = 18
    for l in 0..18 {
        assert_eq!(model.gate_lower_bound(l), (0.9 * l as f64 / 17.0) as f32);
    }
    let shares = model.ternary_shares(&model.init_params(1));
    assert_eq!(shares.len(), 18 * 6);
    assert_eq!(shares[0].name, "blocks.0.rec.W_f");
    assert_eq!(shares[5].name, "blocks.0.ffn_down");
    assert!(shares.iter().all(|s| (s.neg + s.zero + s.pos - 1.0).abs() < 1e-6 && s.zero > 0.2 && s.zero < 0.5));
}

/// The workspace at micro-batch 64×256 with the full-size config, from the
/// formula (not allocated): 981,139,456 floats ≈ 3.92 GB; with parameters,
/// gradients and both AdamW moments (4 × 29.75 M floats) 4.40 GB < 8 GB. The
/// formula equals what `ensure` allocates (checked on the tiny model).
#[test]
fn thunderbolt_workspace_fits_8gb_at_64x256() {
    let full = Thunderbolt::new(ThunderboltConfig::full_size());
    let floats = full.workspace_floats(64, 256);
    let bytes = 4 * (floats + 4 * full.num_params());
    eprintln!(
        "v5 full size, 64×256: workspace {floats} floats = {:.3} GB; with params/grads/AdamW {:.3} GB",
        4.0 * floats as f64 / 1e9,
        bytes as f64 / 1e9
    );
    assert_eq!(floats, 981_139_456);
    assert!(bytes < 8_000_000_000);

    let model = tiny(false);
    let (b, t) = (3, 7);
    let params = test_params(&model, 1);
    let mut rng = Rng::new(2);
    let (x, y) = (random_tokens(&mut rng, b * t, 37), random_tokens(&mut rng, b * t, 37));
    let mut ws = Workspace::new();
    let mut grads = vec![0.0; model.num_params()];
    pool().install(|| model.loss_and_grad(&mut ws, &params, &mut grads, &x, &y, b, t));
    assert_eq!(ws.parts::<ThunderboltWs>().0.floats(), model.workspace_floats(b, t));
}

// ───────────────────────────── block gradient checks ─────────────────────────────

/// Token shift over 2 windows of 4: θ = [u ; ω].
fn token_shift_block(rng: &mut Rng, b: usize, t: usize, d: usize) -> Block<'static> {
    let rows = b * t;
    let packed = Packer::new(rng).push("u", rows * d, 0.0, 1.0).push("mix", d, 0.0, 1.0).done();
    let fwd = move |p: &[&[f32]]| {
        let mut out = vec![0.0; rows * d];
        token_shift_forward(&mut out, p[0], p[1], t, d);
        (out, ())
    };
    Block::new(format!("token shift b={b} t={t} d={d}"), packed, fwd, move |p, (), dout, g| {
        let [gu, gm]: [&mut [f32]; 2] = g.try_into().ok().unwrap();
        token_shift_backward(gu, gm, dout, p[0], p[1], t, d);
    })
}

/// Recurrence with lower bound `lb`: θ = [z ; β_f], output q.
fn recurrence_block(rng: &mut Rng, b: usize, t: usize, d: usize, lb: f32) -> Block<'static> {
    let rows = b * t;
    let packed = Packer::new(rng).push("z = [z_f|z_v|z_o]", rows * 3 * d, 0.0, 1.0).push("f_bias", d, 0.0, 0.5).done();
    let fwd = move |p: &[&[f32]]| {
        let (mut q, mut c) = (vec![0.0; rows * d], vec![0.0; rows * d]);
        recurrence_forward(&mut q, &mut c, p[0], p[1], lb, t, d);
        (q, c)
    };
    Block::new(format!("recurrence b={b} t={t} d={d} lb={lb}"), packed, fwd, move |p, c, dout, g| {
        let [gz, gb]: [&mut [f32]; 2] = g.try_into().ok().unwrap();
        recurrence_backward(gz, gb, dout, p[0], &c, p[1], lb, t, d);
    })
}

/// GroupNorm pooling `span` positions: θ = [x ; γ ; β].
fn groupnorm_block(rng: &mut Rng, b: usize, t: usize, d: usize, groups: usize, span: usize) -> Block<'static> {
    let rows = b * t;
    let sets = rows / span * groups;
    let packed = Packer::new(rng).push("x", rows * d, 0.3, 1.0).push("gamma", d, 1.0, 0.3).push("beta", d, 0.0, 0.3).done();
    let fwd = move |p: &[&[f32]]| {
        let (mut out, mut m, mut r) = (vec![0.0; rows * d], vec![0.0; sets], vec![0.0; sets]);
        groupnorm_forward(&mut out, &mut m, &mut r, p[0], p[1], p[2], d, groups, span);
        (out, (m, r))
    };
    Block::new(format!("groupnorm b={b} t={t} d={d} G={groups} span={span}"), packed, fwd, move |p, (m, r), dout, g| {
        let [gx, gg, gb]: [&mut [f32]; 3] = g.try_into().ok().unwrap();
        groupnorm_backward(gx, gg, gb, dout, p[0], p[1], &m, &r, d, groups, span);
    })
}

/// ReLU² FFN with Q(W) as the variable (the float path): θ = [a ; W_up ; W_down].
fn relu2_block(rng: &mut Rng, rows: usize, d: usize, h: usize) -> Block<'static> {
    let packed = Packer::new(rng)
        .push("a", rows * d, 0.0, 1.0)
        .push("ffn_up", h * d, 0.0, 1.0 / (d as f32).sqrt())
        .push("ffn_down", d * h, 0.0, 1.0 / (h as f32).sqrt())
        .done();
    let fwd = move |p: &[&[f32]]| {
        let w = Relu2Weights { up: p[1], down: p[2] };
        let (mut out, mut u, mut r) = (vec![0.0; rows * d], vec![0.0; rows * h], vec![0.0; rows * h]);
        relu2_ffn_forward(&mut out, &mut u, &mut r, p[0], &w, d, h);
        (out, u)
    };
    Block::new(format!("relu² ffn rows={rows} d={d} h={h}"), packed, fwd, move |p, u, dout, g| {
        let w = Relu2Weights { up: p[1], down: p[2] };
        let [ga, gu, gd]: [&mut [f32]; 3] = g.try_into().ok().unwrap();
        let mut dr = vec![0.0; rows * h];
        relu2_ffn_backward(ga, Relu2Grads { up: gu, down: gd }, dout, p[0], &u, &w, &mut dr, d, h);
    })
}

#[test]
fn thunderbolt_gradcheck_token_shift() {
    let mut rng = Rng::new(51);
    pool().install(|| {
        token_shift_block(&mut rng, 2, 4, 3).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        token_shift_block(&mut rng, 3, 1, 2).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        // 1-token windows
    });
}

#[test]
fn thunderbolt_gradcheck_recurrence() {
    let mut rng = Rng::new(52);
    pool().install(|| {
        recurrence_block(&mut rng, 2, 6, 3, 0.0).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        recurrence_block(&mut rng, 2, 5, 4, 0.9).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
    });
}

#[test]
fn thunderbolt_gradcheck_groupnorm() {
    let mut rng = Rng::new(53);
    pool().install(|| {
        groupnorm_block(&mut rng, 2, 5, 6, 2, 1).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        groupnorm_block(&mut rng, 2, 5, 6, 3, 5).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        // 67 rows cross the 64-row reduction chunk of dγ/dβ
        groupnorm_block(&mut rng, 67, 1, 8, 2, 1).check(40, BLOCK_TOL, &mut rng).assert_ok();
    });
}

#[test]
fn thunderbolt_gradcheck_relu2_ffn() {
    let mut rng = Rng::new(54);
    pool().install(|| relu2_block(&mut rng, 8, 5, 7).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok());
}

/// The checker rejects a planted bug: a recurrence backward that forgets the
/// layer's lower bound (uses b = 0 while the forward used b = 0.9).
#[test]
fn thunderbolt_checker_rejects_recurrence_without_lower_bound() {
    let rng = Rng::new(56);
    pool().install(|| {
        let good = recurrence_block(&mut rng.clone(), 2, 5, 4, 0.9);
        let (rows, d) = (10, 4);
        let segs = good.segs.clone();
        let bad = good.with_backward(
            "recurrence, backward with b = 0",
            Box::new(move |th, dout| {
                let p = split(th, &segs);
                let (mut q, mut c) = (vec![0.0; rows * d], vec![0.0; rows * d]);
                recurrence_forward(&mut q, &mut c, p[0], p[1], 0.9, 5, d);
                let mut g = vec![0.0; th.len()];
                let (gz, gb) = g.split_at_mut(rows * 3 * d);
                recurrence_backward(gz, gb, dout, p[0], &c, p[1], 0.0, 5, d);
                g
            }),
        );
        bad.check(usize::MAX, BLOCK_TOL, &mut rng.clone()).assert_rejected("the missing lower bound");
        good.check(usize::MAX, BLOCK_TOL, &mut rng.clone()).assert_ok();
    });
}

/// The sequential scan equals the reference's Hillis–Steele parallel form (spec §5.2).
#[test]
fn thunderbolt_recurrence_equals_parallel_scan() {
    let (b, t, d, lb) = (2, 13, 5, 0.45f32);
    let mut rng = Rng::new(55);
    let z: Vec<f32> = (0..b * t * 3 * d).map(|_| rng.normal()).collect();
    let fb: Vec<f32> = (0..d).map(|_| rng.normal()).collect();
    let (mut q, mut c) = (vec![0.0; b * t * d], vec![0.0; b * t * d]);
    pool().install(|| recurrence_forward(&mut q, &mut c, &z, &fb, lb, t, d));
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    for bi in 0..b {
        for j in 0..d {
            let zr = |ti: usize, k: usize| z[(bi * t + ti) * 3 * d + k * d + j] as f64;
            let f: Vec<f64> = (0..t).map(|ti| lb as f64 + (1.0 - lb as f64) * sig(zr(ti, 0) + fb[j] as f64)).collect();
            let mut hh: Vec<f64> = (0..t).map(|ti| (1.0 - f[ti]) * zr(ti, 1)).collect();
            let mut gg = f.clone();
            let mut k = 1;
            while k < t {
                let (h0, g0) = (hh.clone(), gg.clone());
                for ti in 0..t {
                    let (hp, gp) = if ti >= k { (h0[ti - k], g0[ti - k]) } else { (0.0, 0.0) };
                    hh[ti] = h0[ti] + g0[ti] * hp;
                    gg[ti] = g0[ti] * gp;
                }
                k *= 2;
            }
            for ti in 0..t {
                let i = (bi * t + ti) * d + j;
                assert!((c[i] as f64 - hh[ti]).abs() < 1e-5, "c[{bi},{ti},{j}] {} vs {}", c[i], hh[ti]);
                assert!((q[i] as f64 - sig(zr(ti, 2)) * hh[ti]).abs() < 1e-5);
            }
        }
    }
}

// ───────────────────────────── whole-model checks ─────────────────────────────

/// Whole-model tolerance. ReLU² is only C¹: a central difference whose step
/// straddles u = 0 errs by (ε − |u|)²/(2ε)·|∂u/∂θ|²·|∂L/∂r| (with ε = 10⁻² one
/// element of ffn_up came out 2.3× off; at ε = 10⁻³ it agrees to 6 %), so the
/// step is 3·10⁻³; the f32 rounding noise grows as 1/ε (~3·10⁻⁵ → ~10⁻⁴), hence atol 2·10⁻⁴.
const V5_MODEL_TOL: Tol = Tol { eps: 3e-3, atol: 2e-4, rtol: 1e-2 };

/// Every parameter tensor of the tiny model on the float path (Q = identity, so
/// the loss is differentiable in the matrices), both GroupNorm modes; up to 48
/// elements per tensor.
#[test]
fn thunderbolt_gradcheck_whole_model_float_path() {
    for compat in [false, true] {
        let model = tiny(compat).with_quantization(false);
        let (b, t, v) = (2, 8, model.cfg.vocab);
        let params = test_params(&model, 61 + compat as u64);
        let mut rng = Rng::new(62 + compat as u64);
        let (x, y) = tokens_with_repeat(&mut rng, b * t, v, (7, 2));
        let label = format!("v5 tiny model, float path, reference_compat={compat}");
        model_gradcheck(&label, &model, &params, (&x, &y, b, t), &every_tensor(&model), 48, V5_MODEL_TOL, &mut rng).assert_ok();
    }
}

/// Straight-through rule: with ternary weights W, the gradient stored for every
/// latent W (and every other parameter) equals the float-path gradient at
/// W' = Q(W), bit for bit; so the float gradcheck above covers the ternary model.
#[test]
fn thunderbolt_ste_gradient_is_gradient_wrt_quantised_weights() {
    let model = tiny(false);
    let float = tiny(false).with_quantization(false);
    let (b, t, v) = (2, 8, model.cfg.vocab);
    let params = model.init_params(71);
    let mut rng = Rng::new(72);
    let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
    let mut qparams = params.clone();
    let mut n_ternary = 0;
    for ti in model.layout.tensors.iter().filter(|ti| is_ternary(&ti.name)) {
        quantize(&mut qparams[ti.range()], &params[ti.range()], ti.shape[0], ti.shape[1], BitVariant::B);
        assert_ne!(qparams[ti.range()], params[ti.range()]);
        n_ternary += 1;
    }
    assert_eq!(n_ternary, 12);
    assert_ste(&model, &float, &params, &qparams, (&x, &y, b, t), true);
}

/// `loss_and_grad` adds into `grads` and leaves no state behind: a repeat is
/// bit-identical and two calls double the gradient.
#[test]
fn thunderbolt_loss_and_grad_accumulates_and_repeats() {
    for compat in [false, true] {
        let model = tiny(compat);
        let (b, t, v) = (2, 8, model.cfg.vocab);
        let params = test_params(&model, 81);
        let mut rng = Rng::new(82);
        let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
        pool().install(|| {
            let mut ws = Workspace::new();
            let (l1, _) = assert_accumulates_and_repeats(&format!("compat={compat}"), &model, &mut ws, &params, (&x, &y, b, t), |_| {});
            // the per-position losses of `loss` average to the returned mean
            let l = model.loss(&mut ws, &params, &x, &y, b, t);
            let mean = ws.losses[..b * t].iter().map(|&v| v as f64).sum::<f64>() / (b * t) as f64;
            assert!((l - mean).abs() < 1e-12 && (l - l1).abs() < 1e-6);
        });
    }
}

/// With the D4 fix, changing the token at position p leaves every logit before p
/// bit-identical and changes the logits at p; the other sequence of the batch is
/// untouched. With reference_compat the window-pooled GroupNorm leaks: a change of
/// the last token moves the logits at position 0 (the fixture's causality probe).
#[test]
fn thunderbolt_causality() {
    let (b, t) = (2, 12);
    for compat in [false, true] {
        let model = tiny(compat);
        let v = model.cfg.vocab;
        for params in [test_params(&model, 91), model.init_params(92)] {
            let mut rng = Rng::new(93);
            pool().install(|| {
                let mut ws = Workspace::new();
                let x = random_tokens(&mut rng, b * t, v);
                single_token_changes(&model, &mut ws, &params, &x, (b, t), &[0, 1, 5, t - 1], &mut rng, |pos, seq, base, l2| {
                    let row = |s: usize, p: usize| (s * t + p) * v..(s * t + p + 1) * v;
                    let same = |s: usize, p: usize| base[row(s, p)].iter().zip(&l2[row(s, p)]).all(|(a, c)| a.to_bits() == c.to_bits());
                    let other = 1 - seq;
                    assert!((0..t).all(|p| same(other, p)), "compat={compat}: sequence {seq} leaked into {other}");
                    assert!(!same(seq, pos), "compat={compat}: token {pos} did not change its own logits");
                    if compat {
                        if pos == t - 1 {
                            assert!(!same(seq, 0), "reference GroupNorm should leak the last token into position 0");
                        }
                    } else {
                        for p in 0..pos {
                            assert!(same(seq, p), "token {pos} of seq {seq} changed the logits at position {p}");
                        }
                    }
                });
            });
        }
    }
}

/// The streaming decoder (fix D4) reproduces the full forward at every position
/// of a 40-token sequence (no window limit), within 1e-4.
#[test]
fn thunderbolt_incremental_decoder_matches_forward() {
    let model = tiny(false);
    let v = model.cfg.vocab;
    for params in [test_params(&model, 101), model.init_params(102)] {
        let mut rng = Rng::new(103);
        let len = 40;
        let tokens = random_tokens(&mut rng, len, v);
        let mut ws = Workspace::new();
        let full = pool().install(|| logits(&model, &mut ws, &params, &tokens, 1, len));
        let worst = decoder_worst(model.decoder(&params).as_mut(), &tokens, &full, v);
        eprintln!("v5 streaming decoder vs full forward: max |Δ| {worst:.3e}");
        assert!(worst <= 1e-4, "incremental logits differ from the full forward by {worst}");
    }
}

/// With reference_compat the decoder re-runs the forward over the last
/// TRAIN_WINDOW = 256 tokens (D16): after 260 tokens its logits are the last
/// position of a forward over tokens 4..260.
#[test]
fn thunderbolt_reference_decoder_uses_training_window() {
    assert_eq!(TRAIN_WINDOW, 256);
    let model = tiny(true);
    let v = model.cfg.vocab;
    let params = test_params(&model, 111);
    let mut rng = Rng::new(112);
    let len = TRAIN_WINDOW + 4;
    let tokens = random_tokens(&mut rng, len, v);
    pool().install(|| {
        let mut dec = model.decoder(&params);
        let mut ws = Workspace::new();
        for (i, &tok) in tokens.iter().enumerate() {
            dec.step(tok);
            if i == 9 {
                let l = logits(&model, &mut ws, &params, &tokens[..10], 1, 10);
                assert_eq!(dec.logits(), &l[9 * v..10 * v]);
            }
        }
        let l = logits(&model, &mut ws, &params, &tokens[4..], 1, TRAIN_WINDOW);
        assert_eq!(dec.logits(), &l[(TRAIN_WINDOW - 1) * v..]);
    });
}
