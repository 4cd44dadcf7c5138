//! `--precision`: bf16 rounding, the bf16 decoder (v7.1/v7.2) against a forward
//! pass over the bf16-rounded weights, and the plain refusal of bf16 training
//! on a CPU without AVX512-BF16.

use super::common::{pool, tiny_cortex};
use flashlm_tui::kernels::vec::{dot_bf16, from_bf16, to_bf16};
use flashlm_tui::model::{LanguageModel, Workspace};
use flashlm_tui::precision::{check_training, cpu_has_avx512_bf16, Precision};
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

/// The bf16 decoder computes the model whose weights are the bf16-rounded ones:
/// its logits equal a forward pass over rounded parameters at every position.
fn bf16_decoder_is_the_rounded_model(memory: bool) {
    let model = tiny_cortex(memory);
    let params = model.init_params(3);
    let rounded: Vec<f32> = params.iter().map(|&x| from_bf16(to_bf16(x))).collect();
    let t = 12;
    let mut rng = Rng::new(4);
    let x: Vec<u32> = (0..t).map(|_| rng.below(model.vocab()) as u32).collect();
    let v = model.vocab();
    let mut ws = Workspace::new();
    pool().install(|| model.forward(&mut ws, &rounded, &x, 1, t));
    let want = ws.logits[..t * v].to_vec();
    pool().install(|| model.forward(&mut ws, &params, &x, 1, t));
    let fp32 = ws.logits[..t * v].to_vec();
    let mut dec = model.decoder_bf16(&params).expect("v7.x decodes in bf16");
    let (mut worst, mut moved) = (0.0f32, 0.0f32);
    for (i, &tok) in x.iter().enumerate() {
        dec.step(tok);
        for j in 0..v {
            worst = worst.max((dec.logits()[j] - want[i * v + j]).abs());
            moved = moved.max((dec.logits()[j] - fp32[i * v + j]).abs());
        }
    }
    assert!(worst <= 1e-5, "bf16 decoder vs forward on rounded weights: {worst}");
    // and it is not secretly the fp32 model
    assert!(moved > 1e-5, "bf16 logits equal the fp32 ones ({moved}): weights were not rounded");
}

#[test]
fn bf16_decoder_v7_1() {
    bf16_decoder_is_the_rounded_model(false);
}

#[test]
fn bf16_decoder_v7_2() {
    bf16_decoder_is_the_rounded_model(true);
}

#[test]
fn bf16_training_is_refused_with_the_reason() {
    assert!(check_training(Precision::Fp32).is_ok());
    let e = check_training(Precision::Bf16).unwrap_err().to_string();
    if cpu_has_avx512_bf16() {
        assert!(e.contains("not implemented"), "{e}");
    } else {
        assert!(e.contains("does not have") && e.contains("--precision fp32"), "{e}");
    }
}

#[test]
fn precision_flags_from_the_command_line() {
    use super::cli::{bin, run};
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("runs");
    if !cpu_has_avx512_bf16() {
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
    let ((ok32, out32, e32), (ok16, out16, e16)) = (sample("fp32"), sample("bf16"));
    assert!(ok32 && ok16, "{e32}\n{e16}");
    assert!(out32.starts_with("Once upon a time") && out16.starts_with("Once upon a time"), "{out32}\n{out16}");
    let (ok, _, err) = run(bin().args(["sample", "--precision", "half"]));
    assert!(!ok && err.contains("possible values: fp32, bf16"), "{err}");
}
