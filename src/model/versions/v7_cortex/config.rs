//! Configuration of the v7 model: the preset's `model: CortexV7(...)`.

use super::CortexV7;
use crate::model::blocks::head::HEAD_BLOCK;
use crate::model::config::{layered, positive, Invalid, ModelConfig};
use crate::model::footprint::{n, Footprint};
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
    fn describe(&self) -> String {
        let exits: Vec<String> = self.exits.iter().map(|e| e.0.to_string()).collect();
        format!("ternary decayed sum (RWKV-style), {}×d{}, exits after blocks {}", self.n_layers, self.d_model, exits.join(","))
    }
    /// The sizes `CortexV7::new`, `V7Ws::ensure` and the decoder allocate.
    fn footprint(&self, batch: usize, seq: usize) -> Footprint {
        use crate::model::blocks::exit_head::GATE_HIDDEN;
        let (v, d, f, l, e) = (n(self.vocab), n(self.d_model), n(self.d_ff), self.n_layers, self.exits.len());
        let matrices = d * d * 4 + f * d * 3;
        let exit_params = d + v * d + n(GATE_HIDDEN) * d + GATE_HIDDEN + GATE_HIDDEN + 1;
        let params = layered(l, d * 4 + matrices, v * d + d * 2 + exit_params * e);
        let q_len = matrices * l;
        let rows = n(batch) * n(seq);
        let nd = rows * d;
        let hb = n(HEAD_BLOCK.min(batch.saturating_mul(seq)));
        let per_layer = rows * 3 + nd * 5 + rows * f * 2;
        // RowStats are three 4-byte fields; each exit keeps [rows × d] and
        // [rows × GATE_HIDDEN] plus six per-row values
        let exits = (nd + rows * (GATE_HIDDEN + 6)) * e;
        let workspace = q_len
            + d * l
            + nd
            + rows * 3
            + per_layer * l
            + nd * (l + 1)
            + nd
            + hb * v
            + rows * 5
            + exits
            + nd * 8
            + n(batch) * d * 2
            + rows * f * 3;
        let decoder = q_len * 2 + d * l * 2 + d * 6 + f * 3 + v + n(seq) * v;
        Footprint { params, workspace, decoder, layers: self.n_layers }
    }
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(CortexV7::new(self.clone()))
    }
}
