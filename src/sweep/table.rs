//! One table of a sweep folder: a row per run of its `sweep.ron` (pending
//! ones too), the overridden keys as columns (each run's own value), then
//! what the run's metrics.jsonl and eval.json say.

use super::evaluate::read_eval;
use super::layout::{self, SWEEP_FILE};
use super::{get_path, value_label, SweepError, SweepFile};
use crate::report::Table;
use crate::runs::{fmt_duration, read_run};
use crate::util::thousands;
use serde_json::Value;
use std::path::Path;

fn f4(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map(|x| format!("{x:.4}")).unwrap_or_else(|| "–".into())
}

fn f2(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map(|x| format!("{x:.2}")).unwrap_or_else(|| "–".into())
}

/// A key's value as a cell: FSP as on/off.
fn cell(key: &str, v: Option<Value>) -> String {
    match (key, v) {
        ("train.fsp", Some(Value::Null) | None) => "off".into(),
        ("train.fsp", Some(_)) => "on".into(),
        (_, Some(v)) => value_label(&v),
        (_, None) => "–".into(),
    }
}

/// The table of the sweep in `dir`.
pub fn sweep_table(dir: &Path, presets_dir: Option<&Path>) -> Result<Table, SweepError> {
    let (sweep, _) = SweepFile::read(&dir.join(SWEEP_FILE))?;
    let runs = sweep.expand(presets_dir)?;
    let mut keys: Vec<String> = Vec::new();
    for r in &runs {
        for (k, _) in &r.overrides {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let evals: Vec<_> = runs.iter().map(|r| read_eval(&layout::run_dir(dir, r))).collect();
    // its text may come from --valid, which the folder does not record: the columns are there whenever `eval` is
    let text_eval = sweep.eval.is_some() || evals.iter().flatten().any(|e| e.text.is_some());
    // the probe's buckets as the sweep asks for them, else as the first eval.json has them
    let buckets: Vec<(usize, usize)> = match sweep.eval.as_ref().filter(|e| e.probe.is_some()) {
        Some(e) => e.buckets.clone(),
        None => evals
            .iter()
            .flatten()
            .find_map(|e| e.probe.as_ref())
            .map(|p| p.buckets.iter().map(|b| (b.lo, b.hi)).collect())
            .unwrap_or_default(),
    };
    let mut headers: Vec<String> = vec!["id".into(), "preset".into()];
    headers.extend(keys.iter().cloned());
    let mut text_columns: Vec<usize> = vec![1];
    text_columns
        .extend((2..2 + keys.len()).filter(|&i| runs.iter().any(|r| get_path(&r.preset, &keys[i - 2]).is_some_and(|v| !v.is_number()))));
    text_columns.push(headers.len());
    for h in ["status", "steps", "tokens", "tok/s", "wall time", "best val loss", "final val loss", "final PPL", "final BPC"] {
        headers.push(h.into());
    }
    if text_eval {
        for h in ["eval loss", "eval PPL", "eval BPC"] {
            headers.push(h.into());
        }
    }
    for (lo, hi) in &buckets {
        headers.push(format!("gap {lo}–{hi}"));
    }
    text_columns.push(headers.len());
    headers.push("run".into());
    let mut rows = Vec::with_capacity(runs.len());
    for (r, ev) in runs.iter().zip(&evals) {
        let rd = layout::run_dir(dir, r);
        let rec = read_run(&rd);
        let mut row = vec![r.id.to_string(), r.preset.name.clone()];
        row.extend(keys.iter().map(|k| cell(k, get_path(&r.preset, k))));
        row.push(layout::status(&rd).label());
        match &rec {
            Some(rec) => {
                row.push(thousands(rec.steps));
                row.push(thousands(rec.tokens));
                row.push(rec.mean_tok_per_sec.map(|t| thousands(t.round() as u64)).unwrap_or_else(|| "–".into()));
                row.push(fmt_duration(rec.wall_secs));
                row.push(f4(rec.best().map(|e| e.loss)));
                row.push(f4(rec.last_eval().map(|e| e.loss)));
                row.push(f2(rec.last_eval().map(|e| e.ppl)));
                row.push(f4(rec.last_eval().map(|e| e.bpc)));
            }
            None => row.extend((0..8).map(|_| "–".to_string())),
        }
        if text_eval {
            let t = ev.as_ref().and_then(|e| e.text.as_ref());
            row.push(f4(t.map(|t| t.loss)));
            row.push(f2(t.map(|t| t.ppl)));
            row.push(f4(t.map(|t| t.bpc)));
        }
        for (lo, hi) in &buckets {
            let gap = ev
                .as_ref()
                .and_then(|e| e.probe.as_ref())
                .and_then(|p| p.buckets.iter().find(|b| b.lo == *lo && b.hi == *hi))
                .and_then(|b| b.gap);
            row.push(gap.map(|g| format!("{g:+.3}")).unwrap_or_else(|| "–".into()));
        }
        row.push(r.folder_name());
        rows.push(row);
    }
    Ok(Table { headers, rows, text_columns })
}
