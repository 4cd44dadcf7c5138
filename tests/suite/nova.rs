//! v5.2 Nova-Ignition (spec §6): golden fixture, RoPE buffers, parameter count,
//! finite-difference checks of attention, GEGLU, LayerNorm and the whole model
//! (dropout 0, and dropout > 0 at a fixed seed: the masks are a pure function of
//! the seed, so the training loss is a smooth function of the parameters),
//! causality, incremental decoder == full forward, dropout determinism.
//! Tolerances and ε: see tests/suite/gradcheck.rs.

use super::check_util::*;
use super::common::{fixtures, pool};
use super::golden_util::{layout_shapes, read_json, state_dict, Golden};
use super::gradcheck::check::*;
use flashlm_tui::model::blocks::attention::{
    attention_backward, attention_forward, rope_table, AttnActs, AttnGrads, AttnSaved, AttnScratch, AttnShape, AttnWeights, Rope,
};
use flashlm_tui::model::blocks::dropout::DropMask;
use flashlm_tui::model::blocks::geglu::{geglu_backward, geglu_forward, gelu, gelu_grad, GegluGrads, GegluWeights};
use flashlm_tui::model::blocks::layernorm::{layernorm_backward, layernorm_forward};
use flashlm_tui::model::versions::v5_2_nova_ignition::Decoder;
use flashlm_tui::model::{LanguageModel, Nova, NovaConfig, Workspace};
use flashlm_tui::rng::Rng;
use flashlm_tui::weights::read_f32_tensors;

// ───────────────────────────── fixtures ─────────────────────────────

fn fixture_json(name: &str) -> serde_json::Value {
    read_json(fixtures().join("v5.2").join(name))
}

/// The fixture's tiny config. The fixture was made in eval() mode (every Dropout
/// the identity), so the training path is compared with dropout 0.
fn fixture_model(dropout: f32) -> Nova {
    let cfg = fixture_json("config.json");
    let c = &cfg["config"];
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    assert_eq!(u("d_model") / u("n_heads"), u("d_head"));
    Nova::new(NovaConfig {
        vocab: u("vocab"),
        d_model: u("d_model"),
        n_layers: u("n_layers"),
        n_heads: u("n_heads"),
        d_ff: u("d_ffn"),
        dropout,
    })
}

#[test]
fn nova_golden_logits_loss_and_every_gradient() {
    let model = fixture_model(0.0);
    let golden = Golden::open("v5.2");
    // The import path skips the RoPE buffers (is_buffer) and checks the tied alias.
    let params = golden.params(&model);
    let mut ws = Workspace::new();
    ws.seed = 99; // irrelevant with dropout 0
    let run = golden.run(&model, &params, &mut ws);
    let (x, y, b, t) = (&run.case.x, &run.case.y, run.case.b, run.case.t);
    let eval_loss = pool().install(|| model.loss(&mut ws, &params, x, y, b, t));
    golden.assert_loss("eval loss", eval_loss);
    let (checked, _) = golden.assert_every_gradient(&model, &run.grads, |_, _| {});
    assert_eq!(checked, 20);
}

