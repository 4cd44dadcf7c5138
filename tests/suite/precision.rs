//! `--precision`: bf16 rounding, the bf16 decoder (v7.1/v7.2) against a forward
//! pass over the bf16-rounded weights, bf16 training where the CPU has
//! AVX512-BF16 (close to fp32, not equal to it), and its plain refusal where not.

use super::common::{pool, tiny_cortex};
use flashlm_tui::kernels::vec::{dot_bf16, from_bf16, to_bf16};
use flashlm_tui::model::{LanguageModel, Workspace};
use flashlm_tui::precision::{check_training, Precision};
use flashlm_tui::rng::Rng;

#[test]
fn bf16_rounds_to_nearest_even() {
    assert_eq!(to_bf16(1.0), 0x3f80);
    assert_eq!(from_bf16(0x3f80), 1.0);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0)
    assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6
    assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 1.0 / 64.0);
    // just above halfway rounds up
    assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0 + 1e-6)), 1.0 + 1.0 / 128.0);
    assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
    assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
    // a rounding moves x by at most half a bf16 ulp: 2^(e−8) ≤ |x|/256
    let mut rng = Rng::new(5);
    for _ in 0..10_000 {
        let x = rng.normal() * 10.0;
        let r = from_bf16(to_bf16(x));
        assert!((r - x).abs() <= x.abs() / 256.0, "{x} → {r}");
    }
}

#[test]
fn bf16_dot_equals_f32_dot_of_rounded_values() {
    let mut rng = Rng::new(9);
    for n in [1usize, 15, 16, 17, 256, 1000] {
        let w: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let x: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let h: Vec<u16> = w.iter().map(|&v| to_bf16(v)).collect();
        let exact: f64 = h.iter().zip(&x).map(|(&a, &b)| from_bf16(a) as f64 * b as f64).sum();
        let got = dot_bf16(&h, &x) as f64;
        assert!((got - exact).abs() <= 1e-5 * (1.0 + exact.abs()) * (n as f64).sqrt(), "n={n}: {got} vs {exact}");
    }
}

/// The bf16 / int8 decoder computes the model whose weights are the rounded
/// ones: its logits equal a forward pass over rounded parameters at every position.
fn lowp_decoder_is_the_rounded_model(memory: bool, p: Precision) {
    let model = tiny_cortex(memory);
    let params = model.init_params(3);
    let rounded: Vec<f32> = match p {
        Precision::Bf16 => params.iter().map(|&x| from_bf16(to_bf16(x))).collect(),
        _ => int8_reference(&params),
    };
    let t = 12;
    let mut rng = Rng::new(4);
    let x: Vec<u32> = (0..t).map(|_| rng.below(model.vocab()) as u32).collect();
    let v = model.vocab();
    let mut ws = Workspace::new();
    pool().install(|| model.forward(&mut ws, &rounded, &x, 1, t));
    let want = ws.logits[..t * v].to_vec();
    pool().install(|| model.forward(&mut ws, &params, &x, 1, t));
    let fp32 = ws.logits[..t * v].to_vec();
    let mut dec = model.decoder_lowp(&params, p).expect("v7.x decodes in bf16 and int8");
    let (mut worst, mut moved) = (0.0f32, 0.0f32);
    for (i, &tok) in x.iter().enumerate() {
        dec.step(tok);
        for j in 0..v {
            worst = worst.max((dec.logits()[j] - want[i * v + j]).abs());
            moved = moved.max((dec.logits()[j] - fp32[i * v + j]).abs());
        }
    }
    assert!(worst <= 1e-5, "{p:?} decoder vs forward on rounded weights: {worst}");
    // and it is not secretly the fp32 model
    assert!(moved > 1e-5, "{p:?} logits equal the fp32 ones ({moved}): weights were not rounded");
}

/// Blocks of 32 along the flat buffer, scale max|w|/127, codes rounded: written
/// out here independently of WeightStore::int8.
fn int8_reference(params: &[f32]) -> Vec<f32> {
    params
        .chunks(32)
        .flat_map(|b| {
            let s = b.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
            b.iter().map(move |&w| if s > 0.0 { (w / s).round() * s } else { 0.0 })
        })
        .collect()
}

#[test]
fn lowp_decoders_v7_1() {
    lowp_decoder_is_the_rounded_model(false, Precision::Bf16);
    lowp_decoder_is_the_rounded_model(false, Precision::Int8);
}

#[test]
fn lowp_decoders_v7_2() {
    lowp_decoder_is_the_rounded_model(true, Precision::Bf16);
    lowp_decoder_is_the_rounded_model(true, Precision::Int8);
}

