//! v5.2 Nova-Ignition: a small float Transformer with RoPE (spec §6).
//!
//!   h = Dropout(E\[x\])
//!   per block (pre-norm): h += Attn(LN₁(h)); h += Dropout(GEGLU(LN₂(h)))
//!   z = E·LN_out(h)                       (tied head, `head.weight` alias)
//!
//! Attention (attention.rs): causal multi-head softmax attention with RoPE and
//! dropout on the probabilities. Dropout (dropout.rs, inverted, p = `dropout`) is
//! active only in `loss_and_grad`; its masks are a pure function of `ws.seed`
//! (stream 0 the embedding, 1+2l block l's attention probabilities, 2+2l block
//! l's FFN output), so the same seed gives the same masks. `forward` and `loss`
//! never drop. The model was trained on 128-token windows; positions are not
//! limited by anything but f32 angle precision (see decode.rs).

use super::config::NovaConfig;
use super::decode::Decoder;
use crate::kernels::ops::add;
use crate::model::blocks::attention::{rope_inv_freq, AttnGrads, AttnShape, AttnWeights};
use crate::model::blocks::dropout::{dropout_apply, DropMask};
use crate::model::blocks::embedding::{embedding_backward, embedding_forward};
use crate::model::blocks::geglu::{geglu_backward, geglu_forward, GegluGrads, GegluWeights};
use crate::model::blocks::layernorm::{layernorm_apply, layernorm_backward, layernorm_forward};
use crate::model::blocks::transformer::{masked, TransformerDims, TransformerWs};
use crate::model::lm::{Decode, LanguageModel};
use crate::model::params::{carve_mut, Layout};
use crate::rng::Rng;
use std::ops::Range;

#[derive(Clone, Debug)]
struct BlockRanges {
    ln1_w: Range<usize>,
    ln1_b: Range<usize>,
    qkv: Range<usize>,
    out: Range<usize>,
    ln2_w: Range<usize>,
    ln2_b: Range<usize>,
    up: Range<usize>,
    down: Range<usize>,
}

/// One block's parameters.
pub struct NovaBlock<'a> {
    pub ln1: (&'a [f32], &'a [f32]),
    pub qkv: &'a [f32],
    pub out: &'a [f32],
    pub ln2: (&'a [f32], &'a [f32]),
    pub up: &'a [f32],
    pub down: &'a [f32],
}

/// The model definition: config, layout and offsets (parameters live in a flat
/// buffer owned by the caller).
#[derive(Clone, Debug)]
pub struct Nova {
    pub cfg: NovaConfig,
    pub layout: Layout,
    pub(super) embed: Range<usize>,
    blocks: Vec<BlockRanges>,
    pub(super) ln_out_w: Range<usize>,
    pub(super) ln_out_b: Range<usize>,
    /// RoPE inverse frequencies 10000^(−2i/hd) (the reference's non-trainable buffer)
    pub inv_freq: Vec<f32>,
}

impl Nova {
    pub fn new(cfg: NovaConfig) -> Self {
        let (v, d, h) = (cfg.vocab, cfg.d_model, cfg.d_ff);
        assert!(
            cfg.n_heads > 0 && d % cfg.n_heads == 0 && (d / cfg.n_heads).is_multiple_of(2),
            "heads must split d_model into even widths"
        );
        let mut l = Layout::default();
        let embed = l.add("embed.weight", &[v, d]);
        let blocks = (0..cfg.n_layers)
            .map(|i| {
                let p = |s: &str| format!("blocks.{i}.{s}");
                BlockRanges {
                    ln1_w: l.add(p("norm1.weight"), &[d]),
                    ln1_b: l.add(p("norm1.bias"), &[d]),
                    qkv: l.add(p("attn.qkv.weight"), &[3 * d, d]),
                    out: l.add(p("attn.out.weight"), &[d, d]),
                    ln2_w: l.add(p("norm2.weight"), &[d]),
                    ln2_b: l.add(p("norm2.bias"), &[d]),
                    up: l.add(p("ffn.up.weight"), &[2 * h, d]),
                    down: l.add(p("ffn.down.weight"), &[d, h]),
                }
            })
            .collect();
        let ln_out_w = l.add("ln_out.weight", &[d]);
        let ln_out_b = l.add("ln_out.bias", &[d]);
        let inv_freq = rope_inv_freq(d / cfg.n_heads);
        Nova { cfg, layout: l, embed, blocks, ln_out_w, ln_out_b, inv_freq }
    }

    pub fn head_dim(&self) -> usize {
        self.cfg.d_model / self.cfg.n_heads
    }

