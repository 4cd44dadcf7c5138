//! Configuration of the v6 model: the preset's `model: Supernova(...)`.

use super::Supernova;
use crate::model::config::{positive, Invalid, ModelConfig};
use crate::model::Model;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernovaConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    /// SwiGLU hidden width H (the reference's d_model·d_ffn_mult)
    pub d_ff: usize,
    pub d_reason: usize,
    /// scales of the bank, offsets 1, 2, …, 2^(n_scales−1)
    pub n_scales: usize,
    pub n_slots: usize,
    pub d_planner: usize,
    /// Planner summary = mean over the whole window, as the reference (D6; not
    /// causal, decoding re-runs the window). Default false: causal running mean.
    #[serde(default)]
    pub reference_compat: bool,
}

impl Default for SupernovaConfig {
    /// The full-size model of spec §7.2 (4 141 862 parameters), with the D6 fix.
    fn default() -> Self {
        SupernovaConfig {
            vocab: 4096,
            d_model: 192,
            n_layers: 6,
            d_ff: 384,
            d_reason: 64,
            n_scales: 2,
            n_slots: 8,
            d_planner: 32,
            reference_compat: false,
        }
    }
}

impl ModelConfig for SupernovaConfig {
    fn vocab(&self) -> usize {
        self.vocab
    }
    fn validate(&self) -> Result<(), Invalid> {
        positive(&[
            ("d_model", self.d_model),
            ("n_layers", self.n_layers),
            ("d_ff", self.d_ff),
            ("d_reason", self.d_reason),
            ("n_scales", self.n_scales),
            ("n_slots", self.n_slots),
            ("d_planner", self.d_planner),
        ])?;
        if self.n_scales > 12 {
            return Err(("n_scales", format!("{}; expected ≤ 12 (scale i shifts by 2^i tokens)", self.n_scales)));
        }
        Ok(())
    }
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(Supernova::new(self.clone()))
    }
    fn sees_later_tokens(&self) -> Option<&'static str> {
        self.reference_compat.then_some("`reference_compat: true` makes the planner summary a mean over the whole window (D6)")
    }
}
