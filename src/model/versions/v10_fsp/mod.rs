//! v10 FSP (spec §14): a small GPT — RMSNorm, RoPE (interleaved pairs),
//! SwiGLU, tied embedding — trained with the FSP auxiliary loss; the preset
//! says `model: GptFsp(...)`.

mod config;
mod decode;
mod model;

pub use config::GptFspConfig;
pub use decode::Decoder;
pub use model::{GptFsp, GptFspBlock};
