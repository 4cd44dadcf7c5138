//! v10 FSP (spec §14): golden logits, losses and every gradient of the plain
//! CE and of CE + 0.1·FSP, parameter counts, a whole-model gradient check,
//! causality and the KV-cache decoder (inside and beyond the training window).

use super::check_util::{
    assert_changed_exactly, decoder_worst, every_tensor, logits, model_gradcheck, random_tokens, single_token_changes,
};
use super::common::pool;
use super::golden_util::{layout_shapes, max_diff, read_json, state_dict, Golden};
use super::gradcheck::check::MODEL_TOL;
use flashlm_tui::model::blocks::fsp::FspConfig;
use flashlm_tui::model::fsp::{fsp_value, with_fsp, FSP_PROJ};
use flashlm_tui::model::versions::v10_fsp::{GptFsp, GptFspConfig};
use flashlm_tui::model::{LanguageModel, Model, Workspace};
use flashlm_tui::rng::Rng;
use flashlm_tui::weights::import_reference;
use std::sync::Arc;

fn tiny(dropout: f32, window: usize) -> GptFsp {
    GptFsp::new(GptFspConfig { vocab: 64, d_model: 32, n_layers: 2, n_heads: 2, d_ff: 48, dropout }, window)
}

/// Every fixture tensor `{prefix}{name}` against ours, within 1e-5 + 1e-4·max|ref|; returns the worst share of the tolerance.
fn compare_grads(golden: &Golden, model: &dyn LanguageModel, grads: &[f32], prefix: &str) -> f32 {
    let mut worst_ratio = 0.0f32;
    for ti in &model.layout().tensors {
        let reference = golden.tensor(&format!("{prefix}{}", ti.name));
        let ours = &grads[ti.range()];
        let max_ref = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let tol = 1e-5 + 1e-4 * max_ref;
        let worst = max_diff(ours, &reference);
        eprintln!("   {prefix}{:<32} max|ref| {max_ref:.3e}  max|Δ| {worst:.3e}", ti.name);
        assert!(worst <= tol, "{prefix}{}: {worst} > {tol}", ti.name);
        worst_ratio = worst_ratio.max(worst / tol);
    }
    worst_ratio
}

#[test]
fn v10_golden_logits_losses_and_every_gradient_plain_and_with_fsp() {
    let golden = Golden::open("v10-fsp");
    let cfg = &golden.cfg;
    let plain = Arc::new(tiny(0.0, 100)); // the fixture runs in eval(): no dropout
    let model = with_fsp(plain.clone() as Model, FspConfig::default());
    assert_eq!(plain.num_params() as u64, cfg["param_count_without_fsp_proj"].as_u64().unwrap());
    assert_eq!(model.num_params(), plain.num_params());
    assert_eq!(model.layout().total as u64, cfg["param_count"].as_u64().unwrap());
    let params = import_reference(&*model, &golden.dir.join("weights.safetensors")).unwrap();
    let own = &params[..plain.layout.total];
    let case = golden.tokens();
    let (b, t, v) = (case.b, case.t, 64);
    pool().install(|| {
        // plain CE
        let mut ws = Workspace::new();
        let mut g = vec![0.0f32; plain.layout.total];
        let loss = plain.loss_and_grad(&mut ws, own, &mut g, &case.x, &case.y, b, t);
        golden.assert_loss("loss", loss);
        plain.forward(&mut ws, own, &case.x, b, t);
        golden.assert_close("logits", &ws.logits[..b * t * v]);
        let ratio = compare_grads(&golden, &*plain, &g, "grad.");
        assert!(golden.tensor(&format!("grad.{FSP_PROJ}")).iter().all(|&x| x == 0.0));
        eprintln!("v10-fsp golden: grad.* worst at {ratio:.3} of tolerance");
        // CE + 0.1·FSP
        let mut ws = Workspace::new();
        let mut g = vec![0.0f32; model.layout().total];
        let ce = model.loss_and_grad(&mut ws, &params, &mut g, &case.x, &case.y, b, t);
        assert_eq!(ce.to_bits(), loss.to_bits(), "the returned loss stays the plain CE");
        let fsp = fsp_value(&ws).unwrap();
        for (what, ours) in [("loss_fsp", fsp), ("loss_total", ce + 0.1 * fsp)] {
            let reference = golden.tensor(what)[0] as f64;
            let err = (ours - reference).abs();
            eprintln!("v10-fsp golden: {what} {ours} vs {reference} (|Δ| {err:.3e})");
            assert!(err <= 1e-5 * reference.abs().max(1.0), "{what}");
        }
        let ratio = compare_grads(&golden, &*model, &g, "gradtotal.");
        eprintln!("v10-fsp golden: gradtotal.* worst at {ratio:.3} of tolerance");
    });
}

