//! The protocol between the trainer thread and its consumers (headless printer,
//! TUI): `Command`s in, `Event`s out, over crossbeam channels. The trainer never
//! blocks on a consumer: per-step metrics are dropped when the channel is full
//! (they are also in metrics.jsonl), rare events wait in a backlog, and heavy
//! payloads (memory heatmaps) go in a latest-value slot.

use crate::generate::SampleParams;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use ndarray::Array2;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub enum Command {
    Pause,
    Resume,
    /// Stop the run; with `save`, a final eval and `last/` are written first.
    Stop {
        save: bool,
    },
    SaveNow,
    /// Sample from a snapshot of the current weights on a separate thread.
    Sample {
        id: u64,
        prompt: String,
        params: SampleParams,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RunState {
    Preparing,
    Running,
    Paused,
    Evaluating,
    Saving,
    Finished,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepMetrics {
    pub step: u64,
    pub loss: f64,
    pub lr: f32,
    pub grad_norm: f64,
    pub tokens: u64,
    pub elapsed_secs: f64,
    pub step_ms: f64,
    pub tok_per_sec: f64,
    pub eta_secs: Option<f64>,
    pub horizon: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalMetrics {
    pub step: u64,
    pub tokens: u64,
    pub elapsed_secs: f64,
    pub loss: f64,
    pub ppl: f64,
    pub bpc: f64,
    pub best: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub run_dir: PathBuf,
    pub steps: u64,
    pub tokens: u64,
    pub elapsed_secs: f64,
    pub mean_tok_per_sec: f64,
    pub best_val_loss: Option<f64>,
    pub final_val_loss: Option<f64>,
    pub final_val_ppl: Option<f64>,
    pub final_val_bpc: Option<f64>,
    pub stopped_early: bool,
}

/// Each Hebbian layer's d_mem × d_mem memory matrix after the probe sequence.
#[derive(Clone, Debug)]
pub struct MemorySnapshot {
    pub step: u64,
    pub layers: Vec<Array2<f32>>,
}

#[derive(Clone, Debug)]
pub enum Event {
    Status {
        state: RunState,
        detail: String,
    },
    Started {
        run_dir: PathBuf,
        preset: String,
        params: usize,
        tokens_per_step: usize,
        train_tokens: usize,
        valid_tokens: usize,
        resumed_from: Option<u64>,
        log_every: u64,
    },
    Step(StepMetrics),
    Eval(EvalMetrics),
    Sample {
        step: u64,
        prompt: String,
        text: String,
    },
    /// A token streamed from a `Command::Sample` request (`done` on the last).
    Generated {
        id: u64,
        text: String,
        done: bool,
    },
    /// The long-range recall probe at an eval (held-out built-in stories).
    Recall {
        step: u64,
        report: crate::train::probe::RecallReport,
    },
    /// Share of −1 / 0 / +1 in each ternary matrix (ternary presets, at every eval).
    Ternary {
        step: u64,
        shares: Vec<crate::model::TernaryShare>,
    },
    /// New heatmaps are in the engine's memory slot.
    MemoryUpdated {
        step: u64,
    },
    CheckpointSaved {
        step: u64,
        path: PathBuf,
    },
    Warning(String),
    Error(String),
    Finished(Summary),
}

/// A latest-value slot: writers replace, readers take the newest.
#[derive(Clone, Default)]
pub struct Slot<T>(Arc<Mutex<Option<T>>>);

impl<T> Slot<T> {
    pub fn new() -> Self {
        Slot(Arc::new(Mutex::new(None)))
    }
    pub fn put(&self, v: T) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(v);
        }
    }
    pub fn take(&self) -> Option<T> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

/// The trainer's side of the event channel.
pub struct Emitter {
    tx: Sender<Event>,
    backlog: VecDeque<Event>,
}

impl Emitter {
    pub fn new(tx: Sender<Event>) -> Self {
        Emitter { tx, backlog: VecDeque::new() }
    }

    /// Per-step metrics: dropped if the consumer is behind.
    pub fn metric(&mut self, ev: Event) {
        self.flush();
        if self.backlog.is_empty() {
            let _ = self.tx.try_send(ev);
        }
    }

    /// Rare events: never dropped, never blocking (kept in a backlog while the channel is full).
    pub fn important(&mut self, ev: Event) {
        self.backlog.push_back(ev);
        self.flush();
    }

    pub fn flush(&mut self) {
        while let Some(ev) = self.backlog.pop_front() {
            match self.tx.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(ev)) => {
                    self.backlog.push_front(ev);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    /// At the end of a run: wait (briefly) for the consumer to take the backlog.
    pub fn drain(&mut self, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while let Some(ev) = self.backlog.pop_front() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.tx.send_timeout(ev, left).is_err() {
                self.backlog.clear();
                return;
            }
        }
    }

    pub fn sender(&self) -> Sender<Event> {
        self.tx.clone()
    }
}

/// What a consumer holds: command sender, event receiver, the heatmap slot and the thread.
pub struct EngineHandle {
    pub commands: Sender<Command>,
    pub events: Receiver<Event>,
    pub memory: Slot<MemorySnapshot>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

pub const EVENT_CAPACITY: usize = 1024;
