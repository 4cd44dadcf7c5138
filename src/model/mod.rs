//! The models.
//!
//! * `blocks/`: the building blocks (norms, conv mixer, Hebbian memory,
//!   attention, FFNs, BitLinear, heads, recurrences, …), one file each with
//!   forward and backward side by side; the backward convention is stated once
//!   in [`blocks`].
//! * `versions/<v>/`: one folder per model version, named after it
//!   (`v5_2_nova_ignition` is v5.2; `v7_1_v7_2_cortex` holds the one model
//!   behind v7.1 and v7.2). Each has `config.rs` (the preset's `model:`
//!   section, the struct the model is built from), `model.rs` (the model: its
//!   parameter layout and the [`LanguageModel`] impl), `workspace.rs` (its
//!   activations) and `decode.rs` (its incremental [`Decode`]r, always called
//!   `Decoder`).
//! * Infrastructure: [`LanguageModel`], [`Decode`] and [`Workspace`] (`lm.rs`),
//!   the flat parameter [`Layout`] (`params.rs`), the [`ModelConfig`] trait
//!   (`config.rs`) and preset → model (`registry.rs`).
//!
//! # Adding a model version
//!
//! 1. Make a folder `versions/vN_name/` with
//!    * `config.rs`: `pub struct NameConfig` deriving `Serialize`,
//!      `Deserialize` with `#[serde(deny_unknown_fields)]` (its fields are the
//!      preset's `model: Name(...)` fields), implementing [`ModelConfig`]:
//!      `vocab`, `validate` (sizes via [`config::positive`], shape rules as
//!      `(field, message)`), `build(seq_len)` → `Arc::new(Name::new(..))`;
//!    * `model.rs`: `pub struct Name` with `new(cfg)` laying out the parameters
//!      under the reference `state_dict` names, and `impl LanguageModel for
//!      Name` holding the model: `init_params`, `forward`, `loss`,
//!      `loss_and_grad` (forward, then the blocks' backwards in reverse, see
//!      the convention in [`blocks`]), `decoder`, the FLOP count and labels;
//!    * `workspace.rs`: the activations struct (`Default`, grown by an
//!      `ensure(b, t)`), fetched with [`Workspace::parts`];
//!    * `decode.rs`: `pub struct Decoder` with a `step(token)` and
//!      `impl_decode!(Decoder {})` (or, without a streaming form, return a
//!      [`WindowDecoder`] from `LanguageModel::decoder`);
//!    * `mod.rs`: `mod config; mod decode; mod model; mod workspace;` and the
//!      `pub use` of what tests and callers need.
//! 2. Register it with one line in the list in `versions/mod.rs`:
//!    `vN_name => Name(NameConfig),`. That declares the module and the
//!    [`ModelSpec`] variant; presets can then say `model: Name(...)`, and
//!    validation, building, listings and training dispatch through the trait.
//! 3. Optionally, a preset file under `presets/` (and a line in
//!    `preset::BUILTIN` to build it into the binary), and a root re-export
//!    below for convenience.

pub mod blocks;
pub mod config;
pub mod footprint;
pub mod fsp;
pub mod lm;
pub mod params;
pub mod registry;
pub mod versions;

pub use config::ModelConfig;
pub use lm::{Decode, LanguageModel, MemoryDims, MemoryKind, Model, TernaryShare, WindowDecoder, Workspace};
pub use params::{Layout, TensorInfo};
pub use versions::cpuflow::{CpuFlow, CpuFlowConfig, RamConfig};
pub use versions::v10_fsp::{GptFsp, GptFspConfig};
pub use versions::v4_bolt::{Bolt, BoltConfig};
pub use versions::v5_2_nova_ignition::{Nova, NovaConfig};
pub use versions::v5_thunderbolt::{Thunderbolt, ThunderboltConfig};
pub use versions::v6_supernova::{Supernova, SupernovaConfig};
pub use versions::v7_1_v7_2_cortex::{Cortex, CortexConfig, MemoryConfig};
pub use versions::v7_cortex::{CortexV7, CortexV7Config};
pub use versions::ModelSpec;
