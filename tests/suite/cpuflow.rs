//! CPUFlow v5-LN and v9.7 (spec §12–§13): golden fixtures (logits, loss, every
//! gradient, the memory's selected slots and output), full-size parameter
//! counts, central-difference checks of the new blocks (position table,
//! normalised scan, ReLU FFN, RAM-Net memory) and of the whole model,
//! causality, the incremental decoder against the full forward, and
//! generation past the position table (D22). Tolerances and ε: see
//! tests/suite/gradcheck.rs.

use super::check_util::*;
use super::common::{fixtures, pool};
use super::golden_util::{layout_shapes, max_diff, read_json, state_dict, Golden};
use super::gradcheck::check::*;
use flashlm_tui::model::blocks::cumstep_pos::{cumstep_backward, cumstep_forward, positions};
use flashlm_tui::model::blocks::fsp::FspConfig;
use flashlm_tui::model::blocks::norm_scan::{scan_backward, scan_forward, ScanActs, ScanGrads, ScanWeights};
use flashlm_tui::model::blocks::ram_memory::{address_row, ram_backward, ram_forward, RamActs, RamGrads, RamScratch, RamShape, RamWeights};
use flashlm_tui::model::blocks::relu_ffn::{relu_ffn_backward, relu_ffn_forward, ReluGrads, ReluWeights};
use flashlm_tui::model::fsp::{fsp_value, with_fsp};
use flashlm_tui::model::{CpuFlow, CpuFlowConfig, LanguageModel, Model, RamConfig, Workspace};
use flashlm_tui::preset::resolve;
use flashlm_tui::rng::Rng;
use flashlm_tui::weights::{params_for_model, read_f32_tensors};
use std::sync::Arc;

// ───────────────────────────── fixtures ─────────────────────────────

/// The fixture's tiny model (the training-only `fsp_proj` is not part of it).
fn fixture_model(version: &str) -> CpuFlow {
    let cfg = read_json(fixtures().join(version).join("config.json"));
    let c = &cfg["config"];
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    let memory = c.get("d_sub").map(|_| {
        assert_eq!(u("n_sub"), 3);
        RamConfig {
            d_sub: u("d_sub"),
            d_val: u("d_val"),
            top_k: u("k_top"),
            decay: c["mem_decay"].as_f64().unwrap() as f32,
            chunk: u("mem_chunk"),
        }
    });
    CpuFlow::new(CpuFlowConfig {
        vocab: u("vocab"),
        d_model: u("d"),
        k: u("k"),
        d_ff: u("d_ff"),
        n_layers: u("n_layers"),
        memory,
        seq_len: u("seq_len"),
    })
}

/// weights.safetensors without `fsp_proj.weight` (the FSP head is the trainer's).
fn fixture_params(golden: &Golden, model: &CpuFlow) -> Vec<f32> {
    let bytes = std::fs::read(golden.dir.join("weights.safetensors")).unwrap();
    let mut named = read_f32_tensors(&bytes, "weights.safetensors").unwrap();
    assert!(named.remove("fsp_proj.weight").is_some());
    assert_eq!(model.num_params() as u64, golden.cfg["param_count_without_fsp_proj"].as_u64().unwrap());
    params_for_model(model, &named, "weights.safetensors").unwrap()
}

/// Every `grad.*` of the fixture but fsp_proj's (zero under the plain CE) within
/// 1e-5 + 1e-4·max|ref|; returns (tensors compared, worst share of tolerance).
fn assert_gradients(golden: &Golden, model: &CpuFlow, grads: &[f32]) -> (usize, f32) {
    let v = &golden.version;
    let (mut checked, mut worst_ratio) = (0, 0.0f32);
    let mut groups: std::collections::BTreeMap<String, f32> = Default::default();
    for ti in &model.layout().tensors {
        let reference = golden.tensor(&format!("grad.{}", ti.name));
        let ours = &grads[ti.range()];
        let max_ref = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let tol = 1e-5 + 1e-4 * max_ref;
        let worst = max_diff(ours, &reference);
        eprintln!("   {:<36} max|ref| {max_ref:.3e}  max|Δ| {worst:.3e}  ({:.3} of tolerance)", ti.name, worst / tol);
        assert!(worst <= tol, "{v}: grad.{} differs by {worst} (tolerance {tol})", ti.name);
        worst_ratio = worst_ratio.max(worst / tol);
        let bare = ti.name.trim_end_matches(".weight").trim_end_matches(".bias");
        let group = bare.rsplit('.').next().unwrap_or(bare).to_string();
        let g = groups.entry(group).or_default();
        *g = g.max(worst);
        checked += 1;
    }
    assert!(golden.tensor("grad.fsp_proj.weight").iter().all(|&g| g == 0.0));
    for (g, w) in groups {
        eprintln!("{v} golden: grad group {g:<14} max|Δ| {w:.3e}");
    }
    eprintln!("{v} golden: {checked} gradient tensors, worst at {worst_ratio:.3} of tolerance");
    (checked, worst_ratio)
}

