//! A prepared run and its loop: read the commands, take an optimiser step,
//! report it, evaluate / sample / save when due, and at the end a final
//! evaluation, `last/` and the summary.

use super::cadence::{EvalKind, Schedule};
use super::checkpoint::{self, SaveRequest, TrainState};
use super::commands::{Control, Flow};
use super::error::TrainError;
use super::eval::EvalResult;
use super::lanes::{LaneA, Lanes};
use super::optim::{clip_grad_norm, schedule_lr, AdamW};
use super::run::MetricsLog;
use super::trainer::RunConfig;
use crate::data::tok::Tok;
use crate::data::tokens::{TokenStore, WindowSampler};
use crate::engine::{mean_tok_per_sec, Emitter, Event, LogKind, MemorySnapshot, RunState, Slot, StepMetrics, Summary};
use crate::model::{Model, Workspace};
use crate::preset::Preset;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Non-finite steps in a row that stop the run.
const MAX_BAD_STEPS: u32 = 20;

/// Everything a run holds while it trains.
pub(super) struct Session {
    pub(super) cfg: RunConfig,
    pub(super) preset: Preset,
    pub(super) preset_text: String,
    pub(super) model: Model,
    pub(super) params: Vec<f32>,
    pub(super) grads: Vec<f32>,
    pub(super) adam_m: Vec<f32>,
    pub(super) adam_v: Vec<f32>,
    pub(super) ws: Workspace,
    pub(super) train: TokenStore,
    pub(super) valid: TokenStore,
    pub(super) val_windows: Vec<usize>,
    pub(super) bytes_of: Vec<u32>,
    pub(super) sampler: WindowSampler,
    pub(super) tokenizer: Tok,
    pub(super) tokenizer_json: String,
    pub(super) banned: Vec<bool>,
    pub(super) state: TrainState,
    pub(super) run_dir: PathBuf,
    /// held while the session lives: no other process writes this run (rank 0's alone)
    pub(super) _lock: Option<super::run::RunLock>,
    /// The other ranks training this run (ranked.rs), `None` alone.
    pub(super) group: Option<Box<dyn super::collective::Collective>>,
    /// This process's share of a step's micro-batches.
    pub(super) share: super::collective::Share,
    /// The summed gradients (swapped with `grads` after each allreduce; empty alone).
    pub(super) reduced: Vec<f32>,
    pub(super) metrics: MetricsLog,
    pub(super) last_eval: Option<EvalResult>,
    pub(super) x: Vec<u32>,
    pub(super) y: Vec<u32>,
    /// the second lane of a step's micro-batches (lanes.rs)
    pub(super) lanes: Option<Lanes>,
    /// When evaluations and samples fall due.
    pub(super) schedule: Schedule,
    /// The warm-up this run trains with (the preset's, unless it did not fit the budget).
    pub(super) warmup: u64,
    /// The step of the last full evaluation: never evaluated twice.
    pub(super) evaluated_at: Option<u64>,
    pub(super) clock: WallClock,
    /// Where the heatmaps go.
    pub(super) memory: Slot<MemorySnapshot>,
}

/// This session's wall clock: seconds since training began, pauses excluded.
/// The run's elapsed time is the checkpoint's plus this, so it matches the
/// clock on the wall (steps, evaluations, samples and saves all count).
pub(super) struct WallClock {
    base: f64,
    since: Instant,
    paused: f64,
}

impl WallClock {
    pub(super) fn new(base: f64) -> Self {
        WallClock { base, since: Instant::now(), paused: 0.0 }
    }

    /// Seconds of this session.
    pub(super) fn now(&self) -> f64 {
        (self.since.elapsed().as_secs_f64() - self.paused).max(0.0)
    }

    /// The run's elapsed seconds.
    pub(super) fn elapsed(&self) -> f64 {
        self.base + self.now()
    }

    pub(super) fn paused_for(&mut self, secs: f64) {
        self.paused += secs;
    }
}

/// What the loop keeps between steps of this session (one process's share of the run).
pub(super) struct Pace {
    /// The step this session started at.
    pub(super) start_step: u64,
    /// Seconds spent in optimiser steps (evaluation excluded).
    pub(super) train_secs: f64,
    /// Moving average of the step time (the session's first step, which
    /// warms caches up, left out), for the ETA and a minutes budget's horizon.
    pub(super) recent_step: Option<f64>,
    /// Steps timed into `recent_step`.
    pub(super) timed_steps: u32,
    /// The horizon last logged, and when (session seconds).
    pub(super) horizon_said: Option<u64>,
    pub(super) horizon_said_at: f64,
    /// Non-finite steps in a row.
    pub(super) bad_steps: u32,
    /// The state last shown to the consumer.
    pub(super) shown: RunState,
    /// FSP value of the last step (with FSP on), for the summary.
    pub(super) last_fsp: Option<f64>,
}

