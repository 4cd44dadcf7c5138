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
    /// The step's learning rate and gradient norm (before clipping); NaN when unknown.
    pub lr: f64,
    pub grad_norm: f64,
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
    /// Shape and kind of the per-layer memory matrices, when the model has one.
    pub memory: Option<crate::model::MemoryDims>,
    /// The preset's evaluation interval in steps (see `cadence` for what the run does).
    pub eval_every: u64,
    pub sample_every: u64,
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
    /// The snapshot before `heat`, for the "change since the last snapshot" view.
    pub prev_heat: Option<HeatData>,
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
    /// Followed from its metrics.jsonl (`watch`): shown, never commanded.
    pub watched: bool,
}

impl RunView {
    pub fn new(preset: &Preset, corpus: String) -> Self {
        // a preset too large for this machine is not built here: the trainer
        // refuses it with the numbers, and the dashboard shows that error
        let fits = crate::limits::check_preset(preset, preset.train.batch, crate::model::footprint::Purpose::Train).is_ok();
        let model = fits.then(|| preset.build_model());
        let fpt = model.as_ref().map_or(0.0, |m| m.flops_per_token(preset.train.seq_len));
        let dims = model.as_ref().and_then(|m| m.memory_dims());
        RunView {
            preset: preset.name.clone(),
            version: preset.version.clone(),
            has_memory: dims.is_some(),
            has_conv: model.as_ref().is_some_and(|m| m.has_conv_taps()),
            memory: dims,
            eval_every: preset.train.eval_every,
            sample_every: preset.train.sample_every,
            cadence: None,
            flops_per_token: fpt,
            corpus,
            run_dir: None,
            state: RunState::Preparing,
            detail: "starting".into(),
            started: false,
            params: preset.param_count().map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
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
            prev_heat: None,
            summary: None,
            error: None,
            engine_alive: true,
            best_ckpt: None,
            last_ckpt: None,
            last_save: None,
            ternary: Vec::new(),
            watched: false,
        }
    }

    fn push_point(&mut self, step: u64, tokens: u64, secs: f64, loss: f64, lr: f64, grad_norm: f64) {
        if !loss.is_finite() {
            return;
        }
        self.ema.0 = EMA_BETA * self.ema.0 + (1.0 - EMA_BETA) * loss;
        self.ema.1 = self.ema.1.saturating_add(1);
        let ema = self.ema.0 / (1.0 - EMA_BETA.powi(self.ema.1.min(10_000) as i32));
        self.points.push(TrainPoint { step, tokens, secs, loss, ema, lr, grad_norm });
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
            self.push_point(p.step, p.tokens, p.secs, p.loss, p.lr, p.grad_norm);
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

    /// A new heatmap; the one it replaces is kept for the change view.
    pub fn set_heat(&mut self, h: HeatData) {
        self.prev_heat = self.heat.take().filter(|p| std::mem::discriminant(&p.kind) == std::mem::discriminant(&h.kind));
        self.heat = Some(h);
    }

    /// What the run has saved, for the exit line: the newest checkpoint with
    /// its step (`best/` alone after a stop without saving), else "nothing".
    pub fn saved_label(&self) -> String {
        let step_of = |p: &PathBuf| {
            crate::train::checkpoint::read_state(p)
                .ok()
                .map(|s| s.step)
                .or_else(|| self.last_save.as_ref().filter(|(_, q)| q == p).map(|(s, _)| *s))
        };
        let shown = |p: &PathBuf| match step_of(p) {
            Some(s) => format!("{} (step {})", p.display(), crate::util::thousands(s)),
            None => p.display().to_string(),
        };
        match (&self.last_ckpt, &self.best_ckpt) {
            (Some(l), Some(b)) if l != b => format!("{}, {}", shown(l), shown(b)),
            (Some(p), _) | (None, Some(p)) => shown(p),
            (None, None) => match &self.last_save {
                Some((_, p)) => shown(p),
                None => "nothing".into(),
            },
        }
    }

    /// Trained by this process's trainer right now (a watched run never is).
    pub fn active(&self) -> bool {
        self.engine_alive && self.summary.is_none() && !self.watched
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
                self.push_point(m.step, m.tokens, m.elapsed_secs, m.loss, m.lr as f64, m.grad_norm);
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
