//! Headless progress on stderr, besides the run's record on stdout: a
//! progress bar (step, loss, tok/s, ETA) when stderr is a terminal, else a
//! status line every [`STATUS_EVERY`], so a log never sits silent between
//! two record lines (a slow run's step lines can be minutes apart).

use crate::engine::{clock, Event, RunState, StepMetrics};
use crate::preset::thousands;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

/// Status lines come this often when stderr is not a terminal
/// (`FLASHLM_STATUS_SECS` sets another interval).
pub const STATUS_EVERY: Duration = Duration::from_secs(15);

pub(super) struct Progress {
    /// stderr is a terminal: a bar, from the first step on (the tokenizer's
    /// own bars may draw while the run is prepared)
    terminal: bool,
    bar: Option<ProgressBar>,
    every: Duration,
    last_line: Instant,
    last: Option<StepMetrics>,
    /// What the trainer does besides stepping (an evaluation and its progress).
    detail: Option<String>,
}

impl Progress {
    /// `terminal`: stderr is a terminal (then a bar).
    pub(super) fn new(terminal: bool) -> Self {
        let every = std::env::var("FLASHLM_STATUS_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(STATUS_EVERY, Duration::from_secs_f64);
        Progress { terminal, bar: None, every, last_line: Instant::now(), last: None, detail: None }
    }

    fn new_bar() -> ProgressBar {
        let style = ProgressStyle::with_template("{bar:30.cyan/blue} step {pos}/{len}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▉▊▋▌▍▎▏ ");
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4)).with_style(style)
    }

    /// Runs `f` (which prints) with the bar out of the way.
    pub(super) fn print<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    /// Takes in a trainer event.
    pub(super) fn on_event(&mut self, ev: &Event) {
        match ev {
            Event::Step(m) => {
                self.last = Some(m.clone());
                self.detail = None;
                if self.terminal && self.bar.is_none() {
                    self.bar = Some(Self::new_bar());
                }
            }
            Event::Status { state: RunState::Evaluating | RunState::Saving, detail } => self.detail = Some(detail.clone()),
            Event::Status { .. } => self.detail = None,
            Event::Finished(_) => {
                self.terminal = false;
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                return;
            }
            _ => return,
        }
        if let Some(b) = &self.bar {
            if let Some(m) = &self.last {
                b.set_length(m.horizon.unwrap_or(m.step).max(m.step));
                b.set_position(m.step);
            }
            b.set_message(self.message());
        }
    }

    /// Without a bar: a status line when one is due (and there is something to say).
    pub(super) fn tick(&mut self) {
        if self.terminal || self.last_line.elapsed() < self.every || (self.last.is_none() && self.detail.is_none()) {
            return;
        }
        self.last_line = Instant::now();
        let step = self.last.as_ref().map(|m| match m.horizon {
            Some(h) => format!("step {}/{h}  ", m.step),
            None => format!("step {}  ", m.step),
        });
        eprintln!("[status] {}{}", step.unwrap_or_default(), self.message());
    }

    /// Loss, throughput and ETA of the last step, then what the trainer is
    /// doing now besides stepping (an evaluation, a save).
    fn message(&self) -> String {
        let step = self.last.as_ref().map(|m| {
            format!(
                "loss {:.4}  {} tok/s  elapsed {}  ETA {}",
                m.loss,
                thousands(m.tok_per_sec.round() as u64),
                clock(m.elapsed_secs),
                m.eta_secs.map(clock).unwrap_or_else(|| "?".into())
            )
        });
        match (step, &self.detail) {
            (Some(s), Some(d)) => format!("{s}  · {d}"),
            (Some(s), None) => s,
            (None, Some(d)) => d.clone(),
            (None, None) => "preparing".into(),
        }
    }
}
