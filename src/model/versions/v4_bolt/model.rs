//! v4 "Bolt", spec §4: gated causal depthwise conv + SwiGLU, every block linear
//! a BIT-A ternary BitLinear (straight-through), tied float head.
//!
//!   h = E\[x\]
//!   per block: h += GCM(RMS₁(h)); h += SwiGLU(RMS₂(h))     (W_up, W_down, W_gate, W_up, W_down ternary)
//!   z = E·RMS_f(h)
//!
//! Each forward quantises the latent weights once into per-block scratch
//! (W_gate and W_up each with their own α, side by side so SwiGLU sees one
//! [2H × d] matrix) and runs the float blocks with Q(W); their weight gradients
//! go unchanged into the latent W's slots (STE, spec §2 BB-BIT).

use super::config::BoltConfig;
use super::decode::Decoder;
use super::workspace::BoltWs;
use crate::kernels::ops::add;
use crate::model::blocks::bitlinear::{quantize, ternary_share, BitVariant};
use crate::model::blocks::embedding::{embedding_backward, embedding_forward};
use crate::model::blocks::gated_conv::{mixer_backward, mixer_forward, MixerActs, MixerGrads, MixerWeights};
use crate::model::blocks::rmsnorm::{rmsnorm_apply, rmsnorm_backward, rmsnorm_forward};
use crate::model::blocks::swiglu::{ffn_backward, ffn_forward, FfnGrads, FfnWeights};
use crate::model::lm::{Decode, LanguageModel, TernaryShare};
use crate::model::params::{carve_mut, Layout};
use crate::rng::Rng;
use std::ops::Range;

const BIT: BitVariant = BitVariant::A;

#[derive(Clone, Debug)]
pub(super) struct BlockRanges {
    pub(super) norm1: Range<usize>,
    pub(super) up: Range<usize>,
    pub(super) conv: Range<usize>,
    pub(super) down: Range<usize>,
    pub(super) norm2: Range<usize>,
    pub(super) gate: Range<usize>,
    pub(super) w_up: Range<usize>,
    pub(super) w_down: Range<usize>,
}

impl BlockRanges {
    /// W_gate and W_up, adjacent: [2H × d].
    fn gu(&self) -> Range<usize> {
        self.gate.start..self.w_up.end
    }
}

/// Q(W) of one block's BitLinear matrices.
#[derive(Clone, Default)]
pub struct TernaryBlock {
    pub(super) up: Vec<f32>,
    pub(super) down: Vec<f32>,
    /// Q(W_gate) then Q(W_up), [2H × d]
    pub(super) gu: Vec<f32>,
    pub(super) w_down: Vec<f32>,
}

#[derive(Clone, Debug)]
pub struct Bolt {
    pub cfg: BoltConfig,
    pub layout: Layout,
    pub(super) embed: Range<usize>,
    pub(super) blocks: Vec<BlockRanges>,
    pub(super) final_norm: Range<usize>,
    /// false only in [`Bolt::float_path`]
    pub(super) ternary: bool,
}

impl Bolt {
    pub fn new(cfg: BoltConfig) -> Self {
        let (v, d, h, k) = (cfg.vocab, cfg.d_model, cfg.d_ff, cfg.kernel_size);
        let mut l = Layout::default();
        let embed = l.add("embedding.weight", &[v, d]);
        let blocks = (0..cfg.n_layers)
            .map(|i| {
                let p = |s: &str| format!("blocks.{i}.{s}");
                BlockRanges {
                    norm1: l.add(p("norm1.scale"), &[d]),
                    up: l.add(p("mixer.up.weight"), &[2 * d, d]),
                    conv: l.add(p("mixer.conv.weight"), &[d, 1, k]),
                    down: l.add(p("mixer.down.weight"), &[d, d]),
                    norm2: l.add(p("norm2.scale"), &[d]),
                    gate: l.add(p("ffn.W_gate.weight"), &[h, d]),
                    w_up: l.add(p("ffn.W_up.weight"), &[h, d]),
                    w_down: l.add(p("ffn.W_down.weight"), &[d, h]),
                }
            })
            .collect();
        let final_norm = l.add("final_norm.scale", &[d]);
        Bolt { cfg, layout: l, embed, blocks, final_norm, ternary: true }
    }

    /// The same network with Q = identity (the BitLinear matrices used as
    /// given). For tests: its gradient is the true derivative, and Bolt's STE
    /// gradient at W must equal this model's gradient at Q(W).
    pub fn float_path(cfg: BoltConfig) -> Self {
        Bolt { ternary: false, ..Bolt::new(cfg) }
    }

