//! The interface every FlashLM version implements, so the trainer, sampler,
//! evaluator, benchmark and TUI work with any of them.
//!
//! A model is a *definition* (config, parameter layout, offsets); its
//! parameters live in one flat `Vec<f32>` owned by the caller, gradients and
//! AdamW moments in buffers of the same layout. Activations live in a
//! [`Workspace`] that each model fills with its own scratch type.

use super::blocks::fsp::FspState;
use super::params::Layout;
use std::any::Any;
use std::sync::Arc;

/// A shared, immutable model definition.
pub type Model = Arc<dyn LanguageModel>;

/// Share of one ternary matrix's quantised weights at −1, 0 and +1.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TernaryShare {
    pub name: String,
    pub neg: f32,
    pub zero: f32,
    pub pos: f32,
}

/// Weighted mean of the shares over all matrices, as "−1 a % · 0 b % · +1 c %".
pub fn ternary_summary(shares: &[TernaryShare]) -> String {
    let n = shares.len().max(1) as f32;
    let (neg, zero, pos) = shares.iter().fold((0.0, 0.0, 0.0), |(a, b, c), s| (a + s.neg / n, b + s.zero / n, c + s.pos / n));
    format!("−1 {:.1} % · 0 {:.1} % · +1 {:.1} % (mean of {} matrices)", 100.0 * neg, 100.0 * zero, 100.0 * pos, shares.len())
}

/// What a model's memory heatmap shows for each layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// v7.2's Hebbian matrix M \[d_mem × d_mem\] (row = key dimension).
    Hebbian,
    /// CPUFlow v5-LN's normalised running state n/δ: k channels as √k × √k.
    RunningState,
    /// CPUFlow v9.7's committed slot states S \[slots × d_v\] (row = slot).
    Slots,
}

impl MemoryKind {
    /// Names of the row and column axes.
    pub fn axes(self) -> (&'static str, &'static str) {
        match self {
            MemoryKind::Hebbian => ("key", "value"),
            MemoryKind::RunningState => ("row", "col"),
            MemoryKind::Slots => ("slot", "value"),
        }
    }

    /// Pool rows by the entry of largest magnitude rather than the mean: the
    /// rows of a slot memory are unrelated, and a mean of many washes out.
    pub fn max_abs_pool(self) -> bool {
        self == MemoryKind::Slots
    }
}

/// Shape of the per-layer memory matrices, for the TUI heatmap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryDims {
    pub n_layers: usize,
    pub rows: usize,
    pub cols: usize,
    pub kind: MemoryKind,
}

impl MemoryDims {
    /// Short label for the heatmap's title ("slots 512×64"); None for the
    /// Hebbian matrix, the heatmap's original subject.
    pub fn tag(&self) -> Option<String> {
        match self.kind {
            MemoryKind::Hebbian => None,
            MemoryKind::RunningState => Some(format!("state n/δ {}×{}", self.rows, self.cols)),
            MemoryKind::Slots => Some(format!("slots {}×{}", self.rows, self.cols)),
        }
    }
}

