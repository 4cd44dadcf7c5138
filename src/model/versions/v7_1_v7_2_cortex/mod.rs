//! v7.1 CORTEX-III and v7.2 CORTEX-VI (spec §9–§10): one model, the Hebbian
//! memory on (v7.2) or off (v7.1); both presets say `model: Cortex(...)`.

mod config;
mod decode;
mod model;
mod workspace;

pub use config::{CortexConfig, MemoryConfig};
pub use decode::{Decoder, LayerState};
pub use model::{BlockView, Cortex};
pub use workspace::CortexWs;