/// The reference's `blocks.*.attn.rotary.inv_freq` buffers are not parameters
/// (skipped on import) and equal our θ formula 10000^(−2i/hd).
#[test]
fn nova_rope_inv_freq_buffers_match_theta_formula() {
    let model = fixture_model(0.0);
    let bytes = std::fs::read(fixtures().join("v5.2/weights.safetensors")).unwrap();
    let named = read_f32_tensors(&bytes, "weights.safetensors").unwrap();
    let mut buffers = 0;
    for (name, (shape, data)) in &named {
        if !name.ends_with(".rotary.inv_freq") {
            assert!(!model.is_buffer(name), "{name} is a parameter");
            continue;
        }
        assert!(model.is_buffer(name), "{name} must be skipped on import");
        assert!(model.layout.get(name).is_none());
        assert_eq!(shape, &vec![model.head_dim() / 2]);
        for (i, (&ours, &theirs)) in model.inv_freq.iter().zip(data).enumerate() {
            assert!((ours - theirs).abs() <= 1e-7 * theirs.abs(), "{name}[{i}]: ours {ours} vs reference {theirs}");
            let exact = 10000f64.powf(-2.0 * i as f64 / model.head_dim() as f64);
            assert!((ours as f64 - exact).abs() <= 1e-6 * exact, "{name}[{i}]: {ours} vs 10000^(-2i/hd) = {exact}");
        }
        buffers += 1;
    }
    let cfg = fixture_json("config.json");
    assert_eq!(buffers, cfg["buffers"].as_array().unwrap().len());
    assert_eq!(buffers, model.cfg.n_layers);
    // full size: hd = 64, 32 frequencies, the last 10000^(−62/64)
    let full = full_size();
    assert_eq!(full.inv_freq.len(), 32);
    assert_eq!(full.inv_freq[0], 1.0);
    assert!((full.inv_freq[31] as f64 - 10000f64.powf(-62.0 / 64.0)).abs() < 1e-9);
}

fn full_size() -> Nova {
    Nova::new(NovaConfig { vocab: 4096, d_model: 256, n_layers: 6, n_heads: 4, d_ff: 512, dropout: 0.1 })
}

#[test]
fn nova_param_count_full_size() {
    let model = full_size();
    assert_eq!(model.num_params(), 4_987_392);
    let j = fixture_json("full_size.json");
    assert_eq!(j["param_count"].as_u64().unwrap() as usize, model.num_params());
    let reference: Vec<_> = state_dict(&j).into_iter().filter(|(n, _)| n != "head.weight" && !model.is_buffer(n)).collect();
    assert_eq!(layout_shapes(&model), reference, "parameter names, order and shapes");
    assert_eq!(model.tied_aliases(), vec![("head.weight", "embed.weight")]);
    // 6·(matmul params incl. head) + 6·T·d per layer
    let mm = 6.0 * (4.0 * 256.0 * 256.0 + 3.0 * 512.0 * 256.0) + 4096.0 * 256.0;
    assert_eq!(model.flops_per_token(128), 6.0 * mm + 6.0 * 6.0 * 128.0 * 256.0);
    assert_eq!(model.version(), "v5.2");
    assert!(model.describe().contains("RoPE attention 4×64"));
}

// ───────────────────────────── blocks ─────────────────────────────

/// The branch-free erf (A&S 7.1.26 in f32, a series below 0.5) against f64 erf
/// over the whole range: the formula's 1.5e-7 plus f32 rounding.
#[test]
fn nova_erf_within_a_few_ulp_of_one() {
    let mut worst = 0.0f64;
    for i in -6000..=6000 {
        let x = i as f64 / 1000.0;
        let e = flashlm_tui::model::blocks::geglu::erf(x as f32) as f64;
        worst = worst.max((e - libm::erf(x)).abs());
    }
    assert!(worst <= 4e-7, "max |erf error| {worst}");
}

#[test]
fn nova_gelu_is_the_exact_erf_form() {
    let mut worst_tanh = 0.0f64;
    for i in -80..=80 {
        let z = i as f64 / 16.0;
        let exact = 0.5 * z * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
        let g = gelu(z as f32) as f64;
        // erf's 4e-7 times |z|/2 (the tanh form is off by up to 1e-3, checked below)
        assert!((g - exact).abs() <= 2e-7 * (1.0 + z.abs()), "gelu({z}) = {g}, exact {exact}");
        let tanh = 0.5 * z * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (z + 0.044715 * z * z * z)).tanh());
        worst_tanh = worst_tanh.max((tanh - exact).abs());
        let dexact = 0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2)) + z * (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        assert!((gelu_grad(z as f32) as f64 - dexact).abs() <= 1e-6, "gelu'({z})");
    }
    // the tanh approximation would be visibly different at this precision
    assert!(worst_tanh > 1e-4, "{worst_tanh}");
}

