//! The two-lane gradient accumulation (train/lanes.rs) against the one-lane
//! loop: same micro-batches in the same order, the step's loss bit for bit,
//! gradients within float rounding of the one-lane sum, and the same bits at one
//! thread and at two.

use super::common::random_window;
use super::nova::{test_params, tiny};
use flashlm_tui::model::{Model, Nova, NovaConfig, Workspace};
use flashlm_tui::train::lanes::{accumulate, LaneA, Lanes, MAX_LANE_TOKENS};
use std::sync::Arc;

/// One step of `accum` micro-batches on `threads` threads, with or without a
/// second lane: (loss, gradients, order in which micro-batches were drawn).
/// The step runs twice on the same buffers and must repeat itself bit for bit
/// (nothing of the first step's gradients may linger in either lane).
fn step(model: &Model, params: &[f32], accum: usize, (b, t): (usize, usize), threads: usize, two: bool) -> (f64, Vec<f32>, Vec<usize>) {
    let n = model.num_params();
    let v = model.vocab();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut lanes = if two { Lanes::for_run(n, accum, b, t, threads).unwrap() } else { None };
        assert_eq!(lanes.is_some(), two, "accum {accum}, {b} × {t} must get a second lane");
        let (mut ws, mut x, mut y) = (Workspace::new(), vec![0u32; b * t], vec![0u32; b * t]);
        // garbage from an earlier step must not leak into this one
        let mut grads = vec![7.0f32; n];
        let mut runs = Vec::new();
        for _ in 0..2 {
            let mut drawn = Vec::new();
            let loss = accumulate(
                model,
                params,
                LaneA { ws: &mut ws, grads: &mut grads, x: &mut x, y: &mut y },
                lanes.as_mut(),
                accum,
                (b, t),
                &mut |i, x, y| {
                    drawn.push(i);
                    random_window(i, x, y, v);
                },
                &|i| 1000 + i as u64,
            );
            runs.push((loss, grads.clone(), drawn));
        }
        let second = runs.pop().unwrap();
        let first = runs.pop().unwrap();
        assert_eq!(first.0.to_bits(), second.0.to_bits(), "accum {accum}: the same step twice, another loss");
        assert!(
            first.1.iter().zip(&second.1).all(|(a, b)| a.to_bits() == b.to_bits()),
            "accum {accum}: the same step twice, other gradients"
        );
        first
    })
}

#[test]
fn two_lanes_match_one_lane_and_do_not_depend_on_the_thread_count() {
    // dropout 0.3: each micro-batch's mask comes from its own seed on either lane
    let nova = tiny(0.3);
    let params = test_params(&nova, 5);
    let model: Model = Arc::new(nova);
    let bt = (2, 8);
    for accum in [2, 3, 4, 5] {
        let (l1, g1, d1) = step(&model, &params, accum, bt, 2, false);
        let (l2, g2, d2) = step(&model, &params, accum, bt, 2, true);
        let (l2s, g2s, d2s) = step(&model, &params, accum, bt, 1, true);
        let order: Vec<usize> = (0..accum).collect();
        assert_eq!((d1, &d2, &d2s), (order.clone(), &order, &order), "accum {accum}: micro-batches drawn once each, in order");
        assert!(l1.is_finite() && l1 > 0.0);
        assert_eq!(l2.to_bits(), l1.to_bits(), "accum {accum}: the loss sums in micro-batch order on both paths");
        assert_eq!(l2s.to_bits(), l2.to_bits(), "accum {accum}: one thread, same loss bits");
        assert!(g2.iter().zip(&g2s).all(|(a, b)| a.to_bits() == b.to_bits()), "accum {accum}: one thread, same gradient bits");
        let scale = g1.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        let worst = g1.iter().zip(&g2).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(scale > 1e-3, "accum {accum}: gradients are not all zero");
        assert!(worst <= 1e-5 * scale, "accum {accum}: two lanes differ from one by {worst} (largest gradient {scale})");
    }
    // a model whose GEMMs are big enough to be split across threads: 1, 2, 3
    // (lanes of 2 and 1) and 4 threads give the same bits
    let wide = Nova::new(NovaConfig { vocab: 97, d_model: 64, n_layers: 1, n_heads: 4, d_ff: 256, dropout: 0.1 });
    let wide_params = test_params(&wide, 6);
    let wide: Model = Arc::new(wide);
    let (l1, g1, _) = step(&wide, &wide_params, 2, (4, 64), 1, true);
    for threads in [2, 3, 4] {
        let (l, g, _) = step(&wide, &wide_params, 2, (4, 64), threads, true);
        assert_eq!(l.to_bits(), l1.to_bits(), "{threads} threads: another loss");
        assert!(g.iter().zip(&g1).all(|(a, b)| a.to_bits() == b.to_bits()), "{threads} threads: other gradient bits");
    }
    // lane B's share is not lost: one micro-batch alone gives another gradient
    let (_, g1, _) = step(&model, &params, 1, bt, 2, false);
    let (_, g2, _) = step(&model, &params, 2, bt, 2, true);
    let diff = g1.iter().zip(&g2).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff > 1e-3, "two micro-batches' mean must differ from the first's gradient ({diff})");
}

#[test]
fn one_lane_where_there_is_nothing_to_pair_or_too_much_memory() {
    assert!(Lanes::for_run(10, 1, 4, 128, 2).unwrap().is_none(), "accum 1: nothing to pair");
    assert!(Lanes::for_run(10, 2, 4, 128, 2).unwrap().is_some(), "v6's 2 × (4 × 128)");
    assert!(Lanes::for_run(10, 8, 4, 128, 1).unwrap().is_some(), "one thread still pairs (same bits as two)");
    assert!(Lanes::for_run(10, 2, 16, 256, 2).unwrap().is_none(), "16 × 256 > {MAX_LANE_TOKENS} tokens: one lane");
    assert!(Lanes::for_run(10, 2, 64, 256, 2).unwrap().is_none(), "v5's 64 × 256 would double 6 GB of activations");
}
