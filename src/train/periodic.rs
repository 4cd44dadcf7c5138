//! What a run does every few steps besides stepping: evaluate (with the
//! recall probe, ternary shares and memory heatmaps), sample, checkpoint.

use super::commands::Control;
use super::eval::evaluate;
use super::probe::{probe_stories, recall_probe_in};
use super::session::{status, Pace, Session};
use crate::data::tokenizer::EOS;
use crate::engine::{Emitter, EvalMetrics, Event, LogKind, MemorySnapshot, RunState, Slot};
use crate::generate::{generate, SampleParams};
use ndarray::Array2;
use std::cell::RefCell;
use std::time::Instant;

/// Stories the recall probe reads at every evaluation (a few seconds for v7.2).
const PROBE_STORIES: usize = 16;

impl Session {
    /// After a step: the evaluation, sample and checkpoint that fall due
    /// (none once the budget is spent: the end of the run does its own).
    pub(super) fn when_due(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, memory: &Slot<MemorySnapshot>, pace: &mut Pace) {
        let tr = &self.preset.train;
        let (s, eval_every, sample_every, checkpoint_every) = (self.state.step, tr.eval_every, tr.sample_every, tr.checkpoint_every);
        let done = self.budget_reached();
        if s.is_multiple_of(eval_every) && !done {
            status(em, RunState::Evaluating, "evaluating");
            pace.shown = RunState::Evaluating;
            self.eval(em, ctl, memory, true);
        }
        if s.is_multiple_of(sample_every) && !done {
            self.periodic_sample(em);
        }
        if self.cfg.overrides.save_every.is_some_and(|n| s.is_multiple_of(n)) && !done {
            let dir = self.run_dir.join("last");
            match self.save(&dir, "last") {
                Ok(()) => em.important(Event::CheckpointSaved { step: s, path: dir }),
                Err(e) => em.important(Event::warn(LogKind::SaveFailed, e.message())),
            }
        }
        if s.is_multiple_of(checkpoint_every) && !done {
            let dir = self.run_dir.join(format!("step-{s}"));
            match self.save(&dir, "periodic") {
                Ok(()) => em.important(Event::CheckpointSaved { step: s, path: dir }),
                Err(e) => em.important(Event::warn(LogKind::SaveFailed, e.message())),
            }
        }
    }

    /// Validation on the fixed windows; saves best/ on improvement; refreshes heatmaps.
    /// `interruptible`: a stop request ends a periodic eval; the final eval ends only on a second stop.
    pub(super) fn eval(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, memory: &Slot<MemorySnapshot>, interruptible: bool) {
        let t0 = Instant::now();
        let (b, t) = (self.preset.train.batch, self.preset.train.seq_len);
        let stop = || {
            let mut c = ctl.borrow_mut();
            let stopping = c.poll();
            c.abort || (interruptible && stopping)
        };
        let res = evaluate(&*self.model, &mut self.ws, &self.params, &self.valid, &self.val_windows, t, b, &self.bytes_of, &stop);
        self.state.elapsed_secs += t0.elapsed().as_secs_f64();
        let Some(res) = res else {
            em.important(Event::info(LogKind::EvalIncomplete, "evaluation interrupted"));
            return;
        };
        if !res.loss.is_finite() {
            em.important(Event::warn(LogKind::EvalIncomplete, format!("step {}: validation loss is {}", self.state.step, res.loss)));
            return;
        }
        let best = self.state.best_val.is_none_or(|bv| res.loss < bv);
        let m = EvalMetrics {
            step: self.state.step,
            tokens: self.state.tokens_seen,
            elapsed_secs: self.state.elapsed_secs,
            loss: res.loss,
            ppl: res.ppl,
            bpc: res.bpc,
            best,
        };
        let _ = self.metrics.write("eval", &m);
        em.important(Event::Eval(m));
        // the recall probe on a few held-out built-in stories (numbered after the preset's own)
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
        if best {
            self.state.best_val = Some(res.loss);
            let dir = self.run_dir.join("best");
            match self.save(&dir, "best") {
                Ok(()) => em.important(Event::CheckpointSaved { step: self.state.step, path: dir }),
                Err(e) => em.important(Event::warn(LogKind::SaveFailed, e.message())),
            }
        }
        if self.model.memory_dims().is_some() {
            memory.put(self.memory_snapshot(t));
            em.important(Event::MemoryUpdated { step: self.state.step });
        }
    }

    /// Each layer's Hebbian matrix after the probe sequence (the first validation window).
    fn memory_snapshot(&self, t: usize) -> MemorySnapshot {
        let probe: Vec<u32> = self.valid.as_slice()[..t.min(self.valid.len())].iter().map(|&v| v as u32).collect();
        let mut dec = self.model.decoder(&self.params);
        for &tok in &probe {
            dec.step(tok);
        }
        let dm = self.model.memory_dims().map_or(0, |m| m.d_mem);
        let layers =
            dec.memory().iter().map(|l| Array2::from_shape_vec((dm, dm), l.to_vec()).unwrap_or_else(|_| Array2::zeros((dm, dm)))).collect();
        MemorySnapshot { step: self.state.step, layers }
    }

    fn periodic_sample(&mut self, em: &mut Emitter) {
        let prompt = self.cfg.sample_prompt.clone();
        let Ok(ids) = self.tokenizer.encode_prompt(&prompt) else {
            return;
        };
        let p = SampleParams { max_tokens: 60, seed: self.state.rng.next_u64(), ..SampleParams::default() };
        let out = generate(&*self.model, &self.params, &ids, &self.banned, EOS, &p, |_| true);
        let text = format!("{prompt}{}", self.tokenizer.decode(&out));
        let _ = self.metrics.write("sample", &serde_json::json!({"step": self.state.step, "text": text}));
        em.important(Event::Sample { step: self.state.step, prompt, text });
    }
}