fn layernorm_block(rng: &mut Rng, rows: usize, d: usize) -> Block<'static> {
    let packed = Packer::new(rng).push("x", rows * d, 0.3, 1.0).push("gamma", d, 1.0, 0.3).push("beta", d, 0.0, 0.3).done();
    let fwd = move |p: &[&[f32]]| {
        let (mut out, mut mean, mut rstd) = (vec![0.0; rows * d], vec![0.0; rows], vec![0.0; rows]);
        layernorm_forward(&mut out, &mut mean, &mut rstd, p[0], p[1], p[2], d);
        (out, (mean, rstd))
    };
    Block::new(format!("layernorm rows={rows} d={d}"), packed, fwd, move |p, (mean, rstd), dout, g| {
        let [gx, gg, gb]: [&mut [f32]; 3] = g.try_into().ok().unwrap();
        layernorm_backward(gx, gg, gb, dout, p[0], p[1], &mean, &rstd, d);
    })
}

/// GEGLU FFN: θ = [x ; W_up ; W_down].
fn geglu_block(rng: &mut Rng, rows: usize, d: usize, h: usize) -> Block<'static> {
    let packed = Packer::new(rng)
        .push("x", rows * d, 0.0, 1.0)
        .push("ffn.up", 2 * h * d, 0.0, 1.0 / (d as f32).sqrt())
        .push("ffn.down", d * h, 0.0, 1.0 / (h as f32).sqrt())
        .done();
    let fwd = move |p: &[&[f32]]| {
        let w = GegluWeights { up: p[1], down: p[2] };
        let (mut ab, mut act, mut out) = (vec![0.0; rows * 2 * h], vec![0.0; rows * h], vec![0.0; rows * d]);
        geglu_forward(&mut out, &mut ab, &mut act, p[0], &w, d, h);
        (out, ab)
    };
    Block::new(format!("geglu rows={rows} d={d} h={h}"), packed, fwd, move |p, ab, dout, g| {
        let w = GegluWeights { up: p[1], down: p[2] };
        let [gx, gup, gdown]: [&mut [f32]; 3] = g.try_into().ok().unwrap();
        let (mut dact, mut dab) = (vec![0.0; rows * h], vec![0.0; rows * 2 * h]);
        geglu_backward(gx, GegluGrads { up: gup, down: gdown }, dout, p[0], &ab, &w, &mut dact, &mut dab, d, h);
    })
}

/// Everything one attention call needs, allocated per call (tests only).
struct AttnBufs {
    qkvh: Vec<f32>,
    probs: Vec<f32>,
    att: Vec<f32>,
    qkv: Vec<f32>,
    heads: Vec<f32>,
    pd: Vec<f32>,
    datt: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl AttnBufs {
    fn new(sh: AttnShape) -> Self {
        let n = sh.rows() * sh.d;
        let half = sh.hd() / 2;
        let inv_freq = flashlm_tui::model::blocks::attention::rope_inv_freq(sh.hd());
        let (mut cos, mut sin) = (vec![0.0; sh.t * half], vec![0.0; sh.t * half]);
        rope_table(&mut cos, &mut sin, 0, &inv_freq);
        let z = |len| vec![0.0f32; len];
        AttnBufs {
            qkvh: z(3 * n),
            probs: z(sh.probs_len()),
            att: z(n),
            qkv: z(3 * n),
            heads: z(3 * n),
            pd: z(sh.probs_len()),
            datt: z(n),
            cos,
            sin,
        }
    }
    fn forward(&mut self, x: &[f32], w: &AttnWeights, drop: DropMask, sh: AttnShape) -> Vec<f32> {
        let mut out = vec![0.0; sh.rows() * sh.d];
        let acts = AttnActs { qkvh: &mut self.qkvh, probs: &mut self.probs, att: &mut self.att };
        let s = AttnScratch { qkv: &mut self.qkv, heads: &mut self.heads, pd: &mut self.pd, datt: &mut self.datt };
        attention_forward(&mut out, acts, s, x, w, Rope { cos: &self.cos, sin: &self.sin, interleaved: false }, drop, sh);
        out
    }
}

/// Attention (RoPE, causal softmax, dropout on the probabilities with a fixed
/// mask): θ = [x ; W_qkv ; W_out].
fn attention_block(rng: &mut Rng, sh: AttnShape, p: f32, seed: u64) -> Block<'static> {
    let (rows, d) = (sh.rows(), sh.d);
    let drop = DropMask::new(seed, 3, p);
    let packed = Packer::new(rng)
        .push("x", rows * d, 0.0, 1.0)
        .push("attn.qkv", 3 * d * d, 0.0, 1.0 / (d as f32).sqrt())
        .push("attn.out", d * d, 0.0, 1.0 / (d as f32).sqrt())
        .done();
    let fwd = move |q: &[&[f32]]| {
        let mut bufs = AttnBufs::new(sh);
        (bufs.forward(q[0], &AttnWeights { qkv: q[1], out: q[2] }, drop, sh), bufs)
    };
    let label = format!("attention b={} t={} d={} heads={} dropout={p}", sh.b, sh.t, sh.d, sh.heads);
    Block::new(label, packed, fwd, move |q, mut bufs, dout, g| {
        let w = AttnWeights { qkv: q[1], out: q[2] };
        let [gx, gqkv, gout]: [&mut [f32]; 3] = g.try_into().ok().unwrap();
        let saved = AttnSaved { qkvh: &bufs.qkvh, probs: &bufs.probs, att: &bufs.att };
        let s = AttnScratch { qkv: &mut bufs.qkv, heads: &mut bufs.heads, pd: &mut bufs.pd, datt: &mut bufs.datt };
        let rope = Rope { cos: &bufs.cos, sin: &bufs.sin, interleaved: false };
        attention_backward(gx, AttnGrads { qkv: gqkv, out: gout }, dout, q[0], saved, &w, s, rope, drop, sh);
    })
}

