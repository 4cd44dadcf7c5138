//! Configuration of the v6 model: the preset's `model: Supernova(...)`.

use super::Supernova;
use crate::model::blocks::head::HEAD_BLOCK;
use crate::model::config::{layered, positive, Invalid, ModelConfig};
use crate::model::footprint::{n, Footprint};
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
    fn describe(&self) -> String {
        format!(
            "ternary shift mixer + P-RCSM (d_r {}, {} scales, {} slots, planner {}{}) + SwiGLU, {}×d{}",
            self.d_reason,
            self.n_scales,
            self.n_slots,
            self.d_planner,
            if self.reference_compat { ", window-mean planner" } else { "" },
            self.n_layers,
            self.d_model
        )
    }
    /// The sizes `Supernova::new`, `SupernovaWs::ensure` (with the P-RCSM
    /// activations and scratch) and the decoder allocate.
    fn footprint(&self, batch: usize, seq: usize) -> Footprint {
        let (v, d, h, l) = (n(self.vocab), n(self.d_model), n(self.d_ff), self.n_layers);
        let (dr, ns, nsl, dp) = (n(self.d_reason), n(self.n_scales), n(self.n_slots), n(self.d_planner));
        let per_layer_params = d * 2
            + d * d * 4
            + 1
            + d * dr * 2
            + dr
            + ns * dr * dr * 2
            + ns * dr
            + dr * dp * 2
            + dp * dp
            + dp
            + nsl * dr
            + dr * dr * 3
            + h * d * 3;
        let params = layered(l, per_layer_params, dp + v * d * 2 + d);
        let rows = n(batch) * n(seq);
        let nd = rows * d;
        let hb = n(HEAD_BLOCK.min(batch.saturating_mul(seq)));
        let rcsm_acts = rows * (dr * 10 + ns * dr + ns + dp * 2 + nsl + d + 2);
        let rcsm_scratch = rows * (dr * 11 + ns * dr + ns + nsl + d + dp * 2);
        let per_layer = rows * dp + rows * 2 + nd * 5 + rcsm_acts + rows * h * 2;
        // Q(W) in the parameters' layout
        let workspace = params + per_layer * l + nd * (l + 1) + rows * 2 + hb * v + nd * 10 + rows * h * 3 + rows * dp * 2 + rcsm_scratch;
        let ring = n(crate::model::blocks::shift_mixer::scale_offset(self.n_scales.saturating_sub(1)));
        // Q(W) and its packed ternary copy
        let decoder = params * 2 + (d + ring * dr + dr) * l + d * 8 + dr * 12 + ns + nsl + dp * 5 + h * 3 + v + n(seq) * v;
        Footprint { params, workspace, decoder, layers: self.n_layers }
    }
    fn build(&self, _seq_len: usize) -> Model {
        Arc::new(Supernova::new(self.clone()))
    }
    fn sees_later_tokens(&self) -> Option<&'static str> {
        self.reference_compat.then_some("`reference_compat: true` makes the planner summary a mean over the whole window (D6)")
    }
}
