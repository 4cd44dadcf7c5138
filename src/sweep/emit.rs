//! Job-array scripts for a sweep folder: a Slurm batch script with one array
//! task per run, or a GNU parallel command file with one line per run. Each
//! task runs `flashlm-tui sweep DIR/sweep.ron --run I --dir DIR`.

use std::path::Path;

/// What `--emit` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    Slurm,
    Parallel,
}

impl Emit {
    /// The file's name in the sweep folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Emit::Slurm => "sweep.sbatch",
            Emit::Parallel => "sweep.parallel",
        }
    }
}

/// Quotes a word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What every task runs: the binary, the sweep file and folder, and the
/// options passed through (`--corpus`, `--valid`, `--threads`, …).
pub struct Task<'a> {
    pub binary: &'a Path,
    pub sweep_dir: &'a Path,
    /// The folder the tasks start in (relative paths in the sweep file are read from it).
    pub workdir: &'a Path,
    pub extra: &'a [String],
}

impl Task<'_> {
    fn command(&self, id: &str) -> String {
        let mut words = vec![
            shell_quote(&self.binary.display().to_string()),
            "sweep".to_string(),
            shell_quote(&self.sweep_dir.join(super::layout::SWEEP_FILE).display().to_string()),
            "--run".to_string(),
            id.to_string(),
            "--dir".to_string(),
            shell_quote(&self.sweep_dir.display().to_string()),
        ];
        words.extend(self.extra.iter().map(|w| shell_quote(w)));
        words.join(" ")
    }
}

/// A Slurm batch script: `#SBATCH --array=0-(n−1)`, one run per task, and
/// `--cpus-per-task` when the tasks were given a thread count.
pub fn slurm(task: &Task, n: usize, name: &str, threads: Option<usize>) -> String {
    let dir = task.sweep_dir.display().to_string();
    let cpus = threads.map(|t| format!("#SBATCH --cpus-per-task={t}\n")).unwrap_or_default();
    format!(
        "#!/bin/bash\n\
         # One array task per run of the sweep in {dir}.\n\
         # Submit: sbatch {script}\n\
         # Table:  flashlm-tui runs --dir {qdir}\n\
         #SBATCH --job-name={name}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --output={out}\n\
         {cpus}\
         set -euo pipefail\n\
         cd {work}\n\
         exec {cmd}\n",
        script = shell_quote(&task.sweep_dir.join(Emit::Slurm.file_name()).display().to_string()),
        qdir = shell_quote(&dir),
        name = slug(name),
        last = n.saturating_sub(1),
        // #SBATCH lines are not read by a shell: no quoting, %A job, %a task
        out = task.sweep_dir.join("slurm-%A_%a.out").display(),
        work = shell_quote(&task.workdir.display().to_string()),
        cmd = task.command("\"$SLURM_ARRAY_TASK_ID\""),
    )
}

/// A GNU parallel command file: one line per run.
pub fn parallel(task: &Task, n: usize) -> String {
    let cd = format!("cd {} && ", shell_quote(&task.workdir.display().to_string()));
    (0..n).map(|i| format!("{cd}{}\n", task.command(&i.to_string()))).collect()
}

/// A job name: letters, digits, `.`, `-`, `_`.
fn slug(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    if s.is_empty() {
        "sweep".into()
    } else {
        s
    }
}