#[test]
fn nova_gradcheck_layernorm() {
    let mut rng = Rng::new(51);
    pool().install(|| {
        layernorm_block(&mut rng, 67, 7).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        layernorm_block(&mut rng, 5, 3).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
    });
}

#[test]
fn nova_gradcheck_geglu() {
    let mut rng = Rng::new(52);
    pool().install(|| geglu_block(&mut rng, 8, 5, 7).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok());
}

#[test]
fn nova_gradcheck_attention_without_dropout() {
    let mut rng = Rng::new(53);
    pool().install(|| {
        attention_block(&mut rng, AttnShape { b: 2, t: 5, d: 8, heads: 2 }, 0.0, 0).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
        // one head of width 6 (three RoPE pairs), a single-token window
        attention_block(&mut rng, AttnShape { b: 3, t: 1, d: 6, heads: 1 }, 0.0, 0).check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
    });
}

#[test]
fn nova_gradcheck_attention_with_dropout() {
    let mut rng = Rng::new(54);
    pool().install(|| {
        let block = attention_block(&mut rng, AttnShape { b: 2, t: 6, d: 8, heads: 2 }, 0.3, 17);
        block.check(usize::MAX, BLOCK_TOL, &mut rng).assert_ok();
    });
}

/// The dropout mask really matters in the attention backward: the same block
/// with the backward using another seed's mask is rejected.
#[test]
fn nova_gradcheck_rejects_wrong_attention_mask() {
    let mut rng = Rng::new(55);
    let sh = AttnShape { b: 2, t: 6, d: 8, heads: 2 };
    pool().install(|| {
        let good = attention_block(&mut rng.clone(), sh, 0.3, 17);
        let other = attention_block(&mut rng.clone(), sh, 0.3, 18);
        assert_eq!(good.theta, other.theta);
        let bad = good.with_backward("attention, backward with another seed's mask", other.backward);
        bad.check(usize::MAX, BLOCK_TOL, &mut rng).assert_rejected("a backward with the wrong dropout mask");
    });
}

// ───────────────────────────── whole model ─────────────────────────────

pub fn tiny(dropout: f32) -> Nova {
    Nova::new(NovaConfig { vocab: 23, d_model: 12, n_layers: 2, n_heads: 2, d_ff: 8, dropout })
}

