//! v6 SUPERNOVA (spec §7): golden fixture (reference numerics, `reference_compat`),
//! parameter count, finite-difference gradients of the float path, the
//! straight-through gradient of the BIT-C matrices, causality with the D6 fix,
//! zero-filled shifts for short windows (D17) and the O(1) incremental decoder.

use super::check_util::*;
use super::common::{fixtures, pool};
use super::golden_util::{layout_shapes, max_diff, read_json, state_dict, Golden};
use super::gradcheck::check::MODEL_TOL;
use flashlm_tui::model::blocks::bitlinear::{quantize, BitVariant};
use flashlm_tui::model::versions::v6_supernova::{Supernova, SupernovaConfig};
use flashlm_tui::model::{LanguageModel, Workspace};
use flashlm_tui::rng::Rng;

/// Widths of the tiny model: with d_r 6, d_p 4 one block-0 mixer weight had a
/// third derivative so large that the ε = 10⁻² central difference erred by 13 %
/// (an ε ladder 3·10⁻², 10⁻², 3·10⁻³, 10⁻³ converged on the analytic value);
/// these widths keep every element inside `MODEL_TOL` with margin.
pub fn tiny(reference_compat: bool) -> Supernova {
    Supernova::new(SupernovaConfig {
        vocab: 19,
        d_model: 12,
        n_layers: 2,
        d_ff: 16,
        d_reason: 8,
        n_scales: 3,
        n_slots: 4,
        d_planner: 6,
        reference_compat,
    })
}

/// O(1) activations everywhere (the spec init has E ~ 0.02, slots ~ 0.01 and
/// ρ = 0, which would hide most of the model from a gradient check): gains
/// 1 + 0.2·N, matrices N(0, 1/fan_in), E, slots, planner_init, ρ ~ N(0, 1).
pub fn test_params(model: &Supernova, seed: u64) -> Vec<f32> {
    draw_params(model, &mut Rng::new(seed), |t| match t.shape.as_slice() {
        [_] if t.name.ends_with("res_gate") => (0.0, 1.0),
        [_] => (1.0, 0.2),
        _ if t.name == "embed.weight" || t.name.ends_with("slots") || t.name == "planner_init" => (0.0, 1.0),
        [_, fan_in] => (0.0, 1.0 / (*fan_in as f32).sqrt()),
        s => panic!("unexpected shape {s:?} for {}", t.name),
    })
}

