//! How much CPU the UI thread itself uses (the dashboard shows it; the UI
//! should stay a small fraction of a core while training runs).

use std::time::{Duration, Instant};

/// CPU time of the calling thread (ns), from /proc/thread-self/schedstat (or stat).
pub fn thread_cpu_ns() -> Option<u64> {
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat") {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()) {
            return Some(ns);
        }
    }
    // utime + stime in clock ticks (100 Hz on Linux), fields 14 and 15
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

/// Tracks the UI thread's CPU use since training started.
pub struct CpuMeter {
    start: Option<(Instant, u64)>,
    last_read: Instant,
    /// The last mean, in % of one core.
    pub percent: Option<f64>,
}

impl CpuMeter {
    pub fn new() -> Self {
        CpuMeter { start: None, last_read: Instant::now(), percent: None }
    }
    pub fn begin(&mut self) {
        if let Some(ns) = thread_cpu_ns() {
            self.start = Some((Instant::now(), ns));
        }
    }
    /// Re-reads about once a second; returns the mean % of a core since `begin`.
    pub fn update(&mut self, now: Instant) -> Option<f64> {
        if now.duration_since(self.last_read) < Duration::from_secs(1) {
            return self.percent;
        }
        self.last_read = now;
        let (t0, c0) = self.start?;
        let wall = now.duration_since(t0).as_secs_f64();
        if wall >= 1.0 {
            let cpu = thread_cpu_ns()?.saturating_sub(c0) as f64 / 1e9;
            self.percent = Some(100.0 * cpu / wall);
        }
        self.percent
    }
}
