//! Watching a run learn: when it evaluates and samples (exact steps, or the
//! clock), that neither changes the weights, `v`, no repeated evaluation,
//! budgets that fit short runs, and the dashboard's labels and keys for them.

use super::common::*;
use flashlm_tui::engine::{Command, EvalMetrics, Event, LogKind, RunState, Summary};
use flashlm_tui::preset::{Budget, Overrides};
use flashlm_tui::train::{checkpoint, start, Cadence};
use std::time::{Duration, Instant};

fn evals(ev: &[Event]) -> Vec<EvalMetrics> {
    ev.iter().filter_map(|e| if let Event::Eval(m) = e { Some(m.clone()) } else { None }).collect()
}

fn summary(ev: &[Event]) -> Summary {
    ev.iter().find_map(|e| if let Event::Finished(s) = e { Some(s.clone()) } else { None }).expect("a Finished event")
}

fn weights(ev: &[Event]) -> Vec<u8> {
    std::fs::read(run_dir(ev).join("last").join(checkpoint::WEIGHTS)).unwrap()
}

/// The weights after N steps are the same bytes whether the run evaluated
/// and sampled after every step, on the clock, or never.
#[test]
fn evaluation_and_sampling_never_change_the_weights() {
    let root = tempfile::tempdir().unwrap();
    let run = |eval_every: u64, sample_every: u64, cadence: Cadence| {
        let mut cfg = run_config(tiny_preset(&[]), root.path());
        cfg.budget = Some(Budget::Steps(14));
        cfg.overrides = Overrides { eval_every: Some(eval_every), sample_every: Some(sample_every), ..Default::default() };
        cfg.cadence = cadence;
        let ev = collect(start(cfg));
        assert!(errors(&ev).is_empty(), "{:?}", errors(&ev));
        ev
    };
    let every = run(1, 1, Cadence::Steps);
    let never = run(1_000_000, 1_000_000, Cadence::Steps);
    assert!(evals(&every).len() >= 13 && every.iter().filter(|e| matches!(e, Event::Sample { .. })).count() >= 13);
    assert_eq!(evals(&never).len(), 1, "only the final evaluation");
    assert_eq!(step_losses(&every), step_losses(&never), "losses bit-identical");
    assert_eq!(weights(&every), weights(&never), "weights bit-identical");
    // on the clock with an immediate first look (the cadence's own intervals)
    let mut cfg = run_config(tiny_preset(&[]), root.path());
    cfg.budget = Some(Budget::Steps(14));
    cfg.cadence = Cadence::Clock { first_view: Duration::ZERO };
    let clock = collect(start(cfg));
    assert!(evals(&clock).first().is_some_and(|e| e.quick && e.step == 1), "{:?}", evals(&clock));
    assert_eq!(weights(&clock), weights(&never), "weights bit-identical on the clock");
}

/// On the clock: nothing until the first look, then a quick evaluation (no
/// recall probe), a sample with the standard prompt and the heatmaps; the
/// preset's step intervals do not apply; Started says so.
#[test]
fn the_clock_brings_a_quick_first_look_then_keeps_its_distance() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = run_config(tiny_preset(&[("eval_windows: 8", "eval_windows: 32")]), root.path());
    cfg.budget = Some(Budget::Steps(100_000));
    cfg.cadence = Cadence::Clock { first_view: Duration::from_millis(1500) };
    let h = start(cfg);
    let cmd = h.commands.clone();
    let t0 = Instant::now();
    let mut ev = Vec::new();
    let mut first_step_at = None;
    while let Ok(e) = h.events.recv_timeout(Duration::from_secs(60)) {
        if matches!(e, Event::Step(_)) && first_step_at.is_none() {
            first_step_at = Some(t0.elapsed());
        }
        let looked = matches!(e, Event::Sample { .. });
        ev.push(e);
        if looked {
            cmd.send(Command::Stop { save: true }).unwrap();
        }
        if matches!(ev.last(), Some(Event::Finished(_))) {
            break;
        }
    }
    let cadence = ev.iter().find_map(|e| if let Event::Started { cadence, .. } = e { Some(cadence.clone()) } else { None }).unwrap();
    assert_eq!((cadence.eval_every, cadence.sample_every, cadence.first_view_secs), (None, None, Some(1.5)));
    let all = evals(&ev);
    assert!(all.len() == 2, "the first look and the final evaluation (the preset's eval_every does not apply): {all:?}");
    let (look, last) = (&all[0], &all[1]);
    assert!(look.quick && look.windows == 16 && !look.best, "{look:?}");
    assert!(look.elapsed_secs >= 1.5, "not before the first look's time: {look:?}");
    assert!(!last.quick && last.windows > look.windows && last.best, "the final one is full: {last:?}");
    let first_look = ev.iter().position(|e| matches!(e, Event::Eval(m) if m.quick)).unwrap();
    let recalls: Vec<usize> = ev.iter().enumerate().filter(|(_, e)| matches!(e, Event::Recall { .. })).map(|(i, _)| i).collect();
    assert!(recalls.iter().all(|&i| i > first_look + 1) && recalls.len() == 1, "no recall probe at the quick look");
    let sample = ev.iter().find_map(|e| if let Event::Sample { step, prompt, .. } = e { Some((*step, prompt.clone())) } else { None });
    assert_eq!(sample, Some((look.step, "Once upon a time".to_string())));
    assert!(ev.iter().any(|e| matches!(e, Event::MemoryUpdated { step } if *step == look.step)), "heatmaps at the first look");
    let metrics = std::fs::read_to_string(run_dir(&ev).join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"type\":\"quick_eval\""), "the quick look has its own line type");
    assert_eq!(metrics.matches("\"type\":\"eval\"").count(), 1);
}

