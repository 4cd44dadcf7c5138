//! The command line's arguments: every subcommand and flag, as `--help` shows them.
// These doc comments are the `--help` text, written for a terminal (`<run>`
// is a placeholder there, not HTML).
#![allow(rustdoc::invalid_html_tags)]

use crate::inference::ModelSource;
use crate::kernels::default_threads;
use crate::precision::Precision;
use crate::preset::Budget;
use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    /// Refuse presets whose estimated memory exceeds this (e.g. 2G, 512M; K, M, G, T are
    /// powers of 1024), besides the machine's own limits (MemAvailable, cgroup, RLIMIT_AS)
    #[arg(long, global = true, value_parser = crate::limits::parse_size)]
    pub max_memory: Option<u64>,
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
    /// Follow a run (running or finished) on the dashboard, read-only, from its metrics.jsonl
    Watch {
        /// The run folder (checkpoints/<preset>-<timestamp>)
        run_dir: PathBuf,
    },
    /// Past runs (from each run's metrics.jsonl) as a table; a sweep folder as one table of its runs
    Runs(RunsArgs),
    /// Train a grid or list of preset variations: all here one after another,
    /// one of them (`--run I`, a job-array task), or write a Slurm / GNU
    /// parallel job array (`--emit`)
    #[command(long_about = SWEEP_HELP)]
    Sweep(SweepArgs),
}

#[derive(Args, Debug, Clone)]
pub struct RunsArgs {
    /// The folder holding run folders, or a sweep folder (one row per run of its sweep.ron)
    #[arg(long, default_value = "checkpoints")]
    pub dir: PathBuf,
    /// Sort the rows by this column (its header, e.g. "final BPC", "tok/s", "train.lr")
    #[arg(long)]
    pub sort: Option<String>,
    /// Sort descending
    #[arg(long, requires = "sort")]
    pub desc: bool,
    /// How to print the table
    #[arg(long, value_enum, default_value_t = crate::report::Format::Markdown)]
    pub format: crate::report::Format,
}

const SWEEP_HELP: &str = "Train a grid or list of preset variations, each run in its own folder of the sweep folder (--dir).

