//! ModelSpec (from a preset) → a model definition.

use super::lm::Model;
use super::{
    Bolt, BoltConfig, Cortex, CortexConfig, CortexV7, CortexV7Config, Nova, NovaConfig, Supernova, SupernovaConfig, Thunderbolt,
    ThunderboltConfig,
};
use crate::preset::ModelSpec;
use std::sync::Arc;

/// Builds the model of a validated spec; `seq_len` is the training window.
pub fn build(spec: &ModelSpec, seq_len: usize) -> Model {
    match spec {
        ModelSpec::Cortex { vocab, d_model, n_layers, d_ff, kernel_size, memory } => Arc::new(Cortex::new(CortexConfig {
            vocab: *vocab,
            d_model: *d_model,
            n_layers: *n_layers,
            d_ff: *d_ff,
            kernel_size: *kernel_size,
            memory: memory.clone(),
            seq_len,
        })),
        ModelSpec::Bolt { vocab, d_model, n_layers, d_ff, kernel_size } => Arc::new(Bolt::new(BoltConfig {
            vocab: *vocab,
            d_model: *d_model,
            n_layers: *n_layers,
            d_ff: *d_ff,
            kernel_size: *kernel_size,
        })),
        ModelSpec::Thunderbolt { vocab, d_model, n_layers, groups, d_ff, reference_compat } => {
            Arc::new(Thunderbolt::new(ThunderboltConfig {
                vocab: *vocab,
                d_model: *d_model,
                n_layers: *n_layers,
                groups: *groups,
                d_ff: *d_ff,
                reference_compat: *reference_compat,
            }))
        }
        ModelSpec::CortexV7 { vocab, d_model, n_layers, d_ff, exits, consistency_weight, diversity_weight } => {
            Arc::new(CortexV7::new(CortexV7Config {
                vocab: *vocab,
                d_model: *d_model,
                n_layers: *n_layers,
                d_ff: *d_ff,
                exits: exits.clone(),
                consistency_weight: *consistency_weight,
                diversity_weight: *diversity_weight,
            }))
        }
        ModelSpec::Nova { vocab, d_model, n_layers, n_heads, d_ff, dropout } => Arc::new(Nova::new(NovaConfig {
            vocab: *vocab,
            d_model: *d_model,
            n_layers: *n_layers,
            n_heads: *n_heads,
            d_ff: *d_ff,
            dropout: *dropout,
        })),
        ModelSpec::Supernova { vocab, d_model, n_layers, d_ff, d_reason, n_scales, n_slots, d_planner, reference_compat } => {
            Arc::new(Supernova::new(SupernovaConfig {
                vocab: *vocab,
                d_model: *d_model,
                n_layers: *n_layers,
                d_ff: *d_ff,
                d_reason: *d_reason,
                n_scales: *n_scales,
                n_slots: *n_slots,
                d_planner: *d_planner,
                reference_compat: *reference_compat,
            }))
        }
    }
}
