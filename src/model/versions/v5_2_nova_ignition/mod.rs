//! v5.2 Nova-Ignition (spec §6): RoPE multi-head causal attention + GEGLU, with
//! dropout; the preset says `model: Nova(...)`.

mod config;
mod decode;
mod model;

pub use config::NovaConfig;
pub use decode::Decoder;
pub use model::{Nova, NovaBlock};
