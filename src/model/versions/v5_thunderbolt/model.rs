//! v5 "Thunderbolt" (spec §5): ternary gated linear recurrence with token shift.
//!
//!   h = E\[x\]
//!   block l (lower bound b_l = 0.9·l/max(L−1, 1)):
//!     a = TS(LN₁(h); ω₁)
//!     f = b_l + (1−b_l)·σ(Q(W_f)·a + β_f);  v = Q(W_v)·a;  o = σ(Q(W_o)·a)
//!     c_t = f_t ⊙ c_{t−1} + (1−f_t) ⊙ v_t;  h += Q(W_proj)·GN(o ⊙ c)
//!     h += Q(W_down)·ReLU²(Q(W_up)·TS(LN₂(h); ω₂))
//!   z = E·LN_out(h)   (tied head)
//!
//! Q is BIT-B (one scale per matrix), straight-through. GroupNorm pools each
//! group over its d/G channels per position (fix D4) unless `reference_compat`,
//! which pools over the whole window as the reference did (not causal; the
//! golden fixture was generated that way).
//!
//! # Memory (activations kept for backward)
//!
//! Per layer only what is expensive to rebuild is kept: the block input h_l,
//! the three recurrence projections z [rows × 3d] and the FFN pre-activation
//! u [rows × H] (both matmul outputs), and h after the mixer [rows × d]. LayerNorm
//! statistics, the token shifts, the scan states c, the GroupNorm output and the
//! ReLU² activation are recomputed in backward (all O(rows·d)). See
//! [`Thunderbolt::workspace_floats`]: at micro-batch 64×256 with the full-size
//! config (d 384, L 18, H 1152, V 8192) the workspace is 981.1 M floats
//! ≈ 3.92 GB (3.65 GiB); with parameters, gradients and both AdamW moments
//! (4 × 119 MB) 4.40 GB, well inside 8 GB. `loss`/`forward` use the same
//! workspace (the trainer shares one between training and evaluation).

use super::config::ThunderboltConfig;
use super::decode::Decoder;
use super::workspace::ThunderboltWs;
use crate::kernels::{matmul, MatRef};
use crate::model::blocks::bitlinear::{quantize, ternary_share, BitVariant};
use crate::model::blocks::embedding::{embedding_backward, embedding_forward};
use crate::model::blocks::groupnorm::{groupnorm_backward, groupnorm_forward};
use crate::model::blocks::head::{head_logits, head_loss, head_train, TrainHead, HEAD_BLOCK};
use crate::model::blocks::layernorm::{layernorm_backward, layernorm_forward};
use crate::model::blocks::recurrence::{recurrence_backward, recurrence_forward};
use crate::model::blocks::relu2_ffn::{relu2_ffn_backward, relu2_ffn_forward, Relu2Grads, Relu2Weights};
use crate::model::blocks::token_shift::{token_shift_backward, token_shift_forward};
use crate::model::lm::{Decode, LanguageModel, TernaryShare, WindowDecoder, Workspace};
use crate::model::params::{carve_mut, Layout};
use crate::rng::Rng;
use std::ops::Range;

/// The v5 training window (spec §5.1). With `reference_compat` the model has no
/// streaming form, so generation re-runs the full forward over the last
/// `TRAIN_WINDOW` tokens (fix D16: the reference generated with 512).
pub const TRAIN_WINDOW: usize = 256;

const BIT: BitVariant = BitVariant::B;

#[derive(Clone, Debug)]
pub(super) struct BlockRanges {
    pub(super) mix1: Range<usize>,
    pub(super) mix2: Range<usize>,
    pub(super) ln1_w: Range<usize>,
    pub(super) ln1_b: Range<usize>,
    pub(super) ln2_w: Range<usize>,
    pub(super) ln2_b: Range<usize>,
    pub(super) f_bias: Range<usize>,
    /// W_f, W_v, W_o, each [d × d], adjacent: one [3d × d] matrix for the matmuls
    pub(super) fvo: Range<usize>,
    pub(super) proj: Range<usize>,
    pub(super) gn_w: Range<usize>,
    pub(super) gn_b: Range<usize>,
    pub(super) up: Range<usize>,
    pub(super) down: Range<usize>,
}

