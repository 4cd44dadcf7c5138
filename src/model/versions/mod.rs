//! One folder per model version: its config (the preset's `model:` section),
//! the model (the `LanguageModel` impl), its workspace and its incremental decoder.

pub mod v4_bolt;
pub mod v5_2_nova_ignition;
pub mod v5_thunderbolt;
pub mod v6_supernova;
pub mod v7_1_v7_2_cortex;
pub mod v7_cortex;