    pub fn block_view<'a>(&self, params: &'a [f32], i: usize) -> NovaBlock<'a> {
        let b = &self.blocks[i];
        NovaBlock {
            ln1: (&params[b.ln1_w.clone()], &params[b.ln1_b.clone()]),
            qkv: &params[b.qkv.clone()],
            out: &params[b.out.clone()],
            ln2: (&params[b.ln2_w.clone()], &params[b.ln2_b.clone()]),
            up: &params[b.up.clone()],
            down: &params[b.down.clone()],
        }
    }

    /// (embedding table, (ln_out γ, ln_out β))
    pub fn outer_view<'a>(&self, params: &'a [f32]) -> (&'a [f32], (&'a [f32], &'a [f32])) {
        (&params[self.embed.clone()], (&params[self.ln_out_w.clone()], &params[self.ln_out_b.clone()]))
    }

    /// The sizes of its training workspace (LayerNorm: row means kept).
    fn dims(&self) -> TransformerDims {
        let c = &self.cfg;
        TransformerDims { n_layers: c.n_layers, d_model: c.d_model, d_ff: c.d_ff, n_heads: c.n_heads, vocab: c.vocab, norm_means: true }
    }

    fn attn_shape(&self, b: usize, t: usize) -> AttnShape {
        AttnShape { b, t, d: self.cfg.d_model, heads: self.cfg.n_heads }
    }

    /// Dropout mask `stream` of a training step with seed `seed` (None: evaluation).
    fn mask(&self, seed: Option<u64>, stream: u64) -> DropMask {
        seed.map_or(DropMask::OFF, |s| DropMask::new(s, stream, self.cfg.dropout))
    }

    /// Everything up to the final norm: `ws.hf` = LN_out(h). `seed` = Some in training (dropout on).
    fn forward_hidden(&self, ws: &mut TransformerWs, params: &[f32], tokens: &[u32], b: usize, t: usize, seed: Option<u64>) {
        let (d, h) = (self.cfg.d_model, self.cfg.d_ff);
        ws.ensure(self.dims(), &self.inv_freq, b, t);
        let (rows, n, sh) = (b * t, b * t * d, self.attn_shape(b, t));
        embedding_forward(&mut ws.hs[0][..n], tokens, &params[self.embed.clone()], d);
        dropout_apply(&mut ws.hs[0][..n], self.mask(seed, 0), 0);
        for (li, br) in self.blocks.iter().enumerate() {
            // attention sub-layer
            let (g1, b1) = (&params[br.ln1_w.clone()], &params[br.ln1_b.clone()]);
            let la = &mut ws.layers[li];
            layernorm_forward(&mut ws.anorm[..n], &mut la.mean1[..rows], &mut la.rstd1[..rows], &ws.hs[li][..n], g1, b1, d);
            let w = AttnWeights { qkv: &params[br.qkv.clone()], out: &params[br.out.clone()] };
            ws.attention_forward(li, &w, false, self.mask(seed, 1 + 2 * li as u64), sh);
            let la = &mut ws.layers[li];
            add(&mut la.h1[..n], &ws.hs[li][..n], &ws.tmp[..n]);
            // GEGLU sub-layer
            let (g2, b2) = (&params[br.ln2_w.clone()], &params[br.ln2_b.clone()]);
            layernorm_forward(&mut ws.anorm[..n], &mut la.mean2[..rows], &mut la.rstd2[..rows], &la.h1[..n], g2, b2, d);
            let fw = GegluWeights { up: &params[br.up.clone()], down: &params[br.down.clone()] };
            geglu_forward(&mut ws.tmp[..n], &mut la.ffn[..2 * rows * h], &mut ws.act[..rows * h], &ws.anorm[..n], &fw, d, h);
            dropout_apply(&mut ws.tmp[..n], self.mask(seed, 2 + 2 * li as u64), 0);
            add(&mut ws.hs[li + 1][..n], &la.h1[..n], &ws.tmp[..n]);
        }
        let last = &ws.hs[self.blocks.len()][..n];
        let (g, bb) = (&params[self.ln_out_w.clone()], &params[self.ln_out_b.clone()]);
        layernorm_forward(&mut ws.hf[..n], &mut ws.mean_out[..rows], &mut ws.rstd_out[..rows], last, g, bb, d);
    }

    /// Backward from ∂L/∂hf, left in `ws.tmp` by the fused head.
    #[allow(clippy::too_many_arguments)]
    fn backward(&self, ws: &mut TransformerWs, params: &[f32], grads: &mut [f32], x: &[u32], b: usize, t: usize, seed: Option<u64>) {
        let (d, h) = (self.cfg.d_model, self.cfg.d_ff);
        let (rows, n, sh) = (b * t, b * t * d, self.attn_shape(b, t));
        {
            let [gw, gb] = carve_mut(grads, &[self.ln_out_w.clone(), self.ln_out_b.clone()]);
            let dh = &mut ws.dh[..n];
            dh.fill(0.0);
            let last = &ws.hs[self.blocks.len()][..n];
            let g = &params[self.ln_out_w.clone()];
            layernorm_backward(dh, gw, gb, &ws.tmp[..n], last, g, &ws.mean_out[..rows], &ws.rstd_out[..rows], d);
        }
        for (li, br) in self.blocks.iter().enumerate().rev() {
            let ranges = [
                br.ln1_w.clone(),
                br.ln1_b.clone(),
                br.qkv.clone(),
                br.out.clone(),
                br.ln2_w.clone(),
                br.ln2_b.clone(),
                br.up.clone(),
                br.down.clone(),
            ];
            let [g_ln1w, g_ln1b, g_qkv, g_out, g_ln2w, g_ln2b, g_up, g_down] = carve_mut(grads, &ranges);
            // GEGLU sub-layer: ∂(GEGLU output) = ∂h ⊙ mask
            let la = &ws.layers[li];
            let dy = masked(&ws.dh[..n], &mut ws.dy[..n], self.mask(seed, 2 + 2 * li as u64));
            let (g2, b2) = (&params[br.ln2_w.clone()], &params[br.ln2_b.clone()]);
            layernorm_apply(&mut ws.anorm[..n], &la.h1[..n], g2, b2, &la.mean2[..rows], &la.rstd2[..rows], d);
            let fw = GegluWeights { up: &params[br.up.clone()], down: &params[br.down.clone()] };
            let fg = GegluGrads { up: g_up, down: g_down };
            let (ab, act, dab) = (&la.ffn[..2 * rows * h], &mut ws.act[..rows * h], &mut ws.dffn[..2 * rows * h]);
            geglu_backward(&mut ws.tmp[..n], fg, dy, &ws.anorm[..n], ab, &fw, act, dab, d, h);
            let (m2, r2) = (&la.mean2[..rows], &la.rstd2[..rows]);
            layernorm_backward(&mut ws.dh[..n], g_ln2w, g_ln2b, &ws.tmp[..n], &la.h1[..n], g2, m2, r2, d);
            // attention sub-layer (no dropout after W_o)
            let (g1, b1) = (&params[br.ln1_w.clone()], &params[br.ln1_b.clone()]);
            layernorm_apply(&mut ws.anorm[..n], &ws.hs[li][..n], g1, b1, &la.mean1[..rows], &la.rstd1[..rows], d);
            let w = AttnWeights { qkv: &params[br.qkv.clone()], out: &params[br.out.clone()] };
            let ag = AttnGrads { qkv: g_qkv, out: g_out };
            ws.attention_backward(li, ag, &w, false, self.mask(seed, 1 + 2 * li as u64), DropMask::OFF, sh);
            let la = &ws.layers[li];
            let (m1, r1) = (&la.mean1[..rows], &la.rstd1[..rows]);
            layernorm_backward(&mut ws.dh[..n], g_ln1w, g_ln1b, &ws.tmp[..n], &ws.hs[li][..n], g1, m1, r1, d);
        }
        // h0 = Dropout(E[x])
        dropout_apply(&mut ws.dh[..n], self.mask(seed, 0), 0);
        let gemb = &mut grads[self.embed.clone()];
        embedding_backward(gemb, &ws.dh[..n], x, d);
    }
}

