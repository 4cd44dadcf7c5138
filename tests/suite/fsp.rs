//! The FSP auxiliary head (spec §15): the block against the v10-fsp fixture's
//! FSP tensors and central differences, the no-op below the horizon, a whole
//! model trained with it (gradient check of CE + α·FSP), and its refusal on
//! models whose hidden states see later tokens.

use super::common::{pool, tiny_cortex};
use super::golden_util::{max_diff, Golden};
use super::gradcheck::check::{gradcheck, Packer, Segment, Tol, BLOCK_TOL};
use flashlm_tui::model::blocks::fsp::{fsp_forward, fsp_loss_and_grad, FspConfig, FspGrads, FspScratch};
use flashlm_tui::model::fsp::{fsp_value, with_fsp, FSP_PROJ};
use flashlm_tui::model::{LanguageModel, Model, Workspace};
use flashlm_tui::rng::Rng;
use flashlm_tui::weights::read_f32_tensors;
use std::sync::Arc;

/// (hidden [B·T × d], y, embed [V × d], fsp_proj [d × d], B, T, d, V) of the v10-fsp fixture.
struct Inputs {
    golden: Golden,
    hidden: Vec<f32>,
    y: Vec<u32>,
    embed: Vec<f32>,
    proj: Vec<f32>,
    b: usize,
    t: usize,
    d: usize,
    v: usize,
}

fn inputs() -> Inputs {
    let golden = Golden::open("v10-fsp");
    let case = golden.tokens();
    let hidden = golden.tensor("aux.hidden");
    let w = read_f32_tensors(&std::fs::read(golden.dir.join("weights.safetensors")).unwrap(), "weights").unwrap();
    let embed = w["embed.weight"].1.clone();
    let proj = w[FSP_PROJ].1.clone();
    let d = (proj.len() as f64).sqrt() as usize;
    let v = embed.len() / d;
    Inputs { hidden, y: case.y, embed, proj, b: case.b, t: case.t, d, v, golden }
}

fn within(golden: &Golden, what: &str, ours: f64) -> f64 {
    let reference = golden.tensor(what)[0] as f64;
    let err = (ours - reference).abs();
    eprintln!("v10-fsp golden: {what} {ours} vs {reference} (|Δ| {err:.3e})");
    assert!(err <= 1e-5 * reference.abs().max(1.0), "{what}: {ours} vs {reference}");
    err
}

#[test]
fn fsp_block_matches_the_fixture_tensors_and_gradients() {
    let Inputs { golden, hidden, y, embed, proj, b, t, d, v } = inputs();
    let cfg = FspConfig::default();
    let positions: Vec<usize> = cfg.positions(t).collect();
    let reference: Vec<usize> = golden
        .case()
        .tensor("aux.fsp_positions")
        .unwrap()
        .data()
        .chunks(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as usize)
        .collect();
    assert_eq!(positions, reference, "positions arange(0, T − τ, r)");
    assert_eq!(positions, [0, 16, 32]);

    let mut s = FspScratch::default();
    let loss = pool().install(|| fsp_forward(&mut s, &cfg, &hidden, &y, &embed, &proj, b, t, d, v));
    let m = b * positions.len();
    assert_eq!(&s.target[..m * v], &golden.tensor("aux.fsp_target")[..], "multi-hot targets");
    let logit_err = max_diff(&s.logits[..m * v], &golden.tensor("aux.fsp_logits"));
    eprintln!("v10-fsp golden: aux.fsp_logits max |Δ| {logit_err:.3e}");
    assert!(logit_err <= 1e-5);
    within(&golden, "loss_fsp", loss);

    // gradtotal − grad (the CE's) isolates FSP's gradient; for W_f it is all
    // the head's, for E it also holds the path back through the model (the
    // v10-fsp golden test checks that)
    let (mut dhf, mut dhead, mut dproj) = (vec![0.0f32; hidden.len()], vec![0.0f32; embed.len()], vec![0.0f32; proj.len()]);
    let g = FspGrads { dhf: &mut dhf, dhead: &mut dhead, dproj: &mut dproj };
    let again = pool().install(|| fsp_loss_and_grad(&mut s, g, &cfg, &hidden, &y, &embed, &proj, b, t, d, v));
    assert_eq!(again.to_bits(), loss.to_bits());
    assert!(dhead.iter().any(|&g| g != 0.0));
    let name = FSP_PROJ;
    let (total, ce) = (golden.tensor(&format!("gradtotal.{name}")), golden.tensor(&format!("grad.{name}")));
    let reference: Vec<f32> = total.iter().zip(&ce).map(|(a, c)| a - c).collect();
    let max_ref = reference.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let worst = max_diff(&dproj, &reference);
    let tol = 1e-5 + 1e-4 * max_ref;
    eprintln!("v10-fsp golden: FSP part of grad {name} max|ref| {max_ref:.3e} max |Δ| {worst:.3e} (tolerance {tol:.3e})");
    assert!(max_ref > 0.0 && worst <= tol, "{name}: {worst} > {tol}");
    // ∂L/∂H only at the three positions of each sequence
    for (row, g) in dhf.chunks(d).enumerate() {
        let at = positions.contains(&(row % t));
        assert_eq!(g.iter().any(|&x| x != 0.0), at, "∂H at row {row}");
    }
}

