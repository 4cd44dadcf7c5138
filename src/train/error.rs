//! Why a run could not start or had to stop. Each variant says what the
//! trainer was doing and keeps the underlying error as its source; the user
//! sees the whole chain on one line ([`TrainError::message`]).

use super::checkpoint::CheckpointError;
use crate::data::DataError;
use crate::preset::PresetError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Memory(#[from] crate::limits::TooLarge),
    #[error("cannot resume")]
    Resume(#[source] CheckpointError),
    #[error("cannot apply the command-line overrides to the preset")]
    Overrides(#[source] PresetError),
    #[error("cannot read the training text")]
    Corpus(#[source] DataError),
    #[error("cannot read the validation text")]
    Valid(#[source] DataError),
    #[error("cannot hold out validation stories")]
    HoldOut(#[source] DataError),
    #[error("cannot prepare the tokenizer")]
    Tokenizer(#[source] DataError),
    #[error("{}", .path.display())]
    TokenizerFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the corpus")]
    Encode(#[source] DataError),
    #[error("cannot batch the training text")]
    Windows(#[source] DataError),
    #[error("validation text too small: {tokens} tokens, need at least one window of seq_len + 1 = {need} tokens")]
    ValidTooSmall { tokens: usize, need: usize },
    /// Reference weights that do not fit the preset's model (the message lists every mismatch).
    #[error("{0}")]
    Import(String),
    #[error(transparent)]
    Locked(super::run::LockError),
    #[error("{}: cannot create run folder", .root.display())]
    RunFolder {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot write metrics.jsonl", .dir.display())]
    Metrics {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the budget ({budget}) is already spent: the run is at step {step} ({tokens} tokens); give a larger total")]
    BudgetSpent { budget: String, step: u64, tokens: u64 },
    #[error("the {minutes}-minute budget is already spent ({:.1} minutes so far); a budget flag on resume is the new total", .spent_secs / 60.0)]
    MinutesSpent { minutes: f64, spent_secs: f64 },
    /// The two-lane step could not get its thread pools (the message says why).
    #[error("{0}")]
    Lanes(String),
    /// The run's ranks cannot share its steps (the message says why).
    #[error("cannot train with several processes: {0}")]
    Ranks(String),
    #[error(
        "--fsp cannot be added on resume: the checkpoint was trained without FSP, so it has no fsp_proj.weight; start a new run with --fsp"
    )]
    FspOnResume,
    #[error("{steps} non-finite steps in a row; stopping (weights are from the last good step)")]
    NonFinite { steps: u32 },
    #[error("could not save {}", .dir.display())]
    Save {
        dir: PathBuf,
        #[source]
        source: CheckpointError,
    },
}

impl TrainError {
    /// The error and its sources on one line, as the user reads it.
    pub fn message(&self) -> String {
        crate::util::error_chain(self)
    }
}
