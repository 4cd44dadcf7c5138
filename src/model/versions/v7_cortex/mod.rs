//! v7 CORTEX (spec §8): ternary decayed-sum mixer + SwiGLU with exit heads; the
//! preset says `model: CortexV7(...)`.

mod config;
mod decode;
mod model;
mod workspace;

pub use config::CortexV7Config;
pub use decode::{AdaptiveExit, Decoder};
pub use model::{CortexV7, Objective};
