//! Configuration of the v7.1 / v7.2 model: the preset's `model: Cortex(...)`.

use super::Cortex;
use crate::model::blocks::head::HEAD_BLOCK;
use crate::model::config::{layered, positive, Invalid, ModelConfig};
use crate::model::footprint::{n, Count, Footprint};
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
    fn describe(&self) -> String {
        match &self.memory {
            None => format!("gated conv k={}, {}×d{}", self.kernel_size, self.n_layers, self.d_model),
            Some(m) => format!("gated conv k={} + Hebbian memory d_mem={}, {}×d{}", self.kernel_size, m.d_mem, self.n_layers, self.d_model),
        }
    }
    /// The sizes `Cortex::new`, `CortexWs::ensure` (with the Hebbian memory's
    /// chunk caches) and the decoder allocate.
    fn footprint(&self, batch: usize, seq: usize) -> Footprint {
        use crate::model::blocks::hebbian::CHUNK;
        let (v, d, h, k, l) = (n(self.vocab), n(self.d_model), n(self.d_ff), n(self.kernel_size), self.n_layers);
        let mem = self.memory.is_some();
        let dm = n(self.memory.as_ref().map_or(0, |m| m.d_mem));
        let mem_params = if mem { d + dm * d * 4 } else { Count::ZERO };
        let params = layered(l, d * 2 + d * d * 3 + d * k + h * d * 3 + mem_params, v * d + d * 2);
        let (b, rows) = (n(batch), n(batch) * n(seq));
        let nd = rows * d;
        let hb = n(HEAD_BLOCK.min(batch.saturating_mul(seq)));
        // MemoryShape::cache_len and scratch_len
        let (cache, scratch) = if mem {
            let c = n(CHUNK.min(seq));
            (n(seq.div_ceil(CHUNK)) * (c * c + dm * dm) + c * dm * 2, c * c + dm * dm)
        } else {
            (Count::ZERO, Count::ZERO)
        };
        let per_layer = rows * 3 + nd * 4 + rows * dm * 4 + b * cache + if mem { rows + nd } else { Count::ZERO } + rows * h * 2;
        let workspace =
            nd + rows * 3 + nd * (l + 1) + per_layer * l + nd + hb * v + nd * 6 + rows * dm * 4 + b * scratch + rows * h * 3;
        let decoder = (k * d * 2 + dm * dm) * l + d * 6 + dm * 4 + h * 3 + v + n(seq) * v;
        Footprint { params, workspace, decoder, layers: self.n_layers }
    }
    fn build(&self, seq_len: usize) -> Model {
        Arc::new(Cortex::new(CortexConfig { seq_len, ..self.clone() }))
    }
}
