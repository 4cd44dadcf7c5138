//! A sweep folder: `sweep.ron` (the sweep file), one run folder per run
//! (`run-003-…`, each written by one process only, under the run lock), the
//! job-array script, and per run `eval.json` and, when it failed, `error.txt`.
//! Nothing is shared between runs but `sweep.ron`, written once atomically.

use super::{io_err, Run, SweepError};
use crate::train::RunConfig;
use std::path::{Path, PathBuf};

/// The sweep file's copy in the sweep folder.
pub const SWEEP_FILE: &str = "sweep.ron";
/// A run's evaluation after training.
pub const EVAL_FILE: &str = "eval.json";
/// Why a run failed (removed when it starts again).
pub const ERROR_FILE: &str = "error.txt";

/// Whether `dir` is a sweep folder.
pub fn is_sweep_dir(dir: &Path) -> bool {
    dir.join(SWEEP_FILE).is_file()
}

/// Creates the sweep folder and puts the sweep file in it; a folder that
/// holds a different sweep is refused (its runs would not match their ids).
pub fn init_dir(dir: &Path, text: &str) -> Result<PathBuf, SweepError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(SWEEP_FILE);
    match std::fs::read_to_string(&path) {
        Ok(old) if old == text => {}
        Ok(_) => {
            return Err(SweepError::Invalid(format!(
                "{} holds another sweep ({} differs from this sweep file); give another --dir, or run `flashlm-tui sweep {}`",
                dir.display(),
                path.display(),
                path.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // several job-array tasks may get here at once: each writes the same text atomically
            crate::data::write_atomic(&path, text.as_bytes()).map_err(|e| SweepError::Invalid(e.to_string()))?;
        }
        Err(e) => return Err(SweepError::Io { path, source: e }),
    }
    Ok(path)
}

/// A run's folder in the sweep folder.
pub fn run_dir(sweep_dir: &Path, run: &Run) -> PathBuf {
    sweep_dir.join(run.folder_name())
}

/// How a run should start, from what its folder holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// Nothing trained yet (a failed attempt without a checkpoint was cleared).
    Fresh,
    /// A run stopped early (a job killed by its scheduler): go on from this checkpoint.
    Resume(PathBuf),
    /// The run finished: nothing to train.
    Done,
}

/// What a run's folder says about it.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// No folder yet.
    Pending,
    /// Training or died (no summary yet).
    Unfinished,
    /// Ended before its budget (stopped, or an error).
    Stopped,
    Finished,
    /// `--run` failed; the first line of why.
    Failed(String),
}

impl Status {
    pub fn label(&self) -> String {
        match self {
            Status::Pending => "pending".into(),
            Status::Unfinished => "unfinished".into(),
            Status::Stopped => "stopped".into(),
            Status::Finished => "finished".into(),
            Status::Failed(why) => format!("failed: {why}"),
        }
    }
}

/// The run's status from its folder.
pub fn status(dir: &Path) -> Status {
    if !dir.is_dir() {
        return Status::Pending;
    }
    if let Ok(t) = std::fs::read_to_string(dir.join(ERROR_FILE)) {
        return Status::Failed(t.lines().next().unwrap_or("").chars().take(120).collect());
    }
    match last_summary(dir) {
        None => Status::Unfinished,
        Some(true) => Status::Stopped,
        Some(false) => Status::Finished,
    }
}

/// `stopped_early` of the last summary in metrics.jsonl, if there is one.
fn last_summary(dir: &Path) -> Option<bool> {
    let path = dir.join("metrics.jsonl");
    crate::util::regular_file(&path).ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("type").and_then(|t| t.as_str()) == Some("summary"))
        .map(|v| v.get("stopped_early").and_then(|s| s.as_bool()).unwrap_or(false))
}

/// How to start the run in `dir`: done, resumed from `last/`, or fresh
/// (a folder left by an attempt without a checkpoint is cleared first,
/// under its lock, so a run that is still training is never touched).
pub fn start(dir: &Path) -> Result<Start, SweepError> {
    if !dir.exists() {
        return Ok(Start::Fresh);
    }
    // finished, even if its evaluation failed afterwards (that is retried, not the training)
    if last_summary(dir) == Some(false) {
        return Ok(Start::Done);
    }
    let last = dir.join("last");
    if last.join(crate::train::checkpoint::META).is_file() {
        return Ok(Start::Resume(last));
    }
    let lock = crate::train::run::RunLock::acquire(dir).map_err(|e| SweepError::Invalid(e.to_string()))?;
    for f in ["metrics.jsonl", EVAL_FILE, ERROR_FILE] {
        match std::fs::remove_file(dir.join(f)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SweepError::Io { path: dir.join(f), source: e }),
        }
    }
    drop(lock);
    Ok(Start::Fresh)
}

/// Records why a run failed, for `runs --dir`.
pub fn mark_failed(dir: &Path, why: &str) {
    if dir.is_dir() {
        let _ = crate::data::write_atomic(&dir.join(ERROR_FILE), format!("{why}\n").as_bytes());
    }
}

/// Clears a failure record before a new attempt.
pub fn clear_failed(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(ERROR_FILE));
}

/// Where the run's data comes from, and how many threads it trains on.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub corpus: Option<PathBuf>,
    pub valid: Option<PathBuf>,
    pub threads: usize,
    /// Show the tokenizer's own progress bars.
    pub progress: bool,
}

/// The trainer's configuration for one run of the sweep: the overridden
/// preset, the sweep's budget, into `dir` (or on from `resume`).
pub fn run_config(
    run: &Run,
    budget: Option<crate::preset::Budget>,
    sweep_dir: &Path,
    dir: &Path,
    start: &Start,
    o: &RunOptions,
) -> RunConfig {
    RunConfig {
        preset: run.preset.clone(),
        preset_text: run.text.clone(),
        corpus: o.corpus.clone(),
        valid: o.valid.clone(),
        budget,
        threads: o.threads.max(1),
        seed: None,
        resume: match start {
            Start::Resume(ck) => Some(ck.clone()),
            _ => None,
        },
        import: None,
        runs_root: sweep_dir.to_path_buf(),
        run_dir: Some(dir.to_path_buf()),
        progress: o.progress,
        sample_prompt: "Once upon a time".into(),
        overrides: Default::default(),
        precision: Default::default(),
        // exact steps: a sweep's runs are reproducible
        cadence: Default::default(),
        ranks: None,
    }
}