impl LanguageModel for Nova {
    fn version(&self) -> &'static str {
        "v5.2"
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn vocab(&self) -> usize {
        self.cfg.vocab
    }
    /// Spec §6.3: every linear matrix and E ~ N(0, 0.02²); LayerNorm γ = 1, β = 0.
    fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = vec![0.0f32; self.layout.total];
        for t in &self.layout.tensors {
            let r = t.range();
            if t.shape.len() == 1 {
                p[r].fill(if t.name.ends_with(".weight") { 1.0 } else { 0.0 });
            } else {
                for x in &mut p[r] {
                    *x = rng.normal() * 0.02;
                }
            }
        }
        p
    }
    fn tied_aliases(&self) -> Vec<(&'static str, &'static str)> {
        vec![("head.weight", "embed.weight")]
    }
    /// The RoPE `inv_freq` buffers (recomputed from the config, see `rope_inv_freq`).
    fn is_buffer(&self, name: &str) -> bool {
        name.ends_with(".rotary.inv_freq")
    }
    crate::model::lm::tied_head_methods!(TransformerWs, seeded);
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        Box::new(Decoder::new(self, params))
    }
    /// 6 × (matmul parameters, head included: L·(4d² + 3·H·d) + V·d) for the
    /// dense products, plus per layer 6·T·d for attention: the average query
    /// attends to T/2 keys, q·k and a·v take 2 flops per (key, feature), i.e.
    /// 2·T·d forward, ×3 with backward.
    fn flops_per_token(&self, t: usize) -> f64 {
        let c = &self.cfg;
        let (d, h, v, l) = (c.d_model as f64, c.d_ff as f64, c.vocab as f64, c.n_layers as f64);
        let mm = l * (4.0 * d * d + 3.0 * h * d) + v * d;
        6.0 * mm + l * 6.0 * t as f64 * d
    }
    fn flop_formula(&self) -> &'static str {
        "6·(L·(4d² + 3·H·d) + V·d) + L·6·T·d (causal attention)"
    }
    fn describe(&self) -> String {
        crate::model::ModelConfig::describe(&self.cfg)
    }
}
