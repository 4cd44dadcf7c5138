//! Following a run from its `metrics.jsonl`, as the trainer's own consumer
//! would see it: the file is tailed (each poll reads only what was appended
//! since the last, a partly written last line waits for its newline) and each
//! record becomes the [`Event`] it was written from. `watch` shows any run,
//! running here, on another machine's shared disk, or long finished, on the
//! dashboard this way.

use crate::engine::{EvalMetrics, Event, LogKind, StepMetrics, Summary};
use crate::preset::Preset;
use serde::Deserialize;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// At most this much of the file is read per poll (a long run's history
/// arrives over a few polls instead of stalling one).
const MAX_READ: u64 = 8 << 20;

/// Why a folder cannot be followed.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("{}: no such folder", .0.display())]
    NotFound(PathBuf),
    #[error("{}: not a run folder (it has no metrics.jsonl); runs are the folders `flashlm-tui train` writes under checkpoints/", .0.display())]
    NotARun(PathBuf),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A run's `metrics.jsonl`, read as it grows.
#[derive(Debug)]
pub struct Follow {
    dir: PathBuf,
    path: PathBuf,
    /// Bytes consumed so far (complete lines and the partial one).
    offset: u64,
    /// The last line's bytes so far, until its newline comes.
    partial: Vec<u8>,
}

impl Follow {
    /// Follows the run in `dir`, from the start of its record.
    pub fn open(dir: &Path) -> Result<Follow, FollowError> {
        if !dir.is_dir() {
            return Err(FollowError::NotFound(dir.to_path_buf()));
        }
        let path = dir.join("metrics.jsonl");
        match crate::util::regular_file(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FollowError::NotARun(dir.to_path_buf())),
            Err(source) => return Err(FollowError::Io { path, source }),
        }
        Ok(Follow { dir: dir.to_path_buf(), path, offset: 0, partial: Vec::new() })
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The events of the records appended since the last poll (records that
    /// are not valid JSON of a known kind are passed over).
    pub fn poll(&mut self) -> Result<Vec<Event>, FollowError> {
        let io = |source| FollowError::Io { path: self.path.clone(), source };
        let mut f = std::fs::File::open(&self.path).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        if len < self.offset {
            // rewritten from scratch: read it again
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        f.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let before = self.partial.len();
        let read = f.take(MAX_READ).read_to_end(&mut self.partial).map_err(io)?;
        self.offset += read as u64;
        let mut events = Vec::new();
        let mut start = 0;
        // only the new bytes can hold a newline
        let mut from = before;
        while let Some(nl) = self.partial[from..].iter().position(|&b| b == b'\n') {
            let end = from + nl;
            if let Some(ev) = std::str::from_utf8(&self.partial[start..end]).ok().and_then(event_of_line) {
                events.push(ev);
            }
            start = end + 1;
            from = start;
        }
        self.partial.drain(..start);
        Ok(events)
    }
}

/// The event a `metrics.jsonl` record stands for.
pub fn event_of_line(line: &str) -> Option<Event> {
    #[derive(Deserialize)]
    struct Stepped<T> {
        step: u64,
        #[serde(flatten)]
        rest: T,
    }
    #[derive(Deserialize)]
    struct Text {
        text: String,
    }
    #[derive(Deserialize)]
    struct Report {
        report: crate::engine::RecallReport,
    }
    #[derive(Deserialize)]
    struct Shares {
        shares: Vec<crate::model::TernaryShare>,
    }
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let kind = v.get("type")?.as_str()?.to_string();
    Some(match kind.as_str() {
        "step" => Event::Step(StepMetrics::deserialize(v).ok()?),
        "eval" | "quick_eval" => Event::Eval(EvalMetrics::deserialize(v).ok()?),
        "summary" => Event::Finished(Summary::deserialize(v).ok()?),
        "sample" => {
            let s = Stepped::<Text>::deserialize(v).ok()?;
            Event::Sample { step: s.step, prompt: String::new(), text: s.rest.text }
        }
        "recall" => {
            let s = Stepped::<Report>::deserialize(v).ok()?;
            Event::Recall { step: s.step, report: s.rest.report }
        }
        "ternary" => {
            let s = Stepped::<Shares>::deserialize(v).ok()?;
            Event::Ternary { step: s.step, shares: s.rest.shares }
        }
        "skipped" => {
            let step = v.get("step")?.as_u64()?;
            Event::warn(LogKind::StepSkipped { step }, format!("step {step}: non-finite; step skipped, weights untouched"))
        }
        _ => return None,
    })
}

/// The preset a run trains: a checkpoint's own, else the built-in one its
/// folder is named after.
pub fn run_preset(dir: &Path) -> Option<Preset> {
    let from_checkpoint = crate::runs::checkpoints(dir).iter().find_map(|c| crate::train::checkpoint::read_preset(&c.path).ok());
    from_checkpoint.or_else(|| {
        let name = dir.file_name()?.to_string_lossy().into_owned();
        crate::preset::resolve(&crate::runs::preset_of_dir_name(&name), None).ok().map(|(p, _)| p)
    })
}