#[test]
fn v10_full_size_parameter_count_and_state_dict() {
    let full = read_json(super::common::fixtures().join("v10-fsp/full_size.json"));
    let plain = GptFsp::new(GptFspConfig::full_size(), 256);
    assert_eq!(plain.num_params(), 3_672_320);
    assert_eq!(full["param_count_without_fsp_proj"].as_u64().unwrap(), 3_672_320);
    let model = with_fsp(Arc::new(plain), FspConfig::default());
    assert_eq!((model.num_params(), model.layout().total), (3_672_320, 3_737_856));
    let expected: Vec<_> = state_dict(&full).into_iter().filter(|(n, _)| !n.ends_with(".inv_freq")).collect();
    assert_eq!(layout_shapes(&*model), expected);
    let (p, _) = flashlm_tui::preset::resolve("v10-fsp", None).unwrap();
    let m = p.build_model();
    assert_eq!((m.num_params(), m.training_only_params()), (3_672_320, 65_536));
}

#[test]
fn v10_whole_model_gradcheck() {
    let model = tiny(0.0, 9);
    let mut rng = Rng::new(71);
    let mut params = model.init_params(3);
    for ti in &model.layout.tensors {
        let (mean, std) = if ti.shape.len() == 1 { (1.0, 0.2) } else { (0.0, 1.0 / (ti.shape[1] as f32).sqrt()) };
        for x in &mut params[ti.range()] {
            *x = mean + std * rng.normal();
        }
    }
    let (b, t) = (2, 9);
    let x = random_tokens(&mut rng, b * t, 64);
    let y = random_tokens(&mut rng, b * t, 64);
    model_gradcheck("v10 tiny", &model, &params, (&x, &y, b, t), &every_tensor(&model), 40, MODEL_TOL, &mut rng).assert_ok();
}

#[test]
fn v10_is_causal() {
    let model = tiny(0.1, 20);
    let (b, t) = (2, 20);
    let mut rng = Rng::new(5);
    let params = model.init_params(9);
    pool().install(|| {
        let mut ws = Workspace::new();
        let x = random_tokens(&mut rng, b * t, 64);
        single_token_changes(&model, &mut ws, &params, &x, (b, t), &[0, 1, 7, 18, 19], &mut rng, |pos, seq, base, l2| {
            assert_changed_exactly(base, l2, (b, t, 64), seq, |p| p >= pos, &format!("token {pos}"));
        });
    });
}

#[test]
fn v10_decoder_equals_the_full_forward_and_keeps_going_past_the_window() {
    let window = 16;
    let model = tiny(0.1, window);
    let mut rng = Rng::new(8);
    let params = model.init_params(4);
    let tokens = random_tokens(&mut rng, 3 * window, 64);
    pool().install(|| {
        let mut ws = Workspace::new();
        // inside the window: the full forward over the same tokens
        let full = logits(&model, &mut ws, &params, &tokens[..window], 1, window);
        let mut dec = model.decoder(&params);
        let worst = decoder_worst(&mut *dec, &tokens[..window], &full, 64);
        eprintln!("v10 decoder vs forward (≤ window): max |Δ| {worst:.3e}");
        assert!(worst <= 1e-5, "{worst}");
        // beyond it: the forward over the last `window` tokens (the reference's crop)
        let mut beyond = 0.0f32;
        for i in window..tokens.len() {
            dec.step(tokens[i]);
            let crop = &tokens[i + 1 - window..=i];
            let l = logits(&model, &mut ws, &params, crop, 1, window);
            beyond = beyond.max(max_diff(dec.logits(), &l[(window - 1) * 64..]));
        }
        eprintln!("v10 decoder vs cropped forward (past the window, to {} tokens): max |Δ| {beyond:.3e}", tokens.len());
        assert!(beyond == 0.0 && dec.pos() == 3 * window, "{beyond}");
    });
}

