//! `sweep`: list a sweep's runs, train one or all of them with the headless
//! trainer (train.rs), or write a job array. The sweep itself (parsing,
//! expansion, folders, evaluation, scripts) is `crate::sweep`.

use super::SweepArgs;
use crate::kernels::default_threads;
use crate::sweep::emit::{self, Emit, Task};
use crate::sweep::evaluate::evaluate_run;
use crate::sweep::layout::{self, RunOptions, Start};
use crate::sweep::{Run, SweepFile};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

pub(super) fn sweep(a: SweepArgs) -> Result<()> {
    let (mut sweep, mut text) = SweepFile::read(&a.file)?;
    // --minutes is recorded in the folder's copy, so a later call with another
    // budget is refused there, and the copy run on its own keeps it
    if let Some(m) = a.minutes.or_else(|| recorded_minutes(&text)) {
        sweep.budget = Some(crate::preset::Budget::Minutes(m));
        text = with_budget_line(&text, m);
    }
    let runs = sweep.expand(a.presets.as_deref())?;
    if a.list {
        let w = runs.iter().map(|r| r.preset.name.len()).max().unwrap_or(6);
        for r in &runs {
            println!("{:>3}  {:<w$}  {}", r.id, r.preset.name, r.label());
        }
        return Ok(());
    }
    let dir = a.dir.clone().unwrap_or_else(|| {
        let stem = a.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sweep".into());
        PathBuf::from("checkpoints").join(stem)
    });
    if let Some(i) = a.run {
        if i >= runs.len() {
            bail!("--run {i}: the sweep {} has {} runs, numbered 0 to {}", a.file.display(), runs.len(), runs.len() - 1);
        }
    }
    let corpus = a.corpus.clone().or_else(|| sweep.corpus.clone());
    let valid = a.valid.clone().or_else(|| sweep.valid.clone());
    check_file("--corpus", corpus.as_deref(), true)?;
    check_file("--valid", valid.as_deref(), false)?;
    let eval_data = sweep.eval.as_ref().and_then(|e| e.data.clone().or_else(|| valid.clone()));
    check_file("eval data", eval_data.as_deref(), false)?;
    if sweep.eval.as_ref().is_some_and(|e| e.probe.is_none()) && eval_data.is_none() {
        bail!("{}: `eval` has neither text (`data:`, or --valid) nor a probe to run", a.file.display());
    }
    layout::init_dir(&dir, &text)?;
    if let Some(kind) = a.emit {
        return write_job_array(&a, kind, &dir, runs.len());
    }
    let opts = RunOptions {
        corpus,
        valid,
        threads: a.threads.unwrap_or_else(default_threads),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let todo: Vec<&Run> = match a.run {
        Some(i) => vec![&runs[i]],
        None => runs.iter().collect(),
    };
    let mut failed = Vec::new();
    for r in &todo {
        match run_one(&sweep, r, runs.len(), &dir, &opts, eval_data.as_deref()) {
            Ok(()) => {}
            Err(e) if e.downcast_ref::<super::Interrupted>().is_some() => return Err(e),
            Err(e) if todo.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("error: run {}: {e:#}", r.id);
                failed.push(r.id);
            }
        }
    }
    if !failed.is_empty() {
        bail!("{} of {} runs failed (ids {:?}); see `flashlm-tui runs --dir {}`", failed.len(), todo.len(), failed, dir.display());
    }
    if a.run.is_none() {
        println!("sweep finished: {} runs in {}; the table: flashlm-tui runs --dir {}", runs.len(), dir.display(), dir.display());
    }
    Ok(())
}

const BUDGET_LINE: &str = "// budget from --minutes: Minutes(";

/// The sweep text as the folder records it when `--minutes` replaced its budget.
fn with_budget_line(text: &str, minutes: f64) -> String {
    let body = match text.trim_end().rsplit_once('\n') {
        Some((body, last)) if last.starts_with(BUDGET_LINE) => body,
        _ => text.trim_end(),
    };
    format!("{body}\n{BUDGET_LINE}{minutes})\n")
}

/// The budget a sweep folder's copy records (its last line), if any.
fn recorded_minutes(text: &str) -> Option<f64> {
    let last = text.trim_end().rsplit_once('\n')?.1;
    last.strip_prefix(BUDGET_LINE)?.strip_suffix(')')?.parse().ok().filter(|m: &f64| m.is_finite() && *m > 0.0)
}