fn run_golden(version: &str) -> (CpuFlow, Vec<f32>, Workspace) {
    let golden = Golden::open(version);
    let model = fixture_model(version);
    let params = fixture_params(&golden, &model);
    let mut ws = Workspace::new();
    let run = golden.run(&model, &params, &mut ws);
    let (checked, _) = assert_gradients(&golden, &model, &run.grads);
    assert_eq!(checked, model.layout().tensors.len());
    let (x, y, b, t) = (&run.case.x, &run.case.y, run.case.b, run.case.t);
    let eval = pool().install(|| model.loss(&mut ws, &params, x, y, b, t));
    golden.assert_loss("eval loss", eval);
    (model, params, ws)
}

#[test]
fn cpuflow_v5_ln_golden_logits_loss_and_every_gradient() {
    let (model, _, _) = run_golden("cpuflow-v5-ln");
    assert_eq!(model.num_params(), 17_344 - 1_024);
}

/// CE + 0.1·FSP (the reference's training objective): `loss_fsp`, `loss_total`
/// within 1e-5·max(1, |ref|) and every `gradtotal.*` (fsp_proj's included)
/// within 1e-5 + 1e-4·max|ref|, through the same head hook training uses.
fn run_golden_fsp(version: &str) {
    let golden = Golden::open(version);
    let plain: Model = Arc::new(fixture_model(version));
    let model = with_fsp(plain.clone(), FspConfig::default());
    let bytes = std::fs::read(golden.dir.join("weights.safetensors")).unwrap();
    let named = read_f32_tensors(&bytes, "weights.safetensors").unwrap();
    let params = params_for_model(&*model, &named, "weights.safetensors").unwrap();
    assert_eq!(model.layout().total as u64, golden.cfg["param_count"].as_u64().unwrap());
    let case = golden.tokens();
    let (b, t) = (case.b, case.t);
    let mut grads = vec![0.0f32; model.layout().total];
    let mut ws = Workspace::new();
    let ce = pool().install(|| model.loss_and_grad(&mut ws, &params, &mut grads, &case.x, &case.y, b, t));
    golden.assert_loss("loss (with FSP on)", ce);
    let fsp = fsp_value(&ws).unwrap();
    let total = ce + 0.1 * fsp;
    for (name, ours) in [("loss_fsp", fsp), ("loss_total", total)] {
        let reference = golden.tensor(name)[0] as f64;
        let err = (ours - reference).abs();
        eprintln!("{version} golden: {name} {ours} vs {reference} (|Δ| {err:.3e})");
        assert!(err <= 1e-5 * reference.abs().max(1.0), "{version}: {name} {ours} vs {reference}");
    }
    let mut groups: std::collections::BTreeMap<String, f32> = Default::default();
    let mut worst_ratio = 0.0f32;
    for ti in &model.layout().tensors {
        let reference = golden.tensor(&format!("gradtotal.{}", ti.name));
        let max_ref = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let tol = 1e-5 + 1e-4 * max_ref;
        let worst = max_diff(&grads[ti.range()], &reference);
        assert!(worst <= tol, "{version}: gradtotal.{} differs by {worst} (tolerance {tol})", ti.name);
        worst_ratio = worst_ratio.max(worst / tol);
        let bare = ti.name.trim_end_matches(".weight").trim_end_matches(".bias");
        let g = groups.entry(bare.rsplit('.').next().unwrap_or(bare).to_string()).or_default();
        *g = g.max(worst);
    }
    for (g, w) in groups {
        eprintln!("{version} golden: gradtotal group {g:<14} max|Δ| {w:.3e}");
    }
    eprintln!("{version} golden: {} gradtotal tensors, worst at {worst_ratio:.3} of tolerance", model.layout().tensors.len());
}

