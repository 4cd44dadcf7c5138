//! The protocol between the trainer thread and its consumers (the headless
//! printer, the TUI): [`Command`]s in, [`Event`]s out, over crossbeam channels
//! (`engine/channel.rs`: the channels and the trainer's delivery policy), and
//! one rendering of events as log lines ([`log_line`]) that every front-end uses.

mod channel;
mod log;

pub use channel::{Emitter, EngineHandle, Slot, EVENT_CAPACITY};
pub use log::{clock, log_line};

use crate::generate::SampleParams;
use crate::precision::Precision;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a consumer asks of the trainer.
#[derive(Clone, Debug)]
pub enum Command {
    /// Stop stepping until [`Command::Resume`]; commands are still read.
    Pause,
    /// Continue after [`Command::Pause`].
    Resume,
    /// Stop the run; with `save`, a final eval and `last/` are written first
    /// (a second stop skips the final eval).
    Stop { save: bool },
    /// Write a checkpoint of the current weights to `step-N/` now.
    SaveNow,
    /// Sample from a snapshot of the current weights on a separate thread;
    /// the text streams back as [`Event::Generated`] with the same `id`.
    Sample { id: u64, prompt: String, params: SampleParams },
    /// Evaluate, take a sample and refresh the heatmaps now (between two steps).
    EvaluateNow,
}

/// The trainer's phase, as shown in a status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RunState {
    /// Loading a checkpoint, reading and encoding the corpus, training a tokenizer.
    Preparing,
    /// Taking optimiser steps.
    Running,
    /// Stopped by [`Command::Pause`]; commands are still read.
    Paused,
    /// A validation pass (with the probes), periodic or final.
    Evaluating,
    /// Writing `last/` at the end of the run.
    Saving,
    /// The run is over.
    Finished,
}

/// One optimiser step (also a `step` line of metrics.jsonl).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Steps taken, this one included.
    pub step: u64,
    /// Mean training loss over the step's micro-batches (nats per token):
    /// the next-token CE, without any auxiliary term.
    pub loss: f64,
    /// Mean FSP loss over the step's micro-batches, when the run trains with FSP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsp: Option<f64>,
    pub lr: f32,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Tokens seen in total.
    pub tokens: u64,
    /// Wall time of the run so far (training and evaluation, every session).
    pub elapsed_secs: f64,
    pub step_ms: f64,
    pub tok_per_sec: f64,
    /// Time left until the budget is spent, when it can be told yet.
    pub eta_secs: Option<f64>,
    /// The LR schedule's length in steps (for a minutes budget: the current
    /// estimate, re-made as step times change).
    pub horizon: Option<u64>,
    /// The run's mean throughput so far ([`mean_tok_per_sec`]).
    pub mean_tok_per_sec: f64,
    /// Processes training the run together (data-parallel), when more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranks: Option<usize>,
    /// Milliseconds this step spent summing gradients across the ranks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allreduce_ms: Option<f64>,
}

/// The one definition of a run's mean tok/s, used by the dashboard, the
/// summary and `runs`: tokens trained divided by the seconds spent in
/// optimiser steps (evaluation, sampling and saving excluded), over every
/// session of the run whose step times are known.
pub fn mean_tok_per_sec(timed_tokens: u64, train_secs: f64) -> f64 {
    if train_secs > 0.0 {
        timed_tokens as f64 / train_secs
    } else {
        0.0
    }
}

/// One validation pass (also an `eval` line of metrics.jsonl).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub step: u64,
    pub tokens: u64,
    pub elapsed_secs: f64,
    /// Mean validation loss (nats per token), its perplexity and bits per UTF-8 byte.
    pub loss: f64,
    pub ppl: f64,
    pub bpc: f64,
    /// The best validation loss so far: `best/` was written.
    pub best: bool,
    /// Windows evaluated: all of the validation set's, or a quick first look
    /// at a few of them (not compared with the best, no recall probe).
    pub windows: usize,
    pub quick: bool,
}

/// When a run evaluates and samples, as front-ends describe it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CadenceInfo {
    /// Steps between evaluations; `None`: on the clock.
    pub eval_every: Option<u64>,
    /// Steps between samples; `None`: on the clock.
    pub sample_every: Option<u64>,
    /// On the clock: seconds after training starts of the first look.
    pub first_view_secs: Option<f64>,
}

impl CadenceInfo {
    /// "every 20 steps", or when the clock brings the next one.
    pub fn eval_text(&self) -> String {
        match (self.eval_every, self.first_view_secs) {
            (Some(n), _) => format!("every {n} steps"),
            (None, Some(s)) => format!("first ~{s:.0} s after training starts, then every few minutes"),
            (None, None) => "every few minutes".into(),
        }
    }