#[test]
fn fsp_block_gradients_match_central_differences() {
    let mut rng = Rng::new(11);
    // B 2, T 23, horizon 5, stride 4: positions 0, 4, …, 16 (n = 5)
    let (b, t, d, v) = (2usize, 23usize, 6usize, 9usize);
    let cfg = FspConfig { weight: 1.0, horizon: 5, stride: 4, pos_weight: 7.0 };
    let (theta, segs) =
        Packer::new(&mut rng).push("hf", b * t * d, 0.0, 1.0).push("head", v * d, 0.0, 0.5).push("proj", d * d, 0.0, 0.5).done();
    let y: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    let split = |th: &[f32]| -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        (th[segs[0].range.clone()].to_vec(), th[segs[1].range.clone()].to_vec(), th[segs[2].range.clone()].to_vec())
    };
    let (hf, head, proj) = split(&theta);
    let mut s = FspScratch::default();
    let (mut dhf, mut dhead, mut dproj) = (vec![0.0f32; hf.len()], vec![0.0f32; head.len()], vec![0.0f32; proj.len()]);
    let g = FspGrads { dhf: &mut dhf, dhead: &mut dhead, dproj: &mut dproj };
    let loss = fsp_loss_and_grad(&mut s, g, &cfg, &hf, &y, &head, &proj, b, t, d, v);
    assert!(loss > 0.0 && loss.is_finite());
    let analytic: Vec<f32> = dhf.iter().chain(&dhead).chain(&dproj).copied().collect();
    let mut f = |th: &[f32]| {
        let (hf, head, proj) = split(th);
        fsp_forward(&mut FspScratch::default(), &cfg, &hf, &y, &head, &proj, b, t, d, v)
    };
    let report = gradcheck("fsp block", &theta, &analytic, &segs, 60, BLOCK_TOL, &mut rng, &mut f);
    report.assert_ok();
    // a wrong pos_weight in the backward must be caught
    let mut wrong = analytic.clone();
    let cfg2 = FspConfig { pos_weight: 6.0, ..cfg };
    let (mut a, mut c, mut e) = (vec![0.0f32; hf.len()], vec![0.0f32; head.len()], vec![0.0f32; proj.len()]);
    fsp_loss_and_grad(&mut s, FspGrads { dhf: &mut a, dhead: &mut c, dproj: &mut e }, &cfg2, &hf, &y, &head, &proj, b, t, d, v);
    wrong.copy_from_slice(&a.iter().chain(&c).chain(&e).copied().collect::<Vec<f32>>());
    gradcheck("fsp block, wrong w", &theta, &wrong, &segs, 60, BLOCK_TOL, &mut rng, &mut f).assert_rejected("a wrong pos_weight");
}

#[test]
fn fsp_is_zero_without_gradient_when_the_window_is_not_longer_than_the_horizon() {
    let cfg = FspConfig::default();
    assert_eq!(cfg.n_positions(64), 0);
    assert_eq!(cfg.n_positions(65), 1);
    assert_eq!(cfg.n_positions(256), 12, "0, 16, …, 176 (192 left out, D27)");
    let (b, t, d, v) = (1, 64, 4, 8);
    let mut rng = Rng::new(1);
    let hf: Vec<f32> = (0..b * t * d).map(|_| rng.normal()).collect();
    let (head, proj) = (vec![0.3f32; v * d], vec![0.2f32; d * d]);
    let y = vec![1u32; b * t];
    let (mut dhf, mut dhead, mut dproj) = (vec![0.0f32; hf.len()], vec![0.0f32; head.len()], vec![0.0f32; proj.len()]);
    let g = FspGrads { dhf: &mut dhf, dhead: &mut dhead, dproj: &mut dproj };
    let loss = fsp_loss_and_grad(&mut FspScratch::default(), g, &cfg, &hf, &y, &head, &proj, b, t, d, v);
    assert_eq!(loss, 0.0);
    assert!(dhf.iter().chain(&dhead).chain(&dproj).all(|&x| x == 0.0));
}

