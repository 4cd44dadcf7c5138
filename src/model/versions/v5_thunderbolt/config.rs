//! Configuration of the v5 model: the preset's `model: Thunderbolt(...)`.

use super::Thunderbolt;
use crate::model::config::{positive, Invalid, ModelConfig};
use crate::model::Model;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThunderboltConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    /// GroupNorm groups (reference `n_heads`); must divide d_model.
    pub groups: usize,
    /// FFN hidden width H (reference `d_ffn`).
    pub d_ff: usize,
    /// GroupNorm statistics over the whole window, as the reference (D4): not causal.
    #[serde(default)]
    pub reference_compat: bool,
}

impl ThunderboltConfig {
    /// The reference default: V 8192, d 384, 18 layers, 8 groups of 48, FFN 1152.
    pub fn full_size() -> Self {
        ThunderboltConfig { vocab: 8192, d_model: 384, n_layers: 18, groups: 8, d_ff: 1152, reference_compat: false }
    }
}

impl ModelConfig for ThunderboltConfig {
    fn vocab(&self) -> usize {
        self.vocab
    }
    fn validate(&self) -> Result<(), Invalid> {
        let (d, groups) = (self.d_model, self.groups);
        positive(&[("d_model", d), ("n_layers", self.n_layers), ("groups", groups), ("d_ff", self.d_ff)])?;
        if d % groups != 0 {
            return Err(("groups", format!("{groups} does not divide d_model {d}")));
        }
        Ok(())
    }
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(Thunderbolt::new(self.clone()))
    }
    fn sees_later_tokens(&self) -> Option<&'static str> {
        self.reference_compat.then_some("`reference_compat: true` normalises over all positions of the window (D4)")
    }
}
