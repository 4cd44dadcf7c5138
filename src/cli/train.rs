//! `train`: the dashboard in a terminal, else headless: the run's record on
//! stdout, progress on stderr (progress.rs).

use super::progress::Progress;
use super::*;
use crate::engine::{log_line, Command, Event, Level};
use crate::kernels::default_threads;
use crate::launch::{Launch, Options};
use crate::precision::Precision;
use crate::preset::{resolve, thousands};
use crate::train::trainer::ImportWeights;
use crate::train::{start, RunConfig};
use anyhow::{anyhow, bail, Result};
use std::io::Write;
use std::time::Duration;

/// The trainer's configuration from the `train` flags.
pub(super) fn run_config(a: &TrainArgs) -> Result<RunConfig> {
    let (preset, text) = match (&a.resume, &a.preset) {
        // the checkpoint carries its own preset; this one is a placeholder
        (Some(_), None) => resolve(DEFAULT_PRESET, None)?,
        (Some(ck), Some(name)) => {
            let (p, text) = resolve(name, a.presets.as_deref())?;
            check_resume_preset(&p, name, ck)?;
            (p, text)
        }
        (None, name) => resolve(name.as_deref().unwrap_or(DEFAULT_PRESET), a.presets.as_deref())?,
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
        } else {
            // checked before anything opens it: a FIFO would block, a device never end
            match std::fs::metadata(c) {
                Ok(m) if m.is_file() || m.is_dir() => {}
                Ok(m) => bail!(
                    "--corpus {}: not a regular file: it is {}; to train on a pipe, pass `--corpus -` and pipe the text into standard input",
                    c.display(),
                    crate::util::file_kind(&m)
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("--corpus {}: no such file or folder", c.display()),
                Err(e) => bail!("--corpus {}: {e}", c.display()),
            }
        }
    }
    if let Some(v) = &a.valid {
        match crate::util::regular_file(v) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("--valid {}: no such file", v.display()),
            Err(e) => bail!("--valid {}: {e}", v.display()),
        }
    }
    let threads = a.threads.unwrap_or_else(default_threads);
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
        run_dir: None,
        // the tokenizer's own bars print blank lines into logs and pipes
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        sample_prompt: a.sample_prompt.clone(),
        overrides: crate::preset::Overrides {
            warmup: a.warmup,
            eval_every: a.eval_every,
            sample_every: a.sample_every,
            accum: a.accum,
            save_every: a.save_every.map(|n| n as u64),
            fsp: a.fsp,
        },
        precision: a.precision,
        // exact steps, reproducible; the dashboard switches to the clock
        cadence: Default::default(),
        ranks: None,
    };
    Ok(cfg)
}

const DEFAULT_PRESET: &str = "v7.2-cortex-vi";

/// `--preset` next to `--resume`: a resumed run trains the checkpoint's own
/// preset, so a preset of another model is refused rather than ignored, and
/// one that differs only in its training settings gets a warning.
fn check_resume_preset(p: &crate::preset::Preset, given: &str, ck: &std::path::Path) -> Result<()> {
    let own = crate::train::checkpoint::read_preset(ck).map_err(|e| anyhow!("--resume {}: {e}", ck.display()))?;
    if own.model != p.model || own.version != p.version {
        bail!(
            "--preset {given} ({} {}, {}) is not the model in the checkpoint {} ({} {}, {}): a resumed run trains the checkpoint's own model; drop --preset, or start a new run without --resume",
            p.name,
            p.version,
            p.architecture(),
            ck.display(),
            own.name,
            own.version,
            own.architecture()
        );
    }
    if own.train != p.train || own.data != p.data {
        eprintln!(
            "warning: --preset {given}: its training settings differ from those of the checkpoint {} ({}); the resumed run keeps the checkpoint's (its preset.ron); --steps/--tokens/--minutes, --warmup, --eval-every and --accum change them",
            ck.display(),
            own.name
        );
    }
    Ok(())
}

