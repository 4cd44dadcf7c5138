//! The trainer thread: a run's configuration, the thread that prepares and
//! trains it inside one rayon pool (a step's paired micro-batches on two pools
//! of half its threads each, lanes.rs), and what is kept when it crashes. It
//! owns the model and talks to the world only through the engine's channels.

use super::commands::Control;
use super::session::Session;
use crate::engine::{Command, Emitter, EngineHandle, Event, LogKind, MemorySnapshot, Slot, Summary, EVENT_CAPACITY};
use crate::preset::{Budget, Preset};
use crossbeam_channel::{bounded, unbounded, Receiver};
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

pub use super::pipeline::tokenizer_for;

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
    /// The folder of a new run, instead of `<runs_root>/<preset>-<timestamp>/`
    /// (a sweep names each run's folder); created if missing, never removed.
    pub run_dir: Option<PathBuf>,
    /// Show the tokenizer's own progress bars (off under the TUI).
    pub progress: bool,
    pub sample_prompt: String,
    /// Preset fields overridden from the command line (also applied on resume).
    pub overrides: crate::preset::Overrides,
    /// Precision of the training products (`--precision`; checked against the CPU
    /// by [`crate::precision::check_training`] first).
    pub precision: crate::precision::Precision,
    /// When to evaluate and sample: exact steps (headless), or on the clock
    /// for someone watching (the TUI).
    pub cadence: super::cadence::Cadence,
    /// One of several processes training this run together (collective.rs);
    /// `None`: the only one.
    pub ranks: Option<super::collective::Ranks>,
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

fn run(cfg: RunConfig, commands: Receiver<Command>, em: &mut Emitter, memory: Slot<MemorySnapshot>) {
    let bf16 = cfg.precision == crate::precision::Precision::Bf16;
    // the CLI checks first; a library caller gets the same reason here
    if let Err(e) = crate::precision::check_training(cfg.precision) {
        em.important(Event::Error(e.to_string()));
        em.drain(Duration::from_secs(5));
        return;
    }
    crate::kernels::matmul::choose_tile();
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
        let ctl = RefCell::new(Control::new(commands));
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
                            Err(e) => em.important(Event::Error(e.message())),
                        }
                    }
                    em.important(Event::Finished(Summary {
                        run_dir: s.run_dir.clone(),
                        steps: s.state.step,
                        tokens: s.state.tokens_seen,
                        elapsed_secs: s.state.elapsed_secs,
                        mean_tok_per_sec: crate::engine::mean_tok_per_sec(s.state.timed_tokens, s.state.train_secs),
                        train_secs: s.state.train_secs,
                        best_val_loss: s.state.best_val,
                        final_val_loss: None,
                        final_val_ppl: None,
                        final_val_bpc: None,
                        fsp: None,
                        stopped_early: true,
                    }));
                }
            }
            Ok(None) => em.important(Event::warn(LogKind::NotSaved, "stopped before training started; nothing saved")),
            Err(e) => em.important(Event::Error(e.message())),
        }
    });
    em.drain(Duration::from_secs(5));
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}
