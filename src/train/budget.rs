//! The run's budget (steps, tokens or minutes): refused before training when
//! it cannot be met, turned into the LR schedule's horizon, counted down for
//! the ETA.

use super::checkpoint::TrainState;
use super::error::TrainError;
use super::session::{Pace, Session};
use crate::engine::{Emitter, Event, LogKind};
use crate::preset::{budget_label, Budget, Preset};

/// Refuses a budget the run has already spent, or one its warm-up does not fit.
pub(super) fn check(preset: &Preset, state: &TrainState) -> Result<(), TrainError> {
    let tr = &preset.train;
    let tps = (tr.accum * tr.batch * tr.seq_len) as u64;
    let total_steps = match state.budget {
        Budget::Steps(n) => Some(n),
        Budget::Tokens(n) => Some(n.div_ceil(tps)),
        Budget::Minutes(_) => None,
    };
    if let Some(n) = total_steps {
        if n <= state.step {
            return Err(TrainError::BudgetSpent { budget: budget_label(&state.budget), step: state.step, tokens: state.tokens_seen });
        }
        if tr.warmup >= n {
            return Err(TrainError::WarmupTooLong { warmup: tr.warmup, steps: n });
        }
    }
    if let Budget::Minutes(m) = state.budget {
        if state.elapsed_secs >= m * 60.0 {
            return Err(TrainError::MinutesSpent { minutes: m, spent_secs: state.elapsed_secs });
        }
    }
    Ok(())
}

impl Session {
    /// The LR schedule's length in steps: set by a steps or tokens budget; for
    /// a minutes budget, once the first steps have been timed.
    pub(super) fn horizon(&self) -> Option<u64> {
        let tr = &self.preset.train;
        let tps = (tr.accum * tr.batch * tr.seq_len) as u64;
        match self.state.budget {
            Budget::Steps(n) => Some(n),
            Budget::Tokens(n) => Some(n.div_ceil(tps)),
            Budget::Minutes(_) => self.state.horizon,
        }
    }

    pub(super) fn budget_reached(&self) -> bool {
        match self.state.budget {
            Budget::Steps(n) => self.state.step >= n,
            Budget::Tokens(n) => self.state.tokens_seen >= n,
            Budget::Minutes(m) => self.state.elapsed_secs >= m * 60.0,
        }
    }

    /// A minutes budget fixes its step horizon from the times of the first
    /// steps after the session's first (which warms caches up), counting the
    /// evaluations that will fall in the time left.
    pub(super) fn fix_minutes_horizon(&mut self, em: &mut Emitter, dt: f64, pace: &mut Pace) {
        let Budget::Minutes(m) = self.state.budget else {
            return;
        };
        if self.state.horizon.is_some() {
            return;
        }
        if self.state.step > pace.start_step + 1 {
            pace.calib.push(dt);
        }
        if pace.calib.len() >= 6 {
            let tr = &self.preset.train;
            let per = pace.calib.iter().sum::<f64>() / pace.calib.len() as f64;
            // eval passes are forward-only (~1/3 of a step) over eval_windows/B batches
            let eval_per_step = (tr.eval_windows as f64 / tr.batch as f64) * per / tr.accum as f64 / 3.0 / tr.eval_every as f64;
            let left = (m * 60.0 - self.state.elapsed_secs).max(0.0);
            let n = self.state.step + (left / (per + eval_per_step)) as u64;
            let horizon = n.max(self.state.step + 1);
            self.state.horizon = Some(horizon);
            em.important(Event::info(
                LogKind::HorizonFixed { steps: horizon },
                format!("LR horizon fixed at {} steps for the {m}-minute budget ({:.0} ms/step measured)", n, per * 1e3),
            ));
        }
    }

    /// Seconds left: the rest of a minutes budget, else the steps left at the
    /// recent step time plus the evaluations among them.
    pub(super) fn eta(&self, dt: f64, pace: &Pace) -> Option<f64> {
        let tr = &self.preset.train;
        match self.state.budget {
            Budget::Minutes(m) => Some((m * 60.0 - self.state.elapsed_secs).max(0.0)),
            _ => self.horizon().map(|h| {
                let left = h.saturating_sub(self.state.step) as f64;
                let per = pace.ema_step.unwrap_or(dt);
                let evals = left / tr.eval_every as f64 + 1.0;
                left * per + evals * (tr.eval_windows as f64 / tr.batch as f64) * per / tr.accum as f64 / 3.0
            }),
        }
    }
}