/// `--precision bf16` on a CPU whose bf16 products are slower than its fp32
/// ones (AVX512-BF16 without AMX): said once, with both measured peaks.
fn warn_if_bf16_is_slower(a: &TrainArgs) {
    if a.precision != crate::precision::Precision::Bf16 {
        return;
    }
    let threads = a.threads.unwrap_or_else(crate::kernels::default_threads);
    // the per-machine figures auto decides by, measured once
    let peak = |p| crate::peaks::load_or_measure(threads, p).map(|(p, _)| p.gflops);
    if let (Some(f), Some(b)) = (peak(Precision::Fp32), peak(Precision::Bf16)) {
        if let Some(why) = crate::precision::bf16_slower(Some(f), Some(b)) {
            eprintln!("warning: {why}; training in bf16 as asked (drop --precision bf16 for fp32)");
        }
    }
}

/// `--precision auto` as fp32 or bf16 for this run, said on stdout (the
/// run's record); other precisions as given.
fn resolve_precision(a: &mut TrainArgs) {
    let threads = a.threads.unwrap_or_else(default_threads);
    let (p, line) = crate::auto_precision::for_run(a.precision, threads, a.resume.as_deref());
    if let Some(line) = line {
        println!("{line}");
    }
    a.precision = p;
}

/// Ok for `auto` (the TUI resolves it as the run starts), else what
/// [`crate::precision::check_training`] says.
fn check_precision(p: Precision) -> Result<()> {
    if p == Precision::Auto {
        return Ok(());
    }
    crate::precision::check_training(p)
}

/// `train`: the dashboard in a terminal, else headless.
pub(super) fn train(a: TrainArgs) -> Result<Dispatch> {
    check_precision(a.precision)?;
    warn_if_bf16_is_slower(&a);
    // one rank of an MPI job trains headless, whatever its stdout is
    let in_job = super::ranks::Job::start()?;
    let tui = !a.headless && stdout_is_terminal() && !in_job.in_job();
    if !tui {
        if !a.headless && !in_job.in_job() {
            eprintln!("flashlm-tui: stdout is not a terminal, so no terminal UI: running headless");
        }
        return done(train_ranked(a, &in_job));
    }
    let mut cfg = run_config(&a)?;
    // nothing but the TUI may write to the terminal: the tokenizer's progress bars stay off
    cfg.progress = false;
    Ok(Dispatch::Tui(Box::new(Options {
        launch: Launch::Train(Box::new(cfg.clone())),
        presets_dir: a.presets.clone(),
        runs_root: a.out.clone(),
        threads: cfg.threads,
    })))
}

pub(super) fn train_headless(a: TrainArgs) -> Result<()> {
    train_ranked(a, &super::ranks::Job::start()?)
}

/// Headless training as one rank of `job` (alone: rank 0 of 1). A failure on
/// a rank of several ends them all.
fn train_ranked(a: TrainArgs, job: &super::ranks::Job) -> Result<()> {
    let r = headless_rank(a, job);
    // a signal stops every rank at the same step, each saving nothing but rank 0's last/
    if let Err(e) = &r {
        if e.downcast_ref::<Interrupted>().is_none() {
            job.fail_all(&format!("{e:#}"));
        }
    }
    r
}

fn headless_rank(mut a: TrainArgs, job: &super::ranks::Job) -> Result<()> {
    // a closed stdout must not end training: printing stops, training goes on and saves
    crate::kernels::os::ignore_sigpipe();
    check_precision(a.precision)?;
    if job.size() > 1 && a.precision == Precision::Auto {
        // each rank would measure its own peaks, under the others' load, and
        // could choose differently: the ranks train in one precision
        a.precision = Precision::Fp32;
        if job.rank() == 0 {
            println!("precision auto → fp32 ({} MPI ranks train in one precision; --precision bf16 chooses bf16)", job.size());
        }
    }
    resolve_precision(&mut a);
    crate::precision::check_training(a.precision)?;
    super::ranks::check_args(&a, job)?;
    let mut cfg = run_config(&a)?;
    // the ranks on a host share its cores
    if a.threads.is_none() {
        cfg.threads = crate::train::collective::threads_per_rank(default_threads(), job.local_size());
    }
    cfg.ranks = job.ranks();
    if job.in_job() && job.rank() == 0 {
        let s = if cfg.threads == 1 { "" } else { "s" };
        println!("MPI: {} ranks, {} thread{s} each", job.size(), cfg.threads);
    }
    headless(cfg, job)
}