The sweep file (RON):

  (
      presets: [\"tiny\"],                 // base presets (names or .ron paths)
      budget: Steps(30),                 // or Tokens(N), Minutes(5.0); default: each preset's
      overrides: { \"train.warmup\": 2 },  // for every run (optional)
      grid: { \"train.lr\": [1e-3, 3e-3], \"train.seed\": [1, 2] },
      list: [ (preset: \"tiny\", overrides: { \"train.fsp\": true }) ],
      corpus: \"train.txt\",               // optional; --corpus wins
      valid: \"valid.txt\",                // optional; --valid wins
      eval: (probe: Some(\"recall\")),     // optional: evaluate each run after it trains
  )

Runs: every preset × every grid combination (the last key varying fastest), then each list entry; numbered 0…N−1. Override keys are dotted paths into the preset (\"train.lr\", \"train.batch\", \"train.seed\", \"model.d_model\", \"data.builtin_stories\"; \"train.fsp\": true / false switches the FSP loss); each run's preset must pass the preset's own validation. Unknown keys, bad values and malformed files are refused before anything trains, naming the run and key.

eval: (data: \"valid.txt\" (default: the validation file), probe: Some(\"recall\"), probe_stories: 200, buckets: [(1, 85), (86, 256)], max_windows: None, checkpoint: \"last\") writes each run's eval.json: loss, PPL and bits per byte on the text, and the recall probe's gap per distance bucket.

Modes:
  sweep FILE --list                      the runs, one per line: id, preset, overrides
  sweep FILE [--dir D]                   train them all, one after another (skips finished runs)
  sweep FILE --run I --dir D             train run I only (what a job-array task calls)
  sweep FILE --emit slurm --dir D        write D/sweep.ron and D/sweep.sbatch (#SBATCH --array=0-(N-1))
  sweep FILE --emit parallel --dir D     write D/sweep.ron and D/sweep.parallel (one command per run)
  runs --dir D [--sort COL] [--format table|markdown|csv]   one table of the sweep

A run whose folder holds a finished run is skipped; one stopped early (a killed job) goes on from its last/ checkpoint. Runs of one sweep may train at once (each writes only its own folder, under its lock); give each --threads so they do not share cores.";

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// The sweep file (.ron); see above
    pub file: PathBuf,
    /// Print the runs (id, preset, overrides) and exit
    #[arg(long, conflicts_with_all = ["run", "emit"])]
    pub list: bool,
    /// Train only run I (0…N−1)
    #[arg(long, value_name = "I", conflicts_with = "emit")]
    pub run: Option<usize>,
    /// The sweep folder (default: checkpoints/<sweep file name>)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write a job-array script into the sweep folder instead of training
    #[arg(long, value_enum)]
    pub emit: Option<crate::sweep::emit::Emit>,
    /// Training text for every run (a file or a folder of .txt files); overrides the sweep file's
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Validation text for every run (and the default text of its `eval`); overrides the sweep file's
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Worker threads per run (default: all cores; at most 8 per core)
    #[arg(long, value_parser = threads_arg)]
    pub threads: Option<usize>,
    /// Extra folder of .ron presets
    #[arg(long)]
    pub presets: Option<PathBuf>,
    /// Train every run for M minutes instead of the sweep file's budget (the
    /// sweep folder records it: use a new --dir for a new budget)
    #[arg(long, value_name = "M", value_parser = minutes_arg)]
    pub minutes: Option<f64>,
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
    pub(super) fn budget(&self) -> Result<Option<Budget>> {
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
    /// Preset name (see `flashlm-tui presets`) or path to a .ron file (default: v7.2-cortex-vi;
    /// with --resume, the checkpoint's own, and a different model here is refused)
    #[arg(long)]
    pub preset: Option<String>,
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
    /// Worker threads (default: all cores; at most 8 per core)
    #[arg(long, value_parser = threads_arg)]
    pub threads: Option<usize>,
    /// Seed for initialisation and data order (default: the preset's)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue a run from a checkpoint folder (e.g. checkpoints/<run>/last)
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Start from reference PyTorch weights (a safetensors state_dict); needs --tokenizer
    /// (not with --resume: a resumed run continues from the checkpoint's weights)
    #[arg(long, requires = "tokenizer", conflicts_with = "resume")]
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
    /// Evaluate every N steps (default: the preset's). Headless runs evaluate and sample on
    /// exact step multiples, so a run is reproducible; the dashboard evaluates on the clock
    /// instead (a quick first look ~60 s after training starts, then every few minutes, about
    /// a tenth of the time at most) unless this or --sample-every fixes the steps
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// Sample every N steps (default: the preset's; see --eval-every for the dashboard)
    #[arg(long)]
    pub sample_every: Option<u64>,
    /// Override the preset's micro-batches per optimiser step (gradient accumulation)
    #[arg(long)]
    pub accum: Option<usize>,
    /// Also save last/ every N steps (default: only when the run ends or is stopped)
    #[arg(long, value_parser = positive)]
    pub save_every: Option<usize>,
    /// Train with the FSP auxiliary loss (CE + 0.1·FSP: bags of the next 64 tokens from every
    /// 16th position, pos_weight 50) unless the preset sets its own `fsp`; refused for models
    /// whose hidden states see later tokens
    #[arg(long)]
    pub fsp: bool,
    /// Training precision: auto (the default) trains in bf16 only where the CPU has AVX512-BF16
    /// and its measured bf16 GEMM peak is at least 10 % above fp32's (peaks cached per machine in
    /// `<cache>/gemm-peaks.json`, measured once), else fp32; a resumed run keeps its own. bf16: every
    /// matrix product rounds its operands to bf16 and accumulates in f32 (AVX512-BF16 dot products),
    /// weights and optimizer state stay f32; refused with the reason where the CPU lacks it
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    pub precision: Precision,
}

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
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
    /// Worker threads (default: all cores; at most 8 per core)
    #[arg(long, value_parser = threads_arg)]
    pub threads: Option<usize>,
}

impl ModelArgs {
    pub fn source(&self) -> ModelSource {
        ModelSource {
            checkpoint: self.checkpoint.clone(),
            weights: self.weights.clone(),
            preset: self.preset.clone(),
            tokenizer: self.tokenizer.clone(),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    #[command(flatten)]
    pub src: ModelArgs,
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
    #[arg(long, default_value_t = 1, value_parser = positive)]
    pub n: usize,
    /// Training text for the "words seen in training" check (default: the checkpoint's corpus)
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Open the terminal UI's sampling pane: type prompts, tune the parameters, watch the output stream
    #[arg(long)]
    pub interactive: bool,
    /// Weights for the products: fp32 (auto, the default, means fp32 for generation), or bf16 / int8
    /// (blocks of 32, one scale each) copies: half / ~a quarter of the bytes streamed per token, f32
    /// arithmetic; v7.1/v7.2 only; output differs slightly from fp32
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    pub precision: Precision,
}

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    #[command(flatten)]
    pub src: ModelArgs,
    /// Text file to evaluate on (loss, PPL, bits per byte)
    #[arg(long, required_unless_present = "probe")]
    pub data: Option<PathBuf>,
    /// Run a probe instead of (or next to) the text evaluation. `recall`: loss on
    /// names re-mentioned in built-in stories, by distance to their earlier
    /// occurrence, and with the earlier occurrences swapped for another name
    #[arg(long, value_parser = ["recall"])]
    pub probe: Option<String>,
    /// Built-in stories the recall probe reads (held out: numbered after the preset's training stories)
    #[arg(long, default_value_t = 200, value_parser = probe_stories_arg)]
    pub probe_stories: usize,
    /// Evaluate a baseline instead of (or, with a model, next to) the model: `bigram`
    #[arg(long)]
    pub baseline: Option<String>,
    /// Training text the bigram is fitted on (default: the checkpoint's corpus)
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Use at most this many windows
    #[arg(long, value_parser = positive)]
    pub max_windows: Option<usize>,
    /// Also score the windows through the incremental decoder with fp32 and with bf16 / int8
    /// weights (what `sample --precision` generates from), to measure the cost in loss; auto (the
    /// default) means fp32 here
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    pub precision: Precision,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    #[arg(long, default_value = "v7.2-cortex-vi")]
    pub preset: String,
    #[arg(long)]
    pub presets: Option<PathBuf>,
    /// Worker threads (default: all cores; at most 8 per core)
    #[arg(long, value_parser = threads_arg)]
    pub threads: Option<usize>,
    /// Timed training steps after 2 warm-up steps (default: 5, or for short steps as many as fill about 2 s, at most 100; the same for each preset with --all)
    #[arg(long, value_parser = positive)]
    pub steps: Option<usize>,
    /// Time micro-batches of this many windows instead of the preset's batch
    /// (`--all` times presets above 16×256 tokens per micro-batch at 8 × 256 windows, to stay under 5 minutes: v5)
    #[arg(long, value_parser = positive)]
    pub batch: Option<usize>,
    /// Benchmark every full-size preset, each in its own process (so peak RSS is
    /// per preset), at the default thread count and at 1 thread; prints one Markdown table
    #[arg(long, conflicts_with = "preset")]
    pub all: bool,
    /// Also print the figures as one JSON line (used by --all)
    #[arg(long)]
    pub json: bool,
    /// Training precision: auto (the default; decided as for `train`), fp32 or bf16. bf16 needs
    /// AVX512-BF16 (said plainly where the CPU lacks it); generation is timed in fp32 and, where
    /// the model supports it, with bf16 weights too
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    pub precision: Precision,
    /// Skip the generation timing (used by --all for the 1-thread runs)
    #[arg(long)]
    pub no_gen: bool,
    /// Time the preset's memory: its training steps alternate with those of the
    /// same model without the memory (v7.2 against v7.1's architecture,
    /// cpuflow-v9.7 against v5-LN's), and the overhead is the median ratio over the pairs
    #[arg(long, conflicts_with = "all")]
    pub hebbian: bool,
    /// Time the two-lane step (a step's micro-batches run in pairs side by
    /// side, each pair on half of the threads) against the one-lane step,
    /// alternating in one process (presets with accum ≥ 2 and micro-batches of
    /// at most 2,048 tokens: v5.2, v6)
    #[arg(long, conflicts_with_all = ["all", "hebbian"])]
    pub lanes: bool,
    /// Time the AVX-512 kernel's two fp32 tiles (6 × 64 and 8 × 32; the process
    /// picks the faster at start-up, FLASHLM_TILE forces one) on the preset's
    /// training steps, alternating in one process
    #[arg(long, conflicts_with_all = ["all", "hebbian", "lanes"])]
    pub tiles: bool,
    /// PyTorch training tok/s of this preset measured on this machine, for the
    /// ratio line (the presets' figures were measured on another CPU)
    #[arg(long, value_name = "TOK_S")]
    pub pytorch_tok_s: Option<f64>,
    /// A file of this machine's PyTorch figures: lines `<preset> <tok/s>`, an
    /// optional `machine: <name>` line, `#` comments (default: pytorch-tok-s.txt
    /// in the cache folder, if present)
    #[arg(long, value_name = "FILE")]
    pub pytorch_file: Option<PathBuf>,
}

/// A count that must be at least 1.
pub(super) fn positive(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}")),
    }
}

/// Minutes of a budget: positive, finite, at most a year.
pub(super) fn minutes_arg(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(m) if m.is_finite() && m > 0.0 && m <= 525_600.0 => Ok(m),
        Ok(m) => Err(format!("{m} minutes: expected a positive number of minutes, at most a year")),
        Err(e) => Err(format!("{e}")),
    }
}

/// Threads: at least 1, at most 8 per core (more only thrash, and a typo
/// such as 100000 would try to start that many threads).
pub(super) fn threads_arg(v: &str) -> Result<usize, String> {
    let n = positive(v)?;
    let limit = 8 * default_threads();
    if n > limit {
        return Err(format!("{n} is more than the limit of {limit} (8 per core on this machine's {} cores)", default_threads()));
    }
    Ok(n)
}

/// Probe stories: at least 1, at most [`crate::train::probe::MAX_PROBE_STORIES`].
pub(super) fn probe_stories_arg(v: &str) -> Result<usize, String> {
    let n = positive(v)?;
    let limit = crate::train::probe::MAX_PROBE_STORIES;
    if n > limit {
        return Err(format!("{n} is more than the limit of {limit} stories"));
    }
    Ok(n)
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
