//! What a run does every so often besides stepping: evaluate (with the
//! recall probe, ternary shares and memory heatmaps), sample, checkpoint.
//! When is cadence.rs's to say. None of it changes training: evaluation
//! reads the weights, and a sample's randomness comes from the run's seed
//! and the step, not from anything training draws from.

use super::cadence::{EvalKind, QUICK_WINDOWS};
use super::commands::Control;
use super::eval::evaluate;
use super::probe::{probe_stories, recall_probe_in};
use super::session::{status, Pace, Session};
use crate::data::tokenizer::EOS;
use crate::engine::{Emitter, EvalMetrics, Event, LogKind, MemorySnapshot, RunState};
use crate::generate::{generate, SampleParams};
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

/// Stories the recall probe reads at every full evaluation (a few seconds for v7.2).
const PROBE_STORIES: usize = 16;
/// An evaluation's progress is shown at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(300);

impl Session {
    /// After a step: the evaluation, sample and checkpoint that fall due
    /// (none once the budget is spent: the end of the run does its own).
    pub(super) fn when_due(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, pace: &mut Pace) {
        // rank 0 alone evaluates, samples and saves; the others wait for it at the next step
        if self.budget_reached() || !self.is_root() {
            return;
        }
        let s = self.state.step;
        let due = self.schedule.due(s, self.clock.now());
        if let Some(kind) = due.eval {
            pace.shown = RunState::Evaluating;
            self.eval(em, ctl, kind, true, if kind == EvalKind::Quick { "first look" } else { "evaluating" });
        }
        if due.sample {
            self.periodic_sample(em);
        }
        if self.cfg.overrides.save_every.is_some_and(|n| s.is_multiple_of(n)) {
            let dir = self.run_dir.join("last");
            match self.save(&dir, "last") {
                Ok(()) => em.important(Event::CheckpointSaved { step: s, path: dir }),
                Err(e) => em.important(Event::warn(LogKind::SaveFailed, e.message())),
            }
        }
        if s.is_multiple_of(self.preset.train.checkpoint_every) {
            let dir = self.run_dir.join(format!("step-{s}"));
            match self.save(&dir, "periodic") {
                Ok(()) => em.important(Event::CheckpointSaved { step: s, path: dir }),
                Err(e) => em.important(Event::warn(LogKind::SaveFailed, e.message())),
            }
        }
    }

    /// `v`: evaluate, sample and refresh the heatmaps now (the evaluation not
    /// again if this step was just evaluated).
    pub(super) fn look_now(&mut self, em: &mut Emitter, ctl: &RefCell<Control>) {
        if self.state.step == 0 {
            em.important(Event::info(LogKind::Note, "nothing to evaluate before the first step"));
            return;
        }
        if self.evaluated_at == Some(self.state.step) {
            em.important(Event::info(LogKind::Note, format!("step {} was just evaluated", self.state.step)));
        } else {
            self.eval(em, ctl, EvalKind::Full, true, "evaluating now");
        }
        self.periodic_sample(em);
    }

    /// Validation on the fixed windows (a few of them for a quick look);
    /// after a full one the recall probe, ternary shares and `best/` on
    /// improvement; the heatmaps after either. Its progress shows in the
    /// status detail. `interruptible`: a stop request ends it; else (the
    /// final evaluation) only a second stop does.
    pub(super) fn eval(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, kind: EvalKind, interruptible: bool, what: &str) {
        let began = self.clock.now();
        let quick = kind == EvalKind::Quick;
        let (b, t) = (self.preset.train.batch, self.preset.train.seq_len);
        let n_windows = if quick { QUICK_WINDOWS.min(self.val_windows.len()) } else { self.val_windows.len() };
        let batches = n_windows.div_ceil(b.max(1));
        status(em, RunState::Evaluating, format!("{what}: validation 0/{batches} batches"));
        let res = {
            let em = RefCell::new(&mut *em);
            let (done, shown) = (Cell::new(0usize), Cell::new(Instant::now()));
            let stop = || {
                let mut c = ctl.borrow_mut();
                let stopping = c.poll();
                let stop = c.abort || (interruptible && stopping);
                if !stop && done.get() > 0 && shown.get().elapsed() >= PROGRESS_EVERY {
                    shown.set(Instant::now());
                    status(&mut em.borrow_mut(), RunState::Evaluating, format!("{what}: validation {}/{batches} batches", done.get()));
                }
                done.set(done.get() + 1);
                stop
            };
            let windows = &self.val_windows[..n_windows];
            evaluate(&*self.model, &mut self.ws, &self.params, &self.valid, windows, t, b, &self.bytes_of, &stop)
        };
        self.state.elapsed_secs = self.clock.elapsed();
        let Some(res) = res else {
            em.important(Event::info(LogKind::EvalIncomplete, "evaluation interrupted"));
            return;
        };
        if !res.loss.is_finite() {
            em.important(Event::warn(LogKind::EvalIncomplete, format!("step {}: validation loss is {}", self.state.step, res.loss)));
            return;
        }
        let best = !quick && self.state.best_val.is_none_or(|bv| res.loss < bv);
        let m = EvalMetrics {
            step: self.state.step,
            tokens: self.state.tokens_seen,
            elapsed_secs: self.state.elapsed_secs,
            loss: res.loss,
            ppl: res.ppl,
            bpc: res.bpc,
            best,
            windows: n_windows,
            quick,
        };
        // a quick look is not comparable with full evaluations: its own line type
        let _ = self.metrics.write(if quick { "quick_eval" } else { "eval" }, &m);
        em.important(Event::Eval(m));
        if !quick {
            self.full_eval_extras(em, ctl, interruptible, what, best, res);
        }
        if self.model.memory_dims().is_some() {
            self.memory.put(self.memory_snapshot(t));
            em.important(Event::MemoryUpdated { step: self.state.step });
        }
        self.state.elapsed_secs = self.clock.elapsed();
        let ended = self.clock.now();
        self.schedule.evaluated(kind, ended, ended - began);
    }

