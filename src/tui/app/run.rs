//! The run being trained (or the last one, once finished), as the dashboard
//! shows it, and how each of the trainer's events changes it.

use super::log::Level;
use crate::engine::{EvalMetrics, Event, RunState, StepMetrics, Summary};
use crate::preset::Preset;
use crate::runs::RunRecord;
use ndarray::Array2;
use std::collections::VecDeque;
use std::path::PathBuf;

const MAX_SAMPLES: usize = 50;
const MAX_TOK_S: usize = 1024;
const MAX_POINTS: usize = 200_000;
const EMA_BETA: f64 = 0.95;

/// One training step as the loss chart needs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainPoint {
    pub step: u64,
    pub tokens: u64,
    pub secs: f64,
    pub loss: f64,
    pub ema: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HeatKind {
    /// Hebbian memory matrices M at the probe sequence.
    Memory,
    /// For presets without memory: each layer's depthwise conv taps (k × d_model).
    ConvTaps { checkpoint: PathBuf },
}

#[derive(Clone, Debug)]
pub struct HeatData {
    pub kind: HeatKind,
    pub step: u64,
    pub layers: Vec<Array2<f32>>,
}

/// The run being trained (or the last one, once finished).
#[derive(Clone, Debug)]
pub struct RunView {
    pub preset: String,
    pub version: String,
    pub has_memory: bool,
    pub d_mem: usize,
    pub eval_every: u64,
    /// Training FLOPs per token (bench::flops_per_token), for MFU.
    pub flops_per_token: f64,
    pub corpus: String,
    pub run_dir: Option<PathBuf>,
    pub state: RunState,
    pub detail: String,
    pub started: bool,
    pub params: usize,
    pub tokens_per_step: usize,
    pub train_tokens: usize,
    pub valid_tokens: usize,
    pub resumed_from: Option<u64>,
    pub last: Option<StepMetrics>,
    pub points: Vec<TrainPoint>,
    /// (biased EMA, number of terms)
    pub ema: (f64, u32),
    pub tok_s: VecDeque<f64>,
    pub evals: Vec<EvalMetrics>,
    /// Newest first: (step, text).
    pub samples: VecDeque<(u64, String)>,
    pub heat: Option<HeatData>,
    pub summary: Option<Summary>,
    pub error: Option<String>,
    pub engine_alive: bool,
    pub best_ckpt: Option<PathBuf>,
    pub last_ckpt: Option<PathBuf>,
    pub last_save: Option<(u64, PathBuf)>,
    /// Latest −1/0/+1 shares of each ternary matrix (empty for float models).
    pub ternary: Vec<crate::model::TernaryShare>,
    /// The model has depthwise convs whose taps the heatmap pane can show.
    pub has_conv: bool,
}

impl RunView {
    pub fn new(preset: &Preset, corpus: String) -> Self {
        let model = preset.build_model();
        let fpt = model.flops_per_token(preset.train.seq_len);
        RunView {
            preset: preset.name.clone(),
            version: preset.version.clone(),
            has_memory: model.memory_dims().is_some(),
            has_conv: model.has_conv_taps(),
            d_mem: model.memory_dims().map_or(0, |m| m.d_mem),
            eval_every: preset.train.eval_every,
            flops_per_token: fpt,
            corpus,
            run_dir: None,
            state: RunState::Preparing,
            detail: "starting".into(),
            started: false,
            params: model.num_params(),
            tokens_per_step: preset.train.accum * preset.train.batch * preset.train.seq_len,
            train_tokens: 0,
            valid_tokens: 0,
            resumed_from: None,
            last: None,
            points: Vec::new(),
            ema: (0.0, 0),
            tok_s: VecDeque::new(),
            evals: Vec::new(),
            samples: VecDeque::new(),
            heat: None,
            summary: None,
            error: None,
            engine_alive: true,
            best_ckpt: None,
            last_ckpt: None,
            last_save: None,
            ternary: Vec::new(),
        }
    }

    fn push_point(&mut self, step: u64, tokens: u64, secs: f64, loss: f64) {
        if !loss.is_finite() {
            return;
        }
        self.ema.0 = EMA_BETA * self.ema.0 + (1.0 - EMA_BETA) * loss;
        self.ema.1 = self.ema.1.saturating_add(1);
        let ema = self.ema.0 / (1.0 - EMA_BETA.powi(self.ema.1.min(10_000) as i32));
        self.points.push(TrainPoint { step, tokens, secs, loss, ema });
        if self.points.len() > MAX_POINTS {
            // keep memory bounded on very long runs: halve the resolution of the older half
            let half = self.points.len() / 2;
            let mut kept: Vec<TrainPoint> = self.points[..half].iter().step_by(2).copied().collect();
            kept.extend_from_slice(&self.points[half..]);
            self.points = kept;
        }
    }

    /// Loads the history of a resumed run (its metrics.jsonl) into the chart.
    pub fn preload(&mut self, rec: &RunRecord) {
        if !self.points.is_empty() {
            return;
        }
        for p in &rec.train {
            self.push_point(p.step, p.tokens, p.secs, p.loss);
        }
        for e in &rec.evals {
            self.evals.push(EvalMetrics {
                step: e.step,
                tokens: e.tokens,
                elapsed_secs: e.secs,
                loss: e.loss,
                ppl: e.ppl,
                bpc: e.bpc,
                best: false,
            });
        }
    }

