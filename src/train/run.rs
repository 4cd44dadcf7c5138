//! Run folders (`checkpoints/<preset>-<timestamp>/`) and their metrics log.

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// UTC "YYYYMMDD-HHMMSS" for run folder names (no time-zone database needed).
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // civil-from-days (H. Hinnant)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A new, unused run folder under `root`.
pub fn new_run_dir(root: &Path, preset: &str) -> std::io::Result<PathBuf> {
    // parsed presets are checked already; this keeps any other caller inside `root` too
    crate::preset::check_name(preset).map_err(|msg| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("preset name {msg}")))?;
    std::fs::create_dir_all(root)?;
    let base = format!("{preset}-{}", timestamp());
    let mut dir = root.join(&base);
    let mut i = 1;
    while dir.exists() {
        dir = root.join(format!("{base}-{i}"));
        i += 1;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Appends one JSON object per line to `metrics.jsonl`.
pub struct MetricsLog {
    file: Option<std::fs::File>,
}

impl MetricsLog {
    pub fn open(run_dir: &Path) -> std::io::Result<Self> {
        let path = run_dir.join("metrics.jsonl");
        // a FIFO here would block the open (and a device swallow the record)
        if let Ok(m) = std::fs::metadata(&path) {
            if !m.is_file() {
                let kind = crate::util::file_kind(&m);
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("not a regular file: it is {kind}")));
            }
        }
        let f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(MetricsLog { file: Some(f) })
    }

    /// A log that writes nothing (a rank other than 0 of a run trained by several).
    pub fn disabled() -> Self {
        MetricsLog { file: None }
    }

    pub fn write<T: Serialize>(&mut self, kind: &str, value: &T) -> std::io::Result<()> {
        let Some(f) = &mut self.file else {
            return Ok(());
        };
        let mut v = serde_json::to_value(value).map_err(std::io::Error::other)?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("type".into(), kind.into());
        }
        writeln!(f, "{v}")
    }
}

/// The one process that writes a run folder: an exclusive lock on `<run>/lock`
/// (the OS releases it when the process dies, however it dies), with the
/// holder's PID written inside for the message a second process gets.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

/// Why a run folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: run folder locked by PID {pid}: another flashlm-tui process is training this run", .dir.display())]
    Held { dir: PathBuf, pid: String },
    #[error("{}: cannot lock the run folder", .dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RunLock {
    pub fn acquire(run_dir: &Path) -> Result<RunLock, LockError> {
        let path = run_dir.join("lock");
        let io = |source| LockError::Io { dir: run_dir.to_path_buf(), source };
        let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path).map(|s| s.trim().to_string()).unwrap_or_default();
                let pid = if pid.is_empty() { "unknown".to_string() } else { pid };
                return Err(LockError::Held { dir: run_dir.to_path_buf(), pid });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(RunLock { _file: file })
    }
}
