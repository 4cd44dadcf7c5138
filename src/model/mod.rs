//! Model assembly. One file per building block, each with forward and backward
//! side by side; one file per version stacks them (`cortex.rs` = v7.1 / v7.2).
//! Every version implements [`LanguageModel`] (lm.rs); `registry.rs` builds one
//! from a preset's `ModelSpec`.

pub mod attention;
pub mod bitlinear;
pub mod bolt;
pub mod cortex;
pub mod cortex_decode;
pub mod cortex_v7;
pub mod decayed_sum;
pub mod dropout;
pub mod embedding;
pub mod exit_head;
pub mod gated_conv;
pub mod geglu;
pub mod groupnorm;
pub mod head;
pub mod hebbian;
pub mod layernorm;
pub mod lm;
pub mod nova;
pub mod nova_decode;
pub mod params;
pub mod rcsm;
pub mod rcsm_bank;
pub mod rcsm_gate;
pub mod rcsm_memory;
pub mod recurrence;
pub mod registry;
pub mod relu2_ffn;
pub mod rmsnorm;
pub mod shift_mixer;
pub mod supernova;
pub mod supernova_decode;
pub mod swiglu;
pub mod thunderbolt;
pub mod token_shift;

pub use cortex::{Cortex, CortexConfig, MemoryConfig};
pub use lm::{Decode, LanguageModel, MemoryDims, Model, TernaryShare, WindowDecoder, Workspace};
pub use nova::{Nova, NovaConfig};
pub use params::{Layout, TensorInfo};
