//! What the two pre-norm transformers (v5.2, v10) keep and share: the
//! training workspace of one (batch, window) shape, the attention sub-layer
//! run on it forward and backward, and the decoders' key/value cache.
//!
//!   per block: a = Norm₁(h); h₁ = h + Drop(W_o·Attn(a))
//!              a = Norm₂(h₁); h' = h₁ + Drop(FFN(a))
//!
//! The versions differ in their norms (LayerNorm keeps a mean per row,
//! RMSNorm does not), their gated FFN and their dropout sites; those stay in
//! the version's `model.rs`, which reads like its spec section.

use super::attention::{
    attention_backward, attention_forward, rope_rotate, rope_rotate_pairs, rope_table, softmax_scaled, AttnActs, AttnGrads, AttnSaved,
    AttnScratch, AttnShape, AttnWeights, Rope,
};
use super::dropout::{dropout_apply, DropMask};
use super::head::HEAD_BLOCK;
use crate::kernels::vec::{matvec, weighted_rows};

/// The sizes a workspace is laid out for.
#[derive(Clone, Copy, Debug)]
pub struct TransformerDims {
    pub n_layers: usize,
    pub d_model: usize,
    /// width of the gated FFN's hidden layer (its [gate ; up] pre-activations are twice that)
    pub d_ff: usize,
    pub n_heads: usize,
    pub vocab: usize,
    /// LayerNorm (keeps a mean per row) rather than RMSNorm
    pub norm_means: bool,
}

/// One layer's activations kept for backward.
#[derive(Default)]
pub struct LayerActs {
    /// Norm₁'s row means (LayerNorm only) and reciprocal deviations
    pub mean1: Vec<f32>,
    pub rstd1: Vec<f32>,
    pub qkvh: Vec<f32>,
    pub probs: Vec<f32>,
    pub att: Vec<f32>,
    /// the stream after the attention sub-layer
    pub h1: Vec<f32>,
    pub mean2: Vec<f32>,
    pub rstd2: Vec<f32>,
    /// the gated FFN's [gate ; up] pre-activations [rows × 2·d_ff]
    pub ffn: Vec<f32>,
}

/// Activations and scratch for one (batch, window) shape, allocated once and reused.
#[derive(Default)]
pub struct TransformerWs {
    pub shape: (usize, usize),
    /// residual stream: hs\[0\] = Dropout(E\[x\]), hs\[l+1\] = output of block l
    pub hs: Vec<Vec<f32>>,
    pub layers: Vec<LayerActs>,
    /// the final norm's row statistics (means: LayerNorm only)
    pub mean_out: Vec<f32>,
    pub rstd_out: Vec<f32>,
    /// the final norm's output, read by the head (and FSP)
    pub hf: Vec<f32>,
    pub head_buf: Vec<f32>,
    /// a sub-layer's output; in backward ∂L/∂hf, then ∂L/∂(sub-layer input)
    pub tmp: Vec<f32>,
    /// the current normalised sub-layer input (recomputed in backward)
    pub anorm: Vec<f32>,
    pub dh: Vec<f32>,
    pub dy: Vec<f32>,
    pub act: Vec<f32>,
    pub dffn: Vec<f32>,
    pub qkv: Vec<f32>,
    pub heads: Vec<f32>,
    pub pd: Vec<f32>,
    pub datt: Vec<f32>,
    /// RoPE tables [rope_t × hd/2]
    pub rope_t: usize,
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
}