#[test]
fn tok_bl_c_trains_with_a_prefix_space_and_round_trips() {
    use flashlm_tui::data::tok::{Tok, TokenizerKind};
    let stories = flashlm_tui::data::stories::stories(3, 300);
    let tok = Tok::train(TokenizerKind::BpePrefixSpace, &stories, 512, false).unwrap();
    assert_eq!(tok.kind(), TokenizerKind::BpePrefixSpace);
    assert!(tok.vocab_size() <= 512 && tok.vocab_size() > 300, "{}", tok.vocab_size());
    tok.check_specials("TOK-BL-C").unwrap();
    let json = tok.to_json().unwrap();
    assert!(json.contains("\"add_prefix_space\":true") || json.contains("\"add_prefix_space\": true"), "prefix space in the JSON");
    let again = Tok::from_json(&json, std::path::Path::new("t.json")).unwrap();
    assert_eq!(again.kind(), TokenizerKind::BpePrefixSpace, "the kind survives a save and load");
    // every story starts with a Ġ-prefixed token, and prompts encode alike
    let ids = tok.encode_prompt("Once upon a time").unwrap();
    let stream = tok.encode_stories(&["Once upon a time there was a cat.".to_string()]).unwrap();
    assert_eq!(&stream[..ids.len()], &ids.iter().map(|&i| i as u16).collect::<Vec<_>>()[..]);
    let plain = Tok::train(TokenizerKind::Bpe, &stories, 512, false).unwrap();
    assert_ne!(plain.encode_prompt("Once").unwrap(), tok.encode_prompt("Once").unwrap(), "TOK-BL-B has no prefix space");
    // round trip (the decoder drops the one prefix space)
    for text in ["Once upon a time, a little girl named Lily found a shiny red ball.", "Tom said: \"Héllo!\" 42"] {
        let ids = tok.encode_prompt(text).unwrap();
        assert_eq!(tok.decode(&ids).trim_start(), text);
    }
}

/// Windows longer than one block of the causal products (64 rows): the
/// blocked forward against the decoder (which attends token by token), and
/// every gradient against central differences, at T = 150 (blocks 64, 64, 22).
#[test]
fn v10_long_windows_cross_the_causal_product_blocks() {
    let window = 150;
    let model = tiny(0.0, window);
    let mut rng = Rng::new(17);
    let mut params = model.init_params(5);
    for ti in &model.layout.tensors {
        let (mean, std) = if ti.shape.len() == 1 { (1.0, 0.2) } else { (0.0, 1.0 / (ti.shape[1] as f32).sqrt()) };
        for x in &mut params[ti.range()] {
            *x = mean + std * rng.normal();
        }
    }
    let tokens = random_tokens(&mut rng, window, 64);
    pool().install(|| {
        let full = logits(&model, &mut Workspace::new(), &params, &tokens, 1, window);
        let mut dec = model.decoder(&params);
        let worst = decoder_worst(&mut *dec, &tokens, &full, 64);
        assert!(worst <= 2e-5, "decoder vs blocked forward at T = {window}: {worst}");
    });
    let y = random_tokens(&mut rng, window, 64);
    model_gradcheck("v10 tiny, T = 150", &model, &params, (&tokens, &y, 1, window), &every_tensor(&model), 24, MODEL_TOL, &mut rng)
        .assert_ok();
}