    pub fn sample_text(&self) -> String {
        match (self.sample_every, self.first_view_secs) {
            (Some(n), _) => format!("every {n} steps"),
            (None, Some(s)) => format!("first ~{s:.0} s after training starts, then every minute or more"),
            (None, None) => "every minute or more".into(),
        }
    }
}

/// How a run ended (also the `summary` line of metrics.jsonl).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub run_dir: PathBuf,
    pub steps: u64,
    pub tokens: u64,
    pub elapsed_secs: f64,
    /// The run's mean throughput ([`mean_tok_per_sec`]).
    pub mean_tok_per_sec: f64,
    /// Seconds spent in optimiser steps over the run (what the mean divides by).
    pub train_secs: f64,
    pub best_val_loss: Option<f64>,
    pub final_val_loss: Option<f64>,
    pub final_val_ppl: Option<f64>,
    pub final_val_bpc: Option<f64>,
    /// FSP loss of the last step, when the run trains with FSP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsp: Option<f64>,
    /// Stopped by a command or an error before the budget was spent.
    pub stopped_early: bool,
}

/// Each layer's memory matrix after the probe sequence (v7.2's Hebbian
/// d_mem × d_mem, v9.7's slots × d_v, as `LanguageModel::memory_dims` says),
/// rows pooled to at most [`MAX_MEMORY_CELLS`] values per layer.
#[derive(Clone, Debug)]
pub struct MemorySnapshot {
    pub step: u64,
    pub layers: Vec<Array2<f32>>,
}

/// At most this many values per layer in a snapshot: a larger memory has its
/// rows pooled in equal groups (the heatmap pools further to fit its pane).
pub const MAX_MEMORY_CELLS: usize = 1 << 16;

impl MemorySnapshot {
    /// Source rows per snapshot row for a memory of shape `dims`.
    pub fn row_group(dims: &crate::model::MemoryDims) -> usize {
        dims.rows.saturating_mul(dims.cols).div_ceil(MAX_MEMORY_CELLS).max(1)
    }

    /// One layer's matrix from the decoder's row-major `data` \[rows × cols\]:
    /// rows pooled in groups of [`MemorySnapshot::row_group`] (the mean, or for
    /// a slot memory the entry of largest magnitude, sign kept); zeros when
    /// `data` is not rows × cols long.
    pub fn layer(data: &[f32], dims: &crate::model::MemoryDims) -> Array2<f32> {
        let (rows, cols) = (dims.rows.max(1), dims.cols.max(1));
        let g = Self::row_group(dims);
        let mut m = Array2::zeros((rows.div_ceil(g), cols));
        if data.len() != rows * cols {
            return m;
        }
        let max_abs = dims.kind.max_abs_pool();
        for (o, group) in data.chunks(g * cols).enumerate() {
            let n = (group.len() / cols) as f32;
            for c in 0..cols {
                let col = group.iter().skip(c).step_by(cols);
                m[(o, c)] = if max_abs { col.fold(0.0f32, |a, &v| if v.abs() > a.abs() { v } else { a }) } else { col.sum::<f32>() / n };
            }
        }
        m
    }
}

/// One distance bucket's result. Losses are mean nats on the name token.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecallBucket {
    /// Inclusive distance range in tokens.
    pub lo: usize,
    pub hi: usize,
    pub n: usize,
    pub loss: f64,
    pub swapped_loss: f64,
}

impl RecallBucket {
    /// Swapped minus original loss: > 0 means the model used the earlier name.
    pub fn gap(&self) -> f64 {
        self.swapped_loss - self.loss
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecallReport {
    pub stories: usize,
    /// Stories skipped because token and byte offsets could not be matched
    /// (e.g. a tokenizer that maps unknown words to `<unk>`).
    pub skipped_stories: usize,
    pub receptive_field: Option<usize>,
    pub buckets: Vec<RecallBucket>,
}

impl RecallReport {
    /// A few lines for the terminal and the TUI log.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let basis = match self.receptive_field {
            Some(rf) => format!("receptive field {rf} tokens"),
            None => "no finite receptive field: fixed buckets".into(),
        };
        out.push(format!("recall probe on {} built-in stories ({basis}):", self.stories));
        for b in &self.buckets {
            if b.n == 0 {
                out.push(format!("  distance {:>3}–{:<3}: no re-mentions", b.lo, b.hi));
            } else {
                out.push(format!(
                    "  distance {:>3}–{:<3}: {:>4} names  loss {:.3}  swapped {:.3}  gap {:+.3}",
                    b.lo,
                    b.hi,
                    b.n,
                    b.loss,
                    b.swapped_loss,
                    b.gap()
                ));
            }
        }
        if self.skipped_stories > 0 {
            out.push(format!("  ({} stories skipped: their tokens do not map back to byte offsets)", self.skipped_stories));
        }
        out
    }
}

