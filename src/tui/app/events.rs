//! How the App takes what arrives from outside the keyboard: the trainer's
//! events, its thread ending, the memory slot, conv taps and run records read
//! from disk, and a sampler's output.

use super::log::Level;
use super::run::{HeatData, HeatKind};
use super::App;
use crate::engine::{Event, MemorySnapshot, RunState};
use crate::runs::RunRecord;
use ndarray::Array2;
use std::path::PathBuf;

impl App {
    /// One event from the trainer (or from a checkpoint sampler).
    pub fn on_event(&mut self, ev: Event) {
        self.dirty = true;
        if let Event::Generated { id, text, done } = ev {
            self.sampling.on_generated(id, text, done);
            return;
        }
        let Some(run) = self.run.as_mut() else {
            // events with no run: only messages are worth keeping
            if let Event::Log { .. } | Event::Error(_) = &ev {
                if let Some((level, text)) = crate::engine::log_line(&ev) {
                    self.push_log(Level::from(level), text);
                }
            }
            return;
        };
        let finished = matches!(ev, Event::Finished(_));
        if matches!(ev, Event::CheckpointSaved { .. }) && self.status.as_deref() == Some(super::dashboard::SAVING) {
            self.status = None;
        }
        let stopping = match &ev {
            Event::Status { state, detail } if self.quitting.is_some() && *state != RunState::Finished => Some(detail.clone()),
            _ => None,
        };
        let log = run.apply(ev);
        if finished {
            if let Some(ck) = run.best_ckpt.clone().or(run.last_ckpt.clone()) {
                self.sampling.use_checkpoint(ck);
            }
            if self.quitting.is_some() {
                self.should_quit = true;
            }
        }
        for (level, text) in log {
            self.push_log(level, text);
        }
        if let Some(detail) = stopping {
            self.stopping_status(&detail);
        }
    }

    /// The trainer's channel closed (its thread ended).
    pub fn on_engine_gone(&mut self) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if !run.engine_alive {
            return;
        }
        run.engine_alive = false;
        self.dirty = true;
        if run.summary.is_none() {
            let msg = run.error.clone().map(|e| format!("the trainer stopped: {e}")).unwrap_or_else(|| "the trainer stopped".into());
            if run.error.is_none() {
                run.error = Some(msg.clone());
                self.push_log(Level::Error, msg);
            }
        }
        if self.quitting.is_some() {
            self.should_quit = true;
        }
    }

    /// New Hebbian memory matrices from the engine's slot.
    pub fn on_memory(&mut self, m: MemorySnapshot) {
        if let Some(run) = self.run.as_mut() {
            run.set_heat(HeatData { kind: HeatKind::Memory, step: m.step, layers: m.layers });
            self.dirty = true;
        }
    }

    /// Conv taps read from a checkpoint (presets without memory).
    pub fn on_conv_taps(&mut self, checkpoint: PathBuf, step: u64, layers: Vec<Array2<f32>>) {
        if let Some(run) = self.run.as_mut() {
            if !run.has_memory {
                run.set_heat(HeatData { kind: HeatKind::ConvTaps { checkpoint }, step, layers });
                self.dirty = true;
            }
        }
    }

    /// The history of a resumed run, read from its metrics.jsonl.
    pub fn preload(&mut self, rec: &RunRecord) {
        if let Some(run) = self.run.as_mut() {
            run.preload(rec);
            self.dirty = true;
        }
    }

    pub fn set_runs(&mut self, runs: Vec<RunRecord>) {
        self.runs.set(runs);
        self.picker.refresh_checkpoints(&self.opts.runs_root);
        self.dirty = true;
    }
}
