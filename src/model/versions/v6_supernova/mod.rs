//! v6 SUPERNOVA (spec §7): shift mixer + P-RCSM + SwiGLU, BIT-C ternary; the
//! preset says `model: Supernova(...)`.

mod config;
mod decode;
mod model;
mod workspace;

pub use config::SupernovaConfig;
pub use decode::Decoder;
pub use model::Supernova;
pub use workspace::SupernovaWs;