/// A path the runs will read: it must be there (a file, or for a corpus a folder too).
fn check_file(what: &str, p: Option<&Path>, folder_ok: bool) -> Result<()> {
    let Some(p) = p else {
        return Ok(());
    };
    if p.as_os_str() == "-" {
        bail!("{what} -: a sweep cannot read standard input (its runs each read the text); give a file");
    }
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() || (folder_ok && m.is_dir()) => Ok(()),
        Ok(m) => bail!("{what} {}: not a regular file: it is {}", p.display(), crate::util::file_kind(&m)),
        Err(e) => Err(anyhow!(e)).with_context(|| format!("{what} {}", p.display())),
    }
}

/// Trains one run into its folder (or goes on with it), then evaluates it if asked.
fn run_one(sweep: &SweepFile, r: &Run, n: usize, dir: &Path, opts: &RunOptions, eval_data: Option<&Path>) -> Result<()> {
    let rd = layout::run_dir(dir, r);
    println!("== run {} of 0…{}: {} {}  ->  {}", r.id, n - 1, r.preset.name, r.label(), rd.display());
    let start = layout::start(&rd)?;
    match &start {
        Start::Done => println!("run {} already finished: not trained again", r.id),
        Start::Resume(ck) => println!("run {} stopped early: going on from {}", r.id, ck.display()),
        Start::Fresh => {}
    }
    if start != Start::Done {
        layout::clear_failed(&rd);
        let cfg = layout::run_config(r, sweep.budget.clone(), dir, &rd, &start, opts);
        if let Err(e) = super::train::headless(cfg, &super::ranks::Job::alone()) {
            if e.downcast_ref::<super::Interrupted>().is_none() {
                layout::mark_failed(&rd, &format!("{e:#}"));
            }
            return Err(e);
        }
    }
    if let Some(spec) = &sweep.eval {
        let done = crate::sweep::evaluate::read_eval(&rd).is_some();
        if start == Start::Done && done {
            return Ok(());
        }
        layout::clear_failed(&rd);
        let rec = evaluate_run(&rd, spec, eval_data, opts.threads).inspect_err(|e| layout::mark_failed(&rd, &e.to_string()))?;
        for line in rec.lines() {
            println!("{line}");
        }
    }
    Ok(())
}

/// `--emit`: the script beside the sweep file in the sweep folder, and how to submit it.
fn write_job_array(a: &SweepArgs, kind: Emit, dir: &Path, n: usize) -> Result<()> {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let binary = std::env::current_exe().context("the path of this program")?;
    let workdir = std::env::current_dir().context("the current folder")?;
    let sweep_dir = abs(dir);
    let mut extra: Vec<String> = Vec::new();
    for (flag, p) in [("--corpus", &a.corpus), ("--valid", &a.valid), ("--presets", &a.presets)] {
        if let Some(p) = p {
            extra.push(flag.into());
            extra.push(abs(p).display().to_string());
        }
    }
    if let Some(t) = a.threads {
        extra.push("--threads".into());
        extra.push(t.to_string());
    }
    if let Some(m) = a.minutes {
        extra.push("--minutes".into());
        extra.push(m.to_string());
    }
    let task = Task { binary: &binary, sweep_dir: &sweep_dir, workdir: &workdir, extra: &extra };
    let name = a.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let (body, how) = match kind {
        Emit::Slurm => (
            emit::slurm(&task, n, &name, a.threads),
            format!("submit: sbatch {}", emit::shell_quote(&sweep_dir.join(kind.file_name()).display().to_string())),
        ),
        Emit::Parallel => (
            emit::parallel(&task, n),
            format!(
                "run: parallel --jobs 2 < {}   (set --jobs × --threads to the cores)",
                emit::shell_quote(&sweep_dir.join(kind.file_name()).display().to_string())
            ),
        ),
    };
    let path = dir.join(kind.file_name());
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {} ({n} runs) and {}", path.display(), dir.join(layout::SWEEP_FILE).display());
    println!("{how}");
    println!("table: flashlm-tui runs --dir {}", emit::shell_quote(&sweep_dir.display().to_string()));
    Ok(())
}
