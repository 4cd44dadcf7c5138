//! v10 FSP: a small GPT (spec §14).
//!
//!   h = Dropout(E\[x\])                    (no scaling, no position embedding)
//!   per block: h += Dropout(W_o·Attn(RMS₁(h))); h += Dropout(SwiGLU(RMS₂(h)))
//!   z = E·RMS_f(h)                        (tied: the embedding is the head)
//!
//! RMSNorm x·rsqrt(mean(x²) + 1e-6)·w (gain key `.w`); attention
//! (attention.rs) with RoPE on interleaved pairs (2i, 2i+1) and the
//! reference's f32 `inv_freq` (a buffer, `blocks.{i}.attn.inv_freq`, recomputed
//! here bit for bit); SwiGLU (swiglu.rs) W_down·(SiLU(W_gate·b) ⊙ W_up·b) with
//! gate and up laid out next to each other. Dropout (inverted, training only)
//! at four sites, masks a pure function of `ws.seed`: stream 0 the embedding,
//! then per block l streams 1+3l (attention probabilities), 2+3l (after W_o),
//! 3+3l (after W_down). The preset trains it with FSP on (`model::fsp`); the
//! FSP head reads `hf` and E like every version's.

use super::config::GptFspConfig;
use super::decode::Decoder;
use crate::kernels::ops::add;
use crate::model::blocks::attention::{rope_inv_freq, AttnGrads, AttnShape, AttnWeights};
use crate::model::blocks::dropout::{dropout_apply, DropMask};
use crate::model::blocks::embedding::{embedding_backward, embedding_forward};
use crate::model::blocks::rmsnorm::{rmsnorm_apply, rmsnorm_backward, rmsnorm_forward};
use crate::model::blocks::swiglu::{ffn_backward, ffn_forward, FfnGrads, FfnWeights};
use crate::model::blocks::transformer::{masked, TransformerDims, TransformerWs};
use crate::model::lm::{Decode, LanguageModel};
use crate::model::params::{carve_mut, Layout};
use crate::rng::Rng;
use std::ops::Range;

#[derive(Clone, Debug)]
struct BlockRanges {
    ln1: Range<usize>,
    qkv: Range<usize>,
    out: Range<usize>,
    ln2: Range<usize>,
    /// gate then up: one [2·d_ff × d] matrix for swiglu.rs
    gate_up: Range<usize>,
    down: Range<usize>,
}

/// One block's parameters.
pub struct GptFspBlock<'a> {
    pub ln1: &'a [f32],
    pub qkv: &'a [f32],
    pub out: &'a [f32],
    pub ln2: &'a [f32],
    /// W_gate then W_up, [2·d_ff × d]
    pub gate_up: &'a [f32],
    pub down: &'a [f32],
}

/// The model definition: config, layout and offsets.
#[derive(Clone, Debug)]
pub struct GptFsp {
    pub cfg: GptFspConfig,
    pub layout: Layout,
    /// The training window: the decoder keeps this many keys (spec §14.6).
    pub window: usize,
    pub(super) embed: Range<usize>,
    blocks: Vec<BlockRanges>,
    pub(super) ln_f: Range<usize>,
    /// RoPE inverse frequencies 1/10000^(2i/hd) in f32 (the reference's buffer)
    pub inv_freq: Vec<f32>,
}

impl GptFsp {
    pub fn new(cfg: GptFspConfig, window: usize) -> Self {
        let (v, d, f) = (cfg.vocab, cfg.d_model, cfg.d_ff);
        assert!(
            cfg.n_heads > 0 && d % cfg.n_heads == 0 && (d / cfg.n_heads).is_multiple_of(2),
            "heads must split d_model into even widths"
        );
        let mut l = Layout::default();
        let embed = l.add("embed.weight", &[v, d]);
        let blocks = (0..cfg.n_layers)
            .map(|i| {
                let p = |s: &str| format!("blocks.{i}.{s}");
                let ln1 = l.add(p("ln1.w"), &[d]);
                let qkv = l.add(p("attn.qkv.weight"), &[3 * d, d]);
                let out = l.add(p("attn.out.weight"), &[d, d]);
                let ln2 = l.add(p("ln2.w"), &[d]);
                let gate = l.add(p("ffn.gate.weight"), &[f, d]);
                let up = l.add(p("ffn.up.weight"), &[f, d]);
                let down = l.add(p("ffn.down.weight"), &[d, f]);
                BlockRanges { ln1, qkv, out, ln2, gate_up: gate.start..up.end, down }
            })
            .collect();
        let ln_f = l.add("ln_f.w", &[d]);
        let inv_freq = rope_inv_freq(d / cfg.n_heads);
        GptFsp { cfg, layout: l, window: window.max(1), embed, blocks, ln_f, inv_freq }
    }

