//! Incremental generation (conv ring buffers, running Hebbian state) equals the
//! full parallel forward pass, also past the training window.

use super::common::{pool, tiny_cortex};
use flashlm_tui::generate::{sample_token, SampleParams};
use flashlm_tui::model::versions::v7_1_v7_2_cortex::Decoder;
use flashlm_tui::model::{LanguageModel, Workspace};
use flashlm_tui::rng::Rng;

fn check(memory: bool, len: usize) {
    let model = tiny_cortex(memory);
    let params = model.init_params(11);
    let v = model.cfg.vocab;
    let mut rng = Rng::new(5);
    let tokens: Vec<u32> = (0..len).map(|_| rng.below(v) as u32).collect();
    let mut ws = Workspace::new();
    pool().install(|| model.forward(&mut ws, &params, &tokens, 1, len));
    let mut dec = Decoder::new(&model, &params);
    let mut worst = 0.0f32;
    for (i, &t) in tokens.iter().enumerate() {
        dec.step(t);
        let full = &ws.logits[i * v..(i + 1) * v];
        for (a, b) in dec.logits.iter().zip(full) {
            worst = worst.max(if (a - b).is_nan() { f32::INFINITY } else { (a - b).abs() });
        }
    }
    assert!(worst < 2e-5, "memory={memory} len={len}: incremental logits differ from the full forward by {worst}");
}

#[test]
fn incremental_equals_full_forward_conv_only() {
    check(false, 12);
}

#[test]
fn incremental_equals_full_forward_with_memory() {
    check(true, 12);
}

/// Past the training window (seq_len 12) the read scale stays the training constant (D2),
/// so a 40-token full forward and the recurrence still agree.
#[test]
fn incremental_equals_full_forward_past_training_window() {
    check(true, 40);
}

#[test]
fn sampling_rules() {
    let mut rng = Rng::new(1);
    let banned = vec![false; 5];
    // greedy at temperature 0
    let p = SampleParams { temperature: 0.0, ..SampleParams::default() };
    let mut l = vec![0.1, 2.0, 0.3, -1.0, 1.9];
    assert_eq!(sample_token(&mut l, &[], &banned, &p, &mut rng), 1);
    // CTRL repetition penalty on raw logits (D13): positive logits divided, negative multiplied
    let p = SampleParams { temperature: 0.0, repetition_penalty: 2.0, ..SampleParams::default() };
    let mut l = vec![0.1, 2.0, 0.3, -1.0, 1.9];
    assert_eq!(sample_token(&mut l, &[1], &banned, &p, &mut rng), 4);
    assert_eq!(l[1], 1.0);
    let mut l = vec![0.1, 2.0, 0.3, -1.0, 1.9];
    sample_token(&mut l, &[3], &banned, &p, &mut rng);
    assert_eq!(l[3], -2.0);
    // top-k 1 always picks the best; banned ids never come out
    let p = SampleParams { temperature: 1.0, top_k: 1, ..SampleParams::default() };
    let mut ban = vec![false; 5];
    ban[1] = true;
    for _ in 0..50 {
        let mut l = vec![0.1, 2.0, 0.3, -1.0, 1.9];
        assert_eq!(sample_token(&mut l, &[], &ban, &p, &mut rng), 4);
    }
    // top-p keeps the smallest prefix whose mass exceeds p
    let p = SampleParams { temperature: 1.0, top_k: 0, top_p: 0.5, ..SampleParams::default() };
    for _ in 0..50 {
        let mut l = vec![0.0, 5.0, 0.0, 0.0, 0.0];
        assert_eq!(sample_token(&mut l, &[], &banned, &p, &mut rng), 1);
    }
}
