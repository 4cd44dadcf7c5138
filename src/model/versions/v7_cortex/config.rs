//! Configuration of the v7 model: the preset's `model: CortexV7(...)`.

#[derive(Clone, Debug, PartialEq)]
pub struct CortexV7Config {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub d_ff: usize,
    /// (after block counted from 1, loss weight, confidence threshold)
    pub exits: Vec<(usize, f32, f32)>,
    pub consistency_weight: f32,
    pub diversity_weight: f32,
}

impl CortexV7Config {
    /// The spec's full-size model (§8.2): 7 118 082 parameters.
    pub fn full_size() -> Self {
        CortexV7Config {
            vocab: 4096,
            d_model: 256,
            n_layers: 6,
            d_ff: 512,
            exits: vec![(2, 0.1, 0.55), (4, 0.3, 0.35)],
            consistency_weight: 0.5,
            diversity_weight: 0.1,
        }
    }

    /// Sizes positive, every exit after a block 1..=n_layers.
    pub fn validate(&self) -> Result<(), String> {
        if self.vocab == 0 || self.d_model == 0 || self.n_layers == 0 || self.d_ff == 0 {
            return Err(format!("v7: sizes must be positive: {self:?}"));
        }
        for &(after, w, thr) in &self.exits {
            if after == 0 || after > self.n_layers {
                return Err(format!("v7: exit after block {after}; expected 1..={}", self.n_layers));
            }
            if !w.is_finite() || !thr.is_finite() {
                return Err(format!("v7: exit ({after}, {w}, {thr}) must be finite"));
            }
        }
        Ok(())
    }
}