    pub fn head_dim(&self) -> usize {
        self.cfg.d_model / self.cfg.n_heads
    }

    pub fn block_view<'a>(&self, params: &'a [f32], i: usize) -> GptFspBlock<'a> {
        let b = &self.blocks[i];
        GptFspBlock {
            ln1: &params[b.ln1.clone()],
            qkv: &params[b.qkv.clone()],
            out: &params[b.out.clone()],
            ln2: &params[b.ln2.clone()],
            gate_up: &params[b.gate_up.clone()],
            down: &params[b.down.clone()],
        }
    }

    /// (embedding table, final RMSNorm gain)
    pub fn outer_view<'a>(&self, params: &'a [f32]) -> (&'a [f32], &'a [f32]) {
        (&params[self.embed.clone()], &params[self.ln_f.clone()])
    }

    /// The sizes of its training workspace (RMSNorm: no row means).
    fn dims(&self) -> TransformerDims {
        let c = &self.cfg;
        TransformerDims { n_layers: c.n_layers, d_model: c.d_model, d_ff: c.d_ff, n_heads: c.n_heads, vocab: c.vocab, norm_means: false }
    }

    fn attn_shape(&self, b: usize, t: usize) -> AttnShape {
        AttnShape { b, t, d: self.cfg.d_model, heads: self.cfg.n_heads }
    }

    /// Dropout mask `stream` of a training step with seed `seed` (None: evaluation).
    fn mask(&self, seed: Option<u64>, stream: u64) -> DropMask {
        seed.map_or(DropMask::OFF, |s| DropMask::new(s, stream, self.cfg.dropout))
    }

    /// Everything up to the final norm: `ws.hf` = RMS_f(h). `seed` = Some in training (dropout on).
    fn forward_hidden(&self, ws: &mut TransformerWs, params: &[f32], tokens: &[u32], b: usize, t: usize, seed: Option<u64>) {
        let (d, f) = (self.cfg.d_model, self.cfg.d_ff);
        ws.ensure(self.dims(), &self.inv_freq, b, t);
        let (rows, n, sh) = (b * t, b * t * d, self.attn_shape(b, t));
        embedding_forward(&mut ws.hs[0][..n], tokens, &params[self.embed.clone()], d);
        dropout_apply(&mut ws.hs[0][..n], self.mask(seed, 0), 0);
        for (li, br) in self.blocks.iter().enumerate() {
            let s = 3 * li as u64;
            // attention sub-layer
            rmsnorm_forward(&mut ws.anorm[..n], &mut ws.layers[li].rstd1[..rows], &ws.hs[li][..n], &params[br.ln1.clone()], d);
            let w = AttnWeights { qkv: &params[br.qkv.clone()], out: &params[br.out.clone()] };
            ws.attention_forward(li, &w, true, self.mask(seed, 1 + s), sh);
            dropout_apply(&mut ws.tmp[..n], self.mask(seed, 2 + s), 0);
            let la = &mut ws.layers[li];
            add(&mut la.h1[..n], &ws.hs[li][..n], &ws.tmp[..n]);
            // SwiGLU sub-layer
            rmsnorm_forward(&mut ws.anorm[..n], &mut la.rstd2[..rows], &la.h1[..n], &params[br.ln2.clone()], d);
            let fw = FfnWeights { gu: &params[br.gate_up.clone()], o: &params[br.down.clone()] };
            ffn_forward(&mut ws.tmp[..n], &mut la.ffn[..2 * rows * f], &mut ws.act[..rows * f], &ws.anorm[..n], &fw, d, f);
            dropout_apply(&mut ws.tmp[..n], self.mask(seed, 3 + s), 0);
            add(&mut ws.hs[li + 1][..n], &la.h1[..n], &ws.tmp[..n]);
        }
        let last = &ws.hs[self.blocks.len()][..n];
        rmsnorm_forward(&mut ws.hf[..n], &mut ws.rstd_out[..rows], last, &params[self.ln_f.clone()], d);
    }

    /// Backward from ∂L/∂hf, left in `ws.tmp` by the head (and FSP).
    #[allow(clippy::too_many_arguments)]
    fn backward(&self, ws: &mut TransformerWs, params: &[f32], grads: &mut [f32], x: &[u32], b: usize, t: usize, seed: Option<u64>) {
        let (d, f) = (self.cfg.d_model, self.cfg.d_ff);
        let (rows, n, sh) = (b * t, b * t * d, self.attn_shape(b, t));
        {
            let dh = &mut ws.dh[..n];
            dh.fill(0.0);
            let last = &ws.hs[self.blocks.len()][..n];
            let g = &mut grads[self.ln_f.clone()];
            rmsnorm_backward(dh, g, &ws.tmp[..n], last, &params[self.ln_f.clone()], &ws.rstd_out[..rows], d);
        }
        for (li, br) in self.blocks.iter().enumerate().rev() {
            let s = 3 * li as u64;
            let ranges = [br.ln1.clone(), br.qkv.clone(), br.out.clone(), br.ln2.clone(), br.gate_up.clone(), br.down.clone()];
            let [g_ln1, g_qkv, g_out, g_ln2, g_gu, g_down] = carve_mut(grads, &ranges);
            // SwiGLU sub-layer
            let la = &ws.layers[li];
            let dy = masked(&ws.dh[..n], &mut ws.dy[..n], self.mask(seed, 3 + s));
            let w2 = &params[br.ln2.clone()];
            rmsnorm_apply(&mut ws.anorm[..n], &la.h1[..n], w2, &la.rstd2[..rows], d);
            let fw = FfnWeights { gu: &params[br.gate_up.clone()], o: &params[br.down.clone()] };
            let fg = FfnGrads { gu: g_gu, o: g_down };
            let (ffn, act, dffn) = (&la.ffn[..2 * rows * f], &mut ws.act[..rows * f], &mut ws.dffn[..2 * rows * f]);
            ffn_backward(&mut ws.tmp[..n], fg, dy, &ws.anorm[..n], ffn, &fw, act, dffn, d, f);
            rmsnorm_backward(&mut ws.dh[..n], g_ln2, &ws.tmp[..n], &la.h1[..n], w2, &la.rstd2[..rows], d);
            // attention sub-layer
            let w1 = &params[br.ln1.clone()];
            rmsnorm_apply(&mut ws.anorm[..n], &ws.hs[li][..n], w1, &la.rstd1[..rows], d);
            let w = AttnWeights { qkv: &params[br.qkv.clone()], out: &params[br.out.clone()] };
            ws.attention_backward(li, AttnGrads { qkv: g_qkv, out: g_out }, &w, true, self.mask(seed, 1 + s), self.mask(seed, 2 + s), sh);
            let la = &ws.layers[li];
            rmsnorm_backward(&mut ws.dh[..n], g_ln1, &ws.tmp[..n], &ws.hs[li][..n], w1, &la.rstd1[..rows], d);
        }
        // h0 = Dropout(E[x])
        dropout_apply(&mut ws.dh[..n], self.mask(seed, 0), 0);
        embedding_backward(&mut grads[self.embed.clone()], &ws.dh[..n], x, d);
    }
}

