//! Configuration of the v6 model: the preset's `model: Supernova(...)`.

#[derive(Clone, Debug, PartialEq)]
pub struct SupernovaConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    /// SwiGLU hidden width H (the reference's d_model·d_ffn_mult)
    pub d_ff: usize,
    pub d_reason: usize,
    /// scales of the bank, offsets 1, 2, …, 2^(n_scales−1)
    pub n_scales: usize,
    pub n_slots: usize,
    pub d_planner: usize,
    /// Planner summary = mean over the whole window, as the reference (D6; not
    /// causal, decoding re-runs the window). Default false: causal running mean.
    pub reference_compat: bool,
}

impl Default for SupernovaConfig {
    /// The full-size model of spec §7.2 (4 141 862 parameters), with the D6 fix.
    fn default() -> Self {
        SupernovaConfig {
            vocab: 4096,
            d_model: 192,
            n_layers: 6,
            d_ff: 384,
            d_reason: 64,
            n_scales: 2,
            n_slots: 8,
            d_planner: 32,
            reference_compat: false,
        }
    }
}
