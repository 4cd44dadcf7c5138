//! The evaluation a sweep asks for after each run: validation loss, PPL and
//! bits per byte of the run's checkpoint on a text file (as `eval --data`),
//! and the recall probe on fixed distance buckets (as `eval --probe recall`,
//! but the same buckets for every model), stored as the run's `eval.json`.

use super::layout::EVAL_FILE;
use super::{EvalSpec, SweepError};
use crate::data::corpus::{load_stories, CorpusSource};
use crate::data::tokens::{validation_windows, TokenStore};
use crate::inference::{load_model, ModelSource};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What `eval.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// The checkpoint evaluated (`last` or `best`) and its step.
    pub checkpoint: String,
    pub step: u64,
    /// The text evaluated on, and the result (none when only the probe ran).
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub text: Option<TextEval>,
    #[serde(default)]
    pub probe: Option<ProbeEval>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextEval {
    /// Mean loss (nats per token), its perplexity and bits per UTF-8 byte.
    pub loss: f64,
    pub ppl: f64,
    pub bpc: f64,
    pub tokens: u64,
    pub bytes: u64,
    pub windows: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeEval {
    pub stories: usize,
    pub skipped_stories: usize,
    pub receptive_field: Option<usize>,
    pub buckets: Vec<ProbeBucket>,
}

/// One distance bucket; the losses are `None` without a re-mention in range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeBucket {
    pub lo: usize,
    pub hi: usize,
    pub n: usize,
    pub loss: Option<f64>,
    pub swapped_loss: Option<f64>,
    /// Swapped minus original loss: > 0 means the model used the earlier name.
    pub gap: Option<f64>,
}

/// Evaluates the run in `run_dir` as `spec` says, on `data` (the spec's
/// text, else the sweep's validation file), and writes `eval.json`.
pub fn evaluate_run(run_dir: &Path, spec: &EvalSpec, data: Option<&Path>, threads: usize) -> Result<EvalRecord, SweepError> {
    let fail = |msg: String| SweepError::Invalid(format!("evaluating {}: {msg}", run_dir.display()));
    let ck = run_dir.join(&spec.checkpoint);
    let m = load_model(&ModelSource::checkpoint(ck.clone())).map_err(|e| fail(format!("{e:#}")))?;
    let step = crate::train::checkpoint::read_state(&ck).map(|s| s.step).unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().map_err(|e| fail(e.to_string()))?;
    let (t, b) = (m.preset.train.seq_len, m.preset.train.batch);
    let text = match data {
        None => None,
        Some(path) => {
            let stories = load_stories(&CorpusSource::Path(path.to_path_buf())).map_err(|e| fail(e.to_string()))?;
            let ids = pool.install(|| m.tokenizer.encode_stories(&stories)).map_err(|e| fail(e.to_string()))?;
            let store = TokenStore::from_vec(ids);
            if store.len() < t + 1 {
                return Err(fail(format!("{}: {} tokens, fewer than one window of {} tokens", path.display(), store.len(), t + 1)));
            }
            let windows = validation_windows(store.len(), t, spec.max_windows.unwrap_or(usize::MAX));
            let bytes = m.tokenizer.token_bytes(m.preset.vocab());
            let mut ws = crate::model::Workspace::new();
            let r = pool
                .install(|| crate::train::eval::evaluate(&*m.model, &mut ws, &m.params, &store, &windows, t, b, &bytes, &|| false))
                .ok_or_else(|| fail("interrupted".into()))?;
            if !r.loss.is_finite() {
                return Err(fail(format!("the loss is not finite ({})", r.loss)));
            }
            Some(TextEval { loss: r.loss, ppl: r.ppl, bpc: r.bpc, tokens: r.tokens, bytes: r.bytes, windows: windows.len() })
        }
    };
    let probe = match spec.probe.as_deref() {
        Some("recall") => {
            let first = m.preset.data.builtin_stories as u64;
            let stories = crate::train::probe::probe_stories(m.preset.data.builtin_seed, first, spec.probe_stories);
            let mut ws = crate::model::Workspace::new();
            let r = pool
                .install(|| {
                    crate::train::probe::recall_probe_ranges(
                        &*m.model,
                        &m.params,
                        &m.tokenizer,
                        &stories,
                        t,
                        &spec.buckets,
                        &mut ws,
                        crate::train::probe::PROBE_ROWS,
                        &|| false,
                    )
                })
                .ok_or_else(|| fail("probe interrupted".into()))?;
            let finite = |x: f64| x.is_finite().then_some(x);
            Some(ProbeEval {
                stories: r.stories,
                skipped_stories: r.skipped_stories,
                receptive_field: r.receptive_field,
                buckets: r
                    .buckets
                    .iter()
                    .map(|b| ProbeBucket {
                        lo: b.lo,
                        hi: b.hi,
                        n: b.n,
                        loss: finite(b.loss),
                        swapped_loss: finite(b.swapped_loss),
                        gap: finite(b.gap()),
                    })
                    .collect(),
            })
        }
        _ => None,
    };
    let rec = EvalRecord { checkpoint: spec.checkpoint.clone(), step, data: data.map(|d| d.display().to_string()), text, probe };
    let json = serde_json::to_string_pretty(&rec).map_err(|e| fail(e.to_string()))?;
    crate::data::write_atomic(&run_dir.join(EVAL_FILE), json.as_bytes()).map_err(|e| fail(e.to_string()))?;
    Ok(rec)
}

/// A run's `eval.json`, if it has one that reads.
pub fn read_eval(run_dir: &Path) -> Option<EvalRecord> {
    let path = run_dir.join(EVAL_FILE);
    crate::util::regular_file(&path).ok()?;
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

impl EvalRecord {
    /// Lines for the terminal.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let (Some(d), Some(t)) = (&self.data, &self.text) {
            out.push(format!(
                "eval {} (step {}) on {d}: loss {:.4}  ppl {:.2}  bpc {:.4}  ({} windows, {} tokens)",
                self.checkpoint,
                self.step,
                t.loss,
                t.ppl,
                t.bpc,
                t.windows,
                crate::util::thousands(t.tokens)
            ));
        }
        if let Some(p) = &self.probe {
            out.push(format!("recall probe on {} built-in stories:", p.stories));
            for b in &p.buckets {
                match (b.loss, b.swapped_loss, b.gap) {
                    (Some(l), Some(s), Some(g)) => {
                        out.push(format!("  distance {:>3}–{:<3}: {:>4} names  loss {l:.3}  swapped {s:.3}  gap {g:+.3}", b.lo, b.hi, b.n))
                    }
                    _ => out.push(format!("  distance {:>3}–{:<3}: no re-mentions", b.lo, b.hi)),
                }
            }
        }
        out
    }
}
