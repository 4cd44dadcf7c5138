//! Past runs under a runs folder (`./checkpoints/<preset>-<timestamp>/`), read
//! back from their `metrics.jsonl`: the table `flashlm-tui runs` prints as
//! Markdown and the TUI's runs screen shows, plus the checkpoints each run holds.

use crate::util::thousands;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One validation point of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalPoint {
    pub step: u64,
    pub tokens: u64,
    pub secs: f64,
    pub loss: f64,
    pub ppl: f64,
    pub bpc: f64,
}

/// One logged training step (every `log_every` steps).
#[derive(Clone, Debug, PartialEq)]
pub struct StepPoint {
    pub step: u64,
    pub tokens: u64,
    pub secs: f64,
    pub loss: f64,
    pub tok_per_sec: f64,
    /// NaN in logs that lack them.
    pub lr: f64,
    pub grad_norm: f64,
}

/// What `metrics.jsonl` says about one run.
#[derive(Clone, Debug, Default)]
pub struct RunRecord {
    pub dir: PathBuf,
    /// The folder name, e.g. `tiny-20260101-120000`.
    pub name: String,
    pub preset: String,
    pub steps: u64,
    pub tokens: u64,
    /// Training + evaluation wall time (seconds), as the trainer counts it.
    pub wall_secs: f64,
    pub evals: Vec<EvalPoint>,
    pub train: Vec<StepPoint>,
    pub mean_tok_per_sec: Option<f64>,
    /// A `summary` line was written (the run ended cleanly at least once).
    pub finished: bool,
    /// Lines that were not JSON objects (a crash mid-write leaves at most one).
    pub bad_lines: usize,
    /// From the newest checkpoint's training state (None without a checkpoint):
    /// what the run trained on, its budget and the precision of its products.
    pub corpus: Option<String>,
    pub budget: Option<String>,
    pub precision: Option<String>,
    /// The step of the newest checkpoint (a run stopped without saving has
    /// trained further than it saved).
    pub saved_step: Option<u64>,
}

impl RunRecord {
    /// The evaluation with the lowest validation loss.
    pub fn best(&self) -> Option<&EvalPoint> {
        self.evals.iter().filter(|e| e.loss.is_finite()).min_by(|a, b| a.loss.total_cmp(&b.loss))
    }

    /// The last evaluation written.
    pub fn last_eval(&self) -> Option<&EvalPoint> {
        self.evals.last()
    }
}

