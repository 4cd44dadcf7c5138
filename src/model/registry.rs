//! Preset → model. The versions a preset can name are registered in
//! `versions/mod.rs`, one line each, through `register_versions!`: the line
//! declares the version's folder and its [`ModelSpec`] variant, the name the
//! preset writes (`model: Bolt(...)`) wrapping the version's config struct,
//! which holds that section's fields and builds the model.

use super::lm::Model;
use super::ModelSpec;

/// Declares each listed version's module and [`ModelSpec`], one newtype
/// variant per version, with its dispatch to [`ModelConfig`](super::ModelConfig).
macro_rules! register_versions {
    ($($(#[$doc:meta])* $module:ident => $variant:ident($config:ident),)*) => {
        $(pub mod $module;)*

        /// A preset's `model:` section: the version, with that version's own
        /// config. Written without the newtype's inner parentheses
        /// (`Cortex(vocab: 4096, ...)`): presets are read and written with
        /// RON's `unwrap_variant_newtypes` extension.
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum ModelSpec {
            $($(#[$doc])* $variant($module::$config),)*
        }

        impl ModelSpec {
            /// The version's config, through the trait every config implements.
            pub fn config(&self) -> &dyn $crate::model::ModelConfig {
                match self {
                    $(ModelSpec::$variant(c) => c,)*
                }
            }
        }
    };
}
pub(crate) use register_versions;

/// Builds the model of a validated spec; `seq_len` is the training window.
pub fn build(spec: &ModelSpec, seq_len: usize) -> Model {
    spec.config().build(seq_len)
}