/// `v` (EvaluateNow) evaluates, samples and refreshes the heatmaps between two
/// steps, even while paused; a step just evaluated is not evaluated again,
/// not by a second `v` nor by the final evaluation.
#[test]
fn evaluate_now_and_no_evaluation_twice_at_one_step() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = run_config(tiny_preset(&[]), root.path());
    cfg.budget = Some(Budget::Steps(100_000));
    cfg.cadence = Cadence::Clock { first_view: Duration::from_secs(3600) };
    let h = start(cfg);
    let cmd = h.commands.clone();
    let mut ev = Vec::new();
    let mut sent = false;
    while let Ok(e) = h.events.recv_timeout(Duration::from_secs(60)) {
        if matches!(&e, Event::Step(m) if m.step == 3) && !sent {
            sent = true;
            cmd.send(Command::Pause).unwrap();
            cmd.send(Command::EvaluateNow).unwrap();
            cmd.send(Command::EvaluateNow).unwrap();
        }
        let noted = matches!(&e, Event::Log { kind: LogKind::Note, text, .. } if text.contains("was just evaluated"));
        ev.push(e);
        if noted {
            cmd.send(Command::Stop { save: true }).unwrap();
        }
        if matches!(ev.last(), Some(Event::Finished(_))) {
            break;
        }
    }
    let all = evals(&ev);
    assert_eq!(all.len(), 1, "one evaluation: v's; the second v and the final one are skipped: {all:?}");
    let at = all[0].step;
    assert!(!all[0].quick);
    let notes =
        ev.iter().filter(|e| matches!(e, Event::Log { text, .. } if text.contains(&format!("step {at} was just evaluated")))).count();
    assert_eq!(notes, 2, "the second v and the final evaluation say why they did not run");
    assert_eq!(ev.iter().filter(|e| matches!(e, Event::Sample { step, .. } if *step == at)).count(), 2, "v samples each time");
    assert!(ev.iter().any(|e| matches!(e, Event::MemoryUpdated { step } if *step == at)));
    assert!(ev.iter().any(|e| matches!(e, Event::Status { state: RunState::Paused, .. })));
    let s = summary(&ev);
    assert_eq!(s.steps, at, "paused: no step after v");
    assert_eq!(s.final_val_loss, Some(all[0].loss), "the final validation loss is v's");
}

/// A warm-up as long as the budget is shortened to a tenth of it, with one
/// line; the run trains (the first step at the full LR of a 1-step warm-up).
#[test]
fn a_warmup_longer_than_the_budget_is_shortened() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = run_config(tiny_preset(&[]), root.path());
    cfg.budget = Some(Budget::Steps(5));
    let ev = collect(start(cfg));
    assert!(errors(&ev).is_empty(), "{:?}", errors(&ev));
    let lines: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Log { kind: LogKind::WarmupShortened { from: 10, to: 1 }, text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(lines, ["warm-up shortened from 10 to 1 steps: it did not fit the 5-step budget"]);
    assert_eq!(step_losses(&ev).len(), 5);
    let lr0 = ev.iter().find_map(|e| if let Event::Step(m) = e { Some(m.lr) } else { None }).unwrap();
    assert_eq!(lr0, 3e-3, "no longer inside a 10-step warm-up");
    assert_eq!(flashlm_tui::train::fitted_warmup(500, 20), 2);
    assert_eq!(flashlm_tui::train::fitted_warmup(500, 5000), 500);
    assert_eq!(flashlm_tui::train::fitted_warmup(10, 3), 1);
}

/// A run refused before training leaves no run folder behind.
#[test]
fn a_refused_run_leaves_no_empty_folder() {
    let root = tempfile::tempdir().unwrap();
    for budget in [Budget::Steps(0), Budget::Minutes(0.0)] {
        let mut cfg = run_config(tiny_preset(&[]), root.path());
        cfg.budget = Some(budget.clone());
        let e = errors(&collect(start(cfg)));
        assert!(e.iter().any(|m| m.contains("already spent")), "{budget:?}: {e:?}");
    }
    let left: Vec<_> = std::fs::read_dir(root.path()).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "no run folder: {left:?}");
}