impl LanguageModel for GptFsp {
    fn version(&self) -> &'static str {
        "v10"
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn vocab(&self) -> usize {
        self.cfg.vocab
    }
    /// Spec §14.3: every linear matrix and E ~ N(0, 0.02²), no residual
    /// rescaling; RMSNorm gains 1.
    fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = vec![0.0f32; self.layout.total];
        for t in &self.layout.tensors {
            let r = t.range();
            if t.shape.len() == 1 {
                p[r].fill(1.0);
            } else {
                for x in &mut p[r] {
                    *x = rng.normal() * 0.02;
                }
            }
        }
        p
    }
    /// The RoPE `inv_freq` buffers (recomputed from the config bit for bit).
    fn is_buffer(&self, name: &str) -> bool {
        name.ends_with(".attn.inv_freq")
    }
    crate::model::lm::tied_head_methods!(TransformerWs, seeded);
    /// KV cache up to the training window, then the reference generator's
    /// crop to the last `window` tokens (decode.rs).
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        Box::new(Decoder::new(self, params))
    }
    /// 6 × (matmul parameters, head included: L·(4d² + 3·d_ff·d) + V·d), plus
    /// per layer 6·T·d for the causal attention (q·k and a·v, 2 flops per key
    /// and feature over T/2 keys on average, ×3 with the backward).
    fn flops_per_token(&self, t: usize) -> f64 {
        let c = &self.cfg;
        let (d, f, v, l) = (c.d_model as f64, c.d_ff as f64, c.vocab as f64, c.n_layers as f64);
        6.0 * (l * (4.0 * d * d + 3.0 * f * d) + v * d) + l * 6.0 * t as f64 * d
    }
    fn flop_formula(&self) -> &'static str {
        "6·(L·(4d² + 3·d_ff·d) + V·d) + L·6·T·d (causal attention)"
    }
    fn describe(&self) -> String {
        crate::model::config::ModelConfig::describe(&self.cfg)
    }
}