#[test]
fn cpuflow_v5_ln_golden_with_fsp_loss_total_and_every_gradient() {
    run_golden_fsp("cpuflow-v5-ln");
}

#[test]
fn cpuflow_v9_7_golden_with_fsp_loss_total_and_every_gradient() {
    run_golden_fsp("cpuflow-v9.7");
}

/// Also the memory internals: the selected slots of every position (as sets:
/// the fixture's top-k margin is ≥ 2.9e-5 relative) and W_read·r.
#[test]
fn cpuflow_v9_7_golden_logits_loss_every_gradient_and_memory() {
    let (model, params, mut ws) = run_golden("cpuflow-v9.7");
    assert_eq!(model.num_params(), 23_232 - 1_024);
    let golden = Golden::open("cpuflow-v9.7");
    let case = golden.tokens();
    pool().install(|| model.forward(&mut ws, &params, &case.x, case.b, case.t));
    for li in 0..model.cfg.n_layers {
        let case_st = golden.case();
        let view = case_st.tensor(&format!("aux.blocks.{li}.top_idx")).unwrap();
        let reference: Vec<i64> = view.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
        let (idx, rho) = model.memory_internals(&mut ws, li);
        let top = 8;
        assert_eq!(idx.len(), reference.len());
        let mut mismatched = 0;
        for (ours, theirs) in idx.chunks(top).zip(reference.chunks(top)) {
            let mut a: Vec<i64> = ours.iter().map(|&i| i as i64).collect();
            let mut b = theirs.to_vec();
            a.sort_unstable();
            b.sort_unstable();
            mismatched += (a != b) as usize;
        }
        assert_eq!(mismatched, 0, "layer {li}: positions whose selected slots differ");
        let exact_order = idx.iter().zip(&reference).filter(|(a, b)| **a as i64 == **b).count();
        eprintln!("cpuflow-v9.7 golden: layer {li} top_idx equal as sets at every position, same order {exact_order}/{}", idx.len());
        golden.assert_close(&format!("aux.blocks.{li}.mem_out"), rho);
    }
}

/// The presets' models have the reference's full-size state dicts (fsp_proj
/// counted apart as training-only).
#[test]
fn cpuflow_fixture_parameter_layout_matches_full_size_state_dicts() {
    for (version, preset, count, label) in
        [("cpuflow-v5-ln", "cpuflow-v5-ln", 1_931_776, "v5-LN"), ("cpuflow-v9.7", "cpuflow-v9.7", 2_411_008, "v9.7")]
    {
        let j = read_json(fixtures().join(version).join("full_size.json"));
        assert_eq!(j["param_count_without_fsp_proj"].as_u64().unwrap() as usize, count);
        let (p, _) = resolve(preset, None).unwrap();
        let model = p.build_model();
        assert_eq!(model.num_params(), count, "{preset}");
        // the preset trains with FSP: its layout ends with the training-only fsp_proj, as the reference's
        assert_eq!(model.training_only_params(), 65_536);
        assert_eq!(layout_shapes(&*model), state_dict(&j), "{preset}: parameter names, order and shapes");
        assert_eq!(model.version(), label);
        assert_eq!(p.version, label);
        assert!(model.flops_per_token(256) > 6.0 * count as f64 - 6.0 * 65_536.0 - 6.0 * 6.0 * 32_768.0);
    }
}

// ───────────────────────────── blocks ─────────────────────────────

/// Position table: θ = [h ; steps] (steps has more rows than the window).
fn cumstep_block(rng: &mut Rng, b: usize, t: usize, s_max: usize, d: usize) -> Block<'static> {
    let packed = Packer::new(rng).push("h", b * t * d, 0.0, 1.0).push("steps", s_max * d, 0.0, 1.0).done();
    let fwd = move |p: &[&[f32]]| {
        let mut pos = vec![0.0; t * d];
        positions(&mut pos, p[1], t, d);
        let mut h = p[0].to_vec();
        cumstep_forward(&mut h, &pos, t, d);
        (h, ())
    };
    Block::new(format!("position table b={b} t={t} S_max={s_max} d={d}"), packed, fwd, move |_, (), dout, g| {
        let [gh, gs]: [&mut [f32]; 2] = g.try_into().ok().unwrap();
        gh.copy_from_slice(dout);
        cumstep_backward(gs, dout, b, t, d);
    })
}