/// The model definition; parameters live in a flat buffer owned by the caller.
#[derive(Clone, Debug)]
pub struct Thunderbolt {
    pub cfg: ThunderboltConfig,
    pub layout: Layout,
    pub(super) embed: Range<usize>,
    pub(super) blocks: Vec<BlockRanges>,
    pub(super) ln_out_w: Range<usize>,
    pub(super) ln_out_b: Range<usize>,
    pub(super) quantize: bool,
}

/// Q(W) of one block's six ternary matrices (or W itself on the float path).
#[derive(Default)]
pub(super) struct BlockWeights {
    /// Q(W_f); Q(W_v); Q(W_o): [3d × d]
    pub(super) fvo: Vec<f32>,
    pub(super) proj: Vec<f32>,
    pub(super) up: Vec<f32>,
    pub(super) down: Vec<f32>,
}

impl Thunderbolt {
    pub fn new(cfg: ThunderboltConfig) -> Self {
        let (v, d, h) = (cfg.vocab, cfg.d_model, cfg.d_ff);
        assert!(cfg.groups > 0 && d % cfg.groups == 0, "groups must divide d_model (checked by preset validation)");
        let mut l = Layout::default();
        let embed = l.add("embed.weight", &[v, d]);
        let mut blocks = Vec::new();
        for i in 0..cfg.n_layers {
            let p = |s: &str| format!("blocks.{i}.{s}");
            let mix1 = l.add(p("mix1"), &[d]);
            let mix2 = l.add(p("mix2"), &[d]);
            let ln1_w = l.add(p("ln1.weight"), &[d]);
            let ln1_b = l.add(p("ln1.bias"), &[d]);
            let ln2_w = l.add(p("ln2.weight"), &[d]);
            let ln2_b = l.add(p("ln2.bias"), &[d]);
            let f_bias = l.add(p("rec.f_bias"), &[d]);
            let wf = l.add(p("rec.W_f.weight"), &[d, d]);
            l.add(p("rec.W_v.weight"), &[d, d]);
            let wo = l.add(p("rec.W_o.weight"), &[d, d]);
            let proj = l.add(p("rec.W_proj.weight"), &[d, d]);
            let gn_w = l.add(p("rec.gn.weight"), &[d]);
            let gn_b = l.add(p("rec.gn.bias"), &[d]);
            let up = l.add(p("ffn_up.weight"), &[h, d]);
            let down = l.add(p("ffn_down.weight"), &[d, h]);
            blocks.push(BlockRanges { mix1, mix2, ln1_w, ln1_b, ln2_w, ln2_b, f_bias, fvo: wf.start..wo.end, proj, gn_w, gn_b, up, down });
        }
        let ln_out_w = l.add("ln_out.weight", &[d]);
        let ln_out_b = l.add("ln_out.bias", &[d]);
        Thunderbolt { cfg, layout: l, embed, blocks, ln_out_w, ln_out_b, quantize: true }
    }

    /// With `false`, the six BitLinear matrices are used as stored, unquantised
    /// (for gradient checks: the STE gradient of the latent W is the exact
    /// gradient w.r.t. Q(W), so the float path is what a finite difference can test).
    pub fn with_quantization(mut self, on: bool) -> Self {
        self.quantize = on;
        self
    }

    /// Number of parameters in the BitLinear matrices.
    pub fn ternary_params(&self) -> usize {
        self.blocks.iter().map(|b| b.fvo.len() + b.proj.len() + b.up.len() + b.down.len()).sum()
    }

    /// b_l = 0.9·l/max(L−1, 1): the reference's `gate_lb` (a Python float, so
    /// computed in f64 and rounded once; 0.9·l/17 at L = 18, 0 and 0.9 at L = 2).
    pub fn gate_lower_bound(&self, l: usize) -> f32 {
        (0.9 * l as f64 / (self.cfg.n_layers.saturating_sub(1).max(1)) as f64) as f32
    }

    /// Positions pooled by one GroupNorm set for a window of `t`.
    fn gn_span(&self, t: usize) -> usize {
        if self.cfg.reference_compat {
            t
        } else {
            1
        }
    }

