//! The command line: headless training, sampling, evaluation, benchmarks and
//! preset listing. `anyhow` at this edge; the library uses typed errors.

use crate::data::corpus::{load_stories, CorpusSource};
use crate::data::tok::Tok;
use crate::data::tokenizer::EOS;
use crate::data::tokens::{validation_windows, TokenStore};
use crate::engine::{Command, Event, RunState};
use crate::generate::{generate, SampleParams};
use crate::model::Model;
use crate::precision::Precision;
use crate::preset::{discover, resolve, thousands, Budget, Preset};
use crate::train::checkpoint;
use crate::train::eval::{evaluate, Bigram};
use crate::train::trainer::ImportWeights;
use crate::train::{start, RunConfig};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "flashlm-tui",
    version,
    about = "Train the FlashLM family of small language models on CPUs, headless or in a terminal UI",
    long_about = "Train the FlashLM family of small language models (v7.1 CORTEX-III, v7.2 CORTEX-VI, …) from scratch on ordinary CPUs.\n\nWith no subcommand in a terminal, opens the terminal UI (pick a preset, watch it train, sample from it). When stdout is not a terminal, trains the default preset (v7.2-cortex-vi) on the built-in story corpus headless until the preset's budget is spent; Ctrl-C stops and saves."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    /// Extra folder of .ron presets for the terminal UI's picker
    #[arg(long)]
    pub presets: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Train a model (in the terminal UI, or headless); writes checkpoints/<preset>-<timestamp>/
    Train(TrainArgs),
    /// Generate text from a checkpoint (or imported reference weights)
    Sample(SampleArgs),
    /// Validation loss, PPL and bits per byte of a checkpoint on a text file
    Eval(EvalArgs),
    /// Measure this machine's sgemm peak and the training/generation speed of a preset
    Bench(BenchArgs),
    /// List the available presets with their parameter counts
    Presets {
        /// Extra folder of .ron presets (overrides built-in ones of the same name)
        #[arg(long)]
        presets: Option<PathBuf>,
    },
    /// Fetch real training data into the Hugging Face cache (honours HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE)
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// Past runs (from each run's metrics.jsonl) as a Markdown table
    Runs {
        /// The folder holding run folders
        #[arg(long, default_value = "checkpoints")]
        dir: PathBuf,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct BudgetArgs {
    /// Train for N optimiser steps
    #[arg(long, conflicts_with_all = ["tokens", "minutes"])]
    pub steps: Option<u64>,
    /// Train until N tokens have been seen
    #[arg(long, conflicts_with_all = ["steps", "minutes"])]
    pub tokens: Option<u64>,
    /// Train for M minutes of wall time (evaluation included)
    #[arg(long, conflicts_with_all = ["steps", "tokens"])]
    pub minutes: Option<f64>,
}

impl BudgetArgs {
    fn budget(&self) -> Result<Option<Budget>> {
        Ok(match (self.steps, self.tokens, self.minutes) {
            (Some(0), _, _) | (_, Some(0), _) => bail!("the budget must be positive"),
            (Some(s), _, _) => Some(Budget::Steps(s)),
            (_, Some(t), _) => Some(Budget::Tokens(t)),
            (_, _, Some(m)) if !(m > 0.0 && m.is_finite()) => {
                bail!("--minutes must be a positive number, got {m}")
            }
            (_, _, Some(m)) => Some(Budget::Minutes(m)),
            _ => None,
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Preset name (see `flashlm-tui presets`) or path to a .ron file
    #[arg(long, default_value = "v7.2-cortex-vi")]
    pub preset: String,
    /// Extra folder of .ron presets
    #[arg(long)]
    pub presets: Option<PathBuf>,
    /// Run without the terminal UI (automatic when stdout is not a terminal)
    #[arg(long)]
    pub headless: bool,
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Training text: a UTF-8 file, a folder of .txt files, or `-` for standard input
    /// (copied to the cache first; needs --headless) (default: the built-in story corpus)
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Validation text file (default: the last stories of the corpus are held out)
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Worker threads (default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed for initialisation and data order (default: the preset's)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue a run from a checkpoint folder (e.g. checkpoints/<run>/last)
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Start from reference PyTorch weights (a safetensors state_dict); needs --tokenizer
    #[arg(long, requires = "tokenizer")]
    pub weights: Option<PathBuf>,
    /// tokenizer.json for --weights
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Where run folders go
    #[arg(long, default_value = "checkpoints")]
    pub out: PathBuf,
    /// Prompt for the periodic samples
    #[arg(long, default_value = "Once upon a time")]
    pub sample_prompt: String,
    /// Override the preset's warm-up steps
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Override the preset's evaluation interval (steps)
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// Override the preset's micro-batches per optimiser step (gradient accumulation)
    #[arg(long)]
    pub accum: Option<usize>,
    /// Training precision: fp32 (the default), or bf16: every matrix product rounds its operands
    /// to bf16 and accumulates in f32 (AVX512-BF16 dot products), weights and optimizer state stay
    /// f32. Refused with the reason where the CPU lacks AVX512-BF16
    #[arg(long, value_enum, default_value_t = Precision::Fp32)]
    pub precision: Precision,
}

#[derive(Args, Debug, Clone)]
pub struct ModelSource {
    /// A checkpoint folder (e.g. checkpoints/<run>/best)
    #[arg(long, conflicts_with = "weights")]
    pub checkpoint: Option<PathBuf>,
    /// Reference PyTorch weights as a safetensors state_dict (with --preset and --tokenizer)
    #[arg(long, requires_all = ["preset", "tokenizer"])]
    pub weights: Option<PathBuf>,
    /// Preset for --weights
    #[arg(long)]
    pub preset: Option<String>,
    /// tokenizer.json for --weights
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Worker threads (default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    #[command(flatten)]
    pub src: ModelSource,
    #[arg(long, default_value = "Once upon a time")]
    pub prompt: String,
    /// Maximum new tokens
    #[arg(long, default_value_t = 120)]
    pub tokens: usize,
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = off)
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    /// Nucleus sampling threshold (1 = off)
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// CTRL repetition penalty over the last 64 tokens (1 = off)
    #[arg(long, default_value_t = 1.0)]
    pub repetition_penalty: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of samples
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// Training text for the "words seen in training" check (default: the checkpoint's corpus)
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Open the terminal UI's sampling pane: type prompts, tune the parameters, watch the output stream
    #[arg(long)]
    pub interactive: bool,
    /// Weights for the products: fp32, or bf16 / int8 (blocks of 32, one scale each) copies: half / ~a
    /// quarter of the bytes streamed per token, f32 arithmetic; v7.1/v7.2 only; output differs slightly from fp32
    #[arg(long, value_enum, default_value_t = Precision::Fp32)]
    pub precision: Precision,
}

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    #[command(flatten)]
    pub src: ModelSource,
    /// Text file to evaluate on (loss, PPL, bits per byte)
    #[arg(long, required_unless_present = "probe")]
    pub data: Option<PathBuf>,
    /// Run a probe instead of (or next to) the text evaluation. `recall`: loss on
    /// names re-mentioned in built-in stories, by distance to their earlier
    /// occurrence, and with the earlier occurrences swapped for another name
    #[arg(long, value_parser = ["recall"])]
    pub probe: Option<String>,
    /// Built-in stories the recall probe reads (held out: numbered after the preset's training stories)
    #[arg(long, default_value_t = 200)]
    pub probe_stories: usize,
    /// Evaluate a baseline instead of (or, with a model, next to) the model: `bigram`
    #[arg(long)]
    pub baseline: Option<String>,
    /// Training text the bigram is fitted on (default: the checkpoint's corpus)
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Use at most this many windows
    #[arg(long)]
    pub max_windows: Option<usize>,
    /// Also score the windows through the incremental decoder with fp32 and with bf16 / int8
    /// weights (what `sample --precision` generates from), to measure the cost in loss
    #[arg(long, value_enum, default_value_t = Precision::Fp32)]
    pub precision: Precision,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    #[arg(long, default_value = "v7.2-cortex-vi")]
    pub preset: String,
    #[arg(long)]
    pub presets: Option<PathBuf>,
    /// Worker threads (default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed training steps after 2 warm-up steps (default: 5, or for short steps as many as fill about 2 s, at most 100; the same for each preset with --all)
    #[arg(long)]
    pub steps: Option<usize>,
    /// Time micro-batches of this many windows instead of the preset's batch
    /// (`--all` times presets above 16×256 tokens per micro-batch at 8 × 256 windows, to stay under 5 minutes: v5)
    #[arg(long)]
    pub batch: Option<usize>,
    /// Benchmark every full-size preset, each in its own process (so peak RSS is
    /// per preset), at the default thread count and at 1 thread; prints one Markdown table
    #[arg(long, conflicts_with = "preset")]
    pub all: bool,
    /// Also print the figures as one JSON line (used by --all)
    #[arg(long)]
    pub json: bool,
    /// Training precision. bf16 needs AVX512-BF16 (said plainly where the CPU lacks it);
    /// generation is timed in fp32 and, where the model supports it, with bf16 weights too
    #[arg(long, value_enum, default_value_t = Precision::Fp32)]
    pub precision: Precision,
    /// Skip the generation timing (used by --all for the 1-thread runs)
    #[arg(long)]
    pub no_gen: bool,
    /// Time the preset's Hebbian memory: its training steps alternate with those
    /// of the same model without the memory (v7.1's architecture), and the
    /// overhead is the median ratio over the pairs (v7.2 presets)
    #[arg(long, conflicts_with = "all")]
    pub hebbian: bool,
    /// Time the two-lane step (a step's micro-batches run in pairs side by
    /// side, each pair on half of the threads) against the one-lane step,
    /// alternating in one process (presets with accum ≥ 2 and micro-batches of
    /// at most 2,048 tokens: v5.2, v6)
    #[arg(long, conflicts_with_all = ["all", "hebbian"])]
    pub lanes: bool,
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// Runs the terminal UI, then reports what happened on the restored terminal.
fn run_tui(opts: crate::tui::Options) -> Result<()> {
    let out = crate::tui::run(opts)?;
    if let Some(s) = &out.summary {
        println!("{s}");
    }
    if let Some(n) = &out.note {
        eprintln!("flashlm-tui: {n}");
    }
    match out.error {
        Some(e) => Err(anyhow!("training failed: {e}")),
        None => Ok(()),
    }
}

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None if stdout_is_terminal() => run_tui(crate::tui::Options {
            launch: crate::tui::Launch::Picker,
            presets_dir: cli.presets,
            runs_root: "checkpoints".into(),
            threads: default_threads(),
        }),
        None => {
            eprintln!("flashlm-tui: stdout is not a terminal, so no terminal UI: training v7.2-cortex-vi headless on the built-in story corpus (see --help)");
            train(TrainArgs {
                preset: "v7.2-cortex-vi".into(),
                presets: None,
                headless: true,
                budget: BudgetArgs::default(),
                corpus: None,
                valid: None,
                threads: None,
                seed: None,
                resume: None,
                weights: None,
                tokenizer: None,
                out: "checkpoints".into(),
                sample_prompt: "Once upon a time".into(),
                warmup: None,
                eval_every: None,
                accum: None,
                precision: Precision::Fp32,
            })
        }
        Some(Cmd::Train(a)) => train(a),
        Some(Cmd::Sample(a)) => sample(a),
        Some(Cmd::Eval(a)) => eval(a),
        Some(Cmd::Bench(a)) => crate::bench::run(&a),
        Some(Cmd::Presets { presets }) => list_presets(presets.as_deref()),
        Some(Cmd::Data { cmd }) => data(cmd),
        Some(Cmd::Runs { dir }) => {
            let runs = crate::runs::scan(&dir);
            if runs.is_empty() && !dir.is_dir() {
                bail!("{}: no such folder (runs are written to checkpoints/ by `flashlm-tui train`; pass --dir)", dir.display());
            }
            print!("{}", crate::runs::markdown_table(&runs));
            Ok(())
        }
    }
}

fn list_presets(dir: Option<&Path>) -> Result<()> {
    let entries = discover(dir);
    let w = entries.iter().map(|e| e.name().len()).max().unwrap_or(4).max(4);
    for e in &entries {
        match &e.parsed {
            Ok(p) => {
                let n = p.build_model().num_params() as u64;
                println!("{:<w$}  {:<5}  {:>10} params  {}", p.name, p.version, thousands(n), p.architecture());
            }
            Err(err) => println!("{:<w$}  error: {err}", e.name()),
        }
    }
    Ok(())
}

fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// The trainer's configuration from the `train` flags.
fn run_config(a: &TrainArgs) -> Result<RunConfig> {
    let (preset, text) = if a.resume.is_some() && a.preset == "v7.2-cortex-vi" {
        // the checkpoint carries its own preset; this one is a placeholder
        resolve("v7.2-cortex-vi", None)?
    } else {
        resolve(&a.preset, a.presets.as_deref())?
    };
    let mut corpus = a.corpus.clone();
    if let Some(c) = &a.corpus {
        if c.as_os_str() == "-" {
            use std::io::IsTerminal;
            if std::io::stdin().is_terminal() {
                bail!("--corpus - reads the corpus from standard input, but stdin is a terminal; pipe text in (e.g. `cat stories.txt | flashlm-tui train --headless --corpus -`)");
            }
            let (path, bytes) = crate::data::corpus::spool_stdin(&crate::data::cache_dir())?;
            eprintln!("read {} bytes from standard input into {}", thousands(bytes), path.display());
            corpus = Some(path);
        } else if !c.exists() {
            bail!("--corpus {}: no such file or folder", c.display());
        }
    }
    if let Some(v) = &a.valid {
        if !v.is_file() {
            bail!("--valid {}: no such file", v.display());
        }
    }
    let threads = a.threads.unwrap_or_else(default_threads);
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let cfg = RunConfig {
        preset,
        preset_text: text,
        corpus,
        valid: a.valid.clone(),
        budget: a.budget.budget()?,
        threads,
        seed: a.seed,
        resume: a.resume.clone(),
        import: a.weights.clone().map(|w| ImportWeights { weights: w, tokenizer: a.tokenizer.clone().unwrap_or_default() }),
        runs_root: a.out.clone(),
        // the tokenizer's own bars print blank lines into logs and pipes
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        sample_prompt: a.sample_prompt.clone(),
        overrides: crate::preset::Overrides { warmup: a.warmup, eval_every: a.eval_every, accum: a.accum },
        precision: a.precision,
    };
    Ok(cfg)
}

fn train(a: TrainArgs) -> Result<()> {
    crate::precision::check_training(a.precision)?;
    let tui = !a.headless && stdout_is_terminal();
    if !a.headless && !tui {
        eprintln!("flashlm-tui: stdout is not a terminal, so no terminal UI: running headless");
    }
    let mut cfg = run_config(&a)?;
    if tui {
        // nothing but the TUI may write to the terminal: the tokenizer's progress bars stay off
        cfg.progress = false;
        return run_tui(crate::tui::Options {
            launch: crate::tui::Launch::Train(Box::new(cfg.clone())),
            presets_dir: a.presets.clone(),
            runs_root: a.out.clone(),
            threads: cfg.threads,
        });
    }
    let mut handle = start(cfg);
    let cmd = handle.commands.clone();
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let interrupted = interrupted.clone();
        let _ = ctrlc::set_handler(move || {
            let n = interrupted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n == 0 {
                eprintln!("\nflashlm-tui: stopping: saving last/ (press Ctrl-C again to quit without saving)");
                let _ = cmd.send(Command::Stop { save: true });
            } else {
                eprintln!("\nflashlm-tui: quitting without saving");
                std::process::exit(130);
            }
        });
    }
    let mut failed: Option<String> = None;
    let mut log_every = 50u64;
    loop {
        match handle.events.recv_timeout(Duration::from_millis(500)) {
            Ok(ev) => match ev {
                Event::Status { state, detail } => {
                    if state == RunState::Preparing {
                        eprintln!("[prep] {detail}");
                    }
                }
                Event::Started { run_dir, preset, params, tokens_per_step, train_tokens, valid_tokens, resumed_from, log_every: le } => {
                    log_every = le.max(1);
                    match resumed_from {
                        Some(s) => {
                            println!("resumed {preset} at step {s} in {}", run_dir.display())
                        }
                        None => println!("run {} ({preset}, {} params)", run_dir.display(), thousands(params as u64)),
                    }
                    println!(
                        "data: {} training tokens, {} validation tokens, {} tokens per step",
                        thousands(train_tokens as u64),
                        thousands(valid_tokens as u64),
                        thousands(tokens_per_step as u64)
                    );
                    if a.precision == Precision::Bf16 {
                        println!("products: bf16 operands, f32 accumulation (AVX512-BF16); weights and optimizer state f32");
                    }
                }
                Event::Step(m) => {
                    if m.step % log_every == 0 || m.step == 1 {
                        println!(
                            "step {:>6}  loss {:.4}  ppl {:>8.2}  lr {:.2e}  {:>6.0} tok/s  tokens {:>11}  elapsed {}  eta {}",
                            m.step,
                            m.loss,
                            m.loss.exp(),
                            m.lr,
                            m.tok_per_sec,
                            thousands(m.tokens),
                            fmt_secs(m.elapsed_secs),
                            m.eta_secs.map(fmt_secs).unwrap_or_else(|| "?".into())
                        );
                    }
                }
                Event::Eval(e) => println!(
                    "eval step {:>6}  val loss {:.4}  ppl {:.2}  bpc {:.4}{}",
                    e.step,
                    e.loss,
                    e.ppl,
                    e.bpc,
                    if e.best { "  (best)" } else { "" }
                ),
                Event::Sample { step, text, .. } => {
                    println!("sample @{step}: {}", text.replace('\n', " "))
                }
                Event::CheckpointSaved { step, path } => {
                    println!("saved {} (step {step})", path.display())
                }
                Event::Warning(w) => eprintln!("warning: {w}"),
                Event::Error(e) => {
                    eprintln!("error: {e}");
                    failed = Some(e);
                }
                Event::Finished(s) => {
                    println!(
                        "finished: {} steps, {} tokens in {}, {:.0} tok/s mean; best val loss {}; final val loss {} ppl {} bpc {}; run {}",
                        s.steps,
                        thousands(s.tokens),
                        fmt_secs(s.elapsed_secs),
                        s.mean_tok_per_sec,
                        opt(s.best_val_loss),
                        opt(s.final_val_loss),
                        opt(s.final_val_ppl),
                        opt(s.final_val_bpc),
                        s.run_dir.display()
                    );
                }
                Event::Recall { step, report } => {
                    for (i, line) in report.lines().iter().enumerate() {
                        println!("{}{line}", if i == 0 { format!("recall @{step}: ") } else { String::new() });
                    }
                }
                Event::Ternary { step, shares } => println!("ternary @{step}: {}", crate::model::lm::ternary_summary(&shares)),
                Event::Generated { .. } | Event::MemoryUpdated { .. } => {}
            },
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    if let Some(t) = handle.thread.take() {
        let _ = t.join();
    }
    let _ = std::io::stdout().flush();
    match failed {
        Some(e) => Err(anyhow!("training failed: {e}")),
        None => Ok(()),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into())
}

/// A model ready for inference: definition, weights, tokenizer, and what it was trained on.
pub struct Loaded {
    pub preset: Preset,
    pub model: Model,
    pub params: Vec<f32>,
    pub tokenizer: Tok,
    pub corpus: Option<CorpusSource>,
}

pub fn load_model(src: &ModelSource) -> Result<Loaded> {
    if let Some(dir) = &src.checkpoint {
        let (ck, _) = checkpoint::load(dir, |text| {
            let p = Preset::parse(text, "preset.ron").map_err(|e| e.to_string())?;
            Ok(p.build_model())
        })?;
        let preset = Preset::parse(&ck.preset_text, &dir.join("preset.ron").display().to_string())?;
        let tokenizer = Tok::from_json(&ck.tokenizer_json, &dir.join("tokenizer.json"))?;
        tokenizer.check_vocab(preset.vocab())?;
        let corpus = if ck.state.corpus.starts_with("built-in") {
            Some(CorpusSource::BuiltIn { seed: preset.data.builtin_seed, stories: preset.data.builtin_stories })
        } else {
            Some(CorpusSource::Path(PathBuf::from(&ck.state.corpus)))
        };
        let model = preset.build_model();
        return Ok(Loaded { preset, model, params: ck.params, tokenizer, corpus });
    }
    if let Some(w) = &src.weights {
        let (preset, _) = resolve(src.preset.as_deref().unwrap_or_default(), None)?;
        let tpath = src.tokenizer.as_deref().ok_or_else(|| anyhow!("--weights needs --tokenizer"))?;
        let tokenizer = Tok::load(tpath)?;
        tokenizer.check_specials(&tpath.display().to_string())?;
        tokenizer.check_vocab(preset.vocab())?;
        let model = preset.build_model();
        let params = crate::weights::import_reference(&*model, w).map_err(|e| anyhow!(e))?;
        eprintln!("warning: {}", crate::weights::D3_WARNING);
        return Ok(Loaded { preset, model, params, tokenizer, corpus: None });
    }
    bail!("give a model: --checkpoint DIR, or --weights FILE --preset P --tokenizer tokenizer.json")
}

fn pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or_else(default_threads).max(1)).build().context("thread pool")
}

/// Ids that sampling must never produce: specials other than <eos>, and ids the tokenizer never makes.
pub fn banned_ids(tok: &Tok, vocab: usize) -> Vec<bool> {
    tok.banned_ids(vocab)
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic() && c != '\'').filter(|w| !w.is_empty()).map(|w| w.to_lowercase())
}

fn sample(a: SampleArgs) -> Result<()> {
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        bail!("--temperature must be ≥ 0, got {}", a.temperature);
    }
    if !(a.repetition_penalty > 0.0 && a.repetition_penalty.is_finite()) {
        bail!("--repetition-penalty must be > 0 (1 = off), got {}", a.repetition_penalty);
    }
    if !(a.top_p > 0.0 && a.top_p <= 1.0) {
        bail!("--top-p must be in (0, 1], got {}", a.top_p);
    }
    if a.interactive {
        if !stdout_is_terminal() {
            bail!("--interactive needs a terminal (stdout is not one); drop it to print samples");
        }
        if a.src.checkpoint.is_none() && a.src.weights.is_none() {
            bail!("give a model: --checkpoint DIR, or --weights FILE --preset P --tokenizer tokenizer.json");
        }
        // fail here, with a plain message, rather than inside the UI (and
        // print any loading warning before the UI owns the terminal)
        let loaded = load_model(&a.src)?;
        let params = SampleParams {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            repetition_penalty: a.repetition_penalty,
            penalty_window: 64,
            max_tokens: a.tokens,
            seed: a.seed,
            precision: a.precision,
        };
        return run_tui(crate::tui::Options {
            launch: crate::tui::Launch::Sample { source: a.src.clone(), loaded: Some(Box::new(loaded)), prompt: a.prompt.clone(), params },
            presets_dir: None,
            runs_root: "checkpoints".into(),
            threads: a.src.threads.unwrap_or_else(default_threads),
        });
    }
    let m = load_model(&a.src)?;
    if a.precision != Precision::Fp32 && m.model.decoder_lowp(&m.params, a.precision).is_none() {
        bail!(
            "--precision {}: generation with {} weights is implemented for v7.1 and v7.2 only; {} decodes in fp32 (drop the flag)",
            a.precision.label(),
            a.precision.label(),
            m.preset.name
        );
    }
    let pool = pool(a.src.threads)?;
    let prompt_ids = m.tokenizer.encode_prompt(&a.prompt)?;
    let banned = banned_ids(&m.tokenizer, m.model.vocab());
    let known: Option<std::collections::HashSet<String>> = {
        let src = a.corpus.clone().map(CorpusSource::Path).or(m.corpus.clone());
        src.and_then(|s| load_stories(&s).ok()).map(|st| st.iter().flat_map(|s| words(s).collect::<Vec<_>>()).collect())
    };
    let (mut total, mut seen) = (0usize, 0usize);
    for i in 0..a.n.max(1) {
        let p = SampleParams {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            repetition_penalty: a.repetition_penalty,
            penalty_window: 64,
            max_tokens: a.tokens,
            seed: a.seed + i as u64,
            precision: a.precision,
        };
        let t0 = std::time::Instant::now();
        let out = pool.install(|| generate(&*m.model, &m.params, &prompt_ids, &banned, EOS, &p, |_| true));
        let dt = t0.elapsed().as_secs_f64();
        let text = m.tokenizer.decode(&out);
        println!("{}{}", a.prompt, text);
        eprintln!("[{} tokens in {:.2} s, {:.0} tok/s]", out.len(), dt, out.len() as f64 / dt.max(1e-9));
        if let Some(k) = &known {
            for w in words(&text) {
                total += 1;
                seen += k.contains(&w) as usize;
            }
        }
    }
    if known.is_some() && total > 0 {
        println!("words seen in the training text: {seen}/{total} ({:.1} %)", 100.0 * seen as f64 / total as f64);
    }
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    let has_model = a.src.checkpoint.is_some() || a.src.weights.is_some();
    let (preset, model, tokenizer, corpus) = if has_model {
        let m = load_model(&a.src)?;
        (m.preset, Some((m.model, m.params)), m.tokenizer, m.corpus)
    } else if a.baseline.is_some() {
        // baseline only: the preset's tokenizer on the training corpus (cached)
        let (preset, _) = resolve(a.src.preset.as_deref().unwrap_or("v7.2-cortex-vi"), None)?;
        let corpus = a
            .corpus
            .clone()
            .map(CorpusSource::Path)
            .unwrap_or(CorpusSource::BuiltIn { seed: preset.data.builtin_seed, stories: preset.data.builtin_stories });
        let (tok, _, _) = crate::train::trainer::tokenizer_for(&preset, &load_stories(&corpus)?, true)?;
        (preset, None, tok, Some(corpus))
    } else {
        bail!("give a model (--checkpoint DIR, or --weights FILE --preset P --tokenizer FILE) or --baseline bigram");
    };
    let pool = pool(a.src.threads)?;
    let t = preset.train.seq_len;
    let b = preset.train.batch;
    let vocab = preset.vocab();
    let Some(data) = a.data.clone() else {
        // probe only
        let (model, params) = model.as_ref().ok_or_else(|| anyhow!("--probe needs a model: --checkpoint DIR"))?;
        return run_probe(&a, &preset, &**model, params, &tokenizer, &pool);
    };
    let stories = load_stories(&CorpusSource::Path(data.clone()))?;
    let store = TokenStore::from_vec(pool.install(|| tokenizer.encode_stories(&stories))?);
    if store.len() < t + 1 {
        bail!("{}: {} tokens, fewer than one window of {} tokens", data.display(), store.len(), t + 1);
    }
    let windows = validation_windows(store.len(), t, a.max_windows.unwrap_or(usize::MAX));
    let bytes = tokenizer.token_bytes(vocab);
    println!(
        "{}: {} windows of {} tokens (stride {t}), {} target tokens",
        data.display(),
        windows.len(),
        t + 1,
        thousands((windows.len() * t) as u64)
    );
    if let Some(bl) = &a.baseline {
        if bl != "bigram" {
            bail!("unknown baseline `{bl}`; expected `bigram`");
        }
        let src =
            a.corpus.clone().map(CorpusSource::Path).or(corpus).ok_or_else(|| anyhow!("the bigram needs training text: --corpus FILE"))?;
        let train = pool.install(|| tokenizer.encode_stories(&load_stories(&src)?).map_err(anyhow::Error::from))?;
        let bg = Bigram::fit(&train, vocab, 1.0);
        let r = bg.evaluate(&store, &windows, t, &bytes);
        println!("bigram baseline ({}): loss {:.4}  ppl {:.2}  bpc {:.4}", src.describe(), r.loss, r.ppl, r.bpc);
    }
    if let Some((model, params)) = model {
        let mut ws = crate::model::Workspace::new();
        let r = pool
            .install(|| evaluate(&*model, &mut ws, &params, &store, &windows, t, b, &bytes, &|| false))
            .ok_or_else(|| anyhow!("evaluation interrupted"))?;
        println!(
            "model ({}): loss {:.4}  ppl {:.2}  bpc {:.4}  ({} tokens, {} bytes)",
            preset.name, r.loss, r.ppl, r.bpc, r.tokens, r.bytes
        );
        if a.precision != Precision::Fp32 {
            // the same windows through the decoder, fp32 and low precision
            if model.decoder_lowp(&params, a.precision).is_none() {
                bail!("--precision {}: {} decodes in fp32 only", a.precision.label(), preset.name);
            }
            let fp32 = || model.decoder(&params);
            let low = || model.decoder_lowp(&params, a.precision).expect("checked above");
            let r32 = pool.install(|| crate::train::eval::evaluate_decoder(&fp32, &store, &windows, t, &bytes));
            let rlo = pool.install(|| crate::train::eval::evaluate_decoder(&low, &store, &windows, t, &bytes));
            println!("decoder, fp32 weights: loss {:.4}  ppl {:.2}  bpc {:.4}", r32.loss, r32.ppl, r32.bpc);
            println!(
                "decoder, {} weights: loss {:.4}  ppl {:.2}  bpc {:.4}  (Δ loss vs fp32 {:+.4} nats)",
                a.precision.label(),
                rlo.loss,
                rlo.ppl,
                rlo.bpc,
                rlo.loss - r32.loss
            );
        }
        if a.probe.is_some() {
            run_probe(&a, &preset, &*model, &params, &tokenizer, &pool)?;
        }
    }
    Ok(())
}

/// `eval --probe recall`: held-out built-in stories (numbered after the
/// preset's training stories), windows of the preset's seq_len from each story's start.
fn run_probe(
    a: &EvalArgs,
    preset: &Preset,
    model: &dyn crate::model::LanguageModel,
    params: &[f32],
    tok: &Tok,
    pool: &rayon::ThreadPool,
) -> Result<()> {
    let first = preset.data.builtin_stories as u64;
    let stories = crate::train::probe::probe_stories(preset.data.builtin_seed, first, a.probe_stories.max(1));
    let report = pool
        .install(|| crate::train::probe::recall_probe(model, params, tok, &stories, preset.train.seq_len, &|| false))
        .ok_or_else(|| anyhow!("probe interrupted"))?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum DataCmd {
    /// Download a dataset from the Hugging Face Hub (resumes a broken download; reuses a complete copy in the cache)
    Download {
        #[command(subcommand)]
        dataset: Dataset,
    },
    /// Write built-in stories to a text file (`<|endoftext|>` lines between them), e.g. a
    /// large corpus for testing the streaming tokenizer: `--megabytes 1100`
    Generate {
        /// Output file
        #[arg(long)]
        out: PathBuf,
        /// Stop after this many megabytes (10^6 bytes) of text
        #[arg(long, default_value_t = 100)]
        megabytes: u64,
        /// Story seed
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum Dataset {
    /// TinyStories (roneneldan/TinyStories): v2 is about 2.2 GB train + 22 MB valid, v1 about 1.9 GB + 19 MB
    Tinystories {
        /// v2: TinyStoriesV2-GPT4-*.txt (GPT-4 stories only); v1: TinyStories-*.txt
        #[arg(long, value_enum, default_value = "v2")]
        version: crate::data::download::TsVersion,
        /// Which files to fetch
        #[arg(long, value_enum, default_value = "both")]
        split: crate::data::download::Split,
    },
}

/// `data download tinystories`: fetch, then say where the files are and how to train on them.
fn data(cmd: DataCmd) -> Result<()> {
    use crate::data::download::{tinystories_files, HubConfig, ProgressLine, Split, TINYSTORIES_REPO};
    let (version, split) = match cmd {
        DataCmd::Download { dataset: Dataset::Tinystories { version, split } } => (version, split),
        DataCmd::Generate { out, megabytes, seed } => return generate_corpus(&out, megabytes, seed),
    };
    let cfg = HubConfig::from_env();
    if cfg.offline {
        eprintln!("HF_HUB_OFFLINE is set: no network, only the cache {}", cfg.hub_cache.display());
    }
    let mut paths = Vec::new();
    for file in tinystories_files(version, split) {
        let bar = ProgressLine::new(file);
        let got = cfg.download(TINYSTORIES_REPO, file, &|done, total| bar.update(done, total));
        bar.finish();
        paths.push(got?);
    }
    println!(
        "{} of {TINYSTORIES_REPO} in the Hugging Face cache {}:",
        tinystories_files(version, split).join(" and "),
        cfg.hub_cache.display()
    );
    for p in &paths {
        println!("  {}", p.display());
    }
    let q = |p: &Path| {
        let s = p.display().to_string();
        if s.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            format!("'{}'", s.replace('\'', r"'\''"))
        } else {
            s
        }
    };
    match (split, paths.as_slice()) {
        (Split::Both, [train, valid]) => {
            println!("train on them with:\n  flashlm-tui train --preset v7.2-cortex-vi --corpus {} --valid {}", q(train), q(valid))
        }
        (Split::Train, [train]) => println!(
            "train on it with (the last stories are held out for validation):\n  flashlm-tui train --preset v7.2-cortex-vi --corpus {}",
            q(train)
        ),
        _ => println!("pass it as --valid FILE to `flashlm-tui train`, or as --data FILE to `flashlm-tui eval`"),
    }
    Ok(())
}

/// `data generate`: built-in stories, generated in parallel batches, streamed to `out`.
fn generate_corpus(out: &Path, megabytes: u64, seed: u64) -> Result<()> {
    use rayon::prelude::*;
    use std::io::Write;
    let limit = megabytes * 1_000_000;
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let (mut written, mut next) = (0u64, 0u64);
    let t0 = std::time::Instant::now();
    while written < limit {
        let batch: Vec<String> = (next..next + 4096).into_par_iter().map(|i| crate::data::stories::story(seed, i).text).collect();
        next += 4096;
        for s in batch {
            if written >= limit {
                break;
            }
            let piece = format!("{s}\n<|endoftext|>\n");
            w.write_all(piece.as_bytes()).with_context(|| format!("cannot write {}", out.display()))?;
            written += piece.len() as u64;
        }
    }
    w.flush().with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {} MB of built-in stories to {} in {:.1} s", written / 1_000_000, out.display(), t0.elapsed().as_secs_f64());
    Ok(())
}