/// O(1) activations everywhere: γ 1 + 0.2·N, β 0.2·N, E ~ N(0, 1), linears
/// N(0, 1/fan_in). (With E ~ N(0, 0.5²) and d = 8 some embedding rows have a
/// small spread, LN₁ amplifies them and the loss gets so curved that the ε = 10⁻²
/// central difference is off by 2 % from truncation alone: at ε = 3·10⁻³ the
/// same elements agree to 0.3 %.)
pub fn test_params(model: &Nova, seed: u64) -> Vec<f32> {
    draw_params(model, &mut Rng::new(seed), |t| match t.shape.as_slice() {
        [_] if t.name.ends_with(".weight") => (1.0, 0.2),
        [_] => (0.0, 0.2),
        _ if t.name == "embed.weight" => (0.0, 1.0),
        [_, fan_in] => (0.0, 1.0 / (*fan_in as f32).sqrt()),
        s => panic!("unexpected shape {s:?} for {}", t.name),
    })
}

/// Whole-model check of every parameter tensor. With dropout the scalar is the
/// *training* loss (`loss_and_grad` at a fixed `ws.seed`); `grad_seed` ≠ seed
/// plants a bug (gradient of a different mask).
fn check_model(dropout: f32, seed: u64, grad_seed: u64) -> Report {
    let model = tiny(dropout);
    let (b, t, v) = (2, 6, model.cfg.vocab);
    let params = test_params(&model, 61);
    let mut rng = Rng::new(62);
    let (x, y) = tokens_with_repeat(&mut rng, b * t, v, (7, 2));
    let segs = every_tensor(&model);
    pool().install(|| {
        let mut ws = Workspace::new();
        let mut grads = vec![0.0f32; model.num_params()];
        ws.seed = grad_seed;
        let l0 = model.loss_and_grad(&mut ws, &params, &mut grads, &x, &y, b, t);
        assert!(l0.is_finite());
        ws.seed = seed;
        let mut scratch = vec![0.0f32; model.num_params()];
        let mut loss = |p: &[f32]| {
            if dropout > 0.0 {
                model.loss_and_grad(&mut ws, p, &mut scratch, &x, &y, b, t)
            } else {
                model.loss(&mut ws, p, &x, &y, b, t)
            }
        };
        let label = format!("v5.2 tiny model, dropout {dropout}, seed {seed}, gradient seed {grad_seed}");
        gradcheck(&label, &params, &grads, &segs, usize::MAX, MODEL_TOL, &mut rng, &mut loss)
    })
}

#[test]
fn nova_gradcheck_whole_model_without_dropout() {
    check_model(0.0, 5, 5).assert_ok();
}

#[test]
fn nova_gradcheck_whole_model_with_dropout() {
    check_model(0.25, 5, 5).assert_ok();
    // the masks are part of the function: another seed's gradient is rejected
    check_model(0.25, 5, 6).assert_rejected("a gradient computed with other dropout masks");
}

/// Changing token `pos` leaves every logit before `pos` bitwise unchanged and
/// changes every logit from `pos` on (attention reaches the whole prefix);
/// sequences of a batch are independent.
#[test]
fn nova_causality() {
    let model = tiny(0.1);
    let (b, t, v) = (2, 9, model.cfg.vocab);
    for (seed, params) in [(1u64, test_params(&model, 3)), (2, model.init_params(4))] {
        let mut rng = Rng::new(seed);
        pool().install(|| {
            let mut ws = Workspace::new();
            ws.seed = seed; // forward never drops, whatever the seed
            let x = random_tokens(&mut rng, b * t, v);
            single_token_changes(&model, &mut ws, &params, &x, (b, t), &[0, 1, 4, t - 2, t - 1], &mut rng, |pos, seq, base, l2| {
                assert_changed_exactly(base, l2, (b, t, v), seq, |p| p >= pos, &format!("token {pos} of seq {seq}"));
            });
        });
    }
}

