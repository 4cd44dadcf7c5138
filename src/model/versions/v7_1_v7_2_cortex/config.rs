//! Configuration of the v7.1 / v7.2 model: the preset's `model: Cortex(...)`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    pub d_mem: usize,
    pub decay: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CortexConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub d_ff: usize,
    pub kernel_size: usize,
    pub memory: Option<MemoryConfig>,
    /// The training window T_train; fixes the Hebbian read scale c = 1/(√d_mem·√T_train).
    pub seq_len: usize,
}