impl TransformerWs {
    /// Grows buffers to fit `b × t` (never shrinks) and fills the RoPE tables for 0…t−1.
    pub fn ensure(&mut self, c: TransformerDims, inv_freq: &[f32], b: usize, t: usize) {
        let fits = self.shape.0 * self.shape.1 >= b * t && self.shape.1 >= t && self.layers.len() == c.n_layers;
        if !fits {
            let (rows, d, f) = (b * t, c.d_model, c.d_ff);
            let n = rows * d;
            let pl = b * c.n_heads * t * t;
            let z = |len: usize| vec![0.0f32; len];
            let means = if c.norm_means { rows } else { 0 };
            self.shape = (b, t);
            self.hs = (0..=c.n_layers).map(|_| z(n)).collect();
            self.layers = (0..c.n_layers)
                .map(|_| LayerActs {
                    mean1: z(means),
                    rstd1: z(rows),
                    qkvh: z(3 * n),
                    probs: z(pl),
                    att: z(n),
                    h1: z(n),
                    mean2: z(means),
                    rstd2: z(rows),
                    ffn: z(2 * rows * f),
                })
                .collect();
            self.mean_out = z(means);
            self.rstd_out = z(rows);
            self.hf = z(n);
            self.head_buf = z(HEAD_BLOCK.min(rows) * c.vocab);
            self.tmp = z(n);
            self.anorm = z(n);
            self.dh = z(n);
            self.dy = z(n);
            self.act = z(rows * f);
            self.dffn = z(2 * rows * f);
            self.qkv = z(3 * n);
            self.heads = z(3 * n);
            self.pd = z(pl);
            self.datt = z(n);
        }
        if self.rope_t != t || self.cos.len() < t * inv_freq.len() {
            let half = inv_freq.len();
            self.cos.resize(t * half, 0.0);
            self.sin.resize(t * half, 0.0);
            rope_table(&mut self.cos[..t * half], &mut self.sin[..t * half], 0, inv_freq);
            self.rope_t = t;
        }
    }

    /// `tmp` = W_o·Attn(`anorm`) for layer `li`, keeping its activations;
    /// `probs_drop` masks the attention probabilities.
    pub fn attention_forward(&mut self, li: usize, w: &AttnWeights, interleaved: bool, probs_drop: DropMask, sh: AttnShape) {
        let (n, half) = (sh.rows() * sh.d, sh.hd() / 2);
        let rope = Rope { cos: &self.cos[..sh.t * half], sin: &self.sin[..sh.t * half], interleaved };
        let la = &mut self.layers[li];
        let acts = AttnActs { qkvh: &mut la.qkvh[..3 * n], probs: &mut la.probs[..sh.probs_len()], att: &mut la.att[..n] };
        let scratch = AttnScratch { qkv: &mut self.qkv, heads: &mut self.heads, pd: &mut self.pd, datt: &mut self.datt };
        attention_forward(&mut self.tmp[..n], acts, scratch, &self.anorm[..n], w, rope, probs_drop, sh);
    }

    /// `tmp` = ∂L/∂(`anorm`) of layer `li`'s attention sub-layer, from ∂L/∂h
    /// in `dh` masked by the dropout `out_drop` that followed W_o; weight
    /// gradients accumulate into `g`. `anorm` must hold Norm₁ of the layer's input.
    #[allow(clippy::too_many_arguments)]
    pub fn attention_backward(
        &mut self,
        li: usize,
        g: AttnGrads,
        w: &AttnWeights,
        interleaved: bool,
        probs_drop: DropMask,
        out_drop: DropMask,
        sh: AttnShape,
    ) {
        let (n, half) = (sh.rows() * sh.d, sh.hd() / 2);
        let rope = Rope { cos: &self.cos[..sh.t * half], sin: &self.sin[..sh.t * half], interleaved };
        let la = &self.layers[li];
        let saved = AttnSaved { qkvh: &la.qkvh[..3 * n], probs: &la.probs[..sh.probs_len()], att: &la.att[..n] };
        let dy = masked(&self.dh[..n], &mut self.dy[..n], out_drop);
        let scratch = AttnScratch { qkv: &mut self.qkv, heads: &mut self.heads, pd: &mut self.pd, datt: &mut self.datt };
        attention_backward(&mut self.tmp[..n], g, dy, &self.anorm[..n], saved, w, scratch, rope, probs_drop, sh);
    }
}

/// `dh` ⊙ the dropout mask, written into `buf` when the mask is active.
pub fn masked<'a>(dh: &'a [f32], buf: &'a mut [f32], mask: DropMask) -> &'a [f32] {
    if mask.is_active() {
        buf.copy_from_slice(dh);
        dropout_apply(buf, mask, 0);
        buf
    } else {
        dh
    }
}

