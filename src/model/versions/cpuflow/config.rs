//! Configuration of the CPUFlow model: the preset's `model: CpuFlow(...)`.

use super::CpuFlow;
use crate::model::blocks::head::HEAD_BLOCK;
use crate::model::config::{layered, positive, Invalid, ModelConfig};
use crate::model::footprint::{n, Count, Footprint};
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
            let Some(slots) = m.d_sub.checked_pow(3).filter(|s| s.checked_mul(m.d_val).is_some()) else {
                return Err(("d_sub", format!("{}: d_sub³ × d_val slots overflow", m.d_sub)));
            };
            if m.top_k > slots {
                return Err(("top_k", format!("{}; expected at most d_sub³ = {slots} slots", m.top_k)));
            }
            if !(m.decay > 0.0 && m.decay <= 1.0) {
                return Err(("decay", format!("{}; expected 0 < decay ≤ 1", m.decay)));
            }
        }
        Ok(())
    }
    fn describe(&self) -> String {
        let base = format!("cumsum scan k={} + LayerNorm + ReLU FFN {}, {}×d{}", self.k, self.d_ff, self.n_layers, self.d_model);
        match &self.memory {
            None => base,
            Some(m) => {
                let slots = m.d_sub.checked_pow(3).map_or_else(|| "overflowing".into(), |s| s.to_string());
                format!("{base} + RAM-Net memory {slots} slots×{}, top-{}", m.d_val, m.top_k)
            }
        }
    }
    fn footprint(&self, batch: usize, seq: usize) -> Footprint {
        let (v, d, k, h, l) = (n(self.vocab), n(self.d_model), n(self.k), n(self.d_ff), self.n_layers);
        let (t, rows) = (n(seq.max(1)), n(batch) * n(seq));
        let nd = rows * d;
        // per layer: two LayerNorms, W_proj, W_m, W_out, FFN up and down
        let mut per_layer = d * 4 + k * d * 3 + k * k + d * k + h * d * 2;
        let (mut mem_acts, mut mem_decoder) = (Count::ZERO, Count::ZERO);
        if let Some(m) = &self.memory {
            let slots = n(m.d_sub) * n(m.d_sub) * n(m.d_sub);
            let (dv, ns, top) = (n(m.d_val), n(3 * m.d_sub), n(m.top_k));
            // mem_init, W_addr, W_val, W_write_gate, W_read, W_mem_proj
            per_layer = per_layer + slots * dv + ns * d + dv * d * 2 + dv * dv + k * dv;
            let chunks = n(seq.div_ceil(m.chunk.max(1)));
            mem_acts = rows * (ns + top * 3 + dv * 5) + n(batch) * chunks * slots * dv;
            mem_decoder = slots * dv * n(2) + ns + top * 3 + dv * 4;
        }
        let params = layered(l, per_layer, v * d + t * d + d * 2);
        let hb = n(HEAD_BLOCK.min(batch.saturating_mul(seq)));
        let acts = rows * 4 + rows * k * 7 + nd + rows * h + mem_acts;
        let scratch = rows * 2 + nd * 4 + rows * k * 5 + rows * h + hb * v;
        let workspace = acts * n(l) + nd * n(l + 1) + t * d + scratch;
        let decoder = (k * 3 + mem_decoder) * n(l) + d * 4 + k * 5 + h + v;
        Footprint { params, workspace, decoder, layers: l }
    }
    fn build(&self, seq_len: usize) -> Model {
        Arc::new(CpuFlow::new(CpuFlowConfig { seq_len, ..self.clone() }))
    }
}