/// CE + α·FSP of a model trained with FSP, as its `loss_and_grad` computes it (gradient discarded).
fn total_loss(model: &dyn LanguageModel, ws: &mut Workspace, p: &[f32], x: &[u32], y: &[u32], b: usize, t: usize, alpha: f64) -> f64 {
    let mut scratch = vec![0.0f32; model.layout().total];
    let ce = model.loss_and_grad(ws, p, &mut scratch, x, y, b, t);
    ce + alpha * fsp_value(ws).unwrap()
}

/// `plain` with FSP (`cfg`) at `params` (the model's, then W_f): the returned
/// loss is the model's own CE, W_f gets a gradient, and every tensor's
/// gradient is that of CE + α·FSP by central differences.
fn check_gradient_with_fsp(label: &str, plain: Model, cfg: FspConfig, params: &[f32], rng: &mut Rng) {
    let model = with_fsp(plain.clone(), cfg);
    let last = model.layout().tensors.last().unwrap().clone();
    let (b, t, v) = (2, 12, plain.vocab());
    let x: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    let y: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    pool().install(|| {
        let mut ws = Workspace::new();
        let mut grads = vec![0.0f32; model.layout().total];
        let ce = model.loss_and_grad(&mut ws, params, &mut grads, &x, &y, b, t);
        let fsp = fsp_value(&ws).unwrap();
        assert!(fsp > 0.0);
        // the returned loss is the plain CE, equal to the model's own
        let mut g0 = vec![0.0f32; plain.layout().total];
        let ce0 = plain.loss_and_grad(&mut Workspace::new(), &params[..plain.layout().total], &mut g0, &x, &y, b, t);
        assert_eq!(ce.to_bits(), ce0.to_bits());
        assert!(grads[last.range()].iter().any(|&g| g != 0.0), "fsp_proj gets a gradient");
        let segs: Vec<Segment> = model.layout().tensors.iter().map(|ti| Segment { name: ti.name.clone(), range: ti.range() }).collect();
        let tol = Tol { eps: 5e-3, atol: 2e-4, rtol: 1e-2 };
        let mut f = |p: &[f32]| total_loss(&*model, &mut Workspace::new(), p, &x, &y, b, t, cfg.weight as f64);
        gradcheck(label, params, &grads, &segs, 12, tol, rng, &mut f).assert_ok();
    });
}

#[test]
fn a_model_with_fsp_has_the_gradient_of_ce_plus_alpha_fsp() {
    let cfg = FspConfig { weight: 0.5, horizon: 4, stride: 3, pos_weight: 5.0 };
    let plain: Model = Arc::new(tiny_cortex(true));
    let model = with_fsp(plain.clone(), cfg);
    let d = plain.hidden_dim();
    assert_eq!(d, 16);
    // layout: the model's, then fsp_proj; counted apart
    let last = model.layout().tensors.last().unwrap();
    assert_eq!((last.name.as_str(), last.shape.clone(), last.offset), (FSP_PROJ, vec![d, d], plain.layout().total));
    assert_eq!(model.num_params(), plain.num_params());
    assert_eq!(model.training_only_params(), d * d);
    let params = model.init_params(5);
    assert_eq!(&params[..plain.layout().total], &plain.init_params(5)[..], "the model's initialisation is unchanged");
    let wf = &params[last.range()];
    let std = (wf.iter().map(|x| (x * x) as f64).sum::<f64>() / wf.len() as f64).sqrt();
    assert!((std - 0.02).abs() < 0.004, "W_f ~ N(0, 0.02²): std {std}");

    let mut rng = Rng::new(3);
    // O(1) values (N(0, 0.02²) embeddings would be stepped by half their size)
    let mut params = params;
    for ti in &model.layout().tensors {
        let (mean, std) = if ti.shape.len() == 1 { (1.0, 0.2) } else { (0.0, 1.0 / (ti.shape[1] as f32).sqrt()) };
        for x in &mut params[ti.range()] {
            *x = mean + std * rng.normal();
        }
    }
    check_gradient_with_fsp("v7.2 tiny + FSP", plain, cfg, &params, &mut rng);
}

/// v6 scores FSP with its own head matrix (not the embedding): CE + α·FSP on
/// its float path (quantisation off; the straight-through gradient is this
/// path's at W = Q(W), checked in supernova.rs) against central differences.
#[test]
fn fsp_through_v6_own_head_has_the_gradient_of_ce_plus_alpha_fsp() {
    let cfg = FspConfig { weight: 0.5, horizon: 4, stride: 3, pos_weight: 5.0 };
    let float = super::supernova::tiny(false).float_path();
    let mut params = super::supernova::test_params(&float, 21);
    let plain: Model = Arc::new(float);
    let mut rng = Rng::new(22);
    let d = plain.hidden_dim();
    params.extend((0..d * d).map(|_| rng.normal() / (d as f32).sqrt()));
    check_gradient_with_fsp("v6 tiny float path + FSP", plain, cfg, &params, &mut rng);
}