/// `tiny-20260101-120000` or `tiny-20260101-120000-2` → `tiny`; other names are kept whole.
pub fn preset_of_dir_name(name: &str) -> String {
    let parts: Vec<&str> = name.split('-').collect();
    let is_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    for i in (1..parts.len().saturating_sub(1)).rev() {
        if is_digits(parts[i], 8) && is_digits(parts[i + 1], 6) {
            let tail = &parts[i + 2..];
            if tail.is_empty() || (tail.len() == 1 && tail[0].bytes().all(|b| b.is_ascii_digit())) {
                return parts[..i].join("-");
            }
        }
    }
    name.to_string()
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// Reads one run folder's `metrics.jsonl`; `None` if the folder has none.
pub fn read_run(dir: &Path) -> Option<RunRecord> {
    let path = dir.join("metrics.jsonl");
    // only a regular file is read: a FIFO would block the listing
    crate::util::regular_file(&path).ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    let name = dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut r = RunRecord { dir: dir.to_path_buf(), preset: preset_of_dir_name(&name), name, ..Default::default() };
    // sessions of a resumed run each end with a summary: tokens and train-time are summed over them
    let (mut sum_tokens, mut sum_train_secs, mut prev_tokens) = (0.0f64, 0.0f64, 0.0f64);
    let mut step_rates = Vec::new();
    // the run's own mean (engine::mean_tok_per_sec), newest first; the sums above are for older files
    let mut latest_mean: Option<f64> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            r.bad_lines += 1;
            continue;
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "step" => {
                let p = StepPoint {
                    step: num(&v, "step").unwrap_or(0.0) as u64,
                    tokens: num(&v, "tokens").unwrap_or(0.0) as u64,
                    secs: num(&v, "elapsed_secs").unwrap_or(0.0),
                    loss: num(&v, "loss").unwrap_or(f64::NAN),
                    tok_per_sec: num(&v, "tok_per_sec").unwrap_or(0.0),
                    lr: num(&v, "lr").unwrap_or(f64::NAN),
                    grad_norm: num(&v, "grad_norm").unwrap_or(f64::NAN),
                };
                if p.tok_per_sec > 0.0 {
                    step_rates.push(p.tok_per_sec);
                }
                if let Some(m) = num(&v, "mean_tok_per_sec").filter(|m| *m > 0.0) {
                    latest_mean = Some(m);
                }
                r.steps = r.steps.max(p.step);
                r.tokens = r.tokens.max(p.tokens);
                r.wall_secs = r.wall_secs.max(p.secs);
                r.train.push(p);
            }
            "eval" => {
                let e = EvalPoint {
                    step: num(&v, "step").unwrap_or(0.0) as u64,
                    tokens: num(&v, "tokens").unwrap_or(0.0) as u64,
                    secs: num(&v, "elapsed_secs").unwrap_or(0.0),
                    loss: num(&v, "loss").unwrap_or(f64::NAN),
                    ppl: num(&v, "ppl").unwrap_or(f64::NAN),
                    bpc: num(&v, "bpc").unwrap_or(f64::NAN),
                };
                r.steps = r.steps.max(e.step);
                r.tokens = r.tokens.max(e.tokens);
                r.wall_secs = r.wall_secs.max(e.secs);
                r.evals.push(e);
            }
            "summary" => {
                r.finished = true;
                let tokens = num(&v, "tokens").unwrap_or(0.0);
                r.steps = r.steps.max(num(&v, "steps").unwrap_or(0.0) as u64);
                r.tokens = r.tokens.max(tokens as u64);
                r.wall_secs = r.wall_secs.max(num(&v, "elapsed_secs").unwrap_or(0.0));
                let rate = num(&v, "mean_tok_per_sec").unwrap_or(0.0);
                if v.get("train_secs").is_some() && rate > 0.0 {
                    latest_mean = Some(rate);
                }
                let session_tokens = (tokens - prev_tokens).max(0.0);
                if rate > 0.0 && session_tokens > 0.0 {
                    sum_tokens += session_tokens;
                    sum_train_secs += session_tokens / rate;
                }
                prev_tokens = tokens;
            }
            _ => {}
        }
    }
    r.mean_tok_per_sec = if latest_mean.is_some() {
        latest_mean
    } else if sum_train_secs > 0.0 {
        Some(sum_tokens / sum_train_secs)
    } else if !step_rates.is_empty() {
        Some(step_rates.iter().sum::<f64>() / step_rates.len() as f64)
    } else {
        None
    };
    // the checkpoint furthest into the run says what it trained on and with
    let newest = checkpoints(dir).iter().filter_map(|c| crate::train::checkpoint::read_state(&c.path).ok()).max_by_key(|st| st.step);
    if let Some(st) = newest {
        r.corpus = Some(corpus_label(&st.corpus, st.valid.as_deref()));
        r.budget = Some(crate::preset::budget_label(&st.budget));
        r.precision = Some(st.precision.label().to_string());
        r.saved_step = Some(st.step);
    }
    Some(r)
}

/// A short name for what a run trained on: the built-in corpus, or the
/// training file's name (with its folder), plus the validation file's name.
pub fn corpus_label(corpus: &str, valid: Option<&str>) -> String {
    if corpus.starts_with("built-in") {
        return "built-in".into();
    }
    let short = |p: &str| {
        let path = Path::new(p);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.to_string());
        match path.parent().and_then(|d| d.file_name()) {
            Some(d) => format!("{}/{name}", d.to_string_lossy()),
            None => name,
        }
    };
    match valid {
        Some(v) => {
            format!("{} + {}", short(corpus), Path::new(v).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        }
        None => short(corpus),
    }
}

/// Every run folder under `root` that has a `metrics.jsonl`, sorted by folder
/// name; the runs of a sweep folder under `root` too, named `<sweep>/<run>`.
pub fn scan(root: &Path) -> Vec<RunRecord> {
    let mut out = Vec::new();
    for d in sub_dirs(root) {
        if let Some(r) = read_run(&d) {
            out.push(r);
        } else if crate::sweep::layout::is_sweep_dir(&d) {
            let sweep = d.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            for rd in sub_dirs(&d) {
                if let Some(mut r) = read_run(&rd) {
                    // a sweep's run folders are named by id, not preset: the checkpoint knows the preset
                    if let Some(p) = checkpoints(&rd).first().and_then(|c| crate::train::checkpoint::read_preset(&c.path).ok()) {
                        r.preset = p.name;
                    }
                    r.name = format!("{sweep}/{}", r.name);
                    out.push(r);
                }
            }
        }
    }
    out
}

fn sub_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

/// A checkpoint folder inside a run folder (`last`, `best`, `step-N`).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointRef {
    pub path: PathBuf,
    pub name: String,
    pub modified: SystemTime,
}

