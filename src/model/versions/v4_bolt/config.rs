//! Configuration of the v4 model: the preset's `model: Bolt(...)`.

#[derive(Clone, Debug, PartialEq)]
pub struct BoltConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    /// SwiGLU hidden width H (reference `glu_hidden`)
    pub d_ff: usize,
    pub kernel_size: usize,
}
