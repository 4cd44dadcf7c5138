//! Model assembly: `blocks/` holds the building blocks, `versions/` one folder
//! per model version. Every version implements [`LanguageModel`] (lm.rs);
//! `registry.rs` builds one from a preset's `ModelSpec`.

pub mod blocks;
pub mod config;
pub mod lm;
pub mod params;
pub mod registry;
pub mod versions;

pub use config::ModelConfig;
pub use lm::{Decode, LanguageModel, MemoryDims, Model, TernaryShare, WindowDecoder, Workspace};
pub use params::{Layout, TensorInfo};
pub use registry::ModelSpec;
pub use versions::v4_bolt::{Bolt, BoltConfig};
pub use versions::v5_2_nova_ignition::{Nova, NovaConfig};
pub use versions::v5_thunderbolt::{Thunderbolt, ThunderboltConfig};
pub use versions::v6_supernova::{Supernova, SupernovaConfig};
pub use versions::v7_1_v7_2_cortex::{Cortex, CortexConfig, MemoryConfig};
pub use versions::v7_cortex::{CortexV7, CortexV7Config};