/// Normalised scan: θ = [a ; W_proj ; W_m].
fn scan_block(rng: &mut Rng, b: usize, t: usize, d: usize, k: usize) -> Block<'static> {
    let rows = b * t;
    let packed = Packer::new(rng)
        .push("a", rows * d, 0.0, 1.0)
        .push("W_proj", 3 * k * d, 0.0, 1.0 / (d as f32).sqrt())
        .push("W_m", k * k, 0.0, 1.0 / (k as f32).sqrt())
        .done();
    let fwd = move |p: &[&[f32]]| {
        let w = ScanWeights { proj: p[1], m: p[2] };
        let (mut qkv, mut n, mut den, mut s) = (vec![0.0; rows * 3 * k], vec![0.0; rows * k], vec![0.0; rows * k], vec![0.0; rows * k]);
        let mut out = vec![0.0; rows * k];
        scan_forward(&mut out, ScanActs { qkv: &mut qkv, n: &mut n, den: &mut den, s: &mut s }, p[0], &w, t, d, k);
        (out, (qkv, n, den, s))
    };
    Block::new(format!("normalised scan b={b} t={t} d={d} k={k}"), packed, fwd, move |p, (qkv, n, den, s), dout, g| {
        let w = ScanWeights { proj: p[1], m: p[2] };
        let [ga, gp, gm]: [&mut [f32]; 3] = g.try_into().ok().unwrap();
        let (mut ds, mut dqkv) = (vec![0.0; rows * k], vec![0.0; rows * 3 * k]);
        scan_backward(ga, ScanGrads { proj: gp, m: gm }, dout, p[0], (&qkv, &n, &den, &s), &w, &mut ds, &mut dqkv, t, d, k);
    })
}

/// ReLU FFN: θ = [a ; W_up ; W_down] (out = the FFN alone). ReLU has a kink at
/// 0 that a ±ε step must not cross: inputs are redrawn until every
/// pre-activation is at least 0.1 away from it (a step moves one by ≤ ε·3).
fn relu_block(rng: &mut Rng, rows: usize, d: usize, h: usize) -> Block<'static> {
    let packed = loop {
        let (theta, segs) = Packer::new(rng)
            .push("a", rows * d, 0.0, 1.0)
            .push("ff_up", h * d, 0.0, 1.0 / (d as f32).sqrt())
            .push("ff_down", d * h, 0.0, 1.0 / (h as f32).sqrt())
            .done();
        let (a, up) = (&theta[segs[0].range.clone()], &theta[segs[1].range.clone()]);
        let min_u =
            (0..rows * h).map(|i| (0..d).map(|j| a[(i / h) * d + j] * up[(i % h) * d + j]).sum::<f32>().abs()).fold(f32::MAX, f32::min);
        if min_u > 0.1 {
            break (theta, segs);
        }
    };
    let fwd = move |p: &[&[f32]]| {
        let w = ReluWeights { up: p[1], down: p[2] };
        let (mut u, mut r, mut out) = (vec![0.0; rows * h], vec![0.0; rows * h], vec![0.0; rows * d]);
        relu_ffn_forward(&mut out, &mut u, &mut r, p[0], &w, d, h);
        (out, u)
    };
    Block::new(format!("ReLU FFN rows={rows} d={d} H={h}"), packed, fwd, move |p, u, dout, g| {
        let w = ReluWeights { up: p[1], down: p[2] };
        let [ga, gu, gd]: [&mut [f32]; 3] = g.try_into().ok().unwrap();
        let mut dr = vec![0.0; rows * h];
        relu_ffn_backward(ga, ReluGrads { up: gu, down: gd }, dout, p[0], &u, &w, &mut dr, d, h);
    })
}

struct RamBufs {
    sig: Vec<f32>,
    idx: Vec<u32>,
    wt: Vec<f32>,
    what: Vec<f32>,
    gate: Vec<f32>,
    val: Vec<f32>,
    phi: Vec<f32>,
    r: Vec<f32>,
    rho: Vec<f32>,
    states: Vec<f32>,
}