/// How much a log line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Level {
    /// Worth knowing; nothing is wrong.
    Info,
    /// Something the user may want to act on; the run goes on.
    Warn,
    /// Something failed.
    Error,
}

/// What an [`Event::Log`] line reports, so consumers (and tests) can react to
/// it without reading its text.
#[derive(Clone, Debug, PartialEq)]
pub enum LogKind {
    /// A line to show; nothing to react to.
    Note,
    /// A tokenizer was trained on the corpus and cached.
    TokenizerTrained,
    /// A streamed corpus was encoded into the token cache.
    CorpusEncoded,
    /// The tokenizer produces only part of the model's vocab: `unused` ids are never seen.
    UnusedIds { unused: usize },
    /// A resumed run reads another corpus than its checkpoint's: the data order restarts.
    CorpusChanged,
    /// Reference weights were imported (they predict the token after next, spec D3).
    ReferenceWeights,
    /// A resumed run got a new total budget; the LR horizon is recomputed.
    NewBudget,
    /// A resumed run continues in another precision than it trained with until `step`.
    PrecisionChanged { was: Precision, now: Precision, step: u64 },
    /// Step `step` had a non-finite loss or gradient norm and was skipped.
    StepSkipped { step: u64 },
    /// A minutes budget set (or re-estimated) the LR horizon at `steps`.
    HorizonFixed { steps: u64 },
    /// The warm-up did not fit the budget and was shortened to `to` steps.
    WarmupShortened { from: u64, to: u64 },
    /// An evaluation was interrupted or gave a non-finite loss; nothing was recorded.
    EvalIncomplete,
    /// A checkpoint could not be written; the run goes on.
    SaveFailed,
    /// The run ends without writing `last/`.
    NotSaved,
}

/// What the trainer tells its consumers. Rare events are never dropped;
/// [`Event::Step`] may be when a consumer falls behind ([`Emitter`]).
#[derive(Clone, Debug)]
pub enum Event {
    /// The trainer's phase changed; `detail` says what it is doing.
    Status { state: RunState, detail: String },
    /// Training is about to begin: the run folder and the sizes of everything.
    Started {
        run_dir: PathBuf,
        /// The preset's name.
        preset: String,
        params: usize,
        /// Tokens per optimiser step (all micro-batches).
        tokens_per_step: usize,
        train_tokens: usize,
        valid_tokens: usize,
        /// The checkpoint's step when the run was resumed.
        resumed_from: Option<u64>,
        /// The preset's interval of step lines in metrics.jsonl (and the headless printer).
        log_every: u64,
        /// When the run evaluates and samples.
        cadence: CadenceInfo,
    },
    /// An optimiser step was taken.
    Step(StepMetrics),
    /// A validation pass finished.
    Eval(EvalMetrics),
    /// A periodic sample from the current weights, `text` starting with the prompt.
    Sample { step: u64, prompt: String, text: String },
    /// The text so far of a [`Command::Sample`] request (`done` on the last).
    Generated { id: u64, text: String, done: bool },
    /// The long-range recall probe at an eval (held-out built-in stories).
    Recall { step: u64, report: RecallReport },
    /// Share of −1 / 0 / +1 in each ternary matrix (ternary presets, at every eval).
    Ternary { step: u64, shares: Vec<crate::model::TernaryShare> },
    /// New heatmaps are in the engine's memory slot.
    MemoryUpdated { step: u64 },
    /// A checkpoint was written to `path`.
    CheckpointSaved { step: u64, path: PathBuf },
    /// A line for the run's log: information or a warning; the run goes on.
    Log { level: Level, kind: LogKind, text: String },
    /// The run failed (it could not start, or it stopped on an error); the
    /// text names what and why.
    Error(String),
    /// The run is over; the last event.
    Finished(Summary),
}

impl Event {
    /// An informational log line.
    pub fn info(kind: LogKind, text: impl Into<String>) -> Event {
        Event::Log { level: Level::Info, kind, text: text.into() }
    }

    /// A warning log line.
    pub fn warn(kind: LogKind, text: impl Into<String>) -> Event {
        Event::Log { level: Level::Warn, kind, text: text.into() }
    }
}