pub trait LanguageModel: Send + Sync + std::fmt::Debug {
    /// Short label such as "v4" or "v7.2".
    fn version(&self) -> &'static str;
    /// Reference parameter names, shapes and offsets in the flat buffer.
    fn layout(&self) -> &Layout;
    fn vocab(&self) -> usize;
    /// The model's parameters: its layout, less any training-only tensor.
    fn num_params(&self) -> usize {
        self.layout().total - self.training_only_params()
    }
    /// Parameters at the end of the layout that only training uses (the FSP
    /// head's `fsp_proj.weight`, `model::fsp`); 0 for a plain model.
    fn training_only_params(&self) -> usize {
        0
    }
    /// Width d of the final hidden states the output head reads: by default
    /// the columns of the first \[V × d\] tensor of the layout (the embedding).
    fn hidden_dim(&self) -> usize {
        let v = self.vocab();
        self.layout().tensors.iter().find(|t| t.shape.len() == 2 && t.shape[0] == v).map_or(0, |t| t.shape[1])
    }
    /// Fresh parameters per the spec's initialisation section.
    fn init_params(&self, seed: u64) -> Vec<f32>;
    /// (alias, canonical) names holding the same tensor in reference state dicts.
    fn tied_aliases(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
    /// Reference state-dict entries that are buffers, not parameters (skipped on import).
    fn is_buffer(&self, _name: &str) -> bool {
        false
    }
    /// Full forward over `tokens` [b × t] in evaluation mode (no dropout);
    /// leaves the logits [b·t × V] in `ws.logits`.
    fn forward(&self, ws: &mut Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize);
    /// Evaluation loss: mean next-token CE of the main head over all b·t
    /// positions (y_t = x_{t+1}); per-position losses are left in `ws.losses`.
    fn loss(&self, ws: &mut Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64;
    /// Training step: forward + backward of the training objective (dropout on
    /// where the version has it, seeded by `ws.seed`), gradients *added* into
    /// `grads`. Returns the main-head mean CE (what is logged and compared with
    /// validation); a non-finite value means the gradient must not be used.
    fn loss_and_grad(&self, ws: &mut Workspace, params: &[f32], grads: &mut [f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64;
    /// Incremental decoder: one token in, next-token logits out.
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a>;
    /// Decoder whose matrix products stream bf16 or block-int8 copies of the
    /// weights (fewer bytes per token; f32 arithmetic). `None`: this model
    /// decodes in fp32 only (or `p` is Fp32).
    fn decoder_lowp<'a>(&'a self, _params: &[f32], _p: crate::precision::Precision) -> Option<Box<dyn Decode + 'a>> {
        None
    }
    /// Training FLOPs per token at window `t` (6·matmul params + mixer terms).
    fn flops_per_token(&self, t: usize) -> f64;
    /// The formula `flops_per_token` evaluates, as `bench` prints it.
    fn flop_formula(&self) -> &'static str;
    /// Share of −1/0/+1 per ternary matrix (empty for float models).
    fn ternary_shares(&self, _params: &[f32]) -> Vec<TernaryShare> {
        Vec::new()
    }
    /// Shape of the memory [`Decode::memory`] shows, if the model has one.
    fn memory_dims(&self) -> Option<MemoryDims> {
        None
    }
    /// Whether `conv_taps` has anything to show.
    fn has_conv_taps(&self) -> bool {
        false
    }
    /// Per-layer depthwise conv taps [d × k] as (d, k, taps), if the model has convs.
    fn conv_taps(&self, _params: &[f32]) -> Vec<(usize, usize, Vec<f32>)> {
        Vec::new()
    }
    /// Receptive field of the token mixers in tokens, if finite (conv stacks).
    fn receptive_field(&self) -> Option<usize> {
        None
    }
    /// One-line architecture label for listings.
    fn describe(&self) -> String;
}

/// The `forward`, `loss` and `loss_and_grad` of a model with a tied head:
/// its `forward_hidden` fills the workspace's `hf`, the head is the embedding
/// (`self.embed`), and `backward` takes the gradient from `hf` on. Models
/// with dropout (`seeded`) pass the training seed to both passes (None when
/// evaluating).
macro_rules! tied_head_methods {
    ($ws:ty) => {
        fn forward(&self, ws: &mut $crate::model::lm::Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize) {
            let (w, logits, _) = ws.parts::<$ws>();
            self.forward_hidden(w, params, tokens, b, t);
            $crate::model::lm::tied_head_methods!(@logits self, w, logits, params, b, t);
        }
        fn loss(&self, ws: &mut $crate::model::lm::Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
            let (w, _, losses) = ws.parts::<$ws>();
            self.forward_hidden(w, params, x, b, t);
            $crate::model::lm::tied_head_methods!(@loss self, w, losses, params, y, b, t)
        }
        fn loss_and_grad(
            &self,
            ws: &mut $crate::model::lm::Workspace,
            params: &[f32],
            grads: &mut [f32],
            x: &[u32],
            y: &[u32],
            b: usize,
            t: usize,
        ) -> f64 {
            let (w, losses, fsp) = ws.train_parts::<$ws>();
            self.forward_hidden(w, params, x, b, t);
            let loss = $crate::model::lm::tied_head_methods!(@train self, w, losses, fsp, grads, params, y, b, t);
            if loss.is_finite() {
                self.backward(w, params, grads, x, b, t);
            }
            loss
        }
    };
    ($ws:ty, seeded) => {
        fn forward(&self, ws: &mut $crate::model::lm::Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize) {
            let (w, logits, _) = ws.parts::<$ws>();
            self.forward_hidden(w, params, tokens, b, t, None);
            $crate::model::lm::tied_head_methods!(@logits self, w, logits, params, b, t);
        }
        fn loss(&self, ws: &mut $crate::model::lm::Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
            let (w, _, losses) = ws.parts::<$ws>();
            self.forward_hidden(w, params, x, b, t, None);
            $crate::model::lm::tied_head_methods!(@loss self, w, losses, params, y, b, t)
        }
        fn loss_and_grad(
            &self,
            ws: &mut $crate::model::lm::Workspace,
            params: &[f32],
            grads: &mut [f32],
            x: &[u32],
            y: &[u32],
            b: usize,
            t: usize,
        ) -> f64 {
            let seed = Some(ws.seed);
            let (w, losses, fsp) = ws.train_parts::<$ws>();
            self.forward_hidden(w, params, x, b, t, seed);
            let loss = $crate::model::lm::tied_head_methods!(@train self, w, losses, fsp, grads, params, y, b, t);
            if loss.is_finite() {
                self.backward(w, params, grads, x, b, t, seed);
            }
            loss
        }
    };
    (@logits $s:ident, $w:ident, $logits:ident, $params:ident, $b:ident, $t:ident) => {{
        let (d, v) = ($s.cfg.d_model, $s.cfg.vocab);
        $crate::model::blocks::head::head_logits($logits, &$w.hf[..$b * $t * d], &$params[$s.embed.clone()], d, v)
    }};
    (@loss $s:ident, $w:ident, $losses:ident, $params:ident, $y:ident, $b:ident, $t:ident) => {{
        let (d, v) = ($s.cfg.d_model, $s.cfg.vocab);
        $crate::model::blocks::head::head_loss($losses, &mut $w.head_buf, &$w.hf[..$b * $t * d], &$params[$s.embed.clone()], $y, d, v)
    }};
    (@train $s:ident, $w:ident, $losses:ident, $fsp:ident, $grads:ident, $params:ident, $y:ident, $b:ident, $t:ident) => {{
        let (d, v) = ($s.cfg.d_model, $s.cfg.vocab);
        let head = $crate::model::blocks::head::TrainHead { matrix: &$params[$s.embed.clone()], grad: &$s.embed };
        $crate::model::blocks::head::head_train(
            $losses, &mut $w.tmp, &mut $w.head_buf, $grads, head, $fsp, $params, &$w.hf, $y, $b, $t, d, v,
        )
    }};
}
pub(crate) use tied_head_methods;

/// `impl Decode` for an incremental decoder with an inherent `step` (marked
/// `#[inline(always)]`, see [`run`](crate::kernels::dispatch::run)) and the
/// fields `logits`, `pos` and `parallel`; extra trait items go in the braces.
macro_rules! impl_decode {
    ($ty:ident { $($extra:tt)* }) => {
        impl $crate::model::lm::Decode for $ty<'_> {
            fn step(&mut self, token: u32) {
                // the inherent step is #[inline(always)]: it is compiled into
                // the widest copy of `run` this CPU has
                $crate::kernels::dispatch::run(#[inline(always)] || $ty::step(self, token))
            }
            fn logits(&self) -> &[f32] {
                &self.logits
            }
            fn pos(&self) -> usize {
                self.pos
            }
            fn set_parallel(&mut self, parallel: bool) {
                self.parallel = parallel;
            }
            $($extra)*
        }
    };
}
pub(crate) use impl_decode;

/// Streaming generation state.
pub trait Decode {
    /// Feeds one token; `logits()` then holds the next-token logits.
    fn step(&mut self, token: u32);
    fn logits(&self) -> &[f32];
    /// Tokens fed so far.
    fn pos(&self) -> usize;
    /// Split large products over the current rayon pool (only from inside one).
    fn set_parallel(&mut self, parallel: bool);
    /// Current memory matrices per layer, row-major \[rows × cols\] as
    /// [`LanguageModel::memory_dims`] says, if any.
    fn memory(&self) -> Vec<&[f32]> {
        Vec::new()
    }
}

/// Activations and scratch for one model, reused across steps (llm.c's
/// ActivationTensors). Models keep their own scratch type inside.
#[derive(Default)]
pub struct Workspace {
    /// [b·t × V] logits, filled by `forward` only.
    pub logits: Vec<f32>,
    /// Per-position main-head CE of the last `loss`/`loss_and_grad`.
    pub losses: Vec<f32>,
    /// Seed for dropout masks in `loss_and_grad` (the trainer sets it per step).
    pub seed: u64,
    /// The training-only FSP head (spec §15), set by a model built with FSP
    /// on (`model::fsp`); versions hand it to the head with [`Workspace::train_parts`].
    pub fsp: Option<FspState>,
    inner: Option<Box<dyn Any + Send>>,
}

impl Workspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// The model's scratch of type `T` (created on first use, replaced if a
    /// different model used this workspace before), with `logits` and `losses`.
    pub fn parts<T: Default + Send + 'static>(&mut self) -> (&mut T, &mut Vec<f32>, &mut Vec<f32>) {
        if !self.inner.as_ref().is_some_and(|b| b.is::<T>()) {
            self.inner = Some(Box::new(T::default()));
        }
        let inner = self.inner.as_mut().and_then(|b| b.downcast_mut::<T>()).expect("inner workspace of type T");
        (inner, &mut self.logits, &mut self.losses)
    }

