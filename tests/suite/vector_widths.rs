//! The element-wise loops are compiled for AVX-512, AVX2 and the build's
//! baseline and chosen at run time (`kernels::dispatch`). Every copy must give
//! the same bits: each version of the lineup, at widths with full vectors and
//! tails, computes a training loss, every gradient and a few decode steps once
//! per level this CPU has (`FLASHLM_SIMD` caps it; the level is fixed per
//! process, so each level runs in a child process of this test binary).

use crate::lineup::{shrink_to, LINEUP};
use flashlm_tui::kernels::dispatch::{detected, Level};
use flashlm_tui::model::Workspace;
use flashlm_tui::preset::resolve;
use flashlm_tui::rng::Rng;
use std::io::Write;
use std::process::Command;

const CHILD_OUT: &str = "FLASHLM_WIDTHS_CHILD_OUT";

/// Every float the lineup computes, as bytes, with a label per part.
fn lineup_bits() -> Vec<u8> {
    let mut out = Vec::new();
    for name in LINEUP {
        let (full, _) = resolve(name, None).unwrap();
        // 40 = two AVX-512 vectors and a tail of 8; 56 = three AVX2 vectors and 0 tail
        let p = shrink_to(full, 40, 56, 24);
        let model = p.build_model();
        let params = model.init_params(7);
        let (b, t) = (2, 32);
        let mut rng = Rng::new(3);
        let tokens: Vec<u32> = (0..b * (t + 1)).map(|_| (rng.next_u64() % 512) as u32).collect();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for r in 0..b {
            x.extend_from_slice(&tokens[r * (t + 1)..r * (t + 1) + t]);
            y.extend_from_slice(&tokens[r * (t + 1) + 1..(r + 1) * (t + 1)]);
        }
        let mut grads = vec![0.0f32; params.len()];
        let loss = model.loss_and_grad(&mut Workspace::new(), &params, &mut grads, &x, &y, b, t);
        writeln!(out, "{name} loss {:016x}", loss.to_bits()).unwrap();
        out.extend(grads.iter().flat_map(|g| g.to_bits().to_le_bytes()));
        let mut dec = model.decoder(&params);
        for &tok in &x[..6] {
            dec.step(tok);
            out.extend(dec.logits().iter().flat_map(|v| v.to_bits().to_le_bytes()));
        }
    }
    out
}

/// The child: writes [`lineup_bits`] where the parent asked, else does nothing.
#[test]
fn lineup_bits_child() {
    if let Ok(path) = std::env::var(CHILD_OUT) {
        std::fs::write(path, lineup_bits()).unwrap();
    }
}

#[test]
fn every_vector_width_gives_the_same_bits() {
    let levels: Vec<&str> = [("baseline", Level::Baseline), ("avx2", Level::Avx2), ("avx512", Level::Avx512)]
        .into_iter()
        .filter(|(_, l)| *l <= detected())
        .map(|(n, _)| n)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for level in &levels {
        let path = dir.path().join(level);
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["vector_widths::lineup_bits_child", "--exact", "--test-threads", "1"])
            .env("FLASHLM_SIMD", level)
            .env(CHILD_OUT, &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{level}: {}", String::from_utf8_lossy(&out.stdout));
        results.push((level, std::fs::read(&path).unwrap_or_else(|e| panic!("{level}: no output: {e}"))));
    }
    eprintln!("levels compared: {levels:?}");
    let (first, want) = &results[0];
    assert!(want.len() > 100_000, "the child computed the lineup");
    for (level, got) in &results[1..] {
        if got != want {
            let at = got.iter().zip(want.iter()).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            let label = String::from_utf8_lossy(&want[..at]).rsplit('\n').nth(1).unwrap_or("").chars().take(60).collect::<String>();
            panic!("{level} differs from {first} at byte {at} (after {label:?})");
        }
    }
}
