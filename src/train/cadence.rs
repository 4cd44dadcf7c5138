//! When a run evaluates and samples: on exact multiples of the preset's
//! intervals (headless runs, reproducible), or on the clock when someone
//! watches (the TUI): a quick first look soon after training starts, then full
//! evaluations spaced so that they take a small share of the wall time. An
//! interval given explicitly (`--eval-every`, `--sample-every`) keeps its
//! steps either way. Neither ever changes the weights (periodic.rs).
//!
//! [`Schedule`] is told the time, so tests drive it with any clock.

use crate::engine::CadenceInfo;
use std::time::Duration;

/// How a run spaces its evaluations and samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Cadence {
    /// Every `eval_every` / `sample_every` steps exactly.
    #[default]
    Steps,
    /// First look `first_view` after training starts (or after the first step,
    /// if that takes longer), then on the clock.
    Clock { first_view: Duration },
}

/// Validation windows of the quick first look (and no recall probe).
pub const QUICK_WINDOWS: usize = 16;
/// Full evaluations take at most this share of the wall time…
const EVAL_SHARE: f64 = 0.08;
/// …samples this one…
const SAMPLE_SHARE: f64 = 0.02;
/// …and neither comes more often than this (seconds).
const MIN_EVAL_GAP: f64 = 120.0;
const MIN_SAMPLE_GAP: f64 = 60.0;
/// A full evaluation costs this many times a quick one's per window (the recall probe, the heatmaps).
const FULL_OVERHEAD: f64 = 1.25;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalKind {
    /// A few windows, no recall probe: the first look.
    Quick,
    /// Every validation window, the recall probe, the heatmaps.
    Full,
}

/// What falls due after a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Due {
    pub eval: Option<EvalKind>,
    pub sample: bool,
}

/// The run's evaluation and sampling times. Times are seconds since this
/// session's training started (pauses excluded).
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The first look's time on the clock; `None`: steps only.
    first_view: Option<f64>,
    eval_every: u64,
    sample_every: u64,
    /// Explicit intervals keep their steps on the clock too.
    eval_by_steps: bool,
    sample_by_steps: bool,
    looked: bool,
    next_eval: f64,
    next_sample: f64,
    /// Full windows ÷ quick windows, to estimate a full evaluation from the quick one.
    full_per_quick: f64,
}

impl Schedule {
    /// `fixed_eval` / `fixed_sample`: the interval was given explicitly.
    pub fn new(cadence: &Cadence, eval_every: u64, sample_every: u64, fixed: (bool, bool), full_windows: usize) -> Schedule {
        let first_view = match cadence {
            Cadence::Steps => None,
            Cadence::Clock { first_view } => Some(first_view.as_secs_f64()),
        };
        let clock = first_view.is_some();
        Schedule {
            first_view,
            eval_every: eval_every.max(1),
            sample_every: sample_every.max(1),
            eval_by_steps: !clock || fixed.0,
            sample_by_steps: !clock || fixed.1,
            looked: false,
            next_eval: first_view.unwrap_or(f64::INFINITY),
            next_sample: first_view.unwrap_or(f64::INFINITY),
            full_per_quick: FULL_OVERHEAD * full_windows.max(1) as f64 / QUICK_WINDOWS.min(full_windows.max(1)) as f64,
        }
    }

    /// What is due after step `step`, at `now`.
    pub fn due(&self, step: u64, now: f64) -> Due {
        let eval = if self.eval_by_steps {
            step.is_multiple_of(self.eval_every).then_some(EvalKind::Full)
        } else if now >= self.next_eval {
            Some(if self.looked { EvalKind::Full } else { EvalKind::Quick })
        } else {
            None
        };
        let sample = if self.sample_by_steps { step.is_multiple_of(self.sample_every) } else { now >= self.next_sample };
        Due { eval, sample }
    }

