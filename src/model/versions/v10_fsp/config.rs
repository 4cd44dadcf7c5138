//! Configuration of the v10 FSP model: the preset's `model: GptFsp(...)`.

use super::GptFsp;
use crate::model::config::{positive, Invalid, ModelConfig};
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
    fn build(&self, seq_len: usize) -> Model {
        Arc::new(GptFsp::new(self.clone(), seq_len))
    }
}