    /// Fills `q` with Q(W) (or W on the float path) for block `l`; `parallel`
    /// uses the current rayon pool (training), otherwise one thread (the decoder
    /// may run on a sampling thread beside training). Both give the same bits.
    pub(super) fn block_weights(&self, q: &mut BlockWeights, params: &[f32], l: usize, parallel: bool) {
        let (d, h) = (self.cfg.d_model, self.cfg.d_ff);
        let br = &self.blocks[l];
        q.fvo.resize(3 * d * d, 0.0);
        q.proj.resize(d * d, 0.0);
        q.up.resize(h * d, 0.0);
        q.down.resize(d * h, 0.0);
        let w = &params[br.fvo.clone()];
        let jobs: [(&mut [f32], &[f32], usize, usize); 6] = {
            let (f, rest) = q.fvo.split_at_mut(d * d);
            let (v, o) = rest.split_at_mut(d * d);
            [
                (f, &w[..d * d], d, d),
                (v, &w[d * d..2 * d * d], d, d),
                (o, &w[2 * d * d..], d, d),
                (&mut q.proj[..], &params[br.proj.clone()], d, d),
                (&mut q.up[..], &params[br.up.clone()], h, d),
                (&mut q.down[..], &params[br.down.clone()], d, h),
            ]
        };
        for (dst, src, out, inp) in jobs {
            match (self.quantize, parallel) {
                (true, true) => quantize(dst, src, out, inp, BIT),
                (true, false) => quantize_serial_b(dst, src),
                (false, _) => dst.copy_from_slice(src),
            }
        }
    }

    /// Floats the training workspace holds for a (b, t) micro-batch (what
    /// `ThunderboltWs::ensure` allocates), with rows = b·t:
    ///
    ///   rows · [ (L+1)·d             residual stream h_0 … h_L
    ///          + L·(3d + d + H)       per layer: z = [z_f|z_v|z_o], h after the mixer, u
    ///          + 7·d                  scratch: LN out, shifted input, q, c, GN out, dh, tmp
    ///          + max(3d, H)           scratch: ReLU² activation / ∂z / ∂u
    ///          + 2 + 2·G ]            LN mean/rstd, GN mean/rstd (per position at most)
    ///   + min(512, rows)·V            one block of head logits
    ///   + 3d² + d² + 2·H·d            Q(W) of the current block
    ///
    /// Full size at 64×256: 16 384 rows × 59 538 + 4 194 304 + 1 474 560 =
    /// 981 139 456 floats ≈ 3.92 GB (about 2/3 of it the per-layer z and u).
    pub fn workspace_floats(&self, b: usize, t: usize) -> usize {
        let c = &self.cfg;
        let (rows, d, h, l, g) = (b * t, c.d_model, c.d_ff, c.n_layers, c.groups);
        rows * ((l + 1) * d + l * (3 * d + d + h) + 7 * d + (3 * d).max(h) + 2 + 2 * g)
            + HEAD_BLOCK.min(rows) * c.vocab
            + 4 * d * d
            + 2 * h * d
    }

    /// Everything up to the final norm: LN_out(h_L) is left in `ws.an`.
    fn forward_hidden(&self, ws: &mut ThunderboltWs, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        let c = &self.cfg;
        let (d, h, g) = (c.d_model, c.d_ff, c.groups);
        ws.ensure(self, b, t);
        let (rows, span) = (b * t, self.gn_span(t));
        let (n, sets) = (rows * d, rows / span * g);
        let ThunderboltWs { hs, layers, an, a, q, c: cst, gn, mean, rstd, gmean, grstd, big, qw, .. } = ws;
        embedding_forward(&mut hs[0][..n], tokens, &params[self.embed.clone()], d);
        for (li, br) in self.blocks.iter().enumerate() {
            self.block_weights(qw, params, li, true);
            let (before, after) = hs.split_at_mut(li + 1);
            let (x, y) = (&before[li][..n], &mut after[0][..n]);
            let la = &mut layers[li];
            let (an, a) = (&mut an[..n], &mut a[..n]);
            // gated recurrence sub-layer
            layernorm_forward(an, &mut mean[..rows], &mut rstd[..rows], x, &params[br.ln1_w.clone()], &params[br.ln1_b.clone()], d);
            token_shift_forward(a, an, &params[br.mix1.clone()], t, d);
            matmul(&mut la.z[..3 * n], 3 * d, false, MatRef::rows(a, d), MatRef::t(&qw.fvo, d), rows, 3 * d, d);
            recurrence_forward(&mut q[..n], &mut cst[..n], &la.z[..3 * n], &params[br.f_bias.clone()], self.gate_lower_bound(li), t, d);
            let (gw, gb) = (&params[br.gn_w.clone()], &params[br.gn_b.clone()]);
            groupnorm_forward(&mut gn[..n], &mut gmean[..sets], &mut grstd[..sets], &q[..n], gw, gb, d, g, span);
            let h1 = &mut la.h1[..n];
            h1.copy_from_slice(x);
            matmul(h1, d, true, MatRef::rows(&gn[..n], d), MatRef::t(&qw.proj, d), rows, d, d);
            // ReLU² FFN sub-layer
            layernorm_forward(an, &mut mean[..rows], &mut rstd[..rows], h1, &params[br.ln2_w.clone()], &params[br.ln2_b.clone()], d);
            token_shift_forward(a, an, &params[br.mix2.clone()], t, d);
            y.copy_from_slice(h1);
            let w = Relu2Weights { up: &qw.up, down: &qw.down };
            relu2_ffn_forward(y, &mut la.u[..rows * h], &mut big[..rows * h], a, &w, d, h);
        }
        let last = &hs[self.blocks.len()][..n];
        let (lw, lb) = (&params[self.ln_out_w.clone()], &params[self.ln_out_b.clone()]);
        layernorm_forward(&mut an[..n], &mut mean[..rows], &mut rstd[..rows], last, lw, lb, d);
    }

