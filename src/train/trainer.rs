//! The training loop. Runs on its own thread inside one rayon pool (a step's
//! paired micro-batches on two pools of half its threads each, lanes.rs), owns the
//! model, and talks to the world only through the engine's channels.

use super::checkpoint::{self, SaveRequest, TrainState};
use super::eval::{evaluate, EvalResult};
use super::lanes::{LaneA, Lanes};
use super::optim::{clip_grad_norm, schedule_lr, AdamW};
use super::run::{new_run_dir, MetricsLog};
use crate::data::corpus::{corpus_hash, load_stories, CorpusSource};
use crate::data::stream;
use crate::data::tok::{cached_tok_in, Tok};
use crate::data::tokenizer::EOS;
use crate::data::tokens::{cached_tokens_in, split_stories, tokens_cache_path, validation_windows, TokenStore, WindowSampler};
use crate::engine::*;
use crate::generate::{generate, SampleParams};
use crate::model::{Model, Workspace};
use crate::preset::{Budget, Preset};
use crate::rng::Rng;
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError};
use ndarray::Array2;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reference weights to start from (a plain safetensors `state_dict`).
#[derive(Clone, Debug)]
pub struct ImportWeights {
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub preset: Preset,
    pub preset_text: String,
    pub corpus: Option<PathBuf>,
    pub valid: Option<PathBuf>,
    /// Overrides the preset's budget (on resume: sets a new total).
    pub budget: Option<Budget>,
    pub threads: usize,
    pub seed: Option<u64>,
    pub resume: Option<PathBuf>,
    pub import: Option<ImportWeights>,
    /// Parent of run folders (`./checkpoints`).
    pub runs_root: PathBuf,
    /// Show the tokenizer's own progress bars (off under the TUI).
    pub progress: bool,
    pub sample_prompt: String,
    /// Preset fields overridden from the command line (also applied on resume).
    pub overrides: crate::preset::Overrides,
    /// Precision of the training products (`--precision`; checked against the CPU
    /// by [`crate::precision::check_training`] first).
    pub precision: crate::precision::Precision,
}

/// Starts the trainer thread.
pub fn start(cfg: RunConfig) -> EngineHandle {
    let (ctx, crx) = unbounded();
    let (etx, erx) = bounded(EVENT_CAPACITY);
    let memory = Slot::new();
    let slot = memory.clone();
    let thread = std::thread::Builder::new()
        .name("trainer".into())
        .spawn(move || {
            let mut em = Emitter::new(etx);
            let tx = em.sender();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cfg, crx, &mut em, slot)));
            match result {
                Ok(()) => {}
                Err(p) => {
                    let msg = panic_message(&*p);
                    let _ = tx.send_timeout(Event::Error(format!("trainer thread crashed: {msg}")), Duration::from_secs(2));
                }
            }
        })
        .expect("spawn trainer thread");
    EngineHandle { commands: ctx, events: erx, memory, thread: Some(thread) }
}

fn run(cfg: RunConfig, commands: Receiver<crate::engine::Command>, em: &mut Emitter, memory: Slot<MemorySnapshot>) {
    let bf16 = cfg.precision == crate::precision::Precision::Bf16;
    // the CLI checks first; a library caller gets the same reason here
    if let Err(e) = crate::precision::check_training(cfg.precision) {
        em.important(Event::Error(e.to_string()));
        em.drain(Duration::from_secs(5));
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads.max(1))
        .start_handler(crate::kernels::matmul::bf16_start_handler(bf16))
        .build();
    let pool = match pool {
        Ok(p) => p,
        Err(e) => {
            em.important(Event::Error(format!("cannot start {} threads: {e}", cfg.threads)));
            em.drain(Duration::from_secs(5));
            return;
        }
    };
    pool.install(|| {
        let ctl = RefCell::new(Control { rx: commands, paused: false, stop: None, abort: false, pending: Vec::new() });
        match Session::prepare(&cfg, em, &ctl) {
            Ok(Some(mut s)) => {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.train(em, &ctl, &memory)));
                if let Err(p) = r {
                    // keep what was learned: the weights are those of the last finished update
                    // unless the panic hit the update itself
                    let msg = panic_message(&*p);
                    em.important(Event::Error(format!("trainer crashed at step {}: {msg}", s.state.step)));
                    if s.state.step >= 1 {
                        let dir = s.run_dir.join("last");
                        match s.save(&dir, "last") {
                            Ok(()) => em.important(Event::CheckpointSaved { step: s.state.step, path: dir }),
                            Err(e) => em.important(Event::Error(format!("could not save {}: {e}", dir.display()))),
                        }
                    }
                    em.important(Event::Finished(Summary {
                        run_dir: s.run_dir.clone(),
                        steps: s.state.step,
                        tokens: s.state.tokens_seen,
                        elapsed_secs: s.state.elapsed_secs,
                        mean_tok_per_sec: 0.0,
                        best_val_loss: s.state.best_val,
                        final_val_loss: None,
                        final_val_ppl: None,
                        final_val_bpc: None,
                        stopped_early: true,
                    }));
                }
            }
            Ok(None) => em.important(Event::Warning("stopped before training started; nothing saved".into())),
            Err(e) => em.important(Event::Error(e)),
        }
    });
    em.drain(Duration::from_secs(5));
}