    pub fn active(&self) -> bool {
        self.engine_alive && self.summary.is_none()
    }

    pub fn best_eval(&self) -> Option<&EvalMetrics> {
        self.evals.iter().filter(|e| e.loss.is_finite()).min_by(|a, b| a.loss.total_cmp(&b.loss))
    }

    /// Applies one of the trainer's events; returns the lines it adds to the log.
    pub fn apply(&mut self, ev: Event) -> Vec<(Level, String)> {
        let mut log: Vec<(Level, String)> = Vec::new();
        match ev {
            Event::Status { state, detail } => {
                if state == RunState::Preparing && detail != self.detail {
                    log.push((Level::Info, detail.clone()));
                }
                if self.summary.is_none() || state == RunState::Finished {
                    self.state = state;
                }
                self.detail = detail;
            }
            Event::Started { run_dir, preset, params, tokens_per_step, train_tokens, valid_tokens, resumed_from, .. } => {
                self.started = true;
                self.preset = preset;
                self.params = params;
                self.tokens_per_step = tokens_per_step;
                self.train_tokens = train_tokens;
                self.valid_tokens = valid_tokens;
                self.resumed_from = resumed_from;
                log.extend(started_lines(&self.preset, &run_dir, params, resumed_from, train_tokens, valid_tokens, tokens_per_step));
                self.run_dir = Some(run_dir);
            }
            Event::Step(m) => {
                self.push_point(m.step, m.tokens, m.elapsed_secs, m.loss);
                self.tok_s.push_back(m.tok_per_sec);
                while self.tok_s.len() > MAX_TOK_S {
                    self.tok_s.pop_front();
                }
                if self.state == RunState::Preparing {
                    self.state = RunState::Running;
                }
                self.last = Some(m);
            }
            Event::Eval(e) => {
                log.push((Level::Info, eval_line(&e)));
                self.evals.push(e);
            }
            Event::Sample { step, text, .. } => {
                self.samples.push_front((step, text));
                self.samples.truncate(MAX_SAMPLES);
            }
            Event::Recall { step, report } => {
                for (i, line) in report.lines().into_iter().enumerate() {
                    log.push((Level::Info, if i == 0 { format!("recall @{step}: {line}") } else { line }));
                }
            }
            Event::Ternary { step, shares } => {
                log.push((Level::Info, format!("ternary @{step}: {}", crate::model::lm::ternary_summary(&shares))));
                self.ternary = shares;
            }
            Event::MemoryUpdated { .. } => {}
            Event::CheckpointSaved { step, path } => {
                match path.file_name().map(|s| s.to_string_lossy().into_owned()).as_deref() {
                    Some("best") => self.best_ckpt = Some(path.clone()),
                    Some("last") => self.last_ckpt = Some(path.clone()),
                    _ => {}
                }
                log.push((Level::Save, format!("saved {} (step {step})", path.display())));
                self.last_save = Some((step, path));
            }
            Event::Warning(w) => log.push((Level::Warn, w)),
            Event::Error(e) => {
                log.push((Level::Error, e.clone()));
                self.error = Some(e);
            }
            Event::Finished(s) => {
                self.state = RunState::Finished;
                log.push((Level::Info, finished_line(&s)));
                self.summary = Some(s);
            }
            // a sampler's output belongs to the sampling screen
            Event::Generated { .. } => {}
        }
        log
    }
}

fn started_lines(
    preset: &str,
    run_dir: &std::path::Path,
    params: usize,
    resumed_from: Option<u64>,
    train_tokens: usize,
    valid_tokens: usize,
    tokens_per_step: usize,
) -> [(Level, String); 2] {
    let what = match resumed_from {
        Some(s) => format!("resumed {preset} at step {s} in {}", run_dir.display()),
        None => format!("run {} ({preset}, {} params)", run_dir.display(), crate::preset::thousands(params as u64)),
    };
    let data = format!(
        "data: {} training tokens, {} validation tokens, {} tokens per step",
        crate::preset::thousands(train_tokens as u64),
        crate::preset::thousands(valid_tokens as u64),
        crate::preset::thousands(tokens_per_step as u64)
    );
    [(Level::Info, what), (Level::Info, data)]
}

fn eval_line(e: &EvalMetrics) -> String {
    format!("eval @{}: val loss {:.4}  PPL {:.2}  BPC {:.4}{}", e.step, e.loss, e.ppl, e.bpc, if e.best { "  (best)" } else { "" })
}

fn finished_line(s: &Summary) -> String {
    format!(
        "finished: {} steps, {} tokens in {}, {:.0} tok/s mean; best val loss {}; final val PPL {}",
        s.steps,
        crate::preset::thousands(s.tokens),
        crate::runs::fmt_duration(s.elapsed_secs),
        s.mean_tok_per_sec,
        s.best_val_loss.map(|v| format!("{v:.4}")).unwrap_or_else(|| "–".into()),
        s.final_val_ppl.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into()),
    )
}