    /// Backward from ∂L/∂LN_out(h_L), left in `ws.a` by the fused head.
    fn backward(&self, ws: &mut ThunderboltWs, params: &[f32], grads: &mut [f32], tokens: &[u32], b: usize, t: usize) {
        let c = &self.cfg;
        let (d, h, g) = (c.d_model, c.d_ff, c.groups);
        let (rows, span) = (b * t, self.gn_span(t));
        let (n, sets) = (rows * d, rows / span * g);
        let ThunderboltWs { hs, layers, an, a, q, c: cst, gn, dh, tmp, mean, rstd, gmean, grstd, big, qw, .. } = ws;
        let (an, a, q, cst, gn, dh, tmp) =
            (&mut an[..n], &mut a[..n], &mut q[..n], &mut cst[..n], &mut gn[..n], &mut dh[..n], &mut tmp[..n]);
        let (mean, rstd, gmean, grstd) = (&mut mean[..rows], &mut rstd[..rows], &mut gmean[..sets], &mut grstd[..sets]);
        {
            let [glw, glb] = carve_mut(grads, &[self.ln_out_w.clone(), self.ln_out_b.clone()]);
            let last = &hs[self.blocks.len()][..n];
            let (lw, lb) = (&params[self.ln_out_w.clone()], &params[self.ln_out_b.clone()]);
            layernorm_forward(an, mean, rstd, last, lw, lb, d);
            dh.fill(0.0);
            layernorm_backward(dh, glw, glb, a, last, lw, mean, rstd, d);
        }
        for (li, br) in self.blocks.iter().enumerate().rev() {
            self.block_weights(qw, params, li, true);
            let x = &hs[li][..n];
            let la = &layers[li];
            let (z, h1, u) = (&la.z[..3 * n], &la.h1[..n], &la.u[..rows * h]);
            let ranges = [
                br.mix1.clone(),
                br.mix2.clone(),
                br.ln1_w.clone(),
                br.ln1_b.clone(),
                br.ln2_w.clone(),
                br.ln2_b.clone(),
                br.f_bias.clone(),
                br.fvo.clone(),
                br.proj.clone(),
                br.gn_w.clone(),
                br.gn_b.clone(),
                br.up.clone(),
                br.down.clone(),
            ];
            let [g_mix1, g_mix2, g_ln1w, g_ln1b, g_ln2w, g_ln2b, g_fbias, g_fvo, g_proj, g_gnw, g_gnb, g_up, g_down] =
                carve_mut(grads, &ranges);

            // ReLU² FFN sub-layer: h_{l+1} = h1 + FFN(TS(LN₂(h1)))
            let (l2w, l2b, mix2) = (&params[br.ln2_w.clone()], &params[br.ln2_b.clone()], &params[br.mix2.clone()]);
            layernorm_forward(an, mean, rstd, h1, l2w, l2b, d);
            token_shift_forward(a, an, mix2, t, d);
            let w = Relu2Weights { up: &qw.up, down: &qw.down };
            relu2_ffn_backward(tmp, Relu2Grads { up: g_up, down: g_down }, dh, a, u, &w, &mut big[..rows * h], d, h);
            token_shift_backward(q, g_mix2, tmp, an, mix2, t, d);
            layernorm_backward(dh, g_ln2w, g_ln2b, q, h1, l2w, mean, rstd, d);

            // recurrence sub-layer: h1 = x + Q(W_proj)·GN(o ⊙ c), inputs rebuilt from z
            let (l1w, l1b, mix1) = (&params[br.ln1_w.clone()], &params[br.ln1_b.clone()], &params[br.mix1.clone()]);
            let (f_bias, lb) = (&params[br.f_bias.clone()], self.gate_lower_bound(li));
            let (gw, gb) = (&params[br.gn_w.clone()], &params[br.gn_b.clone()]);
            layernorm_forward(an, mean, rstd, x, l1w, l1b, d);
            token_shift_forward(a, an, mix1, t, d);
            recurrence_forward(q, cst, z, f_bias, lb, t, d);
            groupnorm_forward(gn, gmean, grstd, q, gw, gb, d, g, span);
            matmul(g_proj, d, true, MatRef::t(dh, d), MatRef::rows(gn, d), d, d, rows);
            matmul(tmp, d, false, MatRef::rows(dh, d), MatRef::rows(&qw.proj, d), rows, d, d);
            groupnorm_backward(gn, g_gnw, g_gnb, tmp, q, gw, gmean, grstd, d, g, span);
            let dz = &mut big[..3 * n];
            recurrence_backward(dz, g_fbias, gn, z, cst, f_bias, lb, t, d);
            matmul(g_fvo, d, true, MatRef::t(dz, 3 * d), MatRef::rows(a, d), 3 * d, d, rows);
            matmul(tmp, d, false, MatRef::rows(dz, 3 * d), MatRef::rows(&qw.fvo, d), rows, d, 3 * d);
            token_shift_backward(q, g_mix1, tmp, an, mix1, t, d);
            layernorm_backward(dh, g_ln1w, g_ln1b, q, x, l1w, mean, rstd, d);
        }
        let [gemb] = carve_mut(grads, std::array::from_ref(&self.embed));
        embedding_backward(gemb, dh, tokens, d);
    }
}