/// The checkpoints (folders holding a `meta.json`) of one run, newest first.
pub fn checkpoints(run_dir: &Path) -> Vec<CheckpointRef> {
    let Ok(rd) = std::fs::read_dir(run_dir) else {
        return Vec::new();
    };
    let mut out: Vec<CheckpointRef> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_name()?.to_string_lossy().into_owned();
            // temp folders of an interrupted save start with a dot
            if name.starts_with('.') {
                return None;
            }
            let modified = std::fs::metadata(path.join(crate::train::checkpoint::META)).ok()?.modified().ok()?;
            Some(CheckpointRef { path, name, modified })
        })
        .collect();
    out.sort_by(|a, b| b.modified.cmp(&a.modified).then_with(|| a.name.cmp(&b.name)));
    out
}

/// The most recently written checkpoint of any run of `preset` under `root`.
pub fn latest_checkpoint(root: &Path, preset: &str) -> Option<PathBuf> {
    let rd = std::fs::read_dir(root).ok()?;
    rd.filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.is_dir() && d.file_name().is_some_and(|n| preset_of_dir_name(&n.to_string_lossy()) == preset))
        .flat_map(|d| checkpoints(&d))
        .max_by(|a, b| a.modified.cmp(&b.modified).then_with(|| (a.name == "last").cmp(&(b.name == "last"))))
        .map(|c| c.path)
}

/// The checkpoint to sample from: `best/`, else `last/`, else the newest one.
pub fn sampling_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    let all = checkpoints(run_dir);
    for want in ["best", "last"] {
        if let Some(c) = all.iter().find(|c| c.name == want) {
            return Some(c.path.clone());
        }
    }
    all.first().map(|c| c.path.clone())
}

/// 75 → "1m15s", 4000 → "1h06m".
pub fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "–".into();
    }
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn f4(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map(|x| format!("{x:.4}")).unwrap_or_else(|| "–".into())
}

fn f2(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map(|x| format!("{x:.2}")).unwrap_or_else(|| "–".into())
}

/// The cells of one table row (also used by the TUI's runs screen).
pub fn row_cells(r: &RunRecord) -> Vec<String> {
    let best = r.best();
    let last = r.last_eval();
    vec![
        r.name.clone(),
        r.preset.clone(),
        thousands(r.steps),
        thousands(r.tokens),
        fmt_duration(r.wall_secs),
        f4(best.map(|e| e.loss)),
        f2(best.map(|e| e.ppl)),
        f4(best.map(|e| e.bpc)),
        f4(last.map(|e| e.loss)),
        f2(last.map(|e| e.ppl)),
        f4(last.map(|e| e.bpc)),
        r.mean_tok_per_sec.map(|t| thousands(t.round() as u64)).unwrap_or_else(|| "–".into()),
        r.corpus.clone().unwrap_or_else(|| "–".into()),
        r.budget.clone().unwrap_or_else(|| "–".into()),
        r.precision.clone().unwrap_or_else(|| "–".into()),
        r.saved_step.map(thousands).unwrap_or_else(|| "–".into()),
    ]
}

/// Columns that hold text rather than numbers (left-aligned).
pub const TEXT_COLUMNS: [usize; 5] = [0, 1, 12, 13, 14];

pub const COLUMNS: [&str; 16] = [
    "run",
    "preset",
    "steps",
    "tokens",
    "wall time",
    "best val loss",
    "best PPL",
    "best BPC",
    "final val loss",
    "final PPL",
    "final BPC",
    "mean tok/s",
    "corpus",
    "budget",
    "precision",
    "saved step",
];

/// The runs as a GitHub Markdown table (numbers right-aligned).
pub fn markdown_table(runs: &[RunRecord]) -> String {
    let mut s = String::new();
    s.push_str(&format!("| {} |\n", COLUMNS.join(" | ")));
    let align: Vec<&str> = COLUMNS.iter().enumerate().map(|(i, _)| if TEXT_COLUMNS.contains(&i) { "---" } else { "---:" }).collect();
    s.push_str(&format!("|{}|\n", align.join("|")));
    for r in runs {
        let cells: Vec<String> = row_cells(r).into_iter().map(|c| c.replace('|', "\\|")).collect();
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

/// The runs as a [`crate::report::Table`], to sort and print in any format.
pub fn table(runs: &[RunRecord]) -> crate::report::Table {
    crate::report::Table {
        headers: COLUMNS.iter().map(|s| s.to_string()).collect(),
        rows: runs.iter().map(row_cells).collect(),
        text_columns: TEXT_COLUMNS.to_vec(),
    }
}
