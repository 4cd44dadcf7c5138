//! v5 Thunderbolt (spec §5): token shift + gated linear recurrence + per-position
//! group norm + ReLU² FFN, BIT-B ternary; the preset says `model: Thunderbolt(...)`.

mod config;
mod decode;
mod model;
mod workspace;

pub use config::ThunderboltConfig;
pub use decode::Decoder;
pub use model::{Thunderbolt, TRAIN_WINDOW};
pub use workspace::ThunderboltWs;
