//! The run's budget (steps, tokens or minutes): refused before training when
//! it is already spent, turned into the LR schedule's horizon (re-estimated
//! for a minutes budget as steps get faster or slower), fitted with the
//! warm-up, counted down for the ETA.

use super::checkpoint::TrainState;
use super::error::TrainError;
use super::session::{Pace, Session};
use crate::engine::{Emitter, Event, LogKind};
use crate::preset::{budget_label, Budget, Preset};

/// Step times a minutes budget measures before its first horizon estimate
/// (after the session's first step, which warms caches up).
const CALIBRATION_STEPS: u32 = 3;
/// A re-estimated horizon is logged when it moved by a tenth, at most this often (seconds).
const HORIZON_LOG_EVERY: f64 = 60.0;

/// Refuses a budget the run has already spent.
pub(super) fn check(preset: &Preset, state: &TrainState) -> Result<(), TrainError> {
    if let Some(n) = planned_steps(preset, &state.budget) {
        if n <= state.step {
            return Err(TrainError::BudgetSpent { budget: budget_label(&state.budget), step: state.step, tokens: state.tokens_seen });
        }
    }
    if let Budget::Minutes(m) = state.budget {
        if state.elapsed_secs >= m * 60.0 {
            return Err(TrainError::MinutesSpent { minutes: m, spent_secs: state.elapsed_secs });
        }
    }
    Ok(())
}

/// The warm-up a run of `total` steps trains with: the preset's, unless it
/// would take the whole run; then a tenth of the run.
pub fn fitted_warmup(warmup: u64, total: u64) -> u64 {
    if warmup >= total {
        (total / 10).max(1)
    } else {
        warmup
    }
}

/// The steps of a steps or tokens budget (`None` for minutes: not known before training).
pub(super) fn planned_steps(preset: &Preset, budget: &Budget) -> Option<u64> {
    let tr = &preset.train;
    let tps = (tr.accum * tr.batch * tr.seq_len) as u64;
    match budget {
        Budget::Steps(n) => Some(*n),
        Budget::Tokens(n) => Some(n.div_ceil(tps)),
        Budget::Minutes(_) => None,
    }
}

impl Session {
    /// The LR schedule's length in steps: set by a steps or tokens budget; for
    /// a minutes budget, estimated once the first steps have been timed.
    pub(super) fn horizon(&self) -> Option<u64> {
        planned_steps(&self.preset, &self.state.budget).or(self.state.horizon)
    }

    pub(super) fn budget_reached(&self) -> bool {
        match self.state.budget {
            Budget::Steps(n) => self.state.step >= n,
            Budget::Tokens(n) => self.state.tokens_seen >= n,
            Budget::Minutes(m) => self.state.elapsed_secs >= m * 60.0,
        }
    }

    /// Shortens a warm-up that does not fit a run of `total` steps, and says so.
    pub(super) fn fit_warmup(&mut self, em: &mut Emitter, total: u64, what: &str) {
        let w = fitted_warmup(self.warmup, total);
        if w != self.warmup {
            em.important(Event::info(
                LogKind::WarmupShortened { from: self.warmup, to: w },
                format!("warm-up shortened from {} to {w} steps: it did not fit {what}", self.warmup),
            ));
            self.warmup = w;
        }
    }

    /// Seconds of wall time per optimiser step at the recent pace: the step
    /// time plus this session's share of evaluation, sampling and saving.
    fn wall_per_step(&self, pace: &Pace) -> Option<f64> {
        let per = pace.recent_step?;
        let overhead = if pace.train_secs > 0.0 { ((self.clock.now() - pace.train_secs) / pace.train_secs).clamp(0.0, 1.0) } else { 0.0 };
        Some(per * (1.0 + overhead))
    }

    /// A minutes budget (re-)estimates its step horizon after every step from
    /// the time left and the recent pace, so the schedule, the header's step
    /// total and the ETA agree as steps get faster or slower.
    pub(super) fn estimate_minutes_horizon(&mut self, em: &mut Emitter, pace: &mut Pace) {
        let Budget::Minutes(m) = self.state.budget else {
            return;
        };
        if pace.timed_steps < CALIBRATION_STEPS && self.state.horizon.is_none() {
            return;
        }
        let Some(per) = self.wall_per_step(pace) else {
            return;
        };
        let left = (m * 60.0 - self.state.elapsed_secs).max(0.0);
        let horizon = (self.state.step + (left / per) as u64).max(self.state.step + 1);
        self.state.horizon = Some(horizon);
        let said = pace.horizon_said;
        let now = self.clock.now();
        if said.is_none() {
            em.important(Event::info(
                LogKind::HorizonFixed { steps: horizon },
                format!(
                    "LR horizon set at {horizon} steps for the {m}-minute budget ({:.0} ms/step); re-estimated as step times change",
                    per * 1e3
                ),
            ));
            pace.horizon_said = Some(horizon);
            pace.horizon_said_at = now;
            self.fit_warmup(em, horizon, &format!("the ~{horizon} steps of the {m}-minute budget"));
        } else if said.is_some_and(|s| horizon.abs_diff(s) * 10 > s) && now - pace.horizon_said_at >= HORIZON_LOG_EVERY && left > 0.0 {
            em.important(Event::info(
                LogKind::HorizonFixed { steps: horizon },
                format!("LR horizon re-estimated at {horizon} steps ({:.0} ms/step)", per * 1e3),
            ));
            pace.horizon_said = Some(horizon);
            pace.horizon_said_at = now;
        }
    }

    /// Seconds left: the rest of a minutes budget, else the steps left at the
    /// recent pace (evaluation, sampling and saving included).
    pub(super) fn eta(&self, dt: f64, pace: &Pace) -> Option<f64> {
        match self.state.budget {
            Budget::Minutes(m) => Some((m * 60.0 - self.state.elapsed_secs).max(0.0)),
            _ => self.horizon().map(|h| {
                let left = h.saturating_sub(self.state.step) as f64;
                left * self.wall_per_step(pace).unwrap_or(dt)
            }),
        }
    }
}
