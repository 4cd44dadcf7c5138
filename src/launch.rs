//! What the terminal UI opens with, as the command line decided it. It sits
//! below both front-ends so `main.rs` can hand the CLI's decision to the TUI
//! without either front-end importing the other.

use crate::generate::SampleParams;
use crate::inference::{Loaded, ModelSource};
use crate::train::RunConfig;
use std::path::PathBuf;

/// How the TUI opens.
pub enum Launch {
    /// The preset picker (`flashlm-tui` in a terminal).
    Picker,
    /// The dashboard of a run started from the command line (`train` in a terminal).
    Train(Box<RunConfig>),
    /// The dashboard, read-only, on a run followed from its metrics.jsonl (`watch`).
    Watch(PathBuf),
    /// Only the sampling pane (`sample --interactive`), with the model already loaded.
    Sample { source: ModelSource, loaded: Option<Box<Loaded>>, prompt: String, params: SampleParams },
}

pub struct Options {
    pub launch: Launch,
    pub presets_dir: Option<PathBuf>,
    pub runs_root: PathBuf,
    pub threads: usize,
}

/// What the caller prints once the terminal is back.
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Option<String>,
    pub error: Option<String>,
    pub note: Option<String>,
    /// Mean CPU use of the UI thread while training ran (% of one core).
    pub ui_cpu_percent: Option<f64>,
    /// The signal that ended the run (Ctrl-C counts as SIGINT): exit with 128 + it.
    pub signal: Option<i32>,
}