    /// After a full evaluation: the recall probe (on a few held-out built-in
    /// stories, numbered after the preset's own), the ternary shares, `best/`.
    fn full_eval_extras(
        &mut self,
        em: &mut Emitter,
        ctl: &RefCell<Control>,
        interruptible: bool,
        what: &str,
        best: bool,
        res: super::eval::EvalResult,
    ) {
        let (b, t) = (self.preset.train.batch, self.preset.train.seq_len);
        let stop = || {
            let mut c = ctl.borrow_mut();
            let stopping = c.poll();
            c.abort || (interruptible && stopping)
        };
        status(em, RunState::Evaluating, format!("{what}: recall probe"));
        let probe = probe_stories(self.preset.data.builtin_seed, self.preset.data.builtin_stories as u64, PROBE_STORIES);
        let report = recall_probe_in(&*self.model, &self.params, &self.tokenizer, &probe, t, &mut self.ws, b, &stop);
        if let Some(report) = report {
            let _ = self.metrics.write("recall", &serde_json::json!({"step": self.state.step, "report": report}));
            em.important(Event::Recall { step: self.state.step, report });
        }
        let shares = self.model.ternary_shares(&self.params);
        if !shares.is_empty() {
            let _ = self.metrics.write("ternary", &serde_json::json!({"step": self.state.step, "shares": shares}));
            em.important(Event::Ternary { step: self.state.step, shares });
        }
        self.last_eval = Some(res.clone());
        self.evaluated_at = Some(self.state.step);
        if best {
            self.state.best_val = Some(res.loss);
            let dir = self.run_dir.join("best");
            match self.save(&dir, "best") {
                Ok(()) => em.important(Event::CheckpointSaved { step: self.state.step, path: dir }),
                Err(e) => em.important(Event::warn(LogKind::SaveFailed, e.message())),
            }
        }
    }

    /// Each layer's memory matrix after the probe sequence (the first validation window).
    fn memory_snapshot(&self, t: usize) -> MemorySnapshot {
        let probe: Vec<u32> = self.valid.as_slice()[..t.min(self.valid.len())].iter().map(|&v| v as u32).collect();
        let mut dec = self.model.decoder(&self.params);
        for &tok in &probe {
            dec.step(tok);
        }
        let layers = match self.model.memory_dims() {
            Some(dims) => dec.memory().iter().map(|l| MemorySnapshot::layer(l, &dims)).collect(),
            None => Vec::new(),
        };
        MemorySnapshot { step: self.state.step, layers }
    }

    /// A sample from the current weights; its seed depends only on the run's
    /// seed and the step.
    fn periodic_sample(&mut self, em: &mut Emitter) {
        let began = self.clock.now();
        let prompt = self.cfg.sample_prompt.clone();
        let Ok(ids) = self.tokenizer.encode_prompt(&prompt) else {
            return;
        };
        let seed = (self.state.seed ^ 0x5A5A_5A5A).wrapping_add(self.state.step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let p = SampleParams { max_tokens: 60, seed, ..SampleParams::default() };
        let out = generate(&*self.model, &self.params, &ids, &self.banned, EOS, &p, |_| true);
        let text = format!("{prompt}{}", self.tokenizer.decode(&out));
        let _ = self.metrics.write("sample", &serde_json::json!({"step": self.state.step, "text": text}));
        em.important(Event::Sample { step: self.state.step, prompt, text });
        let ended = self.clock.now();
        self.schedule.sampled(ended, ended - began);
    }
}
