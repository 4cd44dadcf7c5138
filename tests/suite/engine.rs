//! The engine protocol's one rendering of events as log lines.

use flashlm_tui::engine::{log_line, Event, Level, LogKind, RecallBucket, RecallReport, StepMetrics};

#[test]
fn events_render_as_the_log_lines_both_front_ends_show() {
    let step = StepMetrics {
        step: 10,
        loss: 2.0,
        fsp: None,
        lr: 1e-3,
        grad_norm: 0.5,
        tokens: 12_800,
        elapsed_secs: 3725.0,
        step_ms: 120.0,
        tok_per_sec: 1066.7,
        eta_secs: Some(59.9),
        horizon: Some(100),
        mean_tok_per_sec: 1000.0,
        ranks: None,
        allreduce_ms: None,
    };
    let (level, text) = log_line(&Event::Step(step)).unwrap();
    assert_eq!(level, Level::Info);
    assert_eq!(text, "step     10  loss 2.0000  ppl     7.39  lr 1.00e-3    1067 tok/s  tokens      12,800  elapsed 1h02m  eta 0m59s");

    let report = RecallReport {
        stories: 6,
        skipped_stories: 0,
        receptive_field: Some(7),
        buckets: vec![RecallBucket { lo: 8, hi: 32, n: 0, loss: 0.0, swapped_loss: 0.0 }],
    };
    let (_, text) = log_line(&Event::Recall { step: 20, report }).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["recall @20: recall probe on 6 built-in stories (receptive field 7 tokens):", "  distance   8–32 : no re-mentions"]);

    let warn = Event::warn(LogKind::SaveFailed, "could not save x");
    assert_eq!(log_line(&warn), Some((Level::Warn, "could not save x".to_string())));
    assert_eq!(log_line(&Event::Error("boom".into())), Some((Level::Error, "boom".to_string())));
    assert_eq!(log_line(&Event::Generated { id: 1, text: "x".into(), done: false }), None);
    assert_eq!(log_line(&Event::MemoryUpdated { step: 1 }), None);

    // the exit line names the final validation loss, then the best
    let fin = flashlm_tui::engine::Summary {
        run_dir: "checkpoints/r".into(),
        steps: 30,
        tokens: 3840,
        elapsed_secs: 61.0,
        mean_tok_per_sec: 70.0,
        train_secs: 54.9,
        best_val_loss: Some(3.25),
        final_val_loss: Some(3.5),
        final_val_ppl: Some(33.1),
        final_val_bpc: Some(1.2),
        fsp: None,
        stopped_early: true,
    };
    let (_, text) = log_line(&Event::Finished(fin)).unwrap();
    assert!(text.contains("; final val loss 3.5000 (best 3.2500) ppl 33.1000"), "{text}");
    assert_eq!(flashlm_tui::engine::mean_tok_per_sec(3840, 54.9), 3840.0 / 54.9);
    assert_eq!(flashlm_tui::engine::mean_tok_per_sec(0, 0.0), 0.0);
}
