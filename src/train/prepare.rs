//! Everything before the first step: the checkpoint to resume, the data
//! pipeline, the weights, the run's state (new or resumed), the budget check.

use super::budget;
use super::cadence::Schedule;
use super::checkpoint::{self, Loaded, TrainState};
use super::collective::{Collective, Share};
use super::commands::Control;
use super::error::TrainError;
use super::lanes::Lanes;
use super::pipeline::{self, CorpusInfo};
use super::run::{new_run_dir, MetricsLog, RunLock};
use super::session::{status, Session, WallClock};
use super::trainer::RunConfig;
use crate::data::tokens::{validation_windows, TokenStore, WindowSampler};
use crate::engine::{Emitter, Event, LogKind, RunState, Slot};
use crate::model::footprint::Purpose;
use crate::model::{Model, Workspace};
use crate::preset::{budget_label, Budget, Preset};
use crate::rng::Rng;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// The weights a run starts from, and AdamW's moments.
struct Weights {
    model: Model,
    params: Vec<f32>,
    adam_m: Vec<f32>,
    adam_v: Vec<f32>,
}

impl Session {
    /// Prepares a run; `Ok(None)` if a stop came while the corpus was read.
    pub(super) fn prepare(cfg: &RunConfig, em: &mut Emitter, ctl: &RefCell<Control>) -> Result<Option<Session>, TrainError> {
        status(em, RunState::Preparing, "loading checkpoint / corpus");
        // the memory check comes first: a resumed run's preset is the checkpoint's
        let sized = match &cfg.resume {
            Some(dir) => checkpoint::read_preset(dir).ok(),
            None => Some(cfg.preset.clone()),
        };
        if let Some(p) = &sized {
            crate::limits::check_preset(p, p.train.batch, Purpose::Train)?;
        }
        let resumed = match &cfg.resume {
            Some(dir) => Some(checkpoint::load_model(dir).map_err(TrainError::Resume)?),
            None => None,
        };
        let (preset, preset_text) = match &resumed {
            Some(ck) => (&ck.preset, &ck.preset_text),
            None => (&cfg.preset, &cfg.preset_text),
        };
        let (preset, preset_text) = preset.with_overrides(preset_text, &cfg.overrides).map_err(TrainError::Overrides)?;
        if resumed.as_ref().is_some_and(|ck| ck.preset.train.fsp.is_none() && preset.train.fsp.is_some()) {
            return Err(TrainError::FspOnResume);
        }
        let resumed_state = resumed.as_ref().map(|ck| &ck.state);
        let seed = cfg.seed.or(resumed_state.map(|st| st.seed)).unwrap_or(preset.train.seed);

        let (info, text) = pipeline::read_corpus(cfg, &preset, resumed_state, em)?;
        if ctl.borrow_mut().poll() {
            return Ok(None);
        }
        let (tokenizer, tokenizer_json) = pipeline::tokenizer(cfg, &preset, resumed.as_ref(), &text, em)?;
        let vocab = preset.vocab();
        let banned = tokenizer.banned_ids(vocab);
        let (train, valid) = pipeline::encode(text, &info, &tokenizer, &tokenizer_json, vocab, em)?;
        let t = preset.train.seq_len;
        if valid.len() < t + 1 {
            return Err(TrainError::ValidTooSmall { tokens: valid.len(), need: t + 1 });
        }
        let sampler = window_sampler(&preset, &train, resumed_state, &info, seed, em)?;
        let val_windows = validation_windows(valid.len(), t, preset.train.eval_windows);

        let imported = cfg.import.is_some() && resumed.is_none();
        let weights = starting_weights(cfg, &preset, resumed.as_ref(), seed)?;
        if imported {
            em.important(Event::warn(LogKind::ReferenceWeights, crate::weights::D3_WARNING));
        }
        let tokenizer_sha = crate::util::sha256_hex(tokenizer_json.as_bytes());
        // buffers span the whole layout (training-only tensors included)
        let n = weights.model.layout().total;
        let (b, accum) = (preset.train.batch, preset.train.accum);
        let (group, share) = join_group(cfg, &preset, resumed.as_ref().map(|ck| &ck.state))?;
        let root = group.as_ref().is_none_or(|g| g.rank() == 0);
        let lanes = Lanes::for_run(n, share.count, b, t, rayon::current_num_threads()).map_err(TrainError::Lanes)?;
        // every refusal comes before a new run's folder is made: none is left empty
        let (run_dir, state, fresh) = match resumed {
            Some(ck) => {
                let (dir, st) = continued_state(cfg, ck, info, &sampler, em);
                budget::check(&preset, &st)?;
                (dir, st, false)
            }
            None => {
                let st = new_state(cfg, &preset, seed, info, &sampler, tokenizer_sha);
                budget::check(&preset, &st)?;
                // the other ranks write nothing: they need no folder of their own
                if !root {
                    (cfg.runs_root.clone(), st, false)
                } else {
                    let dir = match &cfg.run_dir {
                        Some(d) => std::fs::create_dir_all(d).map(|()| d.clone()),
                        None => new_run_dir(&cfg.runs_root, &preset.name),
                    }
                    .map_err(|source| TrainError::RunFolder { root: cfg.runs_root.clone(), source })?;
                    (dir, st, true)
                }
            }
        };
        // rank 0 alone locks the run and writes its metrics
        let opened = if !root {
            Ok((None, MetricsLog::disabled()))
        } else {
            RunLock::acquire(&run_dir).map_err(TrainError::Locked).and_then(|lock| {
                let metrics = MetricsLog::open(&run_dir).map_err(|source| TrainError::Metrics { dir: run_dir.clone(), source })?;
                Ok((Some(lock), metrics))
            })
        };
        let (lock, metrics) = match opened {
            Ok(v) => v,
            Err(e) => {
                // a folder given by the caller may hold another process's run: it stays
                if fresh && cfg.run_dir.is_none() {
                    let _ = std::fs::remove_dir_all(&run_dir);
                }
                return Err(e);
            }
        };
        let bytes_of = tokenizer.token_bytes(vocab);
        let tr = &preset.train;
        let fixed = (cfg.overrides.eval_every.is_some(), cfg.overrides.sample_every.is_some());
        let schedule = Schedule::new(&cfg.cadence, tr.eval_every, tr.sample_every, fixed, val_windows.len());
        let warmup = tr.warmup;
        let s = Session {
            cfg: cfg.clone(),
            preset,
            preset_text,
            model: weights.model,
            params: weights.params,
            grads: vec![0.0; n],
            adam_m: weights.adam_m,
            adam_v: weights.adam_v,
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
            _lock: lock,
            metrics,
            last_eval: None,
            x: vec![0; b * t],
            y: vec![0; b * t],
            lanes,
            reduced: if group.is_some() { vec![0.0; n] } else { Vec::new() },
            group,
            share,
            schedule,
            warmup,
            evaluated_at: None,
            clock: WallClock::new(0.0),
            memory: Slot::new(),
        };
        let mut s = s;
        // a warm-up as long as the run is shortened (a minutes budget's once its horizon is estimated)
        if let Some(total) = budget::planned_steps(&s.preset, &s.state.budget).or(s.state.horizon) {
            let what = format!("the {}-step budget", total);
            s.fit_warmup(em, total, &what);
        }
        em.important(Event::Started {
            run_dir: s.run_dir.clone(),
            preset: s.preset.name.clone(),
            params: s.model.num_params(),
            tokens_per_step: accum * b * t,
            train_tokens: s.train.len(),
            valid_tokens: s.valid.len(),
            resumed_from: cfg.resume.is_some().then_some(s.state.step),
            log_every: s.preset.train.log_every,
            cadence: s.schedule.info(),
        });
        Ok(Some(s))
    }
}