/// Context length from which a decoder runs the heads of one layer on the rayon pool.
const PAR_KEYS: usize = 256;

/// A decoder's keys (RoPE applied) and values of every cached position, per
/// head [pos × hd] each: one head's scan reads contiguous memory (with
/// [pos × d] rows it read 256 bytes every 1 KB, and long contexts ran at the
/// speed of cache misses).
#[derive(Clone, Default)]
pub struct KvCache {
    pub k: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl KvCache {
    pub fn new(heads: usize) -> Self {
        KvCache { k: vec![Vec::new(); heads], v: vec![Vec::new(); heads] }
    }

    pub fn is_empty(&self) -> bool {
        self.k.iter().all(Vec::is_empty)
    }

    /// Drops every cached position and frees its memory.
    pub fn release(&mut self) {
        self.k.iter_mut().chain(self.v.iter_mut()).for_each(|x| *x = Vec::new());
    }

    /// Caches the newest position from its projections `qkv` = [q ; k ; v]
    /// \[3d\], keys rotated by the angles `cos`/`sin` \[hd/2\]; `q` \[d\] gets the
    /// rotated query.
    #[inline(always)]
    pub fn push(&mut self, q: &mut [f32], qkv: &[f32], cos: &[f32], sin: &[f32], interleaved: bool) {
        let heads = self.k.len();
        let d = q.len();
        let hd = d / heads;
        let rotate =
            |out: &mut [f32], x: &[f32]| if interleaved { rope_rotate_pairs(out, x, cos, sin) } else { rope_rotate(out, x, cos, sin) };
        for hi in 0..heads {
            let r = hi * hd..(hi + 1) * hd;
            rotate(&mut q[r.clone()], &qkv[r.clone()]);
            let k = &mut self.k[hi];
            k.resize(k.len() + hd, 0.0);
            let start = k.len() - hd;
            rotate(&mut k[start..], &qkv[d + r.start..d + r.end]);
            self.v[hi].extend_from_slice(&qkv[2 * d + r.start..2 * d + r.end]);
        }
    }

    /// `o` \[d\] = the heads of softmax(q·Kᵀ/√hd)·V over every cached position
    /// for the rotated query `q` \[d\]; `scores` is scratch. With `parallel`,
    /// the heads run on the rayon pool once the context is long.
    #[inline(always)]
    pub fn attend(&self, o: &mut [f32], scores: &mut Vec<f32>, q: &[f32], parallel: bool) {
        let heads = self.k.len();
        let hd = q.len() / heads;
        let n_keys = self.k[0].len() / hd;
        let scale = 1.0 / (hd as f32).sqrt();
        scores.resize(heads * n_keys, 0.0);
        let head =
            |hi: usize, o: &mut [f32], sc: &mut [f32]| attend_head(o, sc, &q[hi * hd..(hi + 1) * hd], &self.k[hi], &self.v[hi], scale);
        if parallel && n_keys >= PAR_KEYS {
            use rayon::prelude::*;
            o.par_chunks_mut(hd).zip(scores.par_chunks_mut(n_keys)).enumerate().for_each(|(hi, (o, sc))| head(hi, o, sc));
        } else {
            for (hi, (o, sc)) in o.chunks_mut(hd).zip(scores.chunks_mut(n_keys)).enumerate() {
                head(hi, o, sc);
            }
        }
    }
}

/// One head's attention for the newest query: scores over the cached keys
/// `k` [pos × hd], softmax, weighted sum of the values `v` [pos × hd].
#[inline(always)]
fn attend_head(o: &mut [f32], scores: &mut [f32], q: &[f32], k: &[f32], v: &[f32], scale: f32) {
    // the keys as the rows of a matrix: the product takes four keys at a time
    // (a dot per key waited on each key's horizontal sum)
    matvec(scores, &k[..scores.len() * q.len()], q, false);
    softmax_scaled(scores, scale);
    weighted_rows(o, scores, v);
}
