//! The model versions a preset can name. Each is one line in the
//! `model_specs!` list below: the variant name the preset writes (`model:
//! Bolt(...)`) and the version's config struct, which holds the section's
//! fields and builds the model.

use super::config::ModelConfig;
use super::lm::Model;
use super::versions::{v4_bolt, v5_2_nova_ignition, v5_thunderbolt, v6_supernova, v7_1_v7_2_cortex, v7_cortex};

/// Declares [`ModelSpec`] with one variant per listed version and its
/// dispatch to [`ModelConfig`], so a version is registered in one line.
macro_rules! model_specs {
    ($($(#[$doc:meta])* $variant:ident($config:ty),)*) => {
        /// A preset's `model:` section: the version, with that version's own config.
        /// Newtype variants written without their inner parentheses
        /// (`Bolt(vocab: 4096, ...)`; the preset's RON options unwrap them).
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum ModelSpec {
            $($(#[$doc])* $variant($config),)*
        }

        impl ModelSpec {
            /// The version's config, through the trait every config implements.
            pub fn config(&self) -> &dyn ModelConfig {
                match self {
                    $(ModelSpec::$variant(c) => c,)*
                }
            }
        }
    };
}

model_specs! {
    /// v4 Bolt: gated causal depthwise conv + SwiGLU, BIT-A ternary block linears (spec §4).
    Bolt(v4_bolt::BoltConfig),
    /// v5 Thunderbolt: token shift + gated linear recurrence + per-position group
    /// norm + ReLU² FFN, BIT-B ternary (spec §5).
    Thunderbolt(v5_thunderbolt::ThunderboltConfig),
    /// v5.2 Nova-Ignition: RoPE multi-head causal attention + GEGLU, dropout (spec §6).
    Nova(v5_2_nova_ignition::NovaConfig),
    /// v6 SUPERNOVA: shift mixer + P-RCSM + SwiGLU, BIT-C ternary (spec §7).
    Supernova(v6_supernova::SupernovaConfig),
    /// v7 CORTEX: ternary decayed-sum mixer + SwiGLU + exit heads (spec §8).
    CortexV7(v7_cortex::CortexV7Config),
    /// v7.1 CORTEX-III (gated causal depthwise conv) and, with `memory`, v7.2 CORTEX-VI (spec §9–§10).
    Cortex(v7_1_v7_2_cortex::CortexConfig),
}

/// Builds the model of a validated spec; `seq_len` is the training window.
pub fn build(spec: &ModelSpec, seq_len: usize) -> Model {
    spec.config().build(seq_len)
}