    /// An evaluation of `kind` ended at `ended`, taking `took` seconds.
    pub fn evaluated(&mut self, kind: EvalKind, ended: f64, took: f64) {
        let full = match kind {
            EvalKind::Quick => took * self.full_per_quick,
            EvalKind::Full => took,
        };
        self.looked = true;
        self.next_eval = ended + gap(full, EVAL_SHARE, MIN_EVAL_GAP);
    }

    /// A sample ended at `ended`, taking `took` seconds.
    pub fn sampled(&mut self, ended: f64, took: f64) {
        self.next_sample = ended + gap(took, SAMPLE_SHARE, MIN_SAMPLE_GAP);
    }

    /// The cadence as front-ends describe it.
    pub fn info(&self) -> CadenceInfo {
        CadenceInfo {
            eval_every: self.eval_by_steps.then_some(self.eval_every),
            sample_every: self.sample_by_steps.then_some(self.sample_every),
            first_view_secs: self.first_view,
        }
    }
}

/// The pause after a task of `cost` seconds that keeps it to `share` of the time.
fn gap(cost: f64, share: f64, min: f64) -> f64 {
    (cost * (1.0 - share) / share).max(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_cadence_is_exact_multiples() {
        let s = Schedule::new(&Cadence::Steps, 20, 30, (false, false), 256);
        assert_eq!(s.due(20, 0.0).eval, Some(EvalKind::Full));
        assert_eq!(s.due(21, 1e9).eval, None, "the clock does not matter");
        assert!(s.due(30, 0.0).sample && !s.due(20, 0.0).sample);
    }

    #[test]
    fn clock_cadence_looks_first_then_keeps_evaluation_a_small_share() {
        let mut s = Schedule::new(&Cadence::Clock { first_view: Duration::from_secs(60) }, 500, 1000, (false, false), 256);
        assert_eq!(s.due(500, 59.0), Due::default(), "steps do not count; nothing before the first look");
        // a step that ends after the first look's time brings it at once
        assert_eq!(s.due(3, 75.0), Due { eval: Some(EvalKind::Quick), sample: true });
        s.evaluated(EvalKind::Quick, 76.0, 1.0);
        s.sampled(77.0, 0.5);
        // a quick look of 1 s over 16 windows: a full one ~20 s, so ≥ 230 s apart
        assert_eq!(s.due(10, 77.0 + 120.0).eval, None);
        assert_eq!(s.due(10, 76.0 + 231.0).eval, Some(EvalKind::Full));
        assert!(!s.due(10, 77.0 + 59.0).sample && s.due(10, 77.0 + 60.0).sample);
        s.evaluated(EvalKind::Full, 400.0, 2.0);
        assert_eq!(s.due(11, 400.0 + MIN_EVAL_GAP - 1.0).eval, None);
        assert_eq!(s.due(11, 400.0 + MIN_EVAL_GAP).eval, Some(EvalKind::Full), "cheap evaluations: the minimum gap");
        let share = 2.0 / (2.0 + MIN_EVAL_GAP);
        assert!(share < 0.1);
        s.evaluated(EvalKind::Full, 1000.0, 60.0);
        let next = (1..100_000).map(|t| 1000.0 + t as f64).find(|&t| s.due(12, t).eval.is_some()).unwrap();
        assert!(60.0 / (next - 1000.0 + 60.0) <= EVAL_SHARE + 1e-6, "a slow evaluation is spaced out: next at {next}");
    }

    #[test]
    fn explicit_intervals_keep_their_steps_on_the_clock() {
        let s = Schedule::new(&Cadence::Clock { first_view: Duration::from_secs(5) }, 20, 30, (true, false), 256);
        assert_eq!(s.due(20, 1.0).eval, Some(EvalKind::Full));
        assert_eq!(s.due(21, 100.0).eval, None);
        assert!(s.due(7, 5.0).sample);
        let info = s.info();
        assert_eq!(info.eval_every, Some(20));
        assert_eq!(info.sample_every, None);
        assert_eq!(info.eval_text(), "every 20 steps");
    }
}
