//! Configuration of the CPUFlow model: the preset's `model: CpuFlow(...)`.

use super::CpuFlow;
use crate::model::config::{positive, Invalid, ModelConfig};
use crate::model::Model;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// v9.7's RAM-Net memory: M = d_sub³ slots of width `d_val`, `top_k` slots read
/// and written per position, state decay `decay` per chunk of `chunk` positions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RamConfig {
    pub d_sub: usize,
    pub d_val: usize,
    pub top_k: usize,
    pub decay: f32,
    pub chunk: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuFlowConfig {
    pub vocab: usize,
    pub d_model: usize,
    /// scan width k (W_proj is [3k × d])
    pub k: usize,
    pub d_ff: usize,
    pub n_layers: usize,
    /// Some: v9.7 (a memory in every block); None: v5-LN.
    #[serde(default)]
    pub memory: Option<RamConfig>,
    /// Rows of the position table (S_max), the training window. Not part of the
    /// preset's `model:` section: [`ModelConfig::build`] sets it from `train:`.
    #[serde(skip)]
    pub seq_len: usize,
}

impl ModelConfig for CpuFlowConfig {
    fn vocab(&self) -> usize {
        self.vocab
    }
    fn validate(&self) -> Result<(), Invalid> {
        positive(&[("d_model", self.d_model), ("k", self.k), ("d_ff", self.d_ff), ("n_layers", self.n_layers)])?;
        if let Some(m) = &self.memory {
            positive(&[("d_sub", m.d_sub), ("d_val", m.d_val), ("top_k", m.top_k), ("chunk", m.chunk)])?;
            if m.top_k > m.d_sub.pow(3) {
                return Err(("top_k", format!("{}; expected at most d_sub³ = {} slots", m.top_k, m.d_sub.pow(3))));
            }
            if !(m.decay > 0.0 && m.decay <= 1.0) {
                return Err(("decay", format!("{}; expected 0 < decay ≤ 1", m.decay)));
            }
        }
        Ok(())
    }
    fn build(&self, seq_len: usize) -> Model {
        Arc::new(CpuFlow::new(CpuFlowConfig { seq_len, ..self.clone() }))
    }
}