/// The preset's tokenizer for a corpus: trained on at most
/// `data.tokenizer_sample_bytes` of the first stories (BPE merges settle long
/// before that on story text), cached by that sample's hash and the vocab.
pub fn tokenizer_for(preset: &Preset, stories: &[String], progress: bool) -> Result<(Tok, PathBuf, bool), crate::data::DataError> {
    let mut n = 0;
    let mut bytes = 0;
    while n < stories.len() && bytes < preset.data.tokenizer_sample_bytes {
        bytes += stories[n].len();
        n += 1;
    }
    let sample = &stories[..n];
    cached_tok_in(&crate::data::cache_dir(), preset.data.tokenizer, sample, &corpus_hash(sample), preset.vocab(), progress)
}

/// Stories the recall probe reads at every evaluation (a few seconds for v7.2).
const PROBE_STORIES: usize = 16;

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

struct Control {
    rx: Receiver<crate::engine::Command>,
    paused: bool,
    /// Some(save) once a stop was requested
    stop: Option<bool>,
    /// a second stop: give up the final evaluation too
    abort: bool,
    pending: Vec<crate::engine::Command>,
}

impl Control {
    /// Reads commands without blocking; returns true if a stop is pending.
    fn poll(&mut self) -> bool {
        use crate::engine::Command as C;
        while let Ok(c) = self.rx.try_recv() {
            match c {
                C::Pause => self.paused = true,
                C::Resume => self.paused = false,
                C::Stop { save } => self.request_stop(save),
                other => self.pending.push(other),
            }
        }
        self.stop.is_some()
    }

    fn request_stop(&mut self, save: bool) {
        if self.stop.is_some() || !save {
            self.abort = true;
        }
        self.stop = Some(self.stop.unwrap_or(save) && save);
    }

    fn wait(&mut self, d: Duration) {
        use crate::engine::Command as C;
        match self.rx.recv_timeout(d) {
            Ok(C::Pause) => self.paused = true,
            Ok(C::Resume) => self.paused = false,
            Ok(C::Stop { save }) => self.request_stop(save),
            Ok(other) => self.pending.push(other),
            Err(RecvTimeoutError::Timeout) => {}
            // the consumer is gone: behave as Ctrl-C (stop and save)
            Err(RecvTimeoutError::Disconnected) => {
                if self.paused {
                    self.stop = Some(true)
                }
            }
        }
    }
}

struct Session {
    cfg: RunConfig,
    preset: Preset,
    preset_text: String,
    model: Model,
    params: Vec<f32>,
    grads: Vec<f32>,
    adam_m: Vec<f32>,
    adam_v: Vec<f32>,
    ws: Workspace,
    train: TokenStore,
    valid: TokenStore,
    val_windows: Vec<usize>,
    bytes_of: Vec<u32>,
    sampler: WindowSampler,
    tokenizer: Tok,
    tokenizer_json: String,
    banned: Vec<bool>,
    state: TrainState,
    run_dir: PathBuf,
    metrics: MetricsLog,
    last_eval: Option<EvalResult>,
    x: Vec<u32>,
    y: Vec<u32>,
    /// the second lane of a step's micro-batches (lanes.rs)
    lanes: Option<Lanes>,
}

fn status(em: &mut Emitter, state: RunState, detail: impl Into<String>) {
    em.important(Event::Status { state, detail: detail.into() });
}

