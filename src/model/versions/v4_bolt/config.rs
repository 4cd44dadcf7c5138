//! Configuration of the v4 model: the preset's `model: Bolt(...)`.

use super::Bolt;
use crate::model::blocks::head::HEAD_BLOCK;
use crate::model::config::{layered, positive, Invalid, ModelConfig};
use crate::model::footprint::{n, Footprint};
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
    fn describe(&self) -> String {
        format!("ternary gated conv k={} + ternary SwiGLU {}, {}×d{}", self.kernel_size, self.d_ff, self.n_layers, self.d_model)
    }
    /// The sizes `Bolt::new`, `BoltWs::ensure` and the decoder allocate.
    fn footprint(&self, batch: usize, seq: usize) -> Footprint {
        let (v, d, h, k, l) = (n(self.vocab), n(self.d_model), n(self.d_ff), n(self.kernel_size), self.n_layers);
        let matrices = d * d * 3 + h * d * 3;
        let params = layered(l, d * (k + 2) + matrices, v * d + d);
        let rows = n(batch) * n(seq);
        let nd = rows * d;
        let hb = n(HEAD_BLOCK.min(batch.saturating_mul(seq)));
        let per_layer = rows * 2 + nd * 4 + rows * h * 2 + matrices;
        let workspace = per_layer * l + nd * (l + 1) + nd * 7 + rows * 2 + hb * v + rows * h * 3;
        let decoder = matrices * l + k * d * l + d * 6 + h * 3 + v + n(seq) * v;
        Footprint { params, workspace, decoder, layers: self.n_layers }
    }
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(Bolt::new(self.clone()))
    }
}
