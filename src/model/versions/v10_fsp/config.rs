//! Configuration of the v10 FSP model: the preset's `model: GptFsp(...)`.

use super::GptFsp;
use crate::model::blocks::head::HEAD_BLOCK;
use crate::model::config::{layered, positive, Invalid, ModelConfig};
use crate::model::footprint::{n, Footprint};
use crate::model::Model;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptFspConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    /// SwiGLU hidden width (W_gate, W_up are [d_ff × d])
    pub d_ff: usize,
    /// Dropout probability p (embedding, attention probabilities, after W_o,
    /// after W_down), training only.
    pub dropout: f32,
}

impl GptFspConfig {
    /// The reference default (spec §14.2): 3 672 320 parameters, 3 737 856 with `fsp_proj`.
    pub fn full_size() -> Self {
        GptFspConfig { vocab: 4096, d_model: 256, n_layers: 4, n_heads: 8, d_ff: 512, dropout: 0.1 }
    }
}

impl ModelConfig for GptFspConfig {
    fn vocab(&self) -> usize {
        self.vocab
    }
    fn validate(&self) -> Result<(), Invalid> {
        let (d, n_heads, dropout) = (self.d_model, self.n_heads, self.dropout);
        positive(&[("d_model", d), ("n_layers", self.n_layers), ("n_heads", n_heads), ("d_ff", self.d_ff)])?;
        if d % n_heads != 0 || (d / n_heads) % 2 != 0 {
            return Err(("n_heads", format!("{n_heads}: d_model {d} must split into heads of even width (RoPE)")));
        }
        if !(0.0..1.0).contains(&dropout) {
            return Err(("dropout", format!("{dropout}; expected 0 ≤ p < 1")));
        }
        Ok(())
    }
    fn describe(&self) -> String {
        format!(
            "GPT: RoPE attention {}×{} + SwiGLU {}, RMSNorm, {}×d{}, dropout {}, tied head",
            self.n_heads,
            self.d_model / self.n_heads.max(1),
            self.d_ff,
            self.n_layers,
            self.d_model,
            self.dropout
        )
    }
    fn footprint(&self, batch: usize, seq: usize) -> Footprint {
        let (v, d, f, heads, l) = (n(self.vocab), n(self.d_model), n(self.d_ff), n(self.n_heads), self.n_layers);
        let params = layered(l, d * 2 + d * d * 4 + f * d * 3, v * d + d);
        let (t, rows) = (n(seq), n(batch) * n(seq));
        let nd = rows * d;
        let probs = n(batch) * heads * t * t;
        let hb = n(HEAD_BLOCK.min(batch.saturating_mul(seq)));
        let per_layer = rows * 2 + nd * 5 + probs + rows * f * 2;
        let workspace = per_layer * l + nd * (l + 1) + rows + nd * 13 + hb * v + rows * f * 3 + probs + t * d;
        let decoder = t * d * n(2 * l) + t + d * 8 + f * 3 + v;
        Footprint { params, workspace, decoder, layers: self.n_layers }
    }
    fn build(&self, seq_len: usize) -> Model {
        Arc::new(GptFsp::new(self.clone(), seq_len))
    }
}
