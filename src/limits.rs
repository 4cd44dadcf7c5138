//! Memory checked before anything is allocated: a preset's estimate
//! ([`crate::model::footprint`]) against what this process may still use, the
//! least of `/proc/meminfo`'s MemAvailable, the cgroup's memory limit, the
//! address-space rlimit and a `--max-memory` cap. A preset that cannot fit is
//! refused with both numbers instead of aborting minutes later in the allocator.

use crate::model::footprint::{estimate, Estimate, Purpose};
use crate::preset::Preset;
use std::sync::atomic::{AtomicU64, Ordering};

/// `--max-memory` in bytes; 0 = none.
static CAP: AtomicU64 = AtomicU64::new(0);

/// Sets (or clears) the `--max-memory` cap for this process.
pub fn set_max_memory(bytes: Option<u64>) {
    CAP.store(bytes.unwrap_or(0), Ordering::Relaxed);
}

/// The `--max-memory` cap, if one was given.
pub fn max_memory() -> Option<u64> {
    Some(CAP.load(Ordering::Relaxed)).filter(|&b| b > 0)
}

/// "2G", "512M", "1.5GiB", "300000000": bytes (K, M, G, T are powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower.strip_suffix("ib").or_else(|| lower.strip_suffix('b')).unwrap_or(&lower);
    let (num, mult) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 1u64 << 10),
        Some('m') => (&body[..body.len() - 1], 1 << 20),
        Some('g') => (&body[..body.len() - 1], 1 << 30),
        Some('t') => (&body[..body.len() - 1], 1 << 40),
        _ => (body, 1),
    };
    let bad = || format!("`{t}`: expected a size such as 512M, 2G or 1.5G (K, M, G, T: powers of 1024)");
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let bytes = v * mult as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Bytes for people: "41.2 GiB".
pub fn human(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// What this process may still allocate, and which limit says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Available {
    pub bytes: u64,
    pub source: String,
}

/// The least of the limits that apply (`None` where none can be read).
pub fn available() -> Option<Available> {
    let mut best: Option<Available> = None;
    let mut offer = |bytes: Option<u64>, source: String| {
        if let Some(bytes) = bytes {
            if best.as_ref().is_none_or(|b| bytes < b.bytes) {
                best = Some(Available { bytes, source });
            }
        }
    };
    offer(meminfo_available(), "MemAvailable".into());
    offer(cgroup_v2_available(), "the cgroup's memory.max".into());
    offer(cgroup_v1_available(), "the cgroup's memory.limit_in_bytes".into());
    offer(rlimit_available(), "RLIMIT_AS".into());
    if let Some(cap) = max_memory() {
        offer(Some(cap), format!("--max-memory {}", human(cap as u128)));
    }
    best
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A `Key:   1234 kB` line of a /proc file, in bytes.
fn proc_kb(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    kb.checked_mul(1024)
}

fn meminfo_available() -> Option<u64> {
    proc_kb(&read("/proc/meminfo")?, "MemAvailable:")
}

/// cgroup v2: the tightest `memory.max − memory.current` from this process's
/// cgroup up to the root.
fn cgroup_v2_available() -> Option<u64> {
    let rel = own_cgroup(|l| l.strip_prefix("0::"))?;
    tightest(std::path::Path::new("/sys/fs/cgroup"), &rel, "memory.max", "memory.current")
}

/// cgroup v1: the same with `memory.limit_in_bytes − memory.usage_in_bytes`.
fn cgroup_v1_available() -> Option<u64> {
    let rel = own_cgroup(|l| l.split_once(":memory:").map(|(_, p)| p))?;
    tightest(std::path::Path::new("/sys/fs/cgroup/memory"), &rel, "memory.limit_in_bytes", "memory.usage_in_bytes")
}

/// This process's cgroup path from the `/proc/self/cgroup` line `pick` accepts.
fn own_cgroup(pick: impl Fn(&str) -> Option<&str>) -> Option<String> {
    let text = read("/proc/self/cgroup")?;
    text.lines().find_map(|l| pick(l).map(|p| p.trim().to_string()))
}

/// The least `limit − usage` over `root/rel` and its parents up to `root`.
/// "No limit" reads as "max" (v2) or a page-rounded i64::MAX (v1).
fn tightest(root: &std::path::Path, rel: &str, limit_file: &str, usage_file: &str) -> Option<u64> {
    let number = |p: std::path::PathBuf| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let mut dir = root.join(rel.trim_start_matches('/'));
    let mut best: Option<u64> = None;
    loop {
        if let Some(limit) = number(dir.join(limit_file)).filter(|&l| l < 1 << 60) {
            let left = limit.saturating_sub(number(dir.join(usage_file)).unwrap_or(0));
            best = Some(best.map_or(left, |b| b.min(left)));
        }
        if dir == root || !dir.pop() || !dir.starts_with(root) {
            break;
        }
    }
    best
}

/// `RLIMIT_AS` less the address space already mapped.
fn rlimit_available() -> Option<u64> {
    let limit = crate::kernels::os::address_space_limit()?;
    let used = read("/proc/self/status").and_then(|s| proc_kb(&s, "VmSize:")).unwrap_or(0);
    Some(limit.saturating_sub(used))
}

/// A model too large for the memory at hand; the message has both numbers.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TooLarge(pub String);

/// Refuses `preset` for `purpose` at `batch` windows of its `seq_len` when its
/// estimate exceeds [`available`] memory or cannot even be counted.
pub fn check_preset(preset: &Preset, batch: usize, purpose: Purpose) -> Result<(), TooLarge> {
    let seq = preset.train.seq_len;
    let est = estimate(preset.model.config(), batch, seq, purpose);
    check(&format!("preset `{}`", preset.name), &est, batch, seq, available())
}

/// [`check_preset`] with the estimate and the limit given.
pub fn check(what: &str, est: &Estimate, batch: usize, seq: usize, avail: Option<Available>) -> Result<(), TooLarge> {
    let total = est.total();
    let fits = match (total, &avail) {
        (Some(t), Some(a)) => t <= a.bytes as u128,
        (Some(t), None) => t <= u64::MAX as u128,
        (None, _) => false,
    };
    if fits {
        return Ok(());
    }
    let parts: Vec<String> =
        est.parts.iter().map(|(name, c)| format!("{name} {}", c.get().map_or_else(|| "overflow".into(), human))).collect();
    let need = match total {
        Some(t) => format!("needs about {}", human(t)),
        None => "needs more memory than a 128-bit size can count".into(),
    };
    let have = match &avail {
        Some(a) => format!("but only {} is available ({})", human(a.bytes as u128), a.source),
        None => "which no machine has".into(),
    };
    Err(TooLarge(format!(
        "{what} {need} at batch {batch} × seq {seq} ({}), {have}; lower the model's sizes, the batch or seq_len",
        parts.join(", ")
    )))
}