pub(super) fn status(em: &mut Emitter, state: RunState, detail: impl Into<String>) {
    em.important(Event::Status { state, detail: detail.into() });
}

impl Session {
    pub(super) fn train(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, memory: &Slot<MemorySnapshot>) {
        let tr = &self.preset.train;
        let opt = AdamW { beta1: tr.beta1, beta2: tr.beta2, eps: tr.eps, weight_decay: tr.weight_decay };
        let mut pace = Pace {
            start_step: self.state.step,
            train_secs: 0.0,
            recent_step: None,
            timed_steps: 0,
            horizon_said: None,
            horizon_said_at: 0.0,
            bad_steps: 0,
            shown: RunState::Running,
            last_fsp: None,
        };
        self.memory = memory.clone();
        self.clock = WallClock::new(self.state.elapsed_secs);
        status(em, RunState::Running, "training");
        let error = loop {
            let stop = match self.obey(em, ctl, &mut pace.shown) {
                Flow::Stop => true,
                Flow::Wait => continue,
                Flow::Step => self.budget_reached(),
            };
            // ranks stop at the same step: a stop any of them wants is everyone's
            if self.agree_stop(stop) {
                break None;
            }
            match self.step(em, &opt, &mut pace) {
                Ok(Some(m)) => self.report_step(em, m),
                Ok(None) => continue,
                Err(e) => break Some(e),
            }
            self.when_due(em, ctl, &mut pace);
        };
        self.finish(em, ctl, &pace, error);
    }

