//! Configuration of the v5 model: the preset's `model: Thunderbolt(...)`.

#[derive(Clone, Debug, PartialEq)]
pub struct ThunderboltConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    /// GroupNorm groups (reference `n_heads`); must divide d_model.
    pub groups: usize,
    /// FFN hidden width H (reference `d_ffn`).
    pub d_ff: usize,
    /// GroupNorm statistics over the whole window, as the reference (D4): not causal.
    pub reference_compat: bool,
}

impl ThunderboltConfig {
    /// The reference default: V 8192, d 384, 18 layers, 8 groups of 48, FFN 1152.
    pub fn full_size() -> Self {
        ThunderboltConfig { vocab: 8192, d_model: 384, n_layers: 18, groups: 8, d_ff: 1152, reference_compat: false }
    }
}
