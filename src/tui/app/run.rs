//! The run being trained (or the last one, once finished), as the dashboard
//! shows it, and how each of the trainer's events changes it.

use super::log::Level;
use crate::engine::{CadenceInfo, EvalMetrics, Event, RunState, StepMetrics, Summary};
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
    /// The preset's evaluation interval in steps (see `cadence` for what the run does).
    pub eval_every: u64,
    /// When the run evaluates and samples, as its trainer announced it.
    pub cadence: Option<CadenceInfo>,
    /// Training FLOPs per token (`LanguageModel::flops_per_token`), for MFU.
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
            cadence: None,
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
                windows: 0,
                quick: false,
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
        // the same lines as the headless printer; steps are charted, samples
        // have their panel, and preparing statuses are logged below
        let shared = match &ev {
            Event::Status { .. } | Event::Step(_) | Event::Sample { .. } => None,
            Event::CheckpointSaved { .. } => crate::engine::log_line(&ev).map(|(_, text)| (Level::Save, text)),
            _ => crate::engine::log_line(&ev).map(|(level, text)| (Level::from(level), text)),
        };
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
            Event::Started { run_dir, preset, params, tokens_per_step, train_tokens, valid_tokens, resumed_from, cadence, .. } => {
                self.started = true;
                if let Some(n) = cadence.eval_every {
                    self.eval_every = n;
                }
                self.cadence = Some(cadence);
                self.preset = preset;
                self.params = params;
                self.tokens_per_step = tokens_per_step;
                self.train_tokens = train_tokens;
                self.valid_tokens = valid_tokens;
                self.resumed_from = resumed_from;
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
            Event::Eval(e) => self.evals.push(e),
            Event::Sample { step, text, .. } => {
                self.samples.push_front((step, text));
                self.samples.truncate(MAX_SAMPLES);
            }
            Event::Recall { .. } | Event::MemoryUpdated { .. } | Event::Log { .. } => {}
            Event::Ternary { shares, .. } => self.ternary = shares,
            Event::CheckpointSaved { step, path } => {
                match path.file_name().map(|s| s.to_string_lossy().into_owned()).as_deref() {
                    Some("best") => self.best_ckpt = Some(path.clone()),
                    Some("last") => self.last_ckpt = Some(path.clone()),
                    _ => {}
                }
                self.last_save = Some((step, path));
            }
            Event::Error(e) => self.error = Some(e),
            Event::Finished(s) => {
                self.state = RunState::Finished;
                self.summary = Some(s);
            }
            // a sampler's output belongs to the sampling screen
            Event::Generated { .. } => {}
        }
        if let Some((level, text)) = shared {
            log.extend(text.lines().map(|line| (level, line.to_string())));
        }
        log
    }
}