/// The fixture was made by the reference (window-mean planner, D6), so it runs with
/// `reference_compat`; the last block's planner-update parameters get no gradient.
#[test]
fn supernova_golden_reference_compat_logits_loss_every_gradient() {
    let golden = Golden::open("v6");
    let cfg = &golden.cfg;
    let c = &cfg["config"];
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    let model = Supernova::new(SupernovaConfig {
        vocab: u("vocab_size"),
        d_model: u("d_model"),
        n_layers: u("n_layers"),
        d_ff: u("d_model") * u("d_ffn_mult"),
        d_reason: u("d_reason"),
        n_scales: u("n_scales"),
        n_slots: u("n_mem_slots"),
        d_planner: u("d_planner"),
        reference_compat: true,
    });
    let ternary: Vec<String> = model.ternary_shares(&vec![0.0; model.num_params()]).into_iter().map(|s| s.name).collect();
    let reference_bit: Vec<String> =
        cfg["ternary"]["bitlinear_modules"].as_array().unwrap().iter().map(|m| format!("{}.weight", m.as_str().unwrap())).collect();
    assert_eq!(ternary, reference_bit, "BIT-C matrices");
    assert!(model.tied_aliases().is_empty());
    let params = golden.params(&model);
    let run = golden.run(&model, &params, &mut Workspace::new());

    let no_grad: Vec<&str> = cfg["params_without_grad"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let (checked, _) = golden.assert_every_gradient(&model, &run.grads, |pname, ours| {
        if no_grad.contains(&pname) {
            assert!(ours.iter().all(|&g| g == 0.0), "{pname}: the unused last planner update must get no gradient");
        }
    });
    assert_eq!(no_grad.len(), 3);
    assert_eq!(checked, model.layout.tensors.len(), "every parameter's gradient must be checked");
}

#[test]
fn supernova_param_count_full_size() {
    let model = Supernova::new(SupernovaConfig::default());
    assert_eq!(model.num_params(), 4_141_862);
    let shares = model.ternary_shares(&vec![0.0; model.num_params()]);
    let ternary: usize = shares.iter().map(|s| model.layout.get(&s.name).unwrap().len()).sum();
    assert_eq!(ternary, 3_348_480, "spec §7.4 ternary count");
    assert_eq!(shares.len(), 6 * 14 + 1, "14 BIT-C matrices per block + the head");
    let j = read_json(fixtures().join("v6").join("full_size.json"));
    assert_eq!(j["param_count"].as_u64().unwrap(), 4_141_862);
    assert_eq!(layout_shapes(&model), state_dict(&j), "parameter names, order and shapes");
    // spec §7.3 init: std √(2/out) for BIT-C, ρ = 0, gains 1
    let p = model.init_params(1);
    let std = |name: &str| {
        let r = &p[model.layout.get(name).unwrap().range()];
        (r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / r.len() as f64).sqrt()
    };
    assert!((std("head.weight") - 0.0221).abs() < 1e-3);
    assert!((std("blocks.0.channel_mix.gate_up.weight") - 0.0510).abs() < 1e-3);
    assert!((std("embed.weight") - 0.02).abs() < 1e-3);
    assert_eq!(p[model.layout.get("blocks.3.reasoning.res_gate").unwrap().offset], 0.0);
    assert!(p[model.layout.get("ln_out.weight").unwrap().range()].iter().all(|&g| g == 1.0));
}

fn check_float_path(compat: bool, t: usize, seed: u64) {
    let model = tiny(compat).float_path();
    let (b, v) = (2, model.cfg.vocab);
    let params = test_params(&model, seed);
    let mut rng = Rng::new(seed + 1);
    let (x, y) = tokens_with_repeat(&mut rng, b * t, v, (b * t - 1, 0));
    let label = format!("v6 tiny float path, reference_compat={compat}, T={t}");
    model_gradcheck(&label, &model, &params, (&x, &y, b, t), &every_tensor(&model), 32, MODEL_TOL, &mut rng).assert_ok();
}

/// Every parameter tensor against central differences, with BIT-C off (Q = identity):
/// the straight-through gradient is this float path's gradient at W = Q(W).
#[test]
fn supernova_gradcheck_float_path_every_tensor() {
    check_float_path(false, 9, 11);
    check_float_path(true, 9, 12);
    // a window shorter than the offset-4 scale: that shift reads only zeros (D17)
    check_float_path(false, 3, 13);
}

/// STE: the gradient put into the latent W equals the exact gradient with respect
/// to Q(W), i.e. that of the float path evaluated at Q(W).
#[test]
fn supernova_ste_latent_grad_is_grad_wrt_quantised_weights() {
    let model = tiny(false);
    let float = tiny(false).float_path();
    let (b, t, v) = (2, 9, model.cfg.vocab);
    let params = test_params(&model, 5);
    let mut qparams = params.clone();
    let mut n_bit = 0;
    for s in model.ternary_shares(&params) {
        let info = model.layout.get(&s.name).unwrap();
        quantize(&mut qparams[info.range()], &params[info.range()], info.shape[0], info.shape[1], BitVariant::C);
        n_bit += 1;
    }
    assert_eq!(n_bit, 2 * 15 + 1, "n_scales = 3: 15 BIT-C matrices per block + the head");
    let mut rng = Rng::new(6);
    let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
    let l_ste = assert_ste(&model, &float, &params, &qparams, (&x, &y, b, t), false);
    let l_float = pool().install(|| float.loss(&mut Workspace::new(), &params, &x, &y, b, t));
    assert!((l_float - l_ste).abs() > 1e-3, "quantisation must change the loss ({l_float} vs {l_ste})");
}

/// With the D6 fix, logits at positions < p do not move (bitwise) when token p
/// changes, and sequences of a batch are independent; with `reference_compat`
/// the window-mean planner leaks future tokens into early positions, as the
/// reference's causality probe found.
#[test]
fn supernova_causality_with_d6_fix() {
    let (b, t) = (2, 11);
    let model = tiny(false);
    let v = model.cfg.vocab;
    for (seed, params) in [(1u64, test_params(&model, 3)), (2, model.init_params(4))] {
        let mut rng = Rng::new(seed);
        pool().install(|| {
            let mut ws = Workspace::new();
            let x = random_tokens(&mut rng, b * t, v);
            single_token_changes(&model, &mut ws, &params, &x, (b, t), &[0, 1, 3, 6, t - 1], &mut rng, |pos, seq, base, l2| {
                // the running-mean planner carries the change to every later position
                assert_changed_exactly(base, l2, (b, t, v), seq, |p| p >= pos, &format!("token {pos} of seq {seq}"));
            });
        });
    }
    let leaky = tiny(true);
    let params = test_params(&leaky, 3);
    let mut rng = Rng::new(9);
    pool().install(|| {
        let mut ws = Workspace::new();
        let x = random_tokens(&mut rng, t, v);
        let base = logits(&leaky, &mut ws, &params, &x, 1, t);
        let mut x2 = x.clone();
        x2[t - 1] = (x2[t - 1] + 1) % v as u32;
        let l2 = logits(&leaky, &mut ws, &params, &x2, 1, t);
        assert!(max_diff(&base[..v], &l2[..v]) > 1e-4, "reference_compat must reproduce the D6 leak");
    });
}

/// D17: windows shorter than the shift offsets (1, 2, 4) read zeros; a window of
/// t' tokens gives the first t' positions of a longer window (D6 fix), and
/// `reference_compat` runs on a 1-token window.
#[test]
fn supernova_short_windows_zero_filled_shifts() {
    let model = tiny(false);
    let v = model.cfg.vocab;
    let params = test_params(&model, 7);
    let mut rng = Rng::new(8);
    let x = random_tokens(&mut rng, 10, v);
    pool().install(|| {
        let mut ws = Workspace::new();
        let full = logits(&model, &mut ws, &params, &x, 1, 10);
        for tp in 1..=5 {
            let short = logits(&model, &mut ws, &params, &x[..tp], 1, tp);
            let err = max_diff(&short, &full[..tp * v]);
            assert!(err <= 1e-5, "window {tp}: differs from the long window by {err}");
        }
        let compat = tiny(true);
        let l = logits(&compat, &mut ws, &params, &x[..1], 1, 1);
        assert!(l.iter().all(|z| z.is_finite()));
        // with one position the window mean is the running mean
        let err = max_diff(&l, &full[..v]);
        assert!(err <= 1e-5, "1-token window: compat and fixed models differ by {err}");
    });
}

/// The O(1) decoder (D6 fix) reproduces the full forward at every position, well
/// past the longest shift; with `reference_compat` the decoder re-runs the window.
#[test]
fn supernova_decoder_equals_full_forward() {
    for (compat, len) in [(false, 23), (true, 6)] {
        let model = tiny(compat);
        let v = model.cfg.vocab;
        for params in [test_params(&model, 13), model.init_params(14)] {
            let mut rng = Rng::new(15);
            let tokens = random_tokens(&mut rng, len, v);
            let mut ws = Workspace::new();
            let full = pool().install(|| logits(&model, &mut ws, &params, &tokens, 1, len));
            let reference: Vec<f32> = if compat {
                // the reference window at step i is the prefix
                (0..len)
                    .flat_map(|i| pool().install(|| logits(&model, &mut ws, &params, &tokens[..=i], 1, i + 1))[i * v..].to_vec())
                    .collect()
            } else {
                full
            };
            let worst = decoder_worst(model.decoder(&params).as_mut(), &tokens, &reference, v);
            assert!(worst <= 1e-4, "compat={compat}: incremental logits differ from the full forward by {worst}");
        }
    }
}

/// `loss_and_grad` adds into `grads` and keeps no state between calls.
#[test]
fn supernova_loss_and_grad_accumulates_and_repeats() {
    let model = tiny(false);
    let (b, t, v) = (2, 9, model.cfg.vocab);
    let params = test_params(&model, 31);
    let mut rng = Rng::new(32);
    let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
    pool().install(|| {
        let mut ws = Workspace::new();
        // a different shape in between must not leave anything behind
        let between = |ws: &mut Workspace| {
            let _ = model.loss(ws, &params, &x[..5], &y[..5], 1, 5);
        };
        let (l1, _) = assert_accumulates_and_repeats("v6", &model, &mut ws, &params, (&x, &y, b, t), between);
        let l3 = model.loss(&mut ws, &params, &x, &y, b, t);
        // (the evaluation head uses libm exp, the fused training head the fast exp)
        assert!((l1 - l3).abs() <= 1e-6, "loss() {l3} and loss_and_grad() {l1} disagree");
    });
}

/// The full-size model at the spec init: near-uniform predictions (loss ≈ ln V)
/// and finite gradients, through the same code path the trainer uses.
#[test]
fn supernova_full_size_init_loss_near_ln_vocab() {
    let model = Supernova::new(SupernovaConfig::default());
    let params = model.init_params(3);
    let (b, t, v) = (2, 16, model.cfg.vocab);
    let mut rng = Rng::new(4);
    let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
    let mut grads = vec![0.0f32; model.num_params()];
    let loss = pool().install(|| model.loss_and_grad(&mut Workspace::new(), &params, &mut grads, &x, &y, b, t));
    assert!((loss - (v as f64).ln()).abs() < 0.1, "loss {loss} at init, ln V = {}", (v as f64).ln());
    assert!(grads.iter().all(|g| g.is_finite()));
    for name in ["planner_init", "blocks.0.reasoning.state_gate.executor_to_planner.weight", "blocks.5.token_mix.mix.weight", "head.weight"]
    {
        let r = model.layout.get(name).unwrap().range();
        assert!(grads[r].iter().any(|&g| g != 0.0), "{name} gets a gradient");
    }
    assert!(model.describe().contains("P-RCSM"));
    assert!(model.flops_per_token(128) > 6.0 * 3_348_480.0);
}