impl RamBufs {
    fn new(b: usize, sh: RamShape) -> Self {
        let rows = b * sh.t;
        let z = |n| vec![0.0f32; n];
        RamBufs {
            sig: z(rows * 3 * sh.d_sub),
            idx: vec![0; rows * sh.top],
            wt: z(rows * sh.top),
            what: z(rows * sh.top),
            gate: z(rows * sh.d_v),
            val: z(rows * sh.d_v),
            phi: z(rows * sh.d_v),
            r: z(rows * sh.d_v),
            rho: z(rows * sh.d_v),
            states: z(b * sh.states_len()),
        }
    }
    fn acts(&mut self) -> RamActs<'_> {
        RamActs {
            sig: &mut self.sig,
            idx: &mut self.idx,
            wt: &mut self.wt,
            what: &mut self.what,
            gate: &mut self.gate,
            val: &mut self.val,
            phi: &mut self.phi,
            r: &mut self.r,
            rho: &mut self.rho,
            states: &mut self.states,
        }
    }
}

/// RAM-Net memory with chunks of 3 or 4 (the state crosses chunk borders, a
/// partial last chunk): θ = [a ; mem_init ; W_addr ; W_val ; W_wg ; W_read ; W_mp].
/// The top-k selection is piecewise constant and a ±ε step must not change it:
/// with K < M, inputs are redrawn until at every position the K-th weight is
/// ≥ 1.25× the (K+1)-th (a step moves a log-weight ratio by ~0.05, rarely 0.15).
fn ram_block(rng: &mut Rng, b: usize, sh: RamShape) -> Block<'static> {
    let (t, d, dv, k) = (sh.t, sh.d, sh.d_v, sh.k);
    let rows = b * t;
    let packed = loop {
        let packed = ram_theta(rng, rows, sh);
        if sh.top == sh.slots() || top_margin(&packed.0, rows, sh) >= 1.25 {
            break packed;
        }
    };
    let fwd = move |p: &[&[f32]]| {
        let w = RamWeights { mem_init: p[1], addr: p[2], val: p[3], gate: p[4], read: p[5], proj: p[6] };
        let mut bufs = RamBufs::new(b, sh);
        let mut out = vec![0.0; rows * k];
        ram_forward(&mut out, bufs.acts(), p[0], &w, sh);
        (out, bufs)
    };
    Block::new(
        format!("RAM-Net memory b={b} t={t} d={d} d_sub={} d_v={dv} K={} C={}", sh.d_sub, sh.top, sh.chunk),
        packed,
        fwd,
        move |p, mut bufs, dout, g| {
            let w = RamWeights { mem_init: p[1], addr: p[2], val: p[3], gate: p[4], read: p[5], proj: p[6] };
            let [ga, gi, gad, gv, gg, gr, gp]: [&mut [f32]; 7] = g.try_into().ok().unwrap();
            let z = |n| vec![0.0f32; n];
            let (mut drho, mut dr, mut dphi, mut dval) = (z(rows * dv), z(rows * dv), z(rows * dv), z(rows * dv));
            let (mut dwhat, mut dsig, mut gm) = (z(rows * sh.top), z(rows * 3 * sh.d_sub), z(b * sh.slots() * dv));
            let sc = RamScratch {
                drho: &mut drho,
                dr: &mut dr,
                dphi: &mut dphi,
                dval: &mut dval,
                dwhat: &mut dwhat,
                dsig: &mut dsig,
                g: &mut gm,
            };
            let grads = RamGrads { mem_init: gi, addr: gad, val: gv, gate: gg, read: gr, proj: gp };
            ram_backward(ga, grads, dout, p[0], bufs.acts(), &w, sc, sh);
        },
    )
}

fn ram_theta(rng: &mut Rng, rows: usize, sh: RamShape) -> (Vec<f32>, Vec<Segment>) {
    let (d, dv, k) = (sh.d, sh.d_v, sh.k);
    Packer::new(rng)
        .push("a", rows * d, 0.0, 1.0)
        .push("mem_init", sh.slots() * dv, 0.0, 1.0)
        .push("W_addr", 3 * sh.d_sub * d, 0.0, 1.0 / (d as f32).sqrt())
        .push("W_val", dv * d, 0.0, 1.0 / (d as f32).sqrt())
        .push("W_write_gate", dv * d, 0.0, 1.0 / (d as f32).sqrt())
        .push("W_read", dv * dv, 0.0, 1.0 / (dv as f32).sqrt())
        .push("W_mem_proj", k * dv, 0.0, 1.0 / (dv as f32).sqrt())
        .done()
}

