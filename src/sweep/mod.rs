//! Sweeps: a RON file naming base presets, a budget and overrides, expanded
//! into numbered runs. Each run trains with the same engine as headless
//! `train` into its own folder of the sweep folder (`layout.rs`), optionally
//! followed by an evaluation (`evaluate.rs`); `table.rs` reads the folders
//! back into one table and `emit.rs` writes job-array scripts.
//!
//! ```text
//! (presets: ["tiny"], budget: Steps(30), grid: { "train.lr": [1e-3, 3e-3], "train.seed": [1, 2] })
//! ```

pub mod emit;
pub mod evaluate;
mod expand;
pub mod layout;
mod ordered;
pub mod table;

pub use expand::{apply_overrides, get_path, value_label, Run};
pub use ordered::OrderedMap;

use crate::preset::Budget;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A sweep file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// Base presets (names or .ron paths); each is crossed with `grid`.
    #[serde(default)]
    pub presets: Vec<String>,
    /// Every run's budget (default: each preset's own).
    #[serde(default)]
    pub budget: Option<Budget>,
    /// Overrides for every run (a grid point or list entry setting the same key wins).
    #[serde(default)]
    pub overrides: OrderedMap<Value>,
    /// Keys and their values: every combination is a run, for each of `presets`.
    #[serde(default)]
    pub grid: OrderedMap<Vec<Value>>,
    /// Explicit runs besides the grid: a preset and its overrides each.
    #[serde(default)]
    pub list: Vec<ListEntry>,
    /// Training text (a file or folder) for every run; `--corpus` wins.
    #[serde(default)]
    pub corpus: Option<PathBuf>,
    /// Validation text for every run; `--valid` wins.
    #[serde(default)]
    pub valid: Option<PathBuf>,
    /// An evaluation of each run's checkpoint after it trains.
    #[serde(default)]
    pub eval: Option<EvalSpec>,
}

/// One explicit run of `list`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEntry {
    pub preset: String,
    #[serde(default)]
    pub overrides: OrderedMap<Value>,
}

/// What to evaluate after each run, and on what.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// Text to evaluate on (default: the sweep's validation file).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// `Some("recall")`: the long-range recall probe too.
    #[serde(default)]
    pub probe: Option<String>,
    /// Built-in stories the probe reads.
    #[serde(default = "probe_stories")]
    pub probe_stories: usize,
    /// The probe's distance buckets (inclusive, in tokens), the same for every model.
    #[serde(default = "buckets")]
    pub buckets: Vec<(usize, usize)>,
    /// Evaluate at most this many windows of the text.
    #[serde(default)]
    pub max_windows: Option<usize>,
    /// Which checkpoint of the run: `last` or `best`.
    #[serde(default = "last")]
    pub checkpoint: String,
}

fn probe_stories() -> usize {
    200
}
fn buckets() -> Vec<(usize, usize)> {
    vec![(1, 85), (86, 256)]
}
fn last() -> String {
    "last".into()
}

/// The most runs a sweep may expand to (a typo in a grid multiplies quickly).
pub const MAX_RUNS: usize = 10_000;

/// The most a sweep file may hold.
pub const MAX_SWEEP_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{file}:{line}:{col}: {msg}")]
    Parse { file: String, line: usize, col: usize, msg: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io { path: path.to_path_buf(), source }
}

impl SweepFile {
    /// Parses a sweep file's text; `file` names it in errors. `Option`
    /// fields may be written with or without `Some(...)`.
    pub fn parse(text: &str, file: &str) -> Result<SweepFile, SweepError> {
        let opts = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .with_default_extension(ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES);
        let s: SweepFile = opts.from_str(text).map_err(|e| SweepError::Parse {
            file: file.into(),
            line: e.position.line,
            col: e.position.col,
            msg: format!("{} (a sweep file is `(presets: [\"tiny\"], budget: Steps(30), grid: {{ \"train.lr\": [1e-3, 3e-3] }})`; see `flashlm-tui sweep --help`)", e.code),
        })?;
        s.check(file)?;
        Ok(s)
    }

    /// Reads and parses a sweep file (a regular file of at most [`MAX_SWEEP_BYTES`]).
    pub fn read(path: &Path) -> Result<(SweepFile, String), SweepError> {
        let meta = crate::util::regular_file(path).map_err(io_err(path))?;
        if meta.len() > MAX_SWEEP_BYTES {
            return Err(SweepError::Invalid(format!(
                "{}: {} bytes; a sweep file is at most {MAX_SWEEP_BYTES} bytes",
                path.display(),
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Ok((SweepFile::parse(&text, &path.display().to_string())?, text))
    }

    fn check(&self, file: &str) -> Result<(), SweepError> {
        let bad = |msg: String| Err(SweepError::Invalid(format!("{file}: {msg}")));
        if self.presets.is_empty() && self.list.is_empty() {
            return bad(
                "no runs: name base presets (`presets: [\"tiny\"]`) or explicit runs (`list: [(preset: \"tiny\", overrides: {...})]`)"
                    .into(),
            );
        }
        if self.presets.is_empty() && !self.grid.is_empty() {
            return bad("a grid needs base presets: `presets: [\"tiny\"]`".into());
        }
        for (k, vals) in self.grid.iter() {
            if vals.is_empty() {
                return bad(format!("grid key `{k}` has no values"));
            }
        }
        match self.budget {
            Some(Budget::Steps(0)) | Some(Budget::Tokens(0)) => return bad("budget: 0; expected a positive budget".into()),
            Some(Budget::Minutes(m)) if !(m > 0.0 && m.is_finite()) => {
                return bad(format!("budget: {m} minutes; expected a positive number"))
            }
            _ => {}
        }
        if let Some(e) = &self.eval {
            if let Some(p) = e.probe.as_deref().filter(|p| *p != "recall") {
                return bad(format!("eval probe `{p}`: the one probe is `recall`"));
            }
            if !matches!(e.checkpoint.as_str(), "last" | "best") {
                return bad(format!("eval checkpoint `{}`: expected `last` or `best`", e.checkpoint));
            }
            if e.probe.is_some() && !(1..=crate::train::probe::MAX_PROBE_STORIES).contains(&e.probe_stories) {
                return bad(format!("eval probe_stories {}: expected 1..={}", e.probe_stories, crate::train::probe::MAX_PROBE_STORIES));
            }
            if e.buckets.is_empty() || e.buckets.iter().any(|&(lo, hi)| lo == 0 || lo > hi) {
                return bad(format!("eval buckets {:?}: expected ranges (lo, hi) with 1 ≤ lo ≤ hi", e.buckets));
            }
            if e.max_windows == Some(0) {
                return bad("eval max_windows: 0; expected ≥ 1".into());
            }
        }
        Ok(())
    }

    /// The runs, numbered from 0: every preset crossed with every grid
    /// point (the last key varying fastest), then the list entries; each
    /// with its overrides applied and validated as its preset would be.
    pub fn expand(&self, presets_dir: Option<&Path>) -> Result<Vec<Run>, SweepError> {
        expand::expand(self, presets_dir)
    }
}
