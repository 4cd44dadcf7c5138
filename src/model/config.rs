//! What every version's config provides. A preset's `model:` section is one of
//! these structs (see [`ModelSpec`](super::ModelSpec)), and the model is built
//! from that same struct.

use super::footprint::{Count, Footprint};
use super::lm::Model;

/// A rejected value: the preset field it came from and why.
pub type Invalid = (&'static str, String);

pub trait ModelConfig {
    fn vocab(&self) -> usize;
    /// Sizes and shape rules (the vocabulary range is the preset's to check).
    /// The field named in an error is located in the preset text.
    fn validate(&self) -> Result<(), Invalid>;
    /// The model of a valid config; `seq_len` is the training window.
    fn build(&self, seq_len: usize) -> Model;
    /// Short architecture label for listings (the built model's `describe`).
    fn describe(&self) -> String;
    /// Sizes in f32 elements at `batch` windows of `seq` tokens, from
    /// arithmetic on the config alone (see [`footprint`](super::footprint)).
    fn footprint(&self, batch: usize, seq: usize) -> Footprint;
    /// Parameters of the model this config describes at training window
    /// `seq_len` (a learned position table grows with it), without building
    /// it; `None` if the count overflows.
    fn param_count(&self, seq_len: usize) -> Option<u64> {
        self.footprint(1, seq_len).params.to_u64()
    }
    /// Why the hidden state at position p depends on tokens after p, if it
    /// does (the reference's non-causal variants); such a model cannot train
    /// with FSP, whose targets are those later tokens.
    fn sees_later_tokens(&self) -> Option<&'static str> {
        None
    }
}

/// Parameters of `n_layers` equal blocks of `per_layer` plus `rest`.
pub fn layered(n_layers: usize, per_layer: Count, rest: Count) -> Count {
    per_layer * n_layers + rest
}

/// The first of `sizes` that is zero, as an error.
pub fn positive(sizes: &[(&'static str, usize)]) -> Result<(), Invalid> {
    match sizes.iter().find(|(_, v)| *v == 0) {
        Some((f, _)) => Err((f, "0; expected a positive size".into())),
        None => Ok(()),
    }
}
