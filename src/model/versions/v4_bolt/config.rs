//! Configuration of the v4 model: the preset's `model: Bolt(...)`.

use super::Bolt;
use crate::model::config::{positive, Invalid, ModelConfig};
use crate::model::Model;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoltConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    /// SwiGLU hidden width H (reference `glu_hidden`)
    pub d_ff: usize,
    pub kernel_size: usize,
}

impl ModelConfig for BoltConfig {
    fn vocab(&self) -> usize {
        self.vocab
    }
    fn validate(&self) -> Result<(), Invalid> {
        positive(&[("d_model", self.d_model), ("n_layers", self.n_layers), ("d_ff", self.d_ff), ("kernel_size", self.kernel_size)])
    }
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(Bolt::new(self.clone()))
    }
}