#[test]
fn bf16_training_runs_or_is_refused_with_the_reason() {
    assert!(check_training(Precision::Fp32).is_ok());
    if flashlm_tui::kernels::matmul::bf16_supported() {
        assert!(check_training(Precision::Bf16).is_ok());
    } else {
        let e = check_training(Precision::Bf16).unwrap_err().to_string();
        assert!(e.contains("AVX512-BF16") && e.contains("--precision fp32"), "{e}");
    }
}

/// The trainer with bf16 products: 30 steps of the tiny preset follow the fp32
/// run's losses closely at the same seed, but not bit for bit (the products
/// really were rounded), and the run learns.
#[test]
fn bf16_training_follows_fp32() {
    use super::common::{collect, errors, run_config, step_losses, tiny_preset};
    if !flashlm_tui::kernels::matmul::bf16_supported() {
        eprintln!("SKIPPED bf16_training_follows_fp32: this CPU has no AVX512-BF16");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let run = |p: Precision| {
        let mut cfg = run_config(tiny_preset(&[("budget: Steps(60)", "budget: Steps(30)")]), root.path());
        cfg.precision = p;
        let ev = collect(flashlm_tui::train::start(cfg));
        assert!(errors(&ev).is_empty(), "{p:?}: {:?}", errors(&ev));
        step_losses(&ev)
    };
    let (fp32, bf16) = (run(Precision::Fp32), run(Precision::Bf16));
    assert_eq!(fp32.len(), bf16.len());
    assert!(fp32.iter().zip(&bf16).any(|(a, b)| a.1 != b.1), "bf16 losses equal fp32's: the products were not bf16");
    let worst = fp32.iter().zip(&bf16).map(|(a, b)| (a.1 - b.1).abs()).fold(0.0, f64::max);
    eprintln!("bf16 vs fp32: largest step-loss difference {worst:.4} nats over {} steps", fp32.len());
    for (a, b) in fp32.iter().zip(&bf16) {
        assert!((a.1 - b.1).abs() < 0.01, "step {}: fp32 {} vs bf16 {}", a.0, a.1, b.1);
    }
    assert!(bf16.last().unwrap().1 < bf16[0].1 - 0.3, "bf16 run learns: {bf16:?}");
}

#[test]
fn precision_flags_from_the_command_line() {
    use super::cli::{bin, run};
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("runs");
    if flashlm_tui::kernels::matmul::bf16_supported() {
        let (ok, out, err) = run(bin()
            .args(["train", "--preset", "tiny", "--headless", "--steps", "3", "--warmup", "1", "--precision", "bf16", "--out"])
            .arg(dir.path().join("bf16")));
        assert!(ok && out.contains("finished: 3 steps") && out.contains("products: bf16"), "{out}\n{err}");
        let (ok, out, err) =
            run(bin().args(["bench", "--preset", "tiny", "--steps", "3", "--threads", "2", "--no-gen", "--precision", "bf16"]));
        assert!(ok, "{err}");
        assert!(out.starts_with("train: ") && out.lines().next().unwrap().ends_with("tok/s (bf16, 2 threads)"), "{out}");
        assert!(out.contains("bf16 GEMM peak") && out.contains("fp32 sgemm peak"), "{out}");
    } else {
        for cmd in [&["train", "--preset", "tiny", "--headless", "--steps", "2"][..], &["bench", "--preset", "tiny", "--steps", "3"][..]] {
            let (ok, out, err) = run(bin().args(cmd).args(["--precision", "bf16"]));
            assert!(!ok && out.is_empty(), "{cmd:?} should stop before any work: {out}");
            assert!(err.contains("AVX512-BF16") && err.contains("--precision fp32") && !err.contains("panicked"), "{err}");
        }
    }
    let (ok, out, err) =
        run(bin().args(["train", "--preset", "tiny", "--headless", "--steps", "3", "--warmup", "1", "--out"]).arg(&out_dir));
    assert!(ok, "{out}\n{err}");
    let last = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path().join("last");
    let sample =
        |p: &str| run(bin().arg("sample").arg("--checkpoint").arg(&last).args(["--tokens", "12", "--temperature", "0", "--precision", p]));
    for p in ["fp32", "bf16", "int8"] {
        let (ok, out, err) = sample(p);
        assert!(ok && out.starts_with("Once upon a time"), "{p}: {out}\n{err}");
    }
    let (ok, _, err) = run(bin().args(["sample", "--precision", "half"]));
    assert!(!ok && err.contains("possible values: auto, fp32, bf16, int8"), "{err}");
    // eval through the decoders reports both losses and their difference
    let valid = dir.path().join("valid.txt");
    std::fs::write(&valid, flashlm_tui::data::stories::stories(99, 20).join("\n<|endoftext|>\n")).unwrap();
    let (ok, out, err) =
        run(bin().arg("eval").arg("--checkpoint").arg(&last).arg("--data").arg(&valid).args(["--precision", "int8", "--max-windows", "4"]));
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with("decoder, int8 weights")).expect(&out);
    assert!(line.contains("Δ loss vs fp32"), "{line}");
    // teacher-forced decoding scores what the forward pass scores (fp32, same windows)
    let loss = |prefix: &str| -> f64 {
        let l = out.lines().find(|l| l.starts_with(prefix)).expect(&out);
        l.split("loss ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!((loss("model (") - loss("decoder, fp32")).abs() < 2e-4, "{out}");
}

/// Decoders of the ternary models (v4, v5) keep Q(W) as bytes + row scales:
/// packing succeeds for every BitLinear scale rule and the product equals the
/// f32 one; anything not ternary stays f32.
#[test]
fn ternary_packing_is_exact_for_every_bitlinear_variant() {
    use flashlm_tui::kernels::vec::{matvec, matvec_mat, OwnedMat, TernaryMat};
    use flashlm_tui::model::blocks::bitlinear::{quantize, BitVariant};
    let (out, inp) = (37, 70);
    let mut rng = Rng::new(11);
    let w: Vec<f32> = (0..out * inp).map(|_| rng.normal() * 0.05).collect();
    let x: Vec<f32> = (0..inp).map(|_| rng.normal()).collect();
    for v in [BitVariant::A, BitVariant::B, BitVariant::C] {
        let mut q = vec![0.0f32; out * inp];
        pool().install(|| quantize(&mut q, &w, out, inp, v));
        let t = TernaryMat::pack(&q, inp).unwrap_or_else(|| panic!("{v:?}: Q(W) did not pack"));
        let (mut y32, mut y8) = (vec![0.0f32; out], vec![0.0f32; out]);
        matvec(&mut y32, &q, &x, false);
        matvec_mat(&mut y8, t.mat(), &x, false);
        for (a, b) in y32.iter().zip(&y8) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{v:?}: {a} vs {b}");
        }
    }
    assert!(TernaryMat::pack(&w, inp).is_none(), "raw weights are not ternary");
    assert!(matches!(OwnedMat::new(w.clone(), inp), OwnedMat::F32(_)));
}

/// The v6 decoder's store: slices of the quantised buffer that are a packed
/// matrix (or a block of its rows) multiply as ternary, with the f32 result;
/// anything else stays f32.
#[test]
fn packed_store_finds_matrices_and_row_blocks() {
    use flashlm_tui::kernels::vec::{matvec, matvec_mat, Mat, PackedStore};
    use flashlm_tui::model::blocks::bitlinear::{quantize, BitVariant};
    let (out, inp) = (12, 32);
    let mut rng = Rng::new(3);
    let w: Vec<f32> = (0..out * inp).map(|_| rng.normal()).collect();
    let mut base = vec![0.5f32; 7 + out * inp + 5];
    pool().install(|| quantize(&mut base[7..7 + out * inp], &w, out, inp, BitVariant::C));
    let store = PackedStore::new(&base, [(7..7 + out * inp, inp)]);
    let x: Vec<f32> = (0..inp).map(|_| rng.normal()).collect();
    for rows in [0..out, 3..8, 11..12] {
        let slice = &base[7 + rows.start * inp..7 + rows.end * inp];
        let m = store.mat(&base, slice);
        assert!(matches!(m, Mat::Ternary { .. }), "rows {rows:?} were not packed");
        let (mut a, mut b) = (vec![0.0f32; rows.len()], vec![0.0f32; rows.len()]);
        matvec(&mut a, slice, &x, false);
        matvec_mat(&mut b, m, &x, false);
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 1e-5 * (1.0 + p.abs()), "{p} vs {q}");
        }
    }
    // not on a row boundary, outside the matrix, another buffer: f32
    assert!(matches!(store.mat(&base, &base[8..8 + inp]), Mat::F32(_)));
    assert!(matches!(store.mat(&base, &base[..7]), Mat::F32(_)));
    let other = base.clone();
    assert!(matches!(store.mat(&base, &other[7..7 + inp]), Mat::F32(_)));
}