#[test]
fn fsp_is_refused_where_hidden_states_see_later_tokens() {
    for name in ["v5-thunderbolt", "v6-supernova"] {
        let (_, text) = flashlm_tui::preset::resolve(name, None).unwrap();
        let (off, on) = ("reference_compat: false,", "reference_compat: true,");
        assert!(text.contains(off), "{name}");
        let text = text.replace("seed: 42,", "seed: 42, fsp: Some((weight: 0.1, horizon: 64, stride: 16, pos_weight: 50.0)),");
        let err = flashlm_tui::preset::Preset::parse(&text.replace(off, on), "x.ron").unwrap_err().to_string();
        assert!(err.contains("`fsp`") && err.contains("causal") && err.contains("reference_compat"), "{name}: {err}");
        // the causal default trains with it
        let p = flashlm_tui::preset::Preset::parse(&text, "x.ron").unwrap();
        assert!(p.train.fsp.is_some() && p.build_model().layout().get(FSP_PROJ).is_some());
    }
}

/// Every metrics.jsonl record of `kind` in the run folder under `root`.
fn records(run: &std::path::Path, kind: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == kind)
        .collect()
}

#[test]
fn headless_training_with_fsp_logs_it_apart_from_the_ce_and_resumes() {
    use super::cli::{bin, run};
    let dir = tempfile::tempdir().unwrap();
    // tiny with a window longer than the horizon (80 > 64: one FSP position)
    let (_, text) = flashlm_tui::preset::resolve("tiny", None).unwrap();
    let preset = dir.path().join("tiny-80.ron");
    std::fs::write(&preset, text.replace("seq_len: 32,", "seq_len: 80,").replace("name: \"tiny\"", "name: \"tiny-80\"")).unwrap();
    let out_dir = dir.path().join("runs");
    let train = |extra: &[&str]| {
        let mut c = bin();
        c.args(["train", "--headless", "--threads", "2", "--out"]).arg(&out_dir).args(extra);
        run(&mut c)
    };
    let (ok, out, err) = train(&["--preset", preset.to_str().unwrap(), "--steps", "20", "--fsp"]);
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    let step = out.lines().find(|l| l.starts_with("step     10")).expect(&out);
    let fsp: f64 = step.split("fsp ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(fsp > 0.0 && fsp.is_finite(), "{step}");
    let fin = out.lines().find(|l| l.starts_with("finished:")).expect(&out);
    assert!(fin.contains(" fsp "), "{fin}");
    let run_dir = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
    let steps = records(&run_dir, "step");
    assert!(!steps.is_empty() && steps.iter().all(|s| s["fsp"].as_f64().is_some_and(|f| f > 0.0) && s["loss"].is_f64()));
    assert!(records(&run_dir, "eval").iter().all(|e| e.get("fsp").is_none()), "validation stays plain CE");
    assert!(records(&run_dir, "summary")[0]["fsp"].is_f64());
    // the checkpoint holds fsp_proj and its preset keeps FSP on
    let ck = flashlm_tui::train::checkpoint::load_model(&run_dir.join("last")).unwrap();
    assert!(ck.preset.train.fsp.is_some() && ck.model.layout().get(FSP_PROJ).is_some());
    assert_eq!(ck.params.len(), ck.model.num_params() + 32 * 32);
    // resume continues with FSP
    let (ok, out, err) = train(&["--steps", "30", "--resume", run_dir.join("last").to_str().unwrap()]);
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("finished: 30 steps") && out.lines().any(|l| l.starts_with("step     30") && l.contains(" fsp ")), "{out}");

    // without --fsp: no FSP anywhere, and it cannot be added on resume
    std::fs::remove_dir_all(&out_dir).unwrap();
    let (ok, out, err) = train(&["--preset", preset.to_str().unwrap(), "--steps", "12"]);
    assert!(ok, "{err}");
    assert!(!out.contains(" fsp "), "{out}");
    let run_dir = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
    assert!(records(&run_dir, "step").iter().all(|s| s.get("fsp").is_none()));
    let (ok, _, err) = train(&["--steps", "20", "--fsp", "--resume", run_dir.join("last").to_str().unwrap()]);
    assert!(!ok && err.contains("--fsp cannot be added on resume"), "{err}");
}