/// A minutes budget: the horizon is re-estimated so that at every step the
/// header's total, the ETA and the schedule agree, and the run ends with the
/// LR at its minimum; the summary's elapsed time is the wall clock's.
#[test]
fn a_minutes_budget_keeps_its_horizon_eta_and_clock_in_agreement() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = run_config(tiny_preset(&[]), root.path());
    cfg.budget = Some(Budget::Minutes(0.05));
    let t0 = Instant::now();
    let mut h = start(cfg);
    let mut ev = Vec::new();
    let mut training_began = None;
    while let Ok(e) = h.events.recv_timeout(Duration::from_secs(60)) {
        if matches!(e, Event::Status { state: RunState::Running, .. }) && training_began.is_none() {
            training_began = Some(t0.elapsed().as_secs_f64());
        }
        ev.push(e);
    }
    let wall = t0.elapsed().as_secs_f64() - training_began.unwrap();
    h.thread.take().unwrap().join().unwrap();
    assert!(errors(&ev).is_empty(), "{:?}", errors(&ev));
    let steps: Vec<_> = ev.iter().filter_map(|e| if let Event::Step(m) = e { Some(m.clone()) } else { None }).collect();
    assert!(steps.len() > 20, "{}", steps.len());
    for m in steps.iter().skip(4) {
        let h = m.horizon.expect("a horizon once the first steps are timed");
        assert!(h >= m.step, "step {} / {h}", m.step);
        let eta = m.eta_secs.unwrap();
        assert!((eta - (3.0 - m.elapsed_secs).max(0.0)).abs() < 1e-6, "the ETA is the budget's time left");
    }
    let last = steps.last().unwrap();
    // (an evaluation after the last step may take the few seconds' worth of steps still expected)
    let over = last.horizon.unwrap() - last.step;
    assert!(over <= 1 + last.step / 10, "the horizon closes on the last step: {} / {:?}", last.step, last.horizon);
    assert!(last.lr < 2e-4, "the schedule ends near min_lr: {}", last.lr);
    let s = summary(&ev);
    assert!(s.elapsed_secs >= 3.0 && (s.elapsed_secs - wall).abs() < 0.5, "summary {:.2} s, wall {wall:.2} s", s.elapsed_secs);
    assert!(s.mean_tok_per_sec > 0.0 && s.train_secs > 0.0 && s.train_secs < s.elapsed_secs);
    assert_eq!(s.mean_tok_per_sec, flashlm_tui::engine::mean_tok_per_sec(s.tokens, s.train_secs));
    assert_eq!(last.mean_tok_per_sec, s.mean_tok_per_sec, "the dashboard's mean is the summary's");
    let rec = flashlm_tui::runs::read_run(&run_dir(&ev)).unwrap();
    let runs_mean = rec.mean_tok_per_sec.unwrap();
    assert!((runs_mean / s.mean_tok_per_sec - 1.0).abs() < 1e-12, "and `runs`'s: {runs_mean} vs {}", s.mean_tok_per_sec);
}

/// Headless: a warm-up longer than `--steps` is shortened with one line; with
/// stderr not a terminal a status line comes every few seconds
/// (`FLASHLM_STATUS_SECS` here), so a slow run never sits silent; the exit line
/// names the final validation loss and the best.
#[test]
fn headless_short_runs_just_work_and_report_progress() {
    use super::cli::{bin, run};
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("runs");
    let (ok, out, err) = run(bin()
        .env("FLASHLM_STATUS_SECS", "0.05")
        .args(["train", "--preset", "tiny", "--headless", "--steps", "8", "--threads", "2", "--eval-every", "4", "--out"])
        .arg(&out_dir));
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    let shortened: Vec<&str> = out.lines().filter(|l| l.contains("warm-up shortened")).collect();
    assert_eq!(shortened, ["warm-up shortened from 10 to 1 steps: it did not fit the 8-step budget"], "{out}");
    assert!(err.lines().any(|l| l.starts_with("[status] step ") && l.contains("/8") && l.contains("tok/s")), "{err}");
    let evals: Vec<&str> = out.lines().filter(|l| l.starts_with("eval step")).collect();
    assert_eq!(evals.len(), 2, "exact steps headless: at 4, then the final one at 8 (not 8 twice): {out}");
    let fin = out.lines().find(|l| l.starts_with("finished: 8 steps")).expect(&out);
    assert!(fin.contains("; final val loss ") && fin.contains(" (best "), "{fin}");
    let (_, help, _) = run(bin().args(["train", "--help"]));
    assert!(help.contains("Headless runs evaluate and sample on exact step multiples"), "{help}");
}