/// min over positions of w_K / w_{K+1} (the selection's margin).
fn top_margin(theta: &[f32], rows: usize, sh: RamShape) -> f32 {
    let (d, ns) = (sh.d, 3 * sh.d_sub);
    let (a, w) = (&theta[..rows * d], &theta[rows * d + sh.slots() * sh.d_v..]);
    let mut worst = f32::MAX;
    for r in 0..rows {
        let mut sig: Vec<f32> = (0..ns).map(|o| (0..d).map(|j| a[r * d + j] * w[o * d + j]).sum()).collect();
        let kp = sh.top + 1;
        let (mut idx, mut wt, mut what) = (vec![0u32; kp], vec![0.0; kp], vec![0.0; kp]);
        address_row(&mut sig, &mut idx, &mut wt, &mut what, sh.d_sub);
        worst = worst.min(wt[sh.top - 1] / wt[sh.top]);
    }
    worst
}

fn ram_shape(t: usize, d: usize, d_sub: usize, d_v: usize, k: usize, top: usize, chunk: usize) -> RamShape {
    RamShape { t, d, d_sub, d_v, k, top, decay: 0.8, chunk }
}

#[test]
fn gradcheck_cumstep_positions() {
    let mut rng = Rng::new(31);
    pool().install(|| cumstep_block(&mut rng, 2, 5, 7, 3).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok());
}

#[test]
fn gradcheck_normalised_scan() {
    let mut rng = Rng::new(32);
    pool().install(|| {
        scan_block(&mut rng, 2, 7, 5, 3).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        // more channels than one block of f64 accumulators (64)
        scan_block(&mut rng, 1, 4, 3, 70).check(200, BLOCK_TOL, &mut rng).assert_ok();
    });
}

#[test]
fn gradcheck_relu_ffn() {
    let mut rng = Rng::new(33);
    pool().install(|| relu_block(&mut rng, 8, 5, 7).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok());
}

#[test]
fn gradcheck_ram_memory() {
    let mut rng = Rng::new(34);
    pool().install(|| {
        // every slot selected (K = M): smooth everywhere
        ram_block(&mut rng, 2, ram_shape(7, 5, 2, 3, 4, 8, 3)).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        // sparse: 3 of 8 and 5 of 27 slots, inputs with a selection margin
        ram_block(&mut rng, 1, ram_shape(7, 5, 2, 3, 4, 3, 3)).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        ram_block(&mut rng, 1, ram_shape(6, 4, 3, 4, 2, 5, 4)).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
    });
}

/// A planted bug in the memory backward (∂mem_init dropped) is rejected.
#[test]
fn gradcheck_ram_memory_rejects_a_dropped_state_gradient() {
    let mut rng = Rng::new(35);
    let block = ram_block(&mut rng, 1, ram_shape(7, 4, 2, 3, 3, 8, 3));
    let buggy = block.with_backward(
        "RAM-Net memory without ∂mem_init",
        Box::new(|th, dout| {
            let mut g = (block.backward)(th, dout);
            let r = &block.segs[1].range;
            g[r.clone()].fill(0.0);
            g
        }),
    );
    let report = pool().install(|| buggy.check(usize::MAX, BLOCK_TOL, &mut rng));
    assert_eq!(report.assert_rejected("a dropped ∂mem_init").segment, "mem_init");
    pool().install(|| block.check(usize::MAX, BLOCK_TOL, &mut rng)).assert_ok();
}

// ─────────────────────────── whole model ───────────────────────────

/// A small model: 2 layers of width 12; with memory, 2³ = 8 slots of width
/// 5, 3 read per position, a commit every 4 tokens.
pub(crate) fn tiny(memory: bool, seq_len: usize) -> CpuFlow {
    tiny_top(memory, seq_len, 3)
}

/// The tiny model with `top` of its 8 slots read per position.
fn tiny_top(memory: bool, seq_len: usize, top: usize) -> CpuFlow {
    CpuFlow::new(CpuFlowConfig {
        vocab: 29,
        d_model: 12,
        k: 6,
        d_ff: 10,
        n_layers: 2,
        memory: memory.then_some(RamConfig { d_sub: 2, d_val: 5, top_k: top, decay: 0.8, chunk: 4 }),
        seq_len,
    })
}

/// O(1) activations: gains 1 ± 0.2, biases ± 0.2, E and steps N(0, 0.5²) and N(0, 0.2²), linears N(0, 1/fan_in).
fn test_params(model: &CpuFlow, seed: u64) -> Vec<f32> {
    draw_params(model, &mut Rng::new(seed), |t| match t.shape.as_slice() {
        [_] if t.name.ends_with("bias") => (0.0, 0.2),
        [_] => (1.0, 0.2),
        _ if t.name == "embed.weight" => (0.0, 0.5),
        _ if t.name == "pos.steps" => (0.0, 0.2),
        _ if t.name.ends_with("mem_init") => (0.0, 0.5),
        [_, fan_in] => (0.0, 1.0 / (*fan_in as f32).sqrt()),
        s => panic!("unexpected shape {s:?} for {}", t.name),
    })
}