    /// Every BitLinear matrix: (reference module name, range, out, in).
    pub fn bit_matrices(&self) -> Vec<(String, Range<usize>, usize, usize)> {
        let (d, h) = (self.cfg.d_model, self.cfg.d_ff);
        let mut out = Vec::new();
        for (i, br) in self.blocks.iter().enumerate() {
            let n = |s: &str| format!("blocks.{i}.{s}");
            out.push((n("mixer.up"), br.up.clone(), 2 * d, d));
            out.push((n("mixer.down"), br.down.clone(), d, d));
            out.push((n("ffn.W_gate"), br.gate.clone(), h, d));
            out.push((n("ffn.W_up"), br.w_up.clone(), h, d));
            out.push((n("ffn.W_down"), br.w_down.clone(), d, h));
        }
        out
    }

    /// Q(W) of every block into `q` (sized here on first use). W_gate and W_up
    /// are separate BitLinears, each with its own α.
    pub(super) fn quantize_all(&self, q: &mut Vec<TernaryBlock>, params: &[f32]) {
        let (d, h) = (self.cfg.d_model, self.cfg.d_ff);
        q.resize_with(self.blocks.len(), TernaryBlock::default);
        for (qb, br) in q.iter_mut().zip(&self.blocks) {
            qb.up.resize(2 * d * d, 0.0);
            qb.down.resize(d * d, 0.0);
            qb.gu.resize(2 * h * d, 0.0);
            qb.w_down.resize(d * h, 0.0);
            self.quantize_one(&mut qb.up, &params[br.up.clone()], 2 * d, d);
            self.quantize_one(&mut qb.down, &params[br.down.clone()], d, d);
            let (qg, qu) = qb.gu.split_at_mut(h * d);
            self.quantize_one(qg, &params[br.gate.clone()], h, d);
            self.quantize_one(qu, &params[br.w_up.clone()], h, d);
            self.quantize_one(&mut qb.w_down, &params[br.w_down.clone()], d, h);
        }
    }

    fn quantize_one(&self, q: &mut [f32], w: &[f32], out: usize, inp: usize) {
        if self.ternary {
            quantize(q, w, out, inp, BIT);
        } else {
            q.copy_from_slice(w);
        }
    }

    /// Everything up to the final norm: `ws.hf` = RMS_f(h).
    fn forward_hidden(&self, ws: &mut BoltWs, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        let (d, h, k) = (self.cfg.d_model, self.cfg.d_ff, self.cfg.kernel_size);
        ws.ensure(&self.cfg, b, t);
        self.quantize_all(&mut ws.q, params);
        let rows = b * t;
        let n = rows * d;
        embedding_forward(&mut ws.hs[0][..n], tokens, &params[self.embed.clone()], d);
        for (li, br) in self.blocks.iter().enumerate() {
            let (before, after) = ws.hs.split_at_mut(li + 1);
            let (x, y) = (&before[li][..n], &mut after[0][..n]);
            let (la, q) = (&mut ws.layers[li], &ws.q[li]);
            let (tmp, an) = (&mut ws.tmp[..n], &mut ws.anorm[..n]);
            rmsnorm_forward(an, &mut la.rstd1[..rows], x, &params[br.norm1.clone()], d);
            let mw = MixerWeights { up: &q.up, conv: &params[br.conv.clone()], down: &q.down };
            let acts = MixerActs { up: &mut la.up[..2 * n], conv: &mut la.conv[..n], gated: &mut ws.dgated[..n] };
            mixer_forward(tmp, acts, an, &mw, t, d, k);
            add(&mut la.h1[..n], x, tmp);
            rmsnorm_forward(an, &mut la.rstd2[..rows], &la.h1[..n], &params[br.norm2.clone()], d);
            let fw = FfnWeights { gu: &q.gu, o: &q.w_down };
            ffn_forward(tmp, &mut la.gu[..2 * rows * h], &mut ws.dact[..rows * h], an, &fw, d, h);
            add(y, &la.h1[..n], tmp);
        }
        let last = &ws.hs[self.blocks.len()][..n];
        rmsnorm_forward(&mut ws.hf[..n], &mut ws.rstd_f[..rows], last, &params[self.final_norm.clone()], d);
    }

