//! v4 "Bolt", spec §4: gated causal depthwise conv + SwiGLU, every block linear
//! a BIT-A ternary BitLinear (straight-through), tied float head.
//!
//!   h = E[x]
//!   per block: h += GCM(RMS₁(h)); h += SwiGLU(RMS₂(h))     (W_up, W_down, W_gate, W_up, W_down ternary)
//!   z = E·RMS_f(h)
//!
//! Each forward quantises the latent weights once into per-block scratch
//! (W_gate and W_up each with their own α, side by side so SwiGLU sees one
//! [2H × d] matrix) and runs the float blocks with Q(W); their weight gradients
//! go unchanged into the latent W's slots (STE, spec §2 BB-BIT).

use super::bitlinear::{quantize, ternary_share, BitVariant};
use super::embedding::{embedding_backward, embedding_forward};
use super::gated_conv::{mixer_backward, mixer_forward, MixerActs, MixerGrads, MixerWeights};
use super::head::{head_ce_fused, head_forward, head_loss, HEAD_BLOCK};
use super::lm::{Decode, LanguageModel, TernaryShare, Workspace};
use super::params::{carve_mut, Layout};
use super::rmsnorm::{rmsnorm_apply, rmsnorm_backward, rmsnorm_forward};
use super::swiglu::{ffn_backward, ffn_forward, FfnGrads, FfnWeights};
use crate::kernels::ops::add;
use crate::kernels::ops::{sigmoid, silu};
use crate::kernels::vec::{matvec, matvec_mat, rmsnorm, OwnedMat};
use crate::rng::Rng;
use std::ops::Range;

const BIT: BitVariant = BitVariant::A;

#[derive(Clone, Debug, PartialEq)]
pub struct BoltConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    /// SwiGLU hidden width H (reference `glu_hidden`)
    pub d_ff: usize,
    pub kernel_size: usize,
}

#[derive(Clone, Debug)]
struct BlockRanges {
    norm1: Range<usize>,
    up: Range<usize>,
    conv: Range<usize>,
    down: Range<usize>,
    norm2: Range<usize>,
    gate: Range<usize>,
    w_up: Range<usize>,
    w_down: Range<usize>,
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
    up: Vec<f32>,
    down: Vec<f32>,
    /// Q(W_gate) then Q(W_up), [2H × d]
    gu: Vec<f32>,
    w_down: Vec<f32>,
}

