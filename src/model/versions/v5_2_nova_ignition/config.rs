//! Configuration of the v5.2 model: the preset's `model: Nova(...)`.

use super::Nova;
use crate::model::blocks::head::HEAD_BLOCK;
use crate::model::config::{layered, positive, Invalid, ModelConfig};
use crate::model::footprint::{n, Footprint};
use crate::model::Model;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NovaConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    /// GEGLU hidden width H (W_up is [2H × d])
    pub d_ff: usize,
    /// Dropout probability p (embedding, attention probabilities, FFN output), training only.
    pub dropout: f32,
}

impl ModelConfig for NovaConfig {
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
        let hd = self.d_model / self.n_heads.max(1);
        format!("RoPE attention {}×{hd} + GEGLU {}, {}×d{}, dropout {}", self.n_heads, self.d_ff, self.n_layers, self.d_model, self.dropout)
    }
    /// The sizes `Nova::new`, `TransformerWs::ensure` and the decoder (its key/value
    /// cache over a `seq`-token context) allocate.
    fn footprint(&self, batch: usize, seq: usize) -> Footprint {
        let (v, d, h, heads, l) = (n(self.vocab), n(self.d_model), n(self.d_ff), n(self.n_heads), self.n_layers);
        let params = layered(l, d * 4 + d * d * 4 + h * d * 3, v * d + d * 2);
        let (t, rows) = (n(seq), n(batch) * n(seq));
        let nd = rows * d;
        let probs = n(batch) * heads * t * t;
        let hb = n(HEAD_BLOCK.min(batch.saturating_mul(seq)));
        let per_layer = rows * 4 + nd * 5 + probs + rows * h * 2;
        let workspace = per_layer * l + nd * (l + 1) + rows * 3 + nd * 12 + hb * v + rows * h * 3 + probs + t * d;
        let decoder = t * d * 2 * l + heads * t + d * 10 + h * 3 + v;
        Footprint { params, workspace, decoder, layers: self.n_layers }
    }
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(Nova::new(self.clone()))
    }
}