    /// Backward from ∂L/∂hf (left in `ws.tmp` by the fused head), with the
    /// quantised weights of the forward still in `ws.q`.
    fn backward(&self, ws: &mut BoltWs, params: &[f32], grads: &mut [f32], x: &[u32], b: usize, t: usize) {
        let (d, h, k) = (self.cfg.d_model, self.cfg.d_ff, self.cfg.kernel_size);
        let rows = b * t;
        let n = rows * d;
        let dh = &mut ws.dh[..n];
        dh.fill(0.0);
        let last = &ws.hs[self.blocks.len()][..n];
        let fnorm = &params[self.final_norm.clone()];
        rmsnorm_backward(dh, &mut grads[self.final_norm.clone()], &ws.tmp[..n], last, fnorm, &ws.rstd_f[..rows], d);
        for (li, br) in self.blocks.iter().enumerate().rev() {
            let (la, q) = (&ws.layers[li], &ws.q[li]);
            let x_in = &ws.hs[li][..n];
            let (da, an) = (&mut ws.tmp[..n], &mut ws.anorm[..n]);
            let ranges = [br.norm1.clone(), br.up.clone(), br.conv.clone(), br.down.clone(), br.norm2.clone(), br.gu(), br.w_down.clone()];
            let [g_n1, g_up, g_conv, g_down, g_n2, g_gu, g_o] = carve_mut(grads, &ranges);
            // FFN sub-layer
            rmsnorm_apply(an, &la.h1[..n], &params[br.norm2.clone()], &la.rstd2[..rows], d);
            let fw = FfnWeights { gu: &q.gu, o: &q.w_down };
            let (dact, dgu) = (&mut ws.dact[..rows * h], &mut ws.dgu[..2 * rows * h]);
            ffn_backward(da, FfnGrads { gu: g_gu, o: g_o }, dh, an, &la.gu[..2 * rows * h], &fw, dact, dgu, d, h);
            rmsnorm_backward(dh, g_n2, da, &la.h1[..n], &params[br.norm2.clone()], &la.rstd2[..rows], d);
            // mixer sub-layer
            rmsnorm_apply(an, x_in, &params[br.norm1.clone()], &la.rstd1[..rows], d);
            let mw = MixerWeights { up: &q.up, conv: &params[br.conv.clone()], down: &q.down };
            let g = MixerGrads { up: g_up, conv: g_conv, down: g_down };
            let (dgated, dup) = (&mut ws.dgated[..n], &mut ws.dup[..2 * n]);
            mixer_backward(da, g, dh, an, (&la.up[..2 * n], &la.conv[..n]), &mw, dgated, dup, t, d, k);
            rmsnorm_backward(dh, g_n1, da, x_in, &params[br.norm1.clone()], &la.rstd1[..rows], d);
        }
        embedding_backward(&mut grads[self.embed.clone()], &ws.dh[..n], x, d);
    }
}

impl LanguageModel for Bolt {
    fn version(&self) -> &'static str {
        "v4"
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn vocab(&self) -> usize {
        self.cfg.vocab
    }
    /// Spec §4.3: E ~ N(0, 0.02²); every BitLinear KN-out (std √(2/out));
    /// conv KN-out with fan_out d·k; gains 1.
    fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = vec![0.0f32; self.layout.total];
        for t in &self.layout.tensors {
            let r = t.range();
            let std = match t.shape.as_slice() {
                [_] => {
                    p[r].fill(1.0);
                    continue;
                }
                _ if r == self.embed => 0.02,
                [d, 1, k] => (2.0 / (d * k) as f32).sqrt(),
                [out, _] => (2.0 / *out as f32).sqrt(),
                s => unreachable!("shape {s:?}"),
            };
            for x in &mut p[r] {
                *x = rng.normal() * std;
            }
        }
        p
    }
    fn tied_aliases(&self) -> Vec<(&'static str, &'static str)> {
        vec![("head.weight", "embedding.weight")]
    }
    crate::model::lm::tied_head_methods!(BoltWs);
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        Box::new(Decoder::new(self, params))
    }
    /// 6 × (matmul parameters, tied head included: L·(2d² + d² + 3Hd) + V·d)
    /// plus 6·d·k per layer for the depthwise conv. Ternary products are
    /// counted as dense float ones (that is how they run here).
    fn flops_per_token(&self, _t: usize) -> f64 {
        let c = &self.cfg;
        let (l, d, h, v, k) = (c.n_layers as f64, c.d_model as f64, c.d_ff as f64, c.vocab as f64, c.kernel_size as f64);
        6.0 * (l * (3.0 * d * d + 3.0 * h * d) + v * d) + l * 6.0 * d * k
    }
    fn flop_formula(&self) -> &'static str {
        "6·(L·(3d² + 3·H·d) + V·d) + L·6·d·k (ternary products counted as dense)"
    }
    fn ternary_shares(&self, params: &[f32]) -> Vec<TernaryShare> {
        self.bit_matrices().into_iter().map(|(name, r, o, i)| ternary_share(&name, &params[r], o, i, BIT)).collect()
    }
    fn has_conv_taps(&self) -> bool {
        true
    }
    fn conv_taps(&self, params: &[f32]) -> Vec<(usize, usize, Vec<f32>)> {
        self.blocks.iter().map(|br| (self.cfg.d_model, self.cfg.kernel_size, params[br.conv.clone()].to_vec())).collect()
    }
    fn receptive_field(&self) -> Option<usize> {
        Some(1 + self.cfg.n_layers * (self.cfg.kernel_size - 1))
    }
    fn describe(&self) -> String {
        crate::model::ModelConfig::describe(&self.cfg)
    }
}