/// Feeding tokens one by one through the KV-cache decoder gives the full
/// forward's logits at every position (≤ 1e-4), also for windows far longer
/// than the 16-token fixture window; and on the fixture weights it reproduces
/// the reference logits.
#[test]
fn nova_decoder_equals_full_forward() {
    let model = tiny(0.1);
    let v = model.cfg.vocab;
    let params = test_params(&model, 71);
    let mut rng = Rng::new(72);
    for len in [1usize, 7, 150] {
        let tokens = random_tokens(&mut rng, len, v);
        let mut ws = Workspace::new();
        let full = pool().install(|| logits(&model, &mut ws, &params, &tokens, 1, len));
        let worst = decoder_worst(model.decoder(&params).as_mut(), &tokens, &full, v);
        eprintln!("decoder len {len}: max |Δ| {worst:.3e}");
        assert!(worst <= 1e-4, "len {len}: decoder logits differ from the full forward by {worst}");
    }
    // fixture weights and tokens against the reference logits
    let model = fixture_model(0.1);
    let golden = Golden::open("v5.2");
    let params = golden.params(&model);
    let case = golden.tokens();
    let (b, t, x) = (case.b, case.t, case.x);
    let reference = golden.tensor("logits");
    let v = model.cfg.vocab;
    let mut worst = 0.0f32;
    for s in 0..b {
        let rows = s * t..(s + 1) * t;
        worst = worst.max(decoder_worst(&mut Decoder::new(&model, &params), &x[rows], &reference[s * t * v..(s + 1) * t * v], v));
    }
    eprintln!("decoder vs reference logits: max |Δ| {worst:.3e}");
    assert!(worst <= 1e-5, "decoder differs from the reference logits by {worst}");
}

#[test]
fn nova_dropout_masks_are_seeded_and_inverted() {
    let p = 0.25f32;
    let m = DropMask::new(7, 3, p);
    assert!(m.is_active());
    let n = 200_000u64;
    let f: Vec<f32> = (0..n).map(|i| m.factor(i)).collect();
    let dropped = f.iter().filter(|&&x| x == 0.0).count() as f64 / n as f64;
    assert!((dropped - 0.25).abs() < 0.005, "dropped share {dropped}");
    assert!(f.iter().all(|&x| x == 0.0 || x == 1.0 / (1.0 - p)), "kept units scale by 1/(1-p)");
    // same (seed, stream) → same mask; another seed or stream → another mask
    assert!((0..n).all(|i| DropMask::new(7, 3, p).factor(i) == f[i as usize]));
    for other in [DropMask::new(8, 3, p), DropMask::new(7, 4, p)] {
        let same = (0..n).filter(|&i| (other.factor(i) == 0.0) == (f[i as usize] == 0.0)).count() as f64 / n as f64;
        assert!(same < 0.7, "masks of different seeds/streams agree on {same} of the elements");
    }
    assert!(!DropMask::new(7, 3, 0.0).is_active());
    assert_eq!(DropMask::new(7, 3, 0.0).factor(5), 1.0);
    assert_eq!(DropMask::OFF.factor(123), 1.0);
}

