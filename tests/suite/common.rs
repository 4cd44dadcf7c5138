use flashlm_tui::model::{Cortex, CortexConfig, MemoryConfig};
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A pool of 2 threads, passed explicitly (tests never rely on the global pool).
pub fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap()
}

pub fn tiny_cortex(memory: bool) -> Cortex {
    Cortex::new(CortexConfig {
        vocab: 37,
        d_model: 16,
        n_layers: 2,
        d_ff: 24,
        kernel_size: 4,
        memory: memory.then_some(MemoryConfig { d_mem: 8, decay: 0.9 }),
        seq_len: 12,
    })
}

use flashlm_tui::engine::{EngineHandle, Event};
use flashlm_tui::preset::{resolve, Preset};
use flashlm_tui::train::RunConfig;
use std::sync::Once;
use std::time::Duration;

static CACHE: Once = Once::new();

/// Points the tokenizer/token cache at a temporary folder for the whole test
/// binary (tests write only to temporary folders). Its GEMM peaks say fp32
/// is the faster here, so `--precision auto` trains in fp32 in every test
/// (whatever this CPU measures) and nothing is measured.
pub fn isolated_cache() {
    CACHE.call_once(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let threads = flashlm_tui::kernels::default_threads().max(8);
        write_peaks(&dir, threads, 200.0, 100.0);
        std::env::set_var("FLASHLM_CACHE", &dir);
    });
}

/// A gemm-peaks.json in the cache folder `dir` with the fp32 and bf16 peaks
/// for 1 to `threads` threads on this machine.
pub fn write_peaks(dir: &std::path::Path, threads: usize, fp32: f64, bf16: f64) {
    use flashlm_tui::peaks::{key, Peak, FILE};
    use flashlm_tui::precision::Precision;
    let mut all = std::collections::BTreeMap::new();
    for t in 1..=threads {
        for (p, g) in [(Precision::Fp32, fp32), (Precision::Bf16, bf16)] {
            all.insert(key(t, p), Peak { gflops: g, date: "2026-12-01".into() });
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(FILE), serde_json::to_string(&all).unwrap()).unwrap();
}

/// The tiny preset with text replacements applied.
pub fn tiny_preset(replace: &[(&str, &str)]) -> (Preset, String) {
    let (_, mut text) = resolve("tiny", None).unwrap();
    for (a, b) in replace {
        assert!(text.contains(a), "tiny.ron has no `{a}`");
        text = text.replace(a, b);
    }
    (Preset::parse(&text, "tiny-test.ron").unwrap(), text)
}

pub fn run_config(preset: (Preset, String), runs_root: &std::path::Path) -> RunConfig {
    isolated_cache();
    RunConfig {
        preset: preset.0,
        preset_text: preset.1,
        corpus: None,
        valid: None,
        budget: None,
        threads: 2,
        seed: None,
        resume: None,
        import: None,
        runs_root: runs_root.to_path_buf(),
        run_dir: None,
        progress: false,
        sample_prompt: "Once upon a time".into(),
        overrides: Default::default(),
        precision: Default::default(),
        cadence: Default::default(),
        ranks: None,
    }
}

/// Collects every event until the trainer finishes (or 120 s pass).
pub fn collect(mut h: EngineHandle) -> Vec<Event> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while let Ok(ev) = h.events.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
        out.push(ev);
    }
    if let Some(t) = h.thread.take() {
        t.join().unwrap();
    }
    out
}

pub fn step_losses(events: &[Event]) -> Vec<(u64, f64)> {
    events.iter().filter_map(|e| if let Event::Step(m) = e { Some((m.step, m.loss)) } else { None }).collect()
}

pub fn errors(events: &[Event]) -> Vec<String> {
    events.iter().filter_map(|e| if let Event::Error(m) = e { Some(m.clone()) } else { None }).collect()
}

pub fn run_dir(events: &[Event]) -> std::path::PathBuf {
    events.iter().find_map(|e| if let Event::Started { run_dir, .. } = e { Some(run_dir.clone()) } else { None }).expect("a Started event")
}

/// Fills micro-batch `i`'s inputs and targets with tokens below `vocab`, a
/// pure function of `i` (what the lane and rank tests feed the trainer).
pub fn random_window(i: usize, x: &mut [u32], y: &mut [u32], vocab: usize) {
    let mut r = flashlm_tui::rng::Rng::new(100 + i as u64);
    x.iter_mut().for_each(|x| *x = r.below(vocab) as u32);
    y.iter_mut().for_each(|y| *y = r.below(vocab) as u32);
}
