//! What every version's config provides. A preset's `model:` section is one of
//! these structs (see [`ModelSpec`](super::ModelSpec)), and the model is built
//! from that same struct.

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
    /// Why the hidden state at position p depends on tokens after p, if it
    /// does (the reference's non-causal variants); such a model cannot train
    /// with FSP, whose targets are those later tokens.
    fn sees_later_tokens(&self) -> Option<&'static str> {
        None
    }
    /// Parameters of the model this config describes.
    fn num_params(&self) -> usize {
        self.build(1).num_params()
    }
}

/// The first of `sizes` that is zero, as an error.
pub fn positive(sizes: &[(&'static str, usize)]) -> Result<(), Invalid> {
    match sizes.iter().find(|(_, v)| *v == 0) {
        Some((f, _)) => Err((f, "0; expected a positive size".into())),
        None => Ok(()),
    }
}
