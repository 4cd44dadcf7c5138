//! A model trained with the FSP auxiliary loss (spec §15): any version, plus
//! the training-only tensor `fsp_proj.weight` \[d × d\].
//!
//! [`with_fsp`] wraps a built model. The wrapper's [`Layout`] is the model's
//! with `fsp_proj.weight` appended at the end, so the optimiser (same AdamW
//! and weight decay), the global-norm clip, checkpoints (saved under that
//! name, as the reference does) and resume handle it like any parameter. It
//! is *not* counted in [`LanguageModel::num_params`] (the model's count), and
//! generation and evaluation never read it: `forward`, `loss` and the
//! decoders are the model's own.
//!
//! In `loss_and_grad` the wrapper puts an [`FspState`] in the workspace; the
//! version's head pass ([`head_train`](super::blocks::head::head_train))
//! hands it to [`fsp_train`](super::blocks::fsp::fsp_train) with the final
//! hidden states and head matrix, which adds α·FSP's
//! gradients and records the FSP value ([`fsp_value`]). The returned loss
//! stays the plain CE (what is logged and compared with validation).
//!
//! Every other [`LanguageModel`] method is the model's: a method added to the
//! trait must be forwarded here too.

use super::blocks::fsp::{FspConfig, FspState};
use super::lm::{Decode, LanguageModel, MemoryDims, Model, TernaryShare, Workspace};
use super::params::Layout;
use crate::precision::Precision;
use crate::rng::Rng;
use std::ops::Range;
use std::sync::Arc;

/// Name of the FSP projection in layouts and checkpoints (the reference's key).
pub const FSP_PROJ: &str = "fsp_proj.weight";

/// A model's one-line label with its FSP head (the head's own size is listed
/// apart, as training-only parameters).
pub fn label(inner: &str, c: &FspConfig) -> String {
    format!("{inner} + FSP (α {}, τ {}, stride {}, pos_weight {})", c.weight, c.horizon, c.stride, c.pos_weight)
}

/// `model` trained with FSP `cfg`.
pub fn with_fsp(model: Model, cfg: FspConfig) -> Model {
    let d = model.hidden_dim();
    let mut layout = model.layout().clone();
    let proj = layout.add(FSP_PROJ, &[d, d]);
    Arc::new(WithFsp { inner: model, layout, proj, cfg, formula: formula_with_fsp })
}

/// The FSP value of the last `loss_and_grad` on `ws` (None without FSP).
pub fn fsp_value(ws: &Workspace) -> Option<f64> {
    ws.fsp.as_ref().map(|f| f.loss)
}

fn formula_with_fsp(inner: &'static str) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    // one string per version, made once
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
    let mut m = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    m.entry(inner).or_insert_with(|| Box::leak(format!("{inner} + 6·n·(d² + V·d)/T (FSP head, n positions)").into_boxed_str()))
}

#[derive(Debug)]
struct WithFsp {
    inner: Model,
    layout: Layout,
    proj: Range<usize>,
    cfg: FspConfig,
    formula: fn(&'static str) -> &'static str,
}

impl WithFsp {
    /// The model's own parameters (the decoders never see `fsp_proj`).
    fn own<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        &params[..self.proj.start]
    }
}

impl LanguageModel for WithFsp {
    fn version(&self) -> &'static str {
        self.inner.version()
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn vocab(&self) -> usize {
        self.inner.vocab()
    }
    fn num_params(&self) -> usize {
        self.inner.num_params()
    }
    fn training_only_params(&self) -> usize {
        self.proj.len()
    }
    fn hidden_dim(&self) -> usize {
        self.inner.hidden_dim()
    }
    /// The model's initialisation, then W_f ~ N(0, 0.02²) (spec §15.4) from a
    /// stream of its own, so the model's weights are those of a run without FSP.
    fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut p = self.inner.init_params(seed);
        let mut rng = Rng::new(seed ^ 0xF5F5_F5F5_0000_0001);
        p.extend((0..self.proj.len()).map(|_| rng.normal() * 0.02));
        p
    }
    fn tied_aliases(&self) -> Vec<(&'static str, &'static str)> {
        self.inner.tied_aliases()
    }
    fn is_buffer(&self, name: &str) -> bool {
        self.inner.is_buffer(name)
    }
    fn forward(&self, ws: &mut Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        self.inner.forward(ws, self.own(params), tokens, b, t)
    }
    fn loss(&self, ws: &mut Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        self.inner.loss(ws, self.own(params), x, y, b, t)
    }
    fn loss_and_grad(&self, ws: &mut Workspace, params: &[f32], grads: &mut [f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        match &mut ws.fsp {
            Some(f) if f.proj == self.proj && f.cfg == self.cfg => f.loss = 0.0,
            slot => *slot = Some(FspState::new(self.cfg, self.proj.clone())),
        }
        self.inner.loss_and_grad(ws, params, grads, x, y, b, t)
    }
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        self.inner.decoder(self.own(params))
    }
    fn decoder_lowp<'a>(&'a self, params: &[f32], p: Precision) -> Option<Box<dyn Decode + 'a>> {
        self.inner.decoder_lowp(self.own(params), p)
    }
    /// The model's count plus the FSP head: n·(d² + V·d) multiply-adds per
    /// window forward, ×3 with the backward, spread over the T tokens.
    fn flops_per_token(&self, t: usize) -> f64 {
        let (d, v) = (self.hidden_dim() as f64, self.vocab() as f64);
        let n = self.cfg.n_positions(t) as f64;
        self.inner.flops_per_token(t) + 6.0 * n * (d * d + v * d) / t.max(1) as f64
    }
    fn flop_formula(&self) -> &'static str {
        (self.formula)(self.inner.flop_formula())
    }
    fn ternary_shares(&self, params: &[f32]) -> Vec<TernaryShare> {
        self.inner.ternary_shares(self.own(params))
    }
    fn memory_dims(&self) -> Option<MemoryDims> {
        self.inner.memory_dims()
    }
    fn has_conv_taps(&self) -> bool {
        self.inner.has_conv_taps()
    }
    fn conv_taps(&self, params: &[f32]) -> Vec<(usize, usize, Vec<f32>)> {
        self.inner.conv_taps(self.own(params))
    }
    fn receptive_field(&self) -> Option<usize> {
        self.inner.receptive_field()
    }
    fn describe(&self) -> String {
        label(&self.inner.describe(), &self.cfg)
    }
}