/// The ranks this run trains with (from [`RunConfig::ranks`]) and this
/// process's share of a step; alone, the whole step.
type Group = Option<Box<dyn Collective>>;

fn join_group(cfg: &RunConfig, preset: &Preset, resumed: Option<&TrainState>) -> Result<(Group, Share), TrainError> {
    let accum = preset.train.accum.max(1);
    let Some(r) = &cfg.ranks else {
        return Ok((None, Share::whole(accum)));
    };
    let budget = cfg.budget.as_ref().or(resumed.map(|st| &st.budget)).unwrap_or(&preset.train.budget);
    if r.size > 1 && matches!(budget, Budget::Minutes(_)) {
        return Err(TrainError::Ranks(
            "a minutes budget is timed by each process on its own; train several ranks with --steps or --tokens".into(),
        ));
    }
    let share = Share::of(accum, r.rank, r.size).map_err(TrainError::Ranks)?;
    Ok((Some((r.connect)()), share))
}

/// The data order: the resumed run's, continued, if the corpus is the same;
/// else a fresh one from the seed.
fn window_sampler(
    preset: &Preset,
    train: &TokenStore,
    resumed: Option<&TrainState>,
    info: &CorpusInfo,
    seed: u64,
    em: &mut Emitter,
) -> Result<WindowSampler, TrainError> {
    let (b, t) = (preset.train.batch, preset.train.seq_len);
    let fresh = || WindowSampler::for_tokens(train.len(), t, b, seed).map_err(TrainError::Windows);
    match resumed {
        Some(st) if st.corpus_hash == info.hash => Ok(WindowSampler::restore(st.sampler.clone(), (train.len().saturating_sub(1)) / t, b)),
        Some(_) => {
            em.important(Event::warn(LogKind::CorpusChanged, "the corpus differs from the checkpoint's; the data order restarts"));
            fresh()
        }
        None => fresh(),
    }
}