/// bf16 runs resume bit for bit (the products keep their order), the checkpoint
/// records the precision, and resuming in another precision says so.
#[test]
fn bf16_resume_is_bit_identical_and_a_change_of_precision_is_logged() {
    use super::common::{collect, errors, run_config, run_dir, step_losses, tiny_preset};
    use flashlm_tui::engine::{Event, Level, LogKind};
    use flashlm_tui::preset::Budget;
    if !flashlm_tui::kernels::matmul::bf16_supported() {
        eprintln!("SKIPPED bf16_resume_is_bit_identical_and_a_change_of_precision_is_logged: this CPU has no AVX512-BF16");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let cfg = |steps: u64, resume: Option<std::path::PathBuf>, p: Precision| {
        let mut c = run_config(tiny_preset(&[("min_lr: 1e-4", "min_lr: 3e-3")]), root.path());
        c.budget = Some(Budget::Steps(steps));
        c.resume = resume;
        c.precision = p;
        c
    };
    let a = collect(flashlm_tui::train::start(cfg(24, None, Precision::Bf16)));
    let b1 = collect(flashlm_tui::train::start(cfg(12, None, Precision::Bf16)));
    let last = run_dir(&b1).join("last");
    let state = std::fs::read_to_string(last.join("state.json")).unwrap();
    assert!(state.contains("\"precision\": \"Bf16\""), "{state}");
    let b2 = collect(flashlm_tui::train::start(cfg(24, Some(last.clone()), Precision::Bf16)));
    assert!(errors(&b2).is_empty(), "{:?}", errors(&b2));
    assert!(!b2.iter().any(|e| matches!(e, Event::Log { kind: LogKind::PrecisionChanged { .. }, .. })));
    let lb: Vec<_> = step_losses(&b1).into_iter().chain(step_losses(&b2)).collect();
    assert_eq!(step_losses(&a), lb, "bf16 losses must be bit-identical across a resume");
    // (the resume continued in the same folder: last/ is at step 24 now)
    let c = collect(flashlm_tui::train::start(cfg(26, Some(last), Precision::Fp32)));
    assert!(errors(&c).is_empty(), "{:?}", errors(&c));
    let changed = LogKind::PrecisionChanged { was: Precision::Bf16, now: Precision::Fp32, step: 24 };
    assert!(c.iter().any(|e| matches!(e, Event::Log { level: Level::Warn, kind, .. } if *kind == changed)), "{c:?}");
}

/// `train --headless` with the default `--precision auto`, against a
/// pre-written gemm-peaks.json (so this CPU's real peaks don't matter): it
/// says what auto became, and the run records that, never "auto"; a resumed
/// run keeps it. Where this CPU has AVX512-BF16, peaks that favour bf16 by
/// far make auto train in bf16.
#[test]
fn precision_auto_is_resolved_said_and_recorded() {
    use super::cli::{bin, run};
    use flashlm_tui::precision::Precision;
    let has_bf16 = flashlm_tui::kernels::matmul::bf16_supported();
    let mut cases = vec![(200.0, 100.0, Precision::Fp32)];
    if has_bf16 {
        cases.push((100.0, 250.0, Precision::Bf16));
    } else {
        eprintln!("precision_auto_is_resolved_said_and_recorded: no AVX512-BF16 here, the bf16 case is not run");
    }
    for (fp32, bf16, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        super::common::write_peaks(&cache, 2, fp32, bf16);
        let out_dir = dir.path().join("runs");
        let train = |extra: &[&str]| {
            let mut c = bin();
            c.env("FLASHLM_CACHE", &cache).args(["train", "--preset", "tiny", "--headless", "--threads", "1", "--warmup", "1", "--out"]);
            run(c.arg(&out_dir).args(extra))
        };
        let (ok, out, err) = train(&["--steps", "2"]);
        assert!(ok, "{out}\n{err}");
        let line = out.lines().find(|l| l.starts_with("precision auto → ")).unwrap_or_else(|| panic!("no auto line:\n{out}"));
        let expect = if has_bf16 {
            format!("precision auto → {} (bf16 GEMM {bf16:.0} GFLOP/s vs fp32 {fp32:.0} on this CPU)", want.label())
        } else {
            "precision auto → fp32 (this CPU has no AVX512-BF16)".to_string()
        };
        assert_eq!(line, expect);
        assert_eq!(out.contains("products: bf16"), want == Precision::Bf16, "{out}");
        let run_dir = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
        let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("last/state.json")).unwrap()).unwrap();
        let recorded: Precision = serde_json::from_value(state["precision"].clone()).unwrap();
        assert_eq!(recorded, want, "{state}");
        let listed = flashlm_tui::runs::read_run(&run_dir).unwrap().precision;
        assert_eq!(listed.as_deref(), Some(want.label()));
        for f in ["last/state.json", "last/meta.json", "metrics.jsonl"] {
            let text = std::fs::read_to_string(run_dir.join(f)).unwrap_or_default().to_lowercase();
            assert!(!text.contains("\"auto\""), "{f} records auto: {text}");
        }
        // resumed under auto: the run's own precision, whatever the peaks say now
        super::common::write_peaks(&cache, 2, bf16, fp32);
        let mut c = bin();
        c.env("FLASHLM_CACHE", &cache).args(["train", "--headless", "--threads", "1", "--steps", "3", "--resume"]);
        let (ok, out, err) = run(c.arg(run_dir.join("last")));
        assert!(ok, "{out}\n{err}");
        assert!(out.contains(&format!("precision auto → {} (what the resumed run trained with)", want.label())), "{out}");
        assert!(!err.contains("continues with"), "{err}");
    }
}
