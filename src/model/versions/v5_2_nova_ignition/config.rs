//! Configuration of the v5.2 model: the preset's `model: Nova(...)`.

use super::Nova;
use crate::model::config::{positive, Invalid, ModelConfig};
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
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(Nova::new(self.clone()))
    }
}
