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
