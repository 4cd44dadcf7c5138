//! CPUFlow v5-LN and CPUFlow v9.7 (spec §12–§13): one backbone (normalised
//! cumulative scan + LayerNorm + ReLU FFN, learned cumulative positions), the
//! RAM-Net sparse product-key memory off (v5-LN) or on (v9.7); both presets say
//! `model: CpuFlow(...)`.

mod config;
mod decode;
mod model;
mod workspace;

pub use config::{CpuFlowConfig, RamConfig};
pub use decode::Decoder;
pub use model::CpuFlow;
pub use workspace::CpuFlowWs;
