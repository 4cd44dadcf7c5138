//! The GEMM peaks MFU is measured against, kept per machine: measured once
//! (CPU model, thread count and precision make the key) and cached with the
//! date in `<cache>/gemm-peaks.json`, so MFU does not change with whatever
//! load a launch happens to measure under, and `--precision auto` decides
//! by the same figures. Deleting the file re-measures. Used by both
//! front-ends.

use crate::precision::Precision;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE: &str = "gemm-peaks.json";

/// One cached measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    pub gflops: f64,
    /// UTC date of the measurement, "YYYY-MM-DD".
    pub date: String,
}

pub fn path() -> PathBuf {
    crate::data::cache_dir().join(FILE)
}

/// The key of this machine's measurement at `threads` in `prec`.
pub fn key(threads: usize, prec: Precision) -> String {
    format!("{} · {threads} threads · {}", cpu_model(), prec.label())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn read(file: &Path) -> BTreeMap<String, Peak> {
    std::fs::read_to_string(file).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

/// The cached peak under `key`, if any.
pub fn load(file: &Path, key: &str) -> Option<Peak> {
    read(file).remove(key).filter(|p| p.gflops.is_finite() && p.gflops > 0.0)
}

/// Records a measurement under `key`, dated today (other keys kept).
pub fn store(file: &Path, key: &str, gflops: f64) -> std::io::Result<Peak> {
    let mut all = read(file);
    let t = crate::train::run::timestamp();
    let peak = Peak { gflops, date: format!("{}-{}-{}", &t[0..4], &t[4..6], &t[6..8]) };
    all.insert(key.to_string(), peak.clone());
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&all).map_err(std::io::Error::other)?;
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)?;
    Ok(peak)
}

/// This machine's GEMM peak at `threads` in `prec` (fp32 or bf16 products):
/// from the cache, else measured now on its own pool (about half a second)
/// and cached, unless another load held a core while it was measured (a low
/// figure is used once, not kept). The bool: the figure is kept (read from
/// the cache or stored now), i.e. it was taken with every core free.
pub fn load_or_measure(threads: usize, prec: Precision) -> Option<(Peak, bool)> {
    let (file, key) = (path(), key(threads, prec));
    if let Some(p) = load(&file, &key) {
        return Some((p, true));
    }
    let bf16 = prec == Precision::Bf16;
    if bf16 && !crate::kernels::matmul::bf16_supported() {
        return None;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .start_handler(crate::kernels::matmul::bf16_start_handler(bf16))
        .build()
        .ok()?;
    use crate::kernels::peak::{cores_available, fma_peak, fma_single, sgemm_peak};
    let (p, all) = pool.install(|| (sgemm_peak(4096), fma_peak()));
    let peak = if cores_available(all, fma_single(), threads) {
        match store(&file, &key, p) {
            Ok(peak) => return Some((peak, true)),
            Err(_) => Peak { gflops: p, date: "today (not cached)".into() },
        }
    } else {
        Peak { gflops: p, date: "today (not cached: another load on the cores)".into() }
    };
    Some((peak, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peak_is_stored_once_with_its_date_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE);
        let k = key(2, Precision::Fp32);
        assert!(k.ends_with(" · 2 threads · fp32"), "{k}");
        assert_eq!(load(&file, &k), None);
        let p = store(&file, &k, 123.5).unwrap();
        assert_eq!(p.date.len(), 10);
        assert_eq!(p.date.as_bytes()[4], b'-');
        store(&file, "other", 9.0).unwrap();
        assert_eq!(load(&file, &k), Some(p));
        assert_eq!(load(&file, "missing"), None);
    }
}