/// BIT-B on one thread, the same arithmetic as `bitlinear::quantize`: α =
/// max(mean|W| (f64 sum), 1e-5), Q = α·clip(round_half_even(W/α), −1, 1).
fn quantize_serial_b(q: &mut [f32], w: &[f32]) {
    let a = ((w.iter().map(|v| v.abs() as f64).sum::<f64>() / w.len().max(1) as f64) as f32).max(1e-5);
    for (q, &w) in q.iter_mut().zip(w) {
        *q = a * (w / a).round_ties_even().clamp(-1.0, 1.0);
    }
}

impl LanguageModel for Thunderbolt {
    fn version(&self) -> &'static str {
        "v5"
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn vocab(&self) -> usize {
        self.cfg.vocab
    }
    /// Spec §5.3: E ~ N(0, 0.02²); BitLinear matrices Kaiming-normal fan_out
    /// (std √(2/out)); β_f = ω₁ = ω₂ = 0; LN/GN γ = 1, β = 0.
    fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = vec![0.0f32; self.layout.total];
        for t in &self.layout.tensors {
            let r = t.range();
            let name = t.name.as_str();
            if t.shape.len() == 1 {
                let one =
                    name.ends_with("ln1.weight") || name.ends_with("ln2.weight") || name.ends_with("gn.weight") || name == "ln_out.weight";
                p[r].fill(if one { 1.0 } else { 0.0 });
                continue;
            }
            let std = if name == "embed.weight" { 0.02 } else { (2.0 / t.shape[0] as f32).sqrt() };
            for x in &mut p[r] {
                *x = rng.normal() * std;
            }
        }
        p
    }
    fn tied_aliases(&self) -> Vec<(&'static str, &'static str)> {
        vec![("head.weight", "embed.weight")]
    }
    /// Forward pass; logits [b·t × V] end up in `ws.logits`.
    fn forward(&self, ws: &mut Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        let (tw, logits, _) = ws.parts::<ThunderboltWs>();
        self.forward_hidden(tw, params, tokens, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        head_logits(logits, &tw.an[..rows * d], &params[self.embed.clone()], d, v);
    }
    /// Forward + per-position losses; returns the mean (f64 accumulation).
    fn loss(&self, ws: &mut Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        let (tw, _, losses) = ws.parts::<ThunderboltWs>();
        self.forward_hidden(tw, params, x, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        head_loss(losses, &mut tw.head_buf, &tw.an[..rows * d], &params[self.embed.clone()], y, d, v)
    }
    /// Forward + backward of the mean next-token loss; gradients added into `grads`.
    fn loss_and_grad(&self, ws: &mut Workspace, params: &[f32], grads: &mut [f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        let (tw, losses, fsp) = ws.train_parts::<ThunderboltWs>();
        self.forward_hidden(tw, params, x, b, t);
        let (d, v) = (self.cfg.d_model, self.cfg.vocab);
        let head = TrainHead { matrix: &params[self.embed.clone()], grad: &self.embed };
        let loss = head_train(losses, &mut tw.a, &mut tw.head_buf, grads, head, fsp, params, &tw.an, y, b, t, d, v);
        if !loss.is_finite() {
            return loss;
        }
        self.backward(tw, params, grads, x, b, t);
        loss
    }
    /// Streaming decoder (per layer: c and the previous LN₁/LN₂ outputs, O(1) per
    /// token, any length) with the D4 fix. With `reference_compat` the GroupNorm
    /// statistics span the whole window, so there is no streaming form: every
    /// token re-runs the full forward over the last [`TRAIN_WINDOW`] = 256 tokens
    /// (fix D16; the reference used 512, twice its training length).
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        if self.cfg.reference_compat {
            Box::new(WindowDecoder::new(self, params, TRAIN_WINDOW))
        } else {
            Box::new(Decoder::new(self, params))
        }
    }
    /// 6 × (matmul parameters incl. the tied head) + per layer 12·d for the scan
    /// (c = v + f·(c − v) and q = o·c: 4 flops per channel forward, ×3 with backward):
    /// 6·(L·(4d² + 2dH) + Vd) + 12·L·d.
    fn flops_per_token(&self, _t: usize) -> f64 {
        let c = &self.cfg;
        let (d, h, v, l) = (c.d_model as f64, c.d_ff as f64, c.vocab as f64, c.n_layers as f64);
        6.0 * (l * (4.0 * d * d + 2.0 * d * h) + v * d) + 12.0 * l * d
    }
    fn flop_formula(&self) -> &'static str {
        "6·(L·(4d² + 2·d·H) + V·d) + 12·L·d (ternary products counted as dense)"
    }
    /// One entry per BitLinear matrix, named like the reference module
    /// (`blocks.{i}.rec.W_f`, …, `blocks.{i}.ffn_down`).
    fn ternary_shares(&self, params: &[f32]) -> Vec<TernaryShare> {
        let bit = ["rec.W_f.weight", "rec.W_v.weight", "rec.W_o.weight", "rec.W_proj.weight", "ffn_up.weight", "ffn_down.weight"];
        self.layout
            .tensors
            .iter()
            .filter(|t| t.name.starts_with("blocks.") && bit.iter().any(|s| t.name.ends_with(s)))
            .map(|t| ternary_share(t.name.trim_end_matches(".weight"), &params[t.range()], t.shape[0], t.shape[1], BIT))
            .collect()
    }
    fn describe(&self) -> String {
        crate::model::ModelConfig::describe(&self.cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoder's single-thread quantiser gives the training path's bits.
    #[test]
    fn serial_and_parallel_quantisation_agree() {
        let m = Thunderbolt::new(ThunderboltConfig { vocab: 11, d_model: 12, n_layers: 2, groups: 3, d_ff: 20, reference_compat: false });
        let p = m.init_params(3);
        for l in 0..2 {
            let (mut a, mut b) = (BlockWeights::default(), BlockWeights::default());
            m.block_weights(&mut a, &p, l, true);
            m.block_weights(&mut b, &p, l, false);
            for (x, y) in [(&a.fvo, &b.fvo), (&a.proj, &b.proj), (&a.up, &b.up), (&a.down, &b.down)] {
                assert!(x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits()));
                assert!(x.iter().any(|&v| v != 0.0));
            }
        }
    }
}
