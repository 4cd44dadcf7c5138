//! Configuration of the v7.1 / v7.2 model: the preset's `model: Cortex(...)`.

use super::Cortex;
use crate::model::config::{positive, Invalid, ModelConfig};
use crate::model::Model;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// v7.2's Hebbian memory: M_t = decay·M_{t−1} + k_t·v_tᵀ with keys, values and
/// queries of width `d_mem`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    pub d_mem: usize,
    pub decay: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CortexConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub d_ff: usize,
    pub kernel_size: usize,
    /// Some: v7.2 (a memory in every block); None: v7.1.
    #[serde(default)]
    pub memory: Option<MemoryConfig>,
    /// The training window T_train; fixes the Hebbian read scale c = 1/(√d_mem·√T_train).
    /// Not part of the preset's `model:` section: [`ModelConfig::build`] sets it
    /// from the `train:` section's window.
    #[serde(skip)]
    pub seq_len: usize,
}

impl ModelConfig for CortexConfig {
    fn vocab(&self) -> usize {
        self.vocab
    }
    fn validate(&self) -> Result<(), Invalid> {
        positive(&[("d_model", self.d_model), ("n_layers", self.n_layers), ("d_ff", self.d_ff), ("kernel_size", self.kernel_size)])?;
        if let Some(m) = &self.memory {
            positive(&[("d_mem", m.d_mem)])?;
            if !(m.decay > 0.0 && m.decay <= 1.0) {
                return Err(("decay", format!("{}; expected 0 < decay ≤ 1", m.decay)));
            }
        }
        Ok(())
    }
    fn build(&self, seq_len: usize) -> Model {
        Arc::new(Cortex::new(CortexConfig { seq_len, ..self.clone() }))
    }
}