/// The whole-model check has no kinks to cross: every slot is read (K = M, the
/// sparse selection is checked in the block test and by the fixture), and the
/// FFN pre-activations sit far from ReLU's kink (LN₂ bias ≈ 2 and ff_up rows of
/// alternating sign with mean ±0.3: |u| ≈ 7), half of the units off.
fn check_model(memory: bool) {
    let model = tiny_top(memory, 11, 8);
    let (b, t, v) = (2, 9, model.cfg.vocab);
    let mut params = test_params(&model, 41 + memory as u64);
    let d = model.cfg.d_model;
    let mut rng = Rng::new(61);
    for ti in &model.layout().tensors {
        if ti.name.ends_with("norm_ff.bias") {
            params[ti.range()].iter_mut().for_each(|x| *x = 2.0 + 0.2 * rng.normal());
        }
        if ti.name.ends_with("ff_up.weight") {
            for (i, x) in params[ti.range()].iter_mut().enumerate() {
                let sign = if (i / d).is_multiple_of(2) { 1.0 } else { -1.0 };
                *x = sign * 0.3 + 0.1 * rng.normal();
            }
        }
    }
    let mut rng = Rng::new(51 + memory as u64);
    let (x, y) = tokens_with_repeat(&mut rng, b * t, v, (6, 1));
    let label = if memory { "cpuflow-v9.7 tiny model" } else { "cpuflow-v5-ln tiny model" };
    model_gradcheck(label, &model, &params, (&x, &y, b, t), &every_tensor(&model), usize::MAX, MODEL_TOL, &mut rng).assert_ok();
}

#[test]
fn gradcheck_whole_model_cpuflow_v5_ln() {
    check_model(false);
}

#[test]
fn gradcheck_whole_model_cpuflow_v9_7() {
    check_model(true);
}

#[test]
fn cpuflow_loss_and_grad_accumulates_and_repeats() {
    for memory in [false, true] {
        let model = tiny(memory, 16);
        let params = test_params(&model, 3);
        let mut rng = Rng::new(4);
        let (b, t) = (3, 13);
        let (x, y) = tokens_with_repeat(&mut rng, b * t, model.cfg.vocab, (2, 0));
        pool().install(|| {
            let mut ws = Workspace::new();
            // a longer window first: buffers sized for it must not leak into the shorter one
            assert_accumulates_and_repeats("cpuflow", &model, &mut ws, &params, (&x, &y, b, t), |ws| {
                let (x2, y2) = (vec![1u32; 2 * 16], vec![2u32; 2 * 16]);
                let mut g = vec![0.0; model.num_params()];
                model.loss_and_grad(ws, &params, &mut g, &x2, &y2, 2, 16);
            });
        });
    }
}

/// Replacing the tokens after p leaves the logits at positions ≤ p bit-identical
/// (and changes later ones); sequences of a batch do not see each other.
#[test]
fn cpuflow_causality() {
    for memory in [false, true] {
        let model = tiny(memory, 40);
        let (b, t, v) = (2, 40, model.cfg.vocab);
        for params in [test_params(&model, 5), model.init_params(6)] {
            let mut rng = Rng::new(7);
            pool().install(|| {
                let mut ws = Workspace::new();
                let x = random_tokens(&mut rng, b * t, v);
                let base = logits(&model, &mut ws, &params, &x, b, t);
                for p in [0, 1, 3, 4, 5, 17, 31, 38] {
                    for seq in 0..b {
                        let mut x2 = x.clone();
                        for tok in &mut x2[seq * t + p + 1..(seq + 1) * t] {
                            *tok = other_token(&mut rng, *tok, v);
                        }
                        let l2 = logits(&model, &mut ws, &params, &x2, b, t);
                        let changed = changed_positions(&base, &l2, seq, t, v);
                        assert!(changed[..=p].iter().all(|c| !c), "memory={memory}: a change after {p} reached position ≤ {p}");
                        assert!(changed[p + 1], "memory={memory}: position {} did not change", p + 1);
                        let other = 1 - seq;
                        assert!(changed_positions(&base, &l2, other, t, v).iter().all(|c| !c), "sequence {seq} leaked into {other}");
                    }
                }
            });
        }
    }
}