#[derive(Clone, Debug)]
pub struct Bolt {
    pub cfg: BoltConfig,
    pub layout: Layout,
    embed: Range<usize>,
    blocks: Vec<BlockRanges>,
    final_norm: Range<usize>,
    /// false only in [`Bolt::float_path`]
    ternary: bool,
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
    fn quantize_all(&self, q: &mut Vec<TernaryBlock>, params: &[f32]) {
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

    /// Spec §4.3: E ~ N(0, 0.02²); every BitLinear KN-out (std √(2/out));
    /// conv KN-out with fan_out d·k; gains 1.
    pub fn init_params(&self, seed: u64) -> Vec<f32> {
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

    /// Forward pass over `tokens` [b × t]; logits end up in `ws.logits`.
    pub fn forward(&self, ws: &mut Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        let (bw, logits, _) = ws.parts::<BoltWs>();
        self.forward_hidden(bw, params, tokens, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        logits.resize(rows * v, 0.0);
        head_forward(&mut logits[..rows * v], &bw.hf[..rows * d], &params[self.embed.clone()], d, v);
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

    /// Forward + per-position losses; returns the mean loss (f64 accumulation).
    pub fn loss(&self, ws: &mut Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        let (bw, _, losses) = ws.parts::<BoltWs>();
        self.forward_hidden(bw, params, x, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        head_loss(losses, &mut bw.head_buf, &bw.hf[..rows * d], &params[self.embed.clone()], y, d, v)
    }

    /// Forward + backward of the mean next-token loss; gradients added into `grads`.
    pub fn loss_and_grad(&self, ws: &mut Workspace, params: &[f32], grads: &mut [f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        let (ws, _, losses) = ws.parts::<BoltWs>();
        self.forward_hidden(ws, params, x, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        let n = rows * d;
        losses.resize(rows, 0.0);
        let emb = &params[self.embed.clone()];
        let gemb = &mut grads[self.embed.clone()];
        head_ce_fused(&mut losses[..rows], &mut ws.tmp[..n], gemb, &mut ws.head_buf, &ws.hf[..n], emb, y, d, v);
        let loss = super::head::mean_loss(&losses[..rows]);
        if loss.is_finite() {
            self.backward(ws, params, grads, x, b, t);
        }
        loss
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

#[derive(Default)]
struct LayerActs {
    rstd1: Vec<f32>,
    /// [g ; u] = Q(W_up)·RMS₁(h)
    up: Vec<f32>,
    conv: Vec<f32>,
    /// h after the mixer
    h1: Vec<f32>,
    rstd2: Vec<f32>,
    /// [W_gate·a ; W_up·a]
    gu: Vec<f32>,
}

/// Activations, quantised weights and backward scratch for one (batch, window)
/// shape, allocated once and reused every step.
#[derive(Default)]
pub struct BoltWs {
    cfg: Option<BoltConfig>,
    shape: (usize, usize),
    q: Vec<TernaryBlock>,
    hs: Vec<Vec<f32>>,
    layers: Vec<LayerActs>,
    rstd_f: Vec<f32>,
    hf: Vec<f32>,
    head_buf: Vec<f32>,
    tmp: Vec<f32>,
    anorm: Vec<f32>,
    dh: Vec<f32>,
    dgated: Vec<f32>,
    dup: Vec<f32>,
    dact: Vec<f32>,
    dgu: Vec<f32>,
}

impl BoltWs {
    /// Grows buffers to fit `b × t` (never shrinks).
    fn ensure(&mut self, c: &BoltConfig, b: usize, t: usize) {
        if self.cfg.as_ref() == Some(c) && self.shape.0 * self.shape.1 >= b * t && self.shape.1 >= t {
            return;
        }
        let rows = b * t;
        let (d, h) = (c.d_model, c.d_ff);
        let n = rows * d;
        let z = |len: usize| vec![0.0f32; len];
        self.cfg = Some(c.clone());
        self.shape = (b, t);
        self.hs = (0..=c.n_layers).map(|_| z(n)).collect();
        self.layers = (0..c.n_layers)
            .map(|_| LayerActs { rstd1: z(rows), up: z(2 * n), conv: z(n), h1: z(n), rstd2: z(rows), gu: z(2 * rows * h) })
            .collect();
        self.rstd_f = z(rows);
        self.hf = z(n);
        self.head_buf = z(HEAD_BLOCK.min(rows) * c.vocab);
        self.tmp = z(n);
        self.anorm = z(n);
        self.dh = z(n);
        self.dgated = z(n);
        self.dup = z(2 * n);
        self.dact = z(rows * h);
        self.dgu = z(2 * rows * h);
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
    fn init_params(&self, seed: u64) -> Vec<f32> {
        Bolt::init_params(self, seed)
    }
    fn tied_aliases(&self) -> Vec<(&'static str, &'static str)> {
        vec![("head.weight", "embedding.weight")]
    }
    fn forward(&self, ws: &mut Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        Bolt::forward(self, ws, params, tokens, b, t)
    }
    fn loss(&self, ws: &mut Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        Bolt::loss(self, ws, params, x, y, b, t)
    }
    fn loss_and_grad(&self, ws: &mut Workspace, params: &[f32], grads: &mut [f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        Bolt::loss_and_grad(self, ws, params, grads, x, y, b, t)
    }
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        Box::new(BoltDecoder::new(self, params))
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
        let c = &self.cfg;
        format!("ternary gated conv k={} + ternary SwiGLU {}, {}×d{}", c.kernel_size, c.d_ff, c.n_layers, c.d_model)
    }
}

/// Incremental decoder: weights quantised once at creation, a ring buffer of the
/// last k−1 conv inputs u per layer, O(1) work per token (exact for any length,
/// the conv stack has a finite receptive field).
pub struct BoltDecoder<'a> {
    model: &'a Bolt,
    params: &'a [f32],
    /// per layer Q(W) of up, down, SwiGLU gate;up, SwiGLU down, packed as
    /// ternary bytes + row scales (a quarter of the bytes of f32 per token)
    q: Vec<[OwnedMat; 4]>,
    /// per layer: last k−1 conv inputs, [(k−1) × d] as a ring starting at `ring_pos`
    rings: Vec<Vec<f32>>,
    ring_pos: usize,
    pos: usize,
    parallel: bool,
    h: Vec<f32>,
    a: Vec<f32>,
    up: Vec<f32>,
    m: Vec<f32>,
    y: Vec<f32>,
    gu: Vec<f32>,
    act: Vec<f32>,
    logits: Vec<f32>,
}

impl<'a> BoltDecoder<'a> {
    pub fn new(model: &'a Bolt, params: &'a [f32]) -> Self {
        let c = &model.cfg;
        let d = c.d_model;
        let mut tb = Vec::new();
        model.quantize_all(&mut tb, params);
        let q = tb
            .into_iter()
            .map(|b| [OwnedMat::new(b.up, d), OwnedMat::new(b.down, d), OwnedMat::new(b.gu, d), OwnedMat::new(b.w_down, c.d_ff)])
            .collect();
        BoltDecoder {
            model,
            params,
            q,
            rings: vec![vec![0.0; (c.kernel_size - 1) * d]; c.n_layers],
            ring_pos: 0,
            pos: 0,
            parallel: false,
            h: vec![0.0; d],
            a: vec![0.0; d],
            up: vec![0.0; 2 * d],
            m: vec![0.0; d],
            y: vec![0.0; d],
            gu: vec![0.0; 2 * c.d_ff],
            act: vec![0.0; c.d_ff],
            logits: vec![0.0; c.vocab],
        }
    }

    pub fn step(&mut self, token: u32) {
        let m = self.model;
        let (d, h, k) = (m.cfg.d_model, m.cfg.d_ff, m.cfg.kernel_size);
        let (p, par) = (self.params, self.parallel);
        let emb = &p[m.embed.clone()];
        let tok = token as usize;
        self.h.copy_from_slice(&emb[tok * d..(tok + 1) * d]);
        for ((br, q), ring) in m.blocks.iter().zip(&self.q).zip(&mut self.rings) {
            // gated conv mixer; tap k−1 is the current token, tap j the token k−1−j back
            rmsnorm(&mut self.a, &self.h, &p[br.norm1.clone()]);
            matvec_mat(&mut self.up, q[0].mat(), &self.a, par);
            let (g, u) = self.up.split_at(d);
            let conv = &p[br.conv.clone()];
            for ch in 0..d {
                let mut acc = conv[ch * k + k - 1] * u[ch];
                for j in 0..k - 1 {
                    // slot of the token k−1−j steps back (the ring's oldest entry is at ring_pos)
                    let slot = (self.ring_pos + j) % (k - 1);
                    acc += conv[ch * k + j] * ring[slot * d + ch];
                }
                self.m[ch] = acc * sigmoid(g[ch]);
            }
            if k > 1 {
                ring[self.ring_pos * d..(self.ring_pos + 1) * d].copy_from_slice(u);
            }
            matvec_mat(&mut self.y, q[1].mat(), &self.m, par);
            self.h.iter_mut().zip(&self.y).for_each(|(h, y)| *h += y);
            // SwiGLU
            rmsnorm(&mut self.a, &self.h, &p[br.norm2.clone()]);
            matvec_mat(&mut self.gu, q[2].mat(), &self.a, par);
            for j in 0..h {
                self.act[j] = silu(self.gu[j]) * self.gu[h + j];
            }
            matvec_mat(&mut self.y, q[3].mat(), &self.act, par);
            self.h.iter_mut().zip(&self.y).for_each(|(h, y)| *h += y);
        }
        if k > 1 {
            self.ring_pos = (self.ring_pos + 1) % (k - 1);
        }
        rmsnorm(&mut self.a, &self.h, &p[m.final_norm.clone()]);
        matvec(&mut self.logits, emb, &self.a, par);
        self.pos += 1;
    }
}

crate::model::lm::impl_decode!(BoltDecoder {});