/// Dropout only in `loss_and_grad`: `forward`/`loss` ignore p and the seed; the
/// training loss is bit-identical for the same seed, different for another
/// seed, and equals the evaluation loss when p = 0. Gradients add into `grads`.
#[test]
fn nova_dropout_only_in_training_and_deterministic() {
    let (with, without) = (tiny(0.3), tiny(0.0));
    let (b, t, v) = (2, 8, with.cfg.vocab);
    let params = test_params(&with, 81);
    let mut rng = Rng::new(82);
    let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
    pool().install(|| {
        let mut ws = Workspace::new();
        let n = with.num_params();
        ws.seed = 1;
        let eval_p = with.loss(&mut ws, &params, &x, &y, b, t);
        let logits_p = logits(&with, &mut ws, &params, &x, b, t);
        ws.seed = 2;
        let eval_0 = without.loss(&mut ws, &params, &x, &y, b, t);
        let logits_0 = logits(&without, &mut ws, &params, &x, b, t);
        assert_eq!(eval_p.to_bits(), eval_0.to_bits(), "loss() must not drop");
        assert!(logits_p.iter().zip(&logits_0).all(|(a, c)| a.to_bits() == c.to_bits()), "forward() must not drop");

        let mut g0 = vec![0.0f32; n];
        let train_0 = without.loss_and_grad(&mut ws, &params, &mut g0, &x, &y, b, t);
        assert!((train_0 - eval_0).abs() < 1e-6, "p = 0: training loss {train_0} vs evaluation loss {eval_0}");

        // same seed: same loss and gradient; gradients add into `grads`
        ws.seed = 42;
        let (l1, once) = assert_accumulates_and_repeats("dropout 0.3, seed 42", &with, &mut ws, &params, (&x, &y, b, t), |_| {});
        assert!((l1 - eval_p).abs() > 1e-4, "dropout must change the training loss ({l1} vs {eval_p})");
        let mut other = vec![0.0f32; n];
        ws.seed = 43;
        let l3 = with.loss_and_grad(&mut ws, &params, &mut other, &x, &y, b, t);
        assert!((l3 - l1).abs() > 1e-6, "another seed, other masks ({l3} vs {l1})");
        // a different thread count gives the same bits (resume stays exact)
        let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let mut single = vec![0.0f32; n];
        let mut ws1 = Workspace::new();
        ws1.seed = 42;
        let l4 = one_thread.install(|| with.loss_and_grad(&mut ws1, &params, &mut single, &x, &y, b, t));
        assert_eq!(l4.to_bits(), l1.to_bits());
        assert!(single.iter().zip(&once).all(|(p, q)| p.to_bits() == q.to_bits()), "gradient depends on the thread count");
    });
}

#[test]
fn nova_init_follows_spec() {
    let model = full_size();
    let p = model.init_params(3);
    for t in &model.layout.tensors {
        let s = &p[t.range()];
        if t.shape.len() == 1 {
            let want = if t.name.ends_with(".weight") { 1.0 } else { 0.0 };
            assert!(s.iter().all(|&x| x == want), "{}", t.name);
        } else {
            let var = s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / s.len() as f64;
            assert!((var.sqrt() - 0.02).abs() < 0.001, "{}: std {}", t.name, var.sqrt());
        }
    }
}

/// A 128-token window with products large enough for the parallel matmul path:
/// loss ≈ ln V at the spec init, finite gradients, bit-identical results on 1
/// and 2 threads (resume stays exact), and the decoder matches over the window.
#[test]
fn nova_training_window_shapes() {
    let model = Nova::new(NovaConfig { vocab: 256, d_model: 64, n_layers: 2, n_heads: 4, d_ff: 128, dropout: 0.1 });
    let (b, t, v) = (2, 128, model.cfg.vocab);
    let params = model.init_params(9);
    let mut rng = Rng::new(10);
    let (x, y) = (random_tokens(&mut rng, b * t, v), random_tokens(&mut rng, b * t, v));
    let n = model.num_params();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut ws = Workspace::new();
        ws.seed = 77;
        let mut g = vec![0.0f32; n];
        let l = pool.install(|| model.loss_and_grad(&mut ws, &params, &mut g, &x, &y, b, t));
        (l, g)
    };
    let (l2, g2) = run(2);
    let (l1, g1) = run(1);
    assert!((l2 - (v as f64).ln()).abs() < 0.05, "initial loss {l2} vs ln V");
    assert!(g2.iter().all(|g| g.is_finite()) && g2.iter().any(|&g| g != 0.0));
    assert_eq!(l1.to_bits(), l2.to_bits());
    assert!(g1.iter().zip(&g2).all(|(p, q)| p.to_bits() == q.to_bits()), "gradient depends on the thread count");
    let mut ws = Workspace::new();
    let full = pool().install(|| logits(&model, &mut ws, &params, &x[..t], 1, t));
    let worst = decoder_worst(model.decoder(&params).as_mut(), &x[..t], &full, v);
    assert!(worst <= 1e-4, "decoder vs forward over a 128-token window: {worst}");
}
