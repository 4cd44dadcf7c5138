//! Configuration of the v7 model: the preset's `model: CortexV7(...)`.

use super::CortexV7;
use crate::model::config::{positive, Invalid, ModelConfig};
use crate::model::Model;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CortexV7Config {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub d_ff: usize,
    /// (after block counted from 1, loss weight, confidence threshold)
    pub exits: Vec<(usize, f32, f32)>,
    pub consistency_weight: f32,
    pub diversity_weight: f32,
}

impl CortexV7Config {
    /// The spec's full-size model (§8.2): 7 118 082 parameters.
    pub fn full_size() -> Self {
        CortexV7Config {
            vocab: 4096,
            d_model: 256,
            n_layers: 6,
            d_ff: 512,
            exits: vec![(2, 0.1, 0.55), (4, 0.3, 0.35)],
            consistency_weight: 0.5,
            diversity_weight: 0.1,
        }
    }
}

impl ModelConfig for CortexV7Config {
    fn vocab(&self) -> usize {
        self.vocab
    }
    /// Besides positive sizes: every exit sits after a block before the last,
    /// with a weight ≥ 0 and a threshold in [0, 1].
    fn validate(&self) -> Result<(), Invalid> {
        let n_layers = self.n_layers;
        positive(&[("d_model", self.d_model), ("n_layers", n_layers), ("d_ff", self.d_ff)])?;
        for &(after, w, thr) in &self.exits {
            if after == 0 || after >= n_layers {
                return Err((
                    "exits",
                    format!("exit after block {after}; expected 1..{n_layers} (blocks counted from 1, before the last)"),
                ));
            }
            if !w.is_finite() || w < 0.0 || !(0.0..=1.0).contains(&thr) {
                return Err(("exits", format!("({after}, {w}, {thr}): expected weight ≥ 0 and 0 ≤ threshold ≤ 1")));
            }
        }
        Ok(())
    }
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(CortexV7::new(self.clone()))
    }
}
