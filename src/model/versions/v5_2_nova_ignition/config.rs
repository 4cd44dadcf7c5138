//! Configuration of the v5.2 model: the preset's `model: Nova(...)`.

#[derive(Clone, Debug, PartialEq)]
pub struct NovaConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    /// GEGLU hidden width H (W_up is [2H × d])
    pub d_ff: usize,
    /// Dropout probability p (embedding, attention probabilities, FFN output), training only.
    pub dropout: f32,
}