    /// [`Workspace::parts`] for `loss_and_grad`: the scratch, the per-row
    /// losses and the FSP head if this step has one (for `head_train`).
    pub fn train_parts<T: Default + Send + 'static>(&mut self) -> (&mut T, &mut Vec<f32>, Option<&mut FspState>) {
        let fsp = self.fsp.as_mut();
        if !self.inner.as_ref().is_some_and(|b| b.is::<T>()) {
            self.inner = Some(Box::new(T::default()));
        }
        let inner = self.inner.as_mut().and_then(|b| b.downcast_mut::<T>()).expect("inner workspace of type T");
        (inner, &mut self.losses, fsp)
    }
}

/// A decoder for models with no streaming form (e.g. the `reference_compat`
/// variants whose normalisation looks at the whole window): every token re-runs
/// the full forward over the last `window` tokens, like the reference generators.
pub struct WindowDecoder<'a> {
    model: &'a dyn LanguageModel,
    params: &'a [f32],
    window: usize,
    history: Vec<u32>,
    ws: Workspace,
    logits: Vec<f32>,
}

impl<'a> WindowDecoder<'a> {
    pub fn new(model: &'a dyn LanguageModel, params: &'a [f32], window: usize) -> Self {
        WindowDecoder { model, params, window: window.max(1), history: Vec::new(), ws: Workspace::new(), logits: vec![0.0; model.vocab()] }
    }
}

impl Decode for WindowDecoder<'_> {
    fn step(&mut self, token: u32) {
        self.history.push(token);
        let start = self.history.len().saturating_sub(self.window);
        let ctx = &self.history[start..];
        let t = ctx.len();
        self.model.forward(&mut self.ws, self.params, ctx, 1, t);
        let v = self.model.vocab();
        self.logits.copy_from_slice(&self.ws.logits[(t - 1) * v..t * v]);
    }
    fn logits(&self) -> &[f32] {
        &self.logits
    }
    fn pos(&self) -> usize {
        self.history.len()
    }
    fn set_parallel(&mut self, _parallel: bool) {}
}
