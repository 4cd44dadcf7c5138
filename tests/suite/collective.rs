//! Sharing a step among ranks (train/collective.rs) without MPI: the split
//! rule, and that the ranks' shares, summed, are the one-process step.

use super::common::random_window;
use super::nova::{test_params, tiny};
use flashlm_tui::model::{Model, Workspace};
use flashlm_tui::train::collective::{threads_per_rank, Share};
use flashlm_tui::train::lanes::{accumulate_share, LaneA, Lanes};
use std::sync::Arc;

#[test]
fn micro_batches_split_in_contiguous_shares_the_remainder_to_low_ranks() {
    let shares = |accum, size| (0..size).map(|r| Share::of(accum, r, size).unwrap()).collect::<Vec<_>>();
    let s = shares(3, 2);
    assert_eq!((s[0].first, s[0].count, s[1].first, s[1].count), (0, 2, 2, 1));
    for (accum, size) in [(8, 3), (5, 5), (7, 2), (1, 1), (16, 4)] {
        let s = shares(accum, size);
        // every micro-batch once, in order; counts differ by at most one, larger first
        let mut next = 0;
        for sh in &s {
            assert_eq!((sh.first, sh.total), (next, accum));
            next += sh.count;
        }
        assert_eq!(next, accum);
        assert!(s.windows(2).all(|w| w[0].count >= w[1].count && w[0].count - w[1].count <= 1));
    }
    let err = Share::of(2, 0, 3).unwrap_err();
    assert!(err.contains("3 ranks but 2 micro-batches per step") && err.contains("--accum"), "{err}");
    assert_eq!(threads_per_rank(8, 2), 4);
    assert_eq!(threads_per_rank(2, 3), 1, "at least one");
    assert_eq!(threads_per_rank(6, 0), 6);
}

/// One rank's share (or the whole step): loss, FSP and gradients, with the lanes the share gets.
fn share_step(model: &Model, params: &[f32], share: Share, bt: (usize, usize)) -> (f64, Vec<f32>, Vec<usize>) {
    let (b, t) = bt;
    let (n, v) = (model.num_params(), model.vocab());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(|| {
        let mut lanes = Lanes::for_run(n, share.count, b, t, 2).unwrap();
        let (mut ws, mut x, mut y, mut grads) = (Workspace::new(), vec![0u32; b * t], vec![0u32; b * t], vec![3.0f32; n]);
        let mut drawn = Vec::new();
        let (loss, _) = accumulate_share(
            model,
            params,
            LaneA { ws: &mut ws, grads: &mut grads, x: &mut x, y: &mut y },
            lanes.as_mut(),
            share,
            bt,
            &mut |i, x, y| {
                drawn.push(i);
                random_window(i, x, y, v);
            },
            &|i| 1000 + i as u64,
        );
        (loss, grads, drawn)
    })
}

#[test]
fn the_ranks_shares_sum_to_the_one_process_step() {
    // dropout on: each micro-batch keeps its step-wide seed on whichever rank runs it
    let nova = tiny(0.3);
    let params = test_params(&nova, 5);
    let model: Model = Arc::new(nova);
    let bt = (2, 8);
    for (accum, size) in [(3, 2), (4, 2), (5, 3), (4, 4)] {
        let (whole_loss, whole, _) = share_step(&model, &params, Share::whole(accum), bt);
        let (mut loss, mut sum, mut order) = (0.0, vec![0.0f32; whole.len()], Vec::new());
        for r in 0..size {
            let (l, g, d) = share_step(&model, &params, Share::of(accum, r, size).unwrap(), bt);
            loss += l;
            sum.iter_mut().zip(&g).for_each(|(s, g)| *s += g);
            order.extend(d);
        }
        assert_eq!(order, (0..accum).collect::<Vec<_>>(), "accum {accum} on {size}: every micro-batch once");
        assert!((loss - whole_loss).abs() <= 1e-12 * whole_loss.abs(), "accum {accum} on {size}: loss {loss} vs {whole_loss}");
        let scale = whole.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        let worst = whole.iter().zip(&sum).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(scale > 1e-3);
        assert!(worst <= 1e-5 * scale, "accum {accum} on {size}: shares differ from the whole step by {worst} (largest {scale})");
    }
}
