//! Workspace of the v10 FSP model: activations and scratch for one (batch,
//! window) shape.

use super::model::GptFsp;
use crate::model::blocks::attention::rope_table;
use crate::model::blocks::head::HEAD_BLOCK;

#[derive(Default)]
pub(super) struct LayerActs {
    pub(super) rstd1: Vec<f32>,
    pub(super) qkvh: Vec<f32>,
    pub(super) probs: Vec<f32>,
    pub(super) att: Vec<f32>,
    pub(super) h1: Vec<f32>,
    pub(super) rstd2: Vec<f32>,
    /// [gate ; up] pre-activations [rows × 2·d_ff]
    pub(super) gu: Vec<f32>,
}

/// Activations and scratch for one (batch, window) shape, allocated once and reused.
#[derive(Default)]
pub struct GptFspWs {
    pub(super) shape: (usize, usize),
    /// residual stream: hs\[0\] = Dropout(E\[x\]), hs\[l+1\] = output of block l
    pub(super) hs: Vec<Vec<f32>>,
    pub(super) layers: Vec<LayerActs>,
    pub(super) rstd_out: Vec<f32>,
    pub(super) hf: Vec<f32>,
    pub(super) head_buf: Vec<f32>,
    pub(super) tmp: Vec<f32>,
    /// the current normalised sub-layer input (recomputed in backward)
    pub(super) anorm: Vec<f32>,
    pub(super) dh: Vec<f32>,
    pub(super) dy: Vec<f32>,
    pub(super) act: Vec<f32>,
    pub(super) dgu: Vec<f32>,
    pub(super) qkv: Vec<f32>,
    pub(super) heads: Vec<f32>,
    pub(super) pd: Vec<f32>,
    pub(super) datt: Vec<f32>,
    /// RoPE tables [rope_t × hd/2]
    pub(super) rope_t: usize,
    pub(super) cos: Vec<f32>,
    pub(super) sin: Vec<f32>,
}

impl GptFspWs {
    /// Grows buffers to fit `b × t` (never shrinks) and fills the RoPE tables for 0…t−1.
    pub(super) fn ensure(&mut self, m: &GptFsp, b: usize, t: usize) {
        let c = &m.cfg;
        let fits = self.shape.0 * self.shape.1 >= b * t && self.shape.1 >= t && self.layers.len() == c.n_layers;
        if !fits {
            let (rows, d, f, v) = (b * t, c.d_model, c.d_ff, c.vocab);
            let n = rows * d;
            let pl = b * c.n_heads * t * t;
            let z = |len: usize| vec![0.0f32; len];
            self.shape = (b, t);
            self.hs = (0..=c.n_layers).map(|_| z(n)).collect();
            self.layers = (0..c.n_layers)
                .map(|_| LayerActs { rstd1: z(rows), qkvh: z(3 * n), probs: z(pl), att: z(n), h1: z(n), rstd2: z(rows), gu: z(2 * rows * f) })
                .collect();
            self.rstd_out = z(rows);
            self.hf = z(n);
            self.head_buf = z(HEAD_BLOCK.min(rows) * v);
            self.tmp = z(n);
            self.anorm = z(n);
            self.dh = z(n);
            self.dy = z(n);
            self.act = z(rows * f);
            self.dgu = z(2 * rows * f);
            self.qkv = z(3 * n);
            self.heads = z(3 * n);
            self.pd = z(pl);
            self.datt = z(n);
        }
        if self.rope_t != t || self.cos.len() < t * m.inv_freq.len() {
            let half = m.inv_freq.len();
            self.cos.resize(t * half, 0.0);
            self.sin.resize(t * half, 0.0);
            rope_table(&mut self.cos[..t * half], &mut self.sin[..t * half], 0, &m.inv_freq);
            self.rope_t = t;
        }
    }
}