impl Session {
    fn prepare(cfg: &RunConfig, em: &mut Emitter, ctl: &RefCell<Control>) -> Result<Option<Session>, String> {
        status(em, RunState::Preparing, "loading checkpoint / corpus");
        let resumed = match &cfg.resume {
            Some(dir) => Some(
                checkpoint::load(dir, |text| {
                    let p = Preset::parse(text, "preset.ron").map_err(|e| e.to_string())?;
                    Ok(p.build_model())
                })
                .map_err(|e| e.to_string())?
                .0,
            ),
            None => None,
        };
        let (preset, preset_text) = match &resumed {
            Some(ck) => (Preset::parse(&ck.preset_text, "preset.ron").map_err(|e| e.to_string())?, ck.preset_text.clone()),
            None => (cfg.preset.clone(), cfg.preset_text.clone()),
        };
        let (preset, preset_text) = preset.with_overrides(&preset_text, &cfg.overrides).map_err(|e| e.to_string())?;
        let (b, t) = (preset.train.batch, preset.train.seq_len);
        let vocab = preset.vocab();
        let seed = cfg.seed.or(resumed.as_ref().map(|c| c.state.seed)).unwrap_or(preset.train.seed);

        // corpus: flag, else what the resumed run used, else the built-in stories
        let builtin = CorpusSource::BuiltIn { seed: preset.data.builtin_seed, stories: preset.data.builtin_stories };
        let source = match (&cfg.corpus, &resumed) {
            // absolute, so `sample`/`eval` find it again from any folder
            (Some(p), _) => CorpusSource::Path(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            (None, Some(ck)) if !ck.state.corpus.starts_with("built-in") => CorpusSource::Path(PathBuf::from(&ck.state.corpus)),
            _ => builtin,
        };
        let corpus_label = match &source {
            CorpusSource::BuiltIn { seed, stories } => {
                format!("built-in story corpus (seed {seed}, {stories} stories)")
            }
            CorpusSource::Path(p) => p.display().to_string(),
        };
        let valid_path = cfg
            .valid
            .as_ref()
            .map(|v| std::fs::canonicalize(v).unwrap_or_else(|_| v.clone()))
            .or_else(|| resumed.as_ref().and_then(|c| c.state.valid.as_ref().map(PathBuf::from)));
        status(em, RunState::Preparing, format!("reading {corpus_label}"));
        // big corpora stream in blocks (data/stream.rs); the rest is read whole
        let streamed = match &source {
            CorpusSource::Path(p) if stream::should_stream(p) => Some(stream::corpus_files(p).map_err(|e| e.to_string())?),
            _ => None,
        };
        let tx = em.sender();
        let bytes_progress = |what: &'static str| {
            let tx = tx.clone();
            let last = std::sync::atomic::AtomicU64::new(u64::MAX);
            move |done: u64, total: u64| {
                let pct = if total == 0 { 100 } else { done * 100 / total };
                if pct != last.swap(pct, std::sync::atomic::Ordering::Relaxed) {
                    let _ = tx.try_send(Event::Status {
                        state: RunState::Preparing,
                        detail: format!("{what}: {pct} % of {} MB", total / 1_000_000),
                    });
                }
            }
        };
        let (train_stories, valid_stories, hash, valid_from) = match &streamed {
            Some(files) => {
                let total = stream::total_bytes(files);
                let valid_from = valid_path.is_none().then(|| ((1.0 - preset.data.valid_fraction) * total as f64) as u64);
                let scan = stream::scan(
                    files,
                    stream::BLOCK_BYTES,
                    preset.data.tokenizer_sample_bytes,
                    valid_from,
                    &bytes_progress("scanning the corpus"),
                )
                .map_err(|e| e.to_string())?;
                let valid = match &valid_path {
                    Some(v) => load_stories(&CorpusSource::Path(v.clone())).map_err(|e| e.to_string())?,
                    None => Vec::new(),
                };
                (scan.sample, valid, scan.hash, valid_from)
            }
            None => {
                let stories = load_stories(&source).map_err(|e| e.to_string())?;
                let (train_stories, valid_stories) = match &valid_path {
                    Some(v) => (stories, load_stories(&CorpusSource::Path(v.clone())).map_err(|e| e.to_string())?),
                    None => split_stories(stories, preset.data.valid_fraction).map_err(|e| e.to_string())?,
                };
                let hash = corpus_hash(&train_stories);
                (train_stories, valid_stories, hash, None)
            }
        };
        if ctl.borrow_mut().poll() {
            return Ok(None);
        }

        // tokenizer: from the checkpoint / imported weights, else trained (cached) on a sample
        let (tokenizer, tokenizer_json) = match (&resumed, &cfg.import) {
            (Some(ck), _) => {
                let tk = Tok::from_json(&ck.tokenizer_json, &ck.dir.join("tokenizer.json")).map_err(|e| e.to_string())?;
                (tk, ck.tokenizer_json.clone())
            }
            (None, Some(imp)) => {
                let json = std::fs::read_to_string(&imp.tokenizer).map_err(|e| format!("{}: {e}", imp.tokenizer.display()))?;
                let tk = Tok::from_json(&json, &imp.tokenizer).map_err(|e| e.to_string())?;
                tk.check_specials(&imp.tokenizer.display().to_string()).map_err(|e| e.to_string())?;
                // stored as loaded (with the ByteLevel decoder, D14) in every checkpoint
                let json = tk.to_json().map_err(|e| e.to_string())?;
                (tk, json)
            }
            (None, None) => {
                status(em, RunState::Preparing, format!("tokenizer: vocab {vocab}"));
                let (tk, path, cached) = tokenizer_for(&preset, &train_stories, cfg.progress).map_err(|e| e.to_string())?;
                if !cached {
                    em.important(Event::Warning(format!("trained a new tokenizer, cached at {}", path.display())));
                }
                let json = tk.to_json().map_err(|e| e.to_string())?;
                (tk, json)
            }
        };
        let unused = tokenizer.check_vocab(vocab).map_err(|e| e.to_string())?;
        if unused > 0 {
            em.important(Event::Warning(format!(
                "the tokenizer has {} ids, the model {vocab}: {unused} ids are never produced; they keep their rows and are masked when sampling",
                vocab - unused
            )));
        }
        let banned = tokenizer.banned_ids(vocab);
        status(em, RunState::Preparing, "encoding the corpus");
        let tx = em.sender();
        let last_pct = std::sync::atomic::AtomicUsize::new(usize::MAX);
        let progress = |done: usize, total: usize| {
            let pct = if total == 0 { 100 } else { done * 100 / total };
            if pct / 10 != last_pct.swap(pct, std::sync::atomic::Ordering::Relaxed) / 10 {
                let _ = tx.try_send(Event::Status {
                    state: RunState::Preparing,
                    detail: format!("encoding the corpus: {pct} % of {total} stories"),
                });
            }
        };
        let (train, valid) = match &streamed {
            Some(files) => {
                let path = tokens_cache_path(&crate::data::cache_dir(), &hash, vocab, &tokenizer_json);
                let vpath = path.with_extension("valid.u16");
                let held_out = valid_from.is_some();
                if !(path.is_file() && (!held_out || vpath.is_file())) {
                    let st = stream::encode_to_files(
                        files,
                        stream::BLOCK_BYTES,
                        &tokenizer,
                        valid_from,
                        &path,
                        &vpath,
                        &bytes_progress("encoding the corpus"),
                    )
                    .map_err(|e| e.to_string())?;
                    em.important(Event::Warning(format!(
                        "encoded {} MB into {} training tokens in {:.1} s ({:.1} MB/s, streamed in {} MB blocks)",
                        st.bytes / 1_000_000,
                        st.train_tokens,
                        st.secs,
                        st.mb_per_sec(),
                        stream::BLOCK_BYTES >> 20
                    )));
                }
                let train = TokenStore::open(&path).map_err(|e| e.to_string())?;
                let valid = if held_out {
                    TokenStore::open(&vpath).map_err(|e| e.to_string())?
                } else {
                    TokenStore::from_vec(tokenizer.encode_stories(&valid_stories).map_err(|e| e.to_string())?)
                };
                (train, valid)
            }
            None => {
                let train =
                    cached_tokens_in(&crate::data::cache_dir(), &tokenizer, &tokenizer_json, &train_stories, &hash, vocab, &progress)
                        .map_err(|e| e.to_string())?;
                (train, TokenStore::from_vec(tokenizer.encode_stories(&valid_stories).map_err(|e| e.to_string())?))
            }
        };
        drop(train_stories);
        if valid.len() < t + 1 {
            return Err(format!(
                "validation text too small: {} tokens, need at least one window of seq_len + 1 = {} tokens",
                valid.len(),
                t + 1
            ));
        }
        let n_windows = (train.len().saturating_sub(1)) / t;
        let sampler = match &resumed {
            Some(ck) if ck.state.corpus_hash == hash => WindowSampler::restore(ck.state.sampler.clone(), n_windows, b),
            Some(_) => {
                em.important(Event::Warning("the corpus differs from the checkpoint's; the data order restarts".into()));
                WindowSampler::for_tokens(train.len(), t, b, seed).map_err(|e| e.to_string())?
            }
            None => WindowSampler::for_tokens(train.len(), t, b, seed).map_err(|e| e.to_string())?,
        };
        let val_windows = validation_windows(valid.len(), t, preset.train.eval_windows);

        let model = preset.build_model();
        let n = model.num_params();
        let (params, adam) = match (&resumed, &cfg.import) {
            (Some(ck), _) => (ck.params.clone(), ck.adam.clone()),
            (None, Some(imp)) => (crate::weights::import_reference(&*model, &imp.weights)?, None),
            (None, None) => (model.init_params(seed), None),
        };
        if cfg.import.is_some() && resumed.is_none() {
            em.important(Event::Warning(crate::weights::D3_WARNING.into()));
        }
        let (adam_m, adam_v) = adam.unwrap_or_else(|| (vec![0.0; n], vec![0.0; n]));
        let tokenizer_sha = checkpoint::sha256_hex(tokenizer_json.as_bytes());

        let (run_dir, state) = match resumed {
            Some(ck) => {
                let run_dir = ck.dir.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
                let mut st = ck.state;
                if let Some(nb) = &cfg.budget {
                    em.important(Event::Warning(format!(
                        "resuming with a new budget: {} in total (was {}); the LR horizon is recomputed",
                        crate::preset::budget_label(nb),
                        crate::preset::budget_label(&st.budget)
                    )));
                    st.budget = nb.clone();
                    st.horizon = None;
                }
                st.threads = cfg.threads;
                if st.precision != cfg.precision {
                    em.important(Event::Warning(format!(
                        "this run trained with {} products until step {}; it continues with {} (pass --precision {} to keep them)",
                        st.precision.label(),
                        st.step,
                        cfg.precision.label(),
                        st.precision.label()
                    )));
                    st.precision = cfg.precision;
                }
                // a different corpus or validation file on resume becomes the run's own
                st.corpus = corpus_label;
                st.corpus_hash = hash.clone();
                st.valid = valid_path.as_ref().map(|p| p.display().to_string());
                st.sampler = sampler.state();
                (run_dir, st)
            }
            None => {
                let dir = new_run_dir(&cfg.runs_root, &preset.name)
                    .map_err(|e| format!("{}: cannot create run folder: {e}", cfg.runs_root.display()))?;
                let st = TrainState {
                    step: 0,
                    tokens_seen: 0,
                    elapsed_secs: 0.0,
                    budget: cfg.budget.clone().unwrap_or_else(|| preset.train.budget.clone()),
                    horizon: None,
                    sampler: sampler.state(),
                    rng: Rng::new(seed ^ 0x5A5A),
                    best_val: None,
                    seed,
                    threads: cfg.threads,
                    corpus: corpus_label,
                    corpus_hash: hash.clone(),
                    valid: valid_path.as_ref().map(|p| p.display().to_string()),
                    tokenizer_sha256: tokenizer_sha,
                    precision: cfg.precision,
                };
                (dir, st)
            }
        };
        let tps = (preset.train.accum * b * t) as u64;
        let total_steps = match state.budget {
            Budget::Steps(n) => Some(n),
            Budget::Tokens(n) => Some(n.div_ceil(tps)),
            Budget::Minutes(_) => None,
        };
        if let Some(n) = total_steps {
            if n <= state.step {
                return Err(format!(
                    "the budget ({}) is already spent: the run is at step {} ({} tokens); give a larger total",
                    crate::preset::budget_label(&state.budget),
                    state.step,
                    state.tokens_seen
                ));
            }
            if preset.train.warmup >= n {
                return Err(format!(
                    "warm-up of {} steps does not fit the {n}-step budget; pass --warmup N with N < {n}",
                    preset.train.warmup
                ));
            }
        }
        if let Budget::Minutes(m) = state.budget {
            if state.elapsed_secs >= m * 60.0 {
                return Err(format!(
                    "the {m}-minute budget is already spent ({:.1} minutes so far); a budget flag on resume is the new total",
                    state.elapsed_secs / 60.0
                ));
            }
        }
        let metrics = MetricsLog::open(&run_dir).map_err(|e| format!("{}: cannot write metrics.jsonl: {e}", run_dir.display()))?;
        let bytes_of = tokenizer.token_bytes(vocab);
        let lanes = Lanes::for_run(n, preset.train.accum, b, t, rayon::current_num_threads())?;
        let s = Session {
            cfg: cfg.clone(),
            preset,
            preset_text,
            model,
            params,
            grads: vec![0.0; n],
            adam_m,
            adam_v,
            ws: Workspace::new(),
            train,
            valid,
            val_windows,
            bytes_of,
            sampler,
            tokenizer,
            tokenizer_json,
            banned,
            state,
            run_dir,
            metrics,
            last_eval: None,
            x: vec![0; b * t],
            y: vec![0; b * t],
            lanes,
        };
        let resumed_from = if cfg.resume.is_some() { Some(s.state.step) } else { None };
        em.important(Event::Started {
            run_dir: s.run_dir.clone(),
            preset: s.preset.name.clone(),
            params: n,
            tokens_per_step: s.preset.train.accum * b * t,
            train_tokens: s.train.len(),
            valid_tokens: s.valid.len(),
            resumed_from,
            log_every: s.preset.train.log_every,
        });
        Ok(Some(s))
    }

