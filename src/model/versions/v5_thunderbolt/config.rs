//! Configuration of the v5 model: the preset's `model: Thunderbolt(...)`.

use super::Thunderbolt;
use crate::model::blocks::head::HEAD_BLOCK;
use crate::model::config::{layered, positive, Invalid, ModelConfig};
use crate::model::footprint::{n, Footprint};
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
    fn describe(&self) -> String {
        let gn = if self.reference_compat { "window-pooled GN (reference, not causal)" } else { "per-position GN" };
        let (d, g) = (self.d_model, self.groups);
        format!("ternary gated recurrence + token shift, {}×d{d}, {g} groups×{}, {gn}, ReLU² FFN {}", self.n_layers, d / g.max(1), self.d_ff)
    }
    /// The sizes `Thunderbolt::new`, `ThunderboltWs::ensure` and the decoder allocate.
    fn footprint(&self, batch: usize, seq: usize) -> Footprint {
        let (v, d, h, g, l) = (n(self.vocab), n(self.d_model), n(self.d_ff), n(self.groups), self.n_layers);
        let matrices = d * d * 4 + h * d * 2;
        let params = layered(l, d * 9 + matrices, v * d + d * 2);
        let rows = n(batch) * n(seq);
        let nd = rows * d;
        let hb = n(HEAD_BLOCK.min(batch.saturating_mul(seq)));
        let per_layer = nd * 4 + rows * h;
        let workspace = per_layer * l + nd * (l + 1) + nd * 7 + rows * 3 + rows * g * 2 + rows * (d * 3).max(h) + hb * v + matrices;
        let decoder = matrices * l + d * 3 * l + d * 9 + h + g * 2 + v + n(seq) * v;
        Footprint { params, workspace, decoder, layers: self.n_layers }
    }
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(Thunderbolt::new(self.clone()))
    }
    fn sees_later_tokens(&self) -> Option<&'static str> {
        self.reference_compat.then_some("`reference_compat: true` normalises over all positions of the window (D4)")
    }
}