/// Trains `cfg` without the terminal UI as this process's rank of `job`: the
/// run's record on stdout, progress on stderr; a signal stops the run and
/// saves `last/`.
pub(super) fn headless(cfg: RunConfig, job: &super::ranks::Job) -> Result<()> {
    crate::kernels::os::ignore_sigpipe();
    let precision = cfg.precision;
    let root = job.rank() == 0;
    let mut handle = start(cfg);
    let cmd = handle.commands.clone();
    // SIGINT (Ctrl-C), SIGTERM (`kill`) and SIGHUP (a closed ssh session) stop
    // the run and save last/; a second signal quits without saving
    let caught = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let mut signals = signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
        .map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    let signals_handle = signals.handle();
    {
        let caught = caught.clone();
        std::thread::spawn(move || {
            for sig in signals.forever() {
                if caught.swap(sig, std::sync::atomic::Ordering::SeqCst) == 0 {
                    eprintln!("\nflashlm-tui: {}: stopping: saving last/ (a second signal quits without saving)", signal_name(sig));
                    let _ = cmd.send(Command::Stop { save: true });
                } else {
                    eprintln!("\nflashlm-tui: quitting without saving");
                    std::process::exit(128 + sig);
                }
            }
        });
    }
    let mut failed: Option<String> = None;
    let mut log_every = 50u64;
    let mut out = Stdout::default();
    let mut progress = Progress::new(root && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    loop {
        progress.tick();
        match handle.events.recv_timeout(Duration::from_millis(250)) {
            Ok(ev) => {
                progress.on_event(&ev);
                match &ev {
                    Event::Started { log_every: le, .. } => log_every = (*le).max(1),
                    // every step is in metrics.jsonl; the terminal gets one per log interval
                    Event::Step(m) if !m.step.is_multiple_of(log_every) && m.step != 1 => continue,
                    Event::Error(e) => failed = Some(e.clone()),
                    _ => {}
                }
                // the run's record on stdout; preparation, warnings and errors on stderr;
                // ranks other than 0 print their errors only
                if let Some((level, text)) = log_line(&ev).filter(|(level, _)| root || *level == Level::Error) {
                    let rank = if job.in_job() { format!("rank {}: ", job.rank()) } else { String::new() };
                    progress.print(|| match (level, &ev) {
                        (_, Event::Status { .. }) => eprintln!("[prep] {text}"),
                        (Level::Info, _) => out.line(&text),
                        (Level::Warn, _) => eprintln!("warning: {text}"),
                        (Level::Error, _) => eprintln!("error: {rank}{text}"),
                    });
                }
                if matches!(ev, Event::Started { .. }) && precision == Precision::Bf16 {
                    out.line("products: bf16 operands, f32 accumulation (AVX512-BF16); weights and optimizer state f32");
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    if let Some(t) = handle.thread.take() {
        let _ = t.join();
    }
    signals_handle.close();
    let _ = std::io::stdout().flush();
    match (failed, caught.load(std::sync::atomic::Ordering::SeqCst)) {
        (Some(e), _) => Err(anyhow!("training failed: {e}")),
        (None, 0) => Ok(()),
        (None, sig) => Err(Interrupted { signal: sig }.into()),
    }
}

/// A run stopped by a signal after saving: `main` exits with 128 + the
/// signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP), as shells do.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {}: stopped early, last/ saved", signal_name(*.signal))]
pub struct Interrupted {
    pub signal: i32,
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The run's record on stdout, until stdout goes away (a closed pipe): then
/// it stops printing, and the run goes on.
#[derive(Default)]
struct Stdout {
    closed: bool,
}

impl Stdout {
    fn line(&mut self, text: &str) {
        if !self.closed && writeln!(std::io::stdout(), "{text}").is_err() {
            self.closed = true;
            eprintln!("flashlm-tui: stdout was closed; training goes on, its record is in metrics.jsonl");
        }
    }
}