/// The decoder, token by token, equals the full forward at every position of a
/// window (v9.7: across several memory chunks), on the fixture weights and on
/// O(1) test weights.
#[test]
fn cpuflow_decoder_equals_full_forward() {
    for version in ["cpuflow-v5-ln", "cpuflow-v9.7"] {
        let golden = Golden::open(version);
        let model = fixture_model(version);
        let params = fixture_params(&golden, &model);
        let case = golden.tokens();
        let (t, v) = (case.t, model.cfg.vocab);
        let reference = pool().install(|| logits(&model, &mut Workspace::new(), &params, &case.x[..t], 1, t));
        let worst = decoder_worst(&mut *model.decoder(&params), &case.x[..t], &reference, v);
        eprintln!("{version}: decoder vs forward over {t} tokens: max |Δ| {worst:.3e}");
        assert!(worst <= 2e-5, "{version}: decoder differs from the forward by {worst}");
    }
    for memory in [false, true] {
        let model = tiny(memory, 30);
        let params = test_params(&model, 8);
        let x = random_tokens(&mut Rng::new(9), 30, model.cfg.vocab);
        let reference = pool().install(|| logits(&model, &mut Workspace::new(), &params, &x, 1, 30));
        let worst = decoder_worst(&mut *model.decoder(&params), &x, &reference, model.cfg.vocab);
        assert!(worst <= 2e-5, "memory={memory}: decoder differs from the forward by {worst}");
    }
}

/// D22: past S_max tokens the decoder keeps going. Once a window is full it
/// restarts from the last S_max/2 tokens: after every token its logits equal the
/// full forward over the current window (never longer than S_max).
#[test]
fn cpuflow_generation_past_the_position_table() {
    for memory in [false, true] {
        let s_max = 12;
        let model = tiny(memory, s_max);
        let params = test_params(&model, 10);
        let v = model.cfg.vocab;
        let x = random_tokens(&mut Rng::new(11), 45, v);
        let mut dec = model.decoder(&params);
        let mut ws = Workspace::new();
        let mut start = 0;
        for (i, &tok) in x.iter().enumerate() {
            if i - start == s_max {
                start = i - s_max / 2;
            }
            dec.step(tok);
            assert_eq!(dec.pos(), i + 1);
            let win = &x[start..=i];
            assert!(win.len() <= s_max);
            let full = pool().install(|| logits(&model, &mut ws, &params, win, 1, win.len()));
            let worst = max_diff(dec.logits(), &full[(win.len() - 1) * v..]);
            assert!(worst <= 2e-5, "memory={memory}: token {i} (window {start}..={i}): decoder off by {worst}");
            assert!(dec.logits().iter().all(|z| z.is_finite()));
        }
    }
}

/// The built-in presets generate past 256 tokens through the sampler's path.
#[test]
fn cpuflow_presets_sample_300_tokens() {
    for name in ["cpuflow-v5-ln", "cpuflow-v9.7"] {
        let (p, _) = resolve(name, None).unwrap();
        let model = p.build_model();
        let params = model.init_params(1);
        let mut dec = model.decoder(&params);
        for i in 0..300u32 {
            dec.step(4 + (i * 7) % 4000);
            assert!(dec.logits().iter().all(|z| z.is_finite()), "{name}: token {i}");
        }
        assert_eq!(dec.pos(), 300);
    }
}

/// v5-LN's heatmap state: per layer the normalised running state n/δ (k = 64 → 8 × 8).
#[test]
fn cpuflow_memory_heatmap_hook() {
    let (p, _) = resolve("cpuflow-v5-ln", None).unwrap();
    let model = p.build_model();
    let dims = model.memory_dims().expect("v5-LN shows its running state");
    assert_eq!((dims.n_layers, dims.rows, dims.cols), (6, 8, 8));
    let params = model.init_params(2);
    let mut dec = model.decoder(&params);
    for t in [5u32, 9, 13] {
        dec.step(t);
    }
    let mem = dec.memory();
    assert_eq!(mem.len(), 6);
    assert!(mem.iter().all(|l| l.len() == 64 && l.iter().any(|&x| x != 0.0) && l.iter().all(|x| x.abs() < 1.0)));
}
