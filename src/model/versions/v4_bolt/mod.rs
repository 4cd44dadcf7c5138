//! v4 Bolt (spec §4): gated causal depthwise conv + SwiGLU with BIT-A ternary
//! block linears; the preset says `model: Bolt(...)`.

mod config;
mod decode;
mod model;
mod workspace;

pub use config::BoltConfig;
pub use decode::Decoder;
pub use model::{Bolt, TernaryBlock};
pub use workspace::BoltWs;