/// The checkpoint's weights and moments, else imported reference weights,
/// else a fresh initialisation from the seed.
fn starting_weights(cfg: &RunConfig, preset: &Preset, resumed: Option<&Loaded>, seed: u64) -> Result<Weights, TrainError> {
    let (model, params, adam) = match (resumed, &cfg.import) {
        (Some(ck), _) => (ck.model.clone(), ck.params.clone(), ck.adam.clone()),
        (None, Some(imp)) => {
            let model = preset.build_model();
            let params = crate::weights::import_reference(&*model, &imp.weights).map_err(TrainError::Import)?;
            (model, params, None)
        }
        (None, None) => {
            let model = preset.build_model();
            let params = model.init_params(seed);
            (model, params, None)
        }
    };
    let n = model.layout().total;
    let (adam_m, adam_v) = adam.unwrap_or_else(|| (vec![0.0; n], vec![0.0; n]));
    Ok(Weights { model, params, adam_m, adam_v })
}

/// A resumed run continues in the checkpoint's run folder with its state; a
/// budget flag sets a new total, and the precision, corpus and validation
/// text are this session's.
fn continued_state(cfg: &RunConfig, ck: Loaded, info: CorpusInfo, sampler: &WindowSampler, em: &mut Emitter) -> (PathBuf, TrainState) {
    let run_dir = ck.dir.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let mut st = ck.state;
    if let Some(nb) = &cfg.budget {
        em.important(Event::info(
            LogKind::NewBudget,
            format!(
                "resuming with a new budget: {} in total (was {}); the LR horizon is recomputed",
                budget_label(nb),
                budget_label(&st.budget)
            ),
        ));
        st.budget = nb.clone();
        st.horizon = None;
    }
    st.threads = cfg.threads;
    if st.precision != cfg.precision {
        em.important(Event::warn(
            LogKind::PrecisionChanged { was: st.precision, now: cfg.precision, step: st.step },
            format!(
                "this run trained with {} products until step {}; it continues with {} (pass --precision {} to keep them)",
                st.precision.label(),
                st.step,
                cfg.precision.label(),
                st.precision.label()
            ),
        ));
        st.precision = cfg.precision;
    }
    st.corpus = info.label;
    st.corpus_hash = info.hash;
    st.valid = info.valid_path.map(|p| p.display().to_string());
    st.sampler = sampler.state();
    (run_dir, st)
}

/// A new run's state, at step 0.
fn new_state(
    cfg: &RunConfig,
    preset: &Preset,
    seed: u64,
    info: CorpusInfo,
    sampler: &WindowSampler,
    tokenizer_sha256: String,
) -> TrainState {
    TrainState {
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
        corpus: info.label,
        corpus_hash: info.hash,
        valid: info.valid_path.map(|p| p.display().to_string()),
        tokenizer_sha256,
        precision: cfg.precision,
        train_secs: 0.0,
        timed_tokens: 0,
    }
}