    fn horizon(&self) -> Option<u64> {
        let tr = &self.preset.train;
        let tps = (tr.accum * tr.batch * tr.seq_len) as u64;
        match self.state.budget {
            Budget::Steps(n) => Some(n),
            Budget::Tokens(n) => Some(n.div_ceil(tps)),
            Budget::Minutes(_) => self.state.horizon,
        }
    }

    fn budget_reached(&self) -> bool {
        match self.state.budget {
            Budget::Steps(n) => self.state.step >= n,
            Budget::Tokens(n) => self.state.tokens_seen >= n,
            Budget::Minutes(m) => self.state.elapsed_secs >= m * 60.0,
        }
    }

    fn train(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, memory: &Slot<MemorySnapshot>) {
        let tr = self.preset.train.clone();
        let (b, t) = (tr.batch, tr.seq_len);
        let opt = AdamW { beta1: tr.beta1, beta2: tr.beta2, eps: tr.eps, weight_decay: tr.weight_decay };
        let session_start_step = self.state.step;
        let mut train_secs = 0.0f64;
        let mut ema_step: Option<f64> = None;
        let mut calib: Vec<f64> = Vec::new();
        let mut bad_steps = 0u32;
        let mut error: Option<String> = None;
        let mut last_status = RunState::Running;
        status(em, RunState::Running, "training");
        loop {
            // commands
            let stop = ctl.borrow_mut().poll();
            self.handle_pending(em, ctl);
            if stop {
                break;
            }
            if ctl.borrow().paused {
                if last_status != RunState::Paused {
                    status(em, RunState::Paused, "paused");
                    last_status = RunState::Paused;
                }
                ctl.borrow_mut().wait(Duration::from_millis(100));
                continue;
            }
            if last_status != RunState::Running {
                status(em, RunState::Running, "training");
                last_status = RunState::Running;
            }
            if self.budget_reached() {
                break;
            }

            // one optimiser step
            let t0 = Instant::now();
            let step = self.state.step;
            // BB-OPT: `accum` micro-batches, gradients summed, losses averaged (on two lanes: lanes.rs)
            let (sampler, train, run_seed) = (&mut self.sampler, &self.train, self.state.seed);
            let loss = crate::train::lanes::accumulate(
                &self.model,
                &self.params,
                LaneA { ws: &mut self.ws, grads: &mut self.grads, x: &mut self.x, y: &mut self.y },
                self.lanes.as_mut(),
                tr.accum,
                (b, t),
                &mut |_, x, y| sampler.next_batch(train, t, x, y),
                // dropout masks depend only on (run seed, step, micro-batch): resume replays them
                &|micro| run_seed ^ (step << 8 | micro as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            // a non-finite loss or gradient norm skips the step; the weights stay as they were
            let (gnorm, clip, bad) = if loss.is_finite() {
                let (n, clip) = clip_grad_norm(&self.grads, tr.grad_clip);
                (n, clip, (!n.is_finite()).then(|| ("grad_norm", format!("gradient norm is {n}"), n.to_string())))
            } else {
                (f64::NAN, 1.0, Some(("loss", format!("loss is {loss}"), loss.to_string())))
            };
            if let Some((key, what, value)) = bad {
                bad_steps += 1;
                em.important(Event::Warning(format!("step {}: {what}; step skipped, weights untouched", step + 1)));
                let _ = self.metrics.write("skipped", &serde_json::json!({"step": step + 1, key: value}));
                self.state.sampler = self.sampler.state();
                if bad_steps >= 20 {
                    error = Some(format!("{bad_steps} non-finite steps in a row; stopping (weights are from the last good step)"));
                    break;
                }
                continue;
            }
            bad_steps = 0;
            let horizon = self.horizon().unwrap_or(u64::MAX);
            let lr = schedule_lr(&tr.schedule, step, tr.lr, tr.min_lr, tr.warmup, horizon);
            opt.update(&mut self.params, &self.grads, clip, &mut self.adam_m, &mut self.adam_v, lr, step);
            let dt = t0.elapsed().as_secs_f64();
            train_secs += dt;
            self.state.step += 1;
            self.state.tokens_seen += (tr.accum * b * t) as u64;
            self.state.elapsed_secs += dt;
            self.state.sampler = self.sampler.state();
            ema_step = Some(match ema_step {
                None => dt,
                Some(e) => 0.9 * e + 0.1 * dt,
            });

            // a minutes budget fixes its step horizon after the first steps
            if let Budget::Minutes(m) = self.state.budget {
                if self.state.horizon.is_none() {
                    if self.state.step > session_start_step + 1 {
                        calib.push(dt);
                    }
                    if calib.len() >= 6 {
                        let per = calib.iter().sum::<f64>() / calib.len() as f64;
                        // eval passes are forward-only (~1/3 of a step) over eval_windows/B batches
                        let eval_per_step = (tr.eval_windows as f64 / b as f64) * per / tr.accum as f64 / 3.0 / tr.eval_every as f64;
                        let left = (m * 60.0 - self.state.elapsed_secs).max(0.0);
                        let n = self.state.step + (left / (per + eval_per_step)) as u64;
                        self.state.horizon = Some(n.max(self.state.step + 1));
                        em.important(Event::Warning(format!(
                            "LR horizon fixed at {} steps for the {m}-minute budget ({:.0} ms/step measured)",
                            n,
                            per * 1e3
                        )));
                    }
                }
            }

            let eta = match self.state.budget {
                Budget::Minutes(m) => Some((m * 60.0 - self.state.elapsed_secs).max(0.0)),
                _ => self.horizon().map(|h| {
                    let left = h.saturating_sub(self.state.step) as f64;
                    let per = ema_step.unwrap_or(dt);
                    let evals = left / tr.eval_every as f64 + 1.0;
                    left * per + evals * (tr.eval_windows as f64 / b as f64) * per / tr.accum as f64 / 3.0
                }),
            };
            let sm = StepMetrics {
                step: self.state.step,
                loss,
                lr,
                grad_norm: gnorm,
                tokens: self.state.tokens_seen,
                elapsed_secs: self.state.elapsed_secs,
                step_ms: dt * 1e3,
                tok_per_sec: (tr.accum * b * t) as f64 / dt,
                eta_secs: eta,
                horizon: self.horizon(),
            };
            if self.state.step % tr.log_every == 0 || self.state.step == 1 {
                let _ = self.metrics.write("step", &sm);
            }
            em.metric(Event::Step(sm));

            let s = self.state.step;
            let done = self.budget_reached();
            if s % tr.eval_every == 0 && !done {
                status(em, RunState::Evaluating, "evaluating");
                last_status = RunState::Evaluating;
                match self.eval(em, ctl, memory, true) {
                    Ok(()) => {}
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            if s % tr.sample_every == 0 && !done {
                self.periodic_sample(em);
            }
            if s % tr.checkpoint_every == 0 && !done {
                let dir = self.run_dir.join(format!("step-{s}"));
                if let Err(e) = self.save(&dir, "periodic") {
                    em.important(Event::Warning(format!("could not save {}: {e}", dir.display())));
                } else {
                    em.important(Event::CheckpointSaved { step: s, path: dir });
                }
            }
        }

        // the end: a final eval (a second stop skips it), then last/
        let user_stop = ctl.borrow().stop;
        let steps_this_session = self.state.step - session_start_step;
        if user_stop != Some(false) && !ctl.borrow().abort && self.state.step > 0 && bad_steps == 0 {
            status(em, RunState::Evaluating, "final evaluation");
            if let Err(e) = self.eval(em, ctl, memory, false) {
                error = error.or(Some(e));
            }
        }
        let save = user_stop.unwrap_or(true);
        if save && self.state.step >= 1 {
            status(em, RunState::Saving, "saving last/");
            let dir = self.run_dir.join("last");
            match self.save(&dir, "last") {
                Ok(()) => em.important(Event::CheckpointSaved { step: self.state.step, path: dir }),
                Err(e) => em.important(Event::Error(format!("could not save {}: {e}", dir.display()))),
            }
        } else if !save {
            em.important(Event::Warning("stopped without saving".into()));
        }
        if let Some(e) = &error {
            em.important(Event::Error(e.clone()));
        }
        let tokens_this = steps_this_session * (self.preset.train.accum * b * t) as u64;
        let summary = Summary {
            run_dir: self.run_dir.clone(),
            steps: self.state.step,
            tokens: self.state.tokens_seen,
            elapsed_secs: self.state.elapsed_secs,
            mean_tok_per_sec: if train_secs > 0.0 { tokens_this as f64 / train_secs } else { 0.0 },
            best_val_loss: self.state.best_val,
            final_val_loss: self.last_eval.as_ref().map(|e| e.loss),
            final_val_ppl: self.last_eval.as_ref().map(|e| e.ppl),
            final_val_bpc: self.last_eval.as_ref().map(|e| e.bpc),
            stopped_early: user_stop.is_some() || error.is_some(),
        };
        let _ = self.metrics.write("summary", &summary);
        status(em, RunState::Finished, "finished");
        em.important(Event::Finished(summary));
    }

    /// Validation on the fixed windows; saves best/ on improvement; refreshes heatmaps.
    /// `interruptible`: a stop request ends a periodic eval; the final eval ends only on a second stop.
    fn eval(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, memory: &Slot<MemorySnapshot>, interruptible: bool) -> Result<(), String> {
        let t0 = Instant::now();
        let (b, t) = (self.preset.train.batch, self.preset.train.seq_len);
        let stop = || {
            let mut c = ctl.borrow_mut();
            let stopping = c.poll();
            c.abort || (interruptible && stopping)
        };
        let res = evaluate(&*self.model, &mut self.ws, &self.params, &self.valid, &self.val_windows, t, b, &self.bytes_of, &stop);
        self.state.elapsed_secs += t0.elapsed().as_secs_f64();
        let Some(res) = res else {
            em.important(Event::Warning("evaluation interrupted".into()));
            return Ok(());
        };
        if !res.loss.is_finite() {
            em.important(Event::Warning(format!("step {}: validation loss is {}", self.state.step, res.loss)));
            return Ok(());
        }
        let best = self.state.best_val.is_none_or(|bv| res.loss < bv);
        let m = EvalMetrics {
            step: self.state.step,
            tokens: self.state.tokens_seen,
            elapsed_secs: self.state.elapsed_secs,
            loss: res.loss,
            ppl: res.ppl,
            bpc: res.bpc,
            best,
        };
        let _ = self.metrics.write("eval", &m);
        em.important(Event::Eval(m));
        // the recall probe on a few held-out built-in stories (numbered after the preset's own)
        let probe =
            crate::train::probe::probe_stories(self.preset.data.builtin_seed, self.preset.data.builtin_stories as u64, PROBE_STORIES);
        let rows = self.preset.train.batch;
        let report =
            crate::train::probe::recall_probe_in(&*self.model, &self.params, &self.tokenizer, &probe, t, &mut self.ws, rows, &stop);
        if let Some(report) = report {
            let _ = self.metrics.write("recall", &serde_json::json!({"step": self.state.step, "report": report}));
            em.important(Event::Recall { step: self.state.step, report });
        }
        let shares = self.model.ternary_shares(&self.params);
        if !shares.is_empty() {
            let _ = self.metrics.write("ternary", &serde_json::json!({"step": self.state.step, "shares": shares}));
            em.important(Event::Ternary { step: self.state.step, shares });
        }
        self.last_eval = Some(res.clone());
        if best {
            self.state.best_val = Some(res.loss);
            let dir = self.run_dir.join("best");
            match self.save(&dir, "best") {
                Ok(()) => em.important(Event::CheckpointSaved { step: self.state.step, path: dir }),
                Err(e) => em.important(Event::Warning(format!("could not save {}: {e}", dir.display()))),
            }
        }
        if self.model.memory_dims().is_some() {
            memory.put(self.memory_snapshot(t));
            em.important(Event::MemoryUpdated { step: self.state.step });
        }
        Ok(())
    }

    /// Each layer's Hebbian matrix after the probe sequence (the first validation window).
    fn memory_snapshot(&self, t: usize) -> MemorySnapshot {
        let probe: Vec<u32> = self.valid.as_slice()[..t.min(self.valid.len())].iter().map(|&v| v as u32).collect();
        let mut dec = self.model.decoder(&self.params);
        for &tok in &probe {
            dec.step(tok);
        }
        let dm = self.model.memory_dims().map_or(0, |m| m.d_mem);
        let layers =
            dec.memory().iter().map(|l| Array2::from_shape_vec((dm, dm), l.to_vec()).unwrap_or_else(|_| Array2::zeros((dm, dm)))).collect();
        MemorySnapshot { step: self.state.step, layers }
    }

    fn periodic_sample(&mut self, em: &mut Emitter) {
        let prompt = self.cfg.sample_prompt.clone();
        let Ok(ids) = self.tokenizer.encode_prompt(&prompt) else {
            return;
        };
        let p = SampleParams { max_tokens: 60, seed: self.state.rng.next_u64(), ..SampleParams::default() };
        let out = generate(&*self.model, &self.params, &ids, &self.banned, EOS, &p, |_| true);
        let text = format!("{prompt}{}", self.tokenizer.decode(&out));
        let _ = self.metrics.write("sample", &serde_json::json!({"step": self.state.step, "text": text}));
        em.important(Event::Sample { step: self.state.step, prompt, text });
    }

    fn handle_pending(&mut self, em: &mut Emitter, ctl: &RefCell<Control>) {
        let pending = std::mem::take(&mut ctl.borrow_mut().pending);
        for c in pending {
            match c {
                crate::engine::Command::SaveNow => {
                    let dir = self.run_dir.join(format!("step-{}", self.state.step));
                    match self.save(&dir, "manual") {
                        Ok(()) => em.important(Event::CheckpointSaved { step: self.state.step, path: dir }),
                        Err(e) => em.important(Event::Warning(format!("could not save {}: {e}", dir.display()))),
                    }
                }
                crate::engine::Command::Sample { id, prompt, params } => self.spawn_sample(em, id, prompt, params),
                _ => {}
            }
        }
    }

    /// Samples from a snapshot of the weights on its own thread, so training never waits.
    fn spawn_sample(&self, em: &mut Emitter, id: u64, prompt: String, params: SampleParams) {
        let snapshot = Arc::new(self.params.clone());
        let model = self.model.clone();
        let tok = self.tokenizer.clone();
        let banned = self.banned.clone();
        let tx = em.sender();
        std::thread::spawn(move || {
            let ids = match tok.encode_prompt(&prompt) {
                Ok(ids) => ids,
                Err(e) => {
                    let _ = tx.send(Event::Generated { id, text: format!("error: {e}"), done: true });
                    return;
                }
            };
            let mut out: Vec<u32> = Vec::new();
            generate(&*model, &snapshot, &ids, &banned, EOS, &params, |t| {
                out.push(t);
                tx.send_timeout(Event::Generated { id, text: tok.decode(&out), done: false }, Duration::from_millis(200)).is_ok()
            });
            let _ = tx.send_timeout(Event::Generated { id, text: tok.decode(&out), done: true }, Duration::from_secs(1));
        });
    }

    fn save(&self, dir: &Path, kind: &str) -> Result<(), checkpoint::CheckpointError> {
        let aliases = self.model.tied_aliases();
        checkpoint::save(
            dir,
            &SaveRequest {
                layout: self.model.layout(),
                aliases: &aliases,
                params: &self.params,
                adam: Some((&self.adam_m, &self.adam_v)),
                tokenizer_json: &self.tokenizer_json,
                preset_text: &self.preset_text,
                state: &self.state,
                kind,
            },
        )
    }
}
