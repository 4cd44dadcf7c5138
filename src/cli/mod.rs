//! The command line: headless training, sampling, evaluation, benchmarks,
//! data and run listings. `anyhow` at this edge; the library uses typed errors.
//! One file per subcommand; the arguments in args.rs.

mod args;
pub mod bench;
mod data;
mod eval;
mod progress;
mod ranks;
mod sample;
mod sweep;
mod train;

pub use train::Interrupted;

use crate::inference::{load_model, Loaded};
use crate::kernels::default_threads;
use crate::launch::{Launch, Options};
use crate::precision::Precision;
use crate::preset::{discover, thousands};
use anyhow::{bail, Context, Result};
pub use args::*;
use clap::Parser;
use std::path::Path;

pub(super) fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// What the command line leaves to `main.rs`: nothing more, or the terminal UI to open.
pub enum Dispatch {
    Done,
    Tui(Box<Options>),
}

pub(super) fn done(r: Result<()>) -> Result<Dispatch> {
    r.map(|()| Dispatch::Done)
}

/// Parses the command line and does the headless work; the TUI is `main.rs`'s to open.
pub fn main() -> Result<Dispatch> {
    let cli = Cli::parse();
    crate::limits::set_max_memory(cli.max_memory);
    match cli.command {
        None if stdout_is_terminal() => Ok(Dispatch::Tui(Box::new(Options {
            launch: Launch::Picker,
            presets_dir: cli.presets,
            runs_root: "checkpoints".into(),
            threads: default_threads(),
        }))),
        None => {
            eprintln!("flashlm-tui: stdout is not a terminal, so no terminal UI: training v7.2-cortex-vi headless on the built-in story corpus (see --help)");
            done(train::train_headless(TrainArgs {
                preset: None,
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
                sample_every: None,
                accum: None,
                save_every: None,
                fsp: false,
                precision: Precision::Auto,
            }))
        }
        Some(Cmd::Train(a)) => train::train(a),
        Some(Cmd::Sample(a)) => sample::sample(a),
        Some(Cmd::Eval(a)) => done(eval::eval(a)),
        Some(Cmd::Bench(a)) => done(bench::run(&a)),
        Some(Cmd::Presets { presets }) => done(list_presets(presets.as_deref())),
        Some(Cmd::Data { cmd }) => done(data::data(cmd)),
        Some(Cmd::Runs(a)) => done(runs(a)),
        Some(Cmd::Sweep(a)) => done(sweep::sweep(a)),
        Some(Cmd::Watch { run_dir }) => watch(run_dir),
    }
}

/// `runs`: the run folders under a folder, or a sweep folder's runs, as one table.
fn runs(a: RunsArgs) -> Result<()> {
    let mut table = if crate::sweep::layout::is_sweep_dir(&a.dir) {
        crate::sweep::table::sweep_table(&a.dir, None)?
    } else {
        let runs = crate::runs::scan(&a.dir);
        if runs.is_empty() && !a.dir.is_dir() {
            bail!("{}: no such folder (runs are written to checkpoints/ by `flashlm-tui train`; pass --dir)", a.dir.display());
        }
        crate::runs::table(&runs)
    };
    if let Some(col) = &a.sort {
        table.sort_by(col, a.desc).map_err(anyhow::Error::msg)?;
    }
    print!("{}", table.render(a.format));
    Ok(())
}

/// `watch`: the dashboard on a run folder, once it is known to be one.
fn watch(run_dir: std::path::PathBuf) -> Result<Dispatch> {
    crate::follow::Follow::open(&run_dir)?;
    if !stdout_is_terminal() {
        bail!(
            "watch shows the dashboard and needs a terminal; for a table of runs use `flashlm-tui runs`, or read {}",
            run_dir.join("metrics.jsonl").display()
        );
    }
    Ok(Dispatch::Tui(Box::new(Options {
        launch: Launch::Watch(run_dir),
        presets_dir: None,
        runs_root: "checkpoints".into(),
        threads: default_threads(),
    })))
}

fn list_presets(dir: Option<&Path>) -> Result<()> {
    let entries = discover(dir);
    let w = entries.iter().map(|e| e.name().len()).max().unwrap_or(4).max(4);
    for e in &entries {
        // where a preset comes from, when that is not the binary: its file, and what it overrides or clashes with
        let origin = match (e.source.as_str(), e.note()) {
            ("built-in", _) => String::new(),
            (_, None) => format!("  ({})", e.file),
            (_, Some(note)) => format!("  ({}; {note})", e.file),
        };
        match &e.parsed {
            Ok(p) => {
                // counted from the config: listing never builds a model
                let n = p.param_count().map_or_else(|| "overflow".into(), thousands);
                println!("{:<w$}  {:<5}  {:>10} params  {}{origin}", p.name, p.version, n, p.architecture());
            }
            Err(err) => println!("{:<w$}  error: {err}{origin}", e.name()),
        }
    }
    Ok(())
}

/// Loads the model and prints what the user should know about it.
pub(super) fn load(src: &ModelArgs) -> Result<Loaded> {
    let m = load_model(&src.source())?;
    for w in &m.warnings {
        eprintln!("warning: {w}");
    }
    Ok(m)
}

pub(super) fn pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or_else(default_threads).max(1)).build().context("thread pool")
}