    /// One optimiser step: `accum` micro-batches (in pairs on two lanes where
    /// set up), gradients summed and clipped, then AdamW. A non-finite loss or
    /// gradient norm skips the update (`Ok(None)`, the weights stay as they
    /// were); too many in a row stop the run.
    fn step(&mut self, em: &mut Emitter, opt: &AdamW, pace: &mut Pace) -> Result<Option<StepMetrics>, TrainError> {
        let tr = &self.preset.train;
        let (b, t) = (tr.batch, tr.seq_len);
        let t0 = Instant::now();
        let step = self.state.step;
        // BB-OPT: `accum` micro-batches, gradients summed, losses averaged (on two lanes: lanes.rs);
        // with several ranks this one's share of them (collective.rs), the windows of
        // the others' shares drawn and left, so every rank's sampler stays the step's
        let share = self.share;
        let (sampler, train, run_seed) = (&mut self.sampler, &self.train, self.state.seed);
        for _ in 0..share.first {
            sampler.next_indices();
        }
        let (loss, fsp) = super::lanes::accumulate_share(
            &self.model,
            &self.params,
            LaneA { ws: &mut self.ws, grads: &mut self.grads, x: &mut self.x, y: &mut self.y },
            self.lanes.as_mut(),
            share,
            (b, t),
            &mut |_, x, y| sampler.next_batch(train, t, x, y),
            // dropout masks depend only on (run seed, step, micro-batch): resume replays them
            &|micro| run_seed ^ (step << 8 | micro as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        for _ in share.first + share.count..share.total {
            sampler.next_indices();
        }
        let (loss, fsp, allreduce_ms) = self.reduce_step(loss, fsp);
        let tr = &self.preset.train;
        let (gnorm, clip, bad) = if loss.is_finite() {
            let (n, clip) = clip_grad_norm(&self.grads, tr.grad_clip);
            (n, clip, (!n.is_finite()).then(|| ("grad_norm", format!("gradient norm is {n}"), n.to_string())))
        } else {
            (f64::NAN, 1.0, Some(("loss", format!("loss is {loss}"), loss.to_string())))
        };
        if let Some((key, what, value)) = bad {
            pace.bad_steps += 1;
            em.important(Event::warn(
                LogKind::StepSkipped { step: step + 1 },
                format!("step {}: {what}; step skipped, weights untouched", step + 1),
            ));
            let _ = self.metrics.write("skipped", &serde_json::json!({"step": step + 1, key: value}));
            self.state.sampler = self.sampler.state();
            if pace.bad_steps >= MAX_BAD_STEPS {
                return Err(TrainError::NonFinite { steps: pace.bad_steps });
            }
            return Ok(None);
        }
        pace.bad_steps = 0;
        let horizon = self.horizon().unwrap_or(u64::MAX);
        let lr = schedule_lr(&tr.schedule, step, tr.lr, tr.min_lr, self.warmup, horizon);
        opt.update(&mut self.params, &self.grads, clip, &mut self.adam_m, &mut self.adam_v, lr, step);
        let dt = t0.elapsed().as_secs_f64();
        let tokens = (tr.accum * b * t) as u64;
        pace.train_secs += dt;
        self.state.train_secs += dt;
        self.state.timed_tokens += tokens;
        self.state.step += 1;
        self.state.tokens_seen += tokens;
        self.state.elapsed_secs = self.clock.elapsed();
        self.state.sampler = self.sampler.state();
        if self.state.step > pace.start_step + 1 {
            pace.timed_steps += 1;
            pace.recent_step = Some(match pace.recent_step {
                None => dt,
                Some(e) => 0.8 * e + 0.2 * dt,
            });
        }
        self.estimate_minutes_horizon(em, pace);
        pace.last_fsp = fsp;
        Ok(Some(StepMetrics {
            step: self.state.step,
            loss,
            fsp,
            lr,
            grad_norm: gnorm,
            tokens: self.state.tokens_seen,
            elapsed_secs: self.state.elapsed_secs,
            step_ms: dt * 1e3,
            tok_per_sec: tokens as f64 / dt,
            eta_secs: self.eta(dt, pace),
            horizon: self.horizon(),
            mean_tok_per_sec: mean_tok_per_sec(self.state.timed_tokens, self.state.train_secs),
            ranks: self.group.as_ref().map(|g| g.size()),
            allreduce_ms,
        }))
    }

    /// Every step goes to the consumer (dropped if it is behind), one per
    /// `log_every` (and the first) to metrics.jsonl.
    fn report_step(&mut self, em: &mut Emitter, m: StepMetrics) {
        if self.state.step.is_multiple_of(self.preset.train.log_every) || self.state.step == 1 {
            let _ = self.metrics.write("step", &m);
        }
        em.metric(Event::Step(m));
    }

    /// The end: a final eval (a second stop skips it; none if this step was
    /// just evaluated), then `last/` and the summary.
    fn finish(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, pace: &Pace, error: Option<TrainError>) {
        let user_stop = ctl.borrow().stop;
        if user_stop != Some(false) && !ctl.borrow().abort && self.state.step > 0 && pace.bad_steps == 0 && self.is_root() {
            if self.evaluated_at == Some(self.state.step) {
                em.important(Event::info(LogKind::Note, format!("step {} was just evaluated: no final evaluation", self.state.step)));
            } else {
                self.eval(em, ctl, EvalKind::Full, false, "final evaluation");
            }
        }
        let save = user_stop.unwrap_or(true);
        if save && self.state.step >= 1 {
            status(em, RunState::Saving, "saving last/");
            let dir = self.run_dir.join("last");
            match self.save(&dir, "last") {
                Ok(()) => em.important(Event::CheckpointSaved { step: self.state.step, path: dir }),
                Err(e) => em.important(Event::Error(e.message())),
            }
        } else if !save {
            em.important(Event::info(LogKind::NotSaved, "stopped without saving"));
        }
        if let Some(e) = &error {
            em.important(Event::Error(e.message()));
        }
        self.state.elapsed_secs = self.clock.elapsed();
        let summary = Summary {
            run_dir: self.run_dir.clone(),
            steps: self.state.step,
            tokens: self.state.tokens_seen,
            elapsed_secs: self.state.elapsed_secs,
            mean_tok_per_sec: mean_tok_per_sec(self.state.timed_tokens, self.state.train_secs),
            train_secs: self.state.train_secs,
            best_val_loss: self.state.best_val,
            final_val_loss: self.last_eval.as_ref().map(|e| e.loss),
            final_val_ppl: self.last_eval.as_ref().map(|e| e.ppl),
            final_val_bpc: self.last_eval.as_ref().map(|e| e.bpc),
            fsp: pace.last_fsp,
            stopped_early: user_stop.is_some() || error.is_some(),
        };
        let _ = self.metrics.write("summary", &summary);
        status(em, RunState::Finished, "finished");
        em.important(Event::Finished(summary));
    }

    /// Writes a checkpoint of the current weights, optimizer and state to `dir`.
    pub(super) fn save(&mut self, dir: &Path, kind: &str) -> Result<(), TrainError> {
        if !self.is_root() {
            return Ok(());
        }
        self.state.elapsed_secs = self.clock.elapsed();
        let aliases = self.model.tied_aliases();
        checkpoint::save(
            dir,
            &SaveRequest {
                layout: self.model.layout(),
                aliases: &aliases,
                params: &self.params,
                adam: Some((&self.adam_m, &self.adam_v)),
                tokenizer_json: &self.tokenizer_json,
                preset_text: &self.preset_text,
                state: &self.state,
                kind,
            },
        )
        .map_err(|source| TrainError::Save { dir: dir.to_path_buf(), source })
    }
}
