//! Workspace of the v7.1 / v7.2 model: every activation the backward pass
//! reads and its scratch, sized for one (batch, window) shape.

use super::model::Cortex;
use crate::model::blocks::head::HEAD_BLOCK;

#[derive(Default)]
pub(super) struct LayerActs {
    pub(super) rstd1: Vec<f32>,
    pub(super) up: Vec<f32>,
    pub(super) conv: Vec<f32>,
    pub(super) h1: Vec<f32>,
    pub(super) rstd_m: Vec<f32>,
    pub(super) kvq: Vec<f32>,
    pub(super) s: Vec<f32>,
    pub(super) r: Vec<f32>,
    pub(super) h2: Vec<f32>,
    pub(super) rstd2: Vec<f32>,
    pub(super) gu: Vec<f32>,
}

/// All activations and backward scratch for one (batch, window) shape, allocated
/// once and reused every step (llm.c's ActivationTensors).
#[derive(Default)]
pub struct CortexWs {
    pub(super) shape: (usize, usize),
    pub(super) emb: Vec<f32>,
    pub(super) rstd_in: Vec<f32>,
    pub(super) hs: Vec<Vec<f32>>,
    pub(super) layers: Vec<LayerActs>,
    pub(super) rstd_out: Vec<f32>,
    pub(super) hf: Vec<f32>,
    /// one block of logits for the fused head
    pub(super) head_buf: Vec<f32>,
    pub(super) tmp: Vec<f32>,
    /// the current normalised sub-layer input (recomputed in backward)
    pub(super) anorm: Vec<f32>,
    pub(super) dh: Vec<f32>,
    pub(super) dgated: Vec<f32>,
    pub(super) dup: Vec<f32>,
    pub(super) dr: Vec<f32>,
    pub(super) ds: Vec<f32>,
    pub(super) dkvq: Vec<f32>,
    pub(super) dact: Vec<f32>,
    pub(super) dgu: Vec<f32>,
}

impl CortexWs {
    /// Grows buffers to fit `b × t` (never shrinks, so alternating shapes do not reallocate).
    pub(super) fn ensure(&mut self, m: &Cortex, b: usize, t: usize) {
        if self.shape.0 * self.shape.1 >= b * t && self.shape.1 >= t && self.layers.len() == m.cfg.n_layers {
            return;
        }
        let c = &m.cfg;
        let rows = b * t;
        let (d, h, v) = (c.d_model, c.d_ff, c.vocab);
        let dm = c.memory.as_ref().map_or(0, |m| m.d_mem);
        let n = rows * d;
        let z = |len: usize| vec![0.0f32; len];
        let mem = c.memory.is_some();
        let cache_len = m.mem_shape(t).map_or(0, |sh| b * sh.cache_len());
        self.shape = (b, t);
        self.emb = z(n);
        self.rstd_in = z(rows);
        self.hs = (0..=c.n_layers).map(|_| z(n)).collect();
        self.layers = (0..c.n_layers)
            .map(|_| LayerActs {
                rstd1: z(rows),
                up: z(2 * n),
                conv: z(n),
                h1: z(n),
                rstd_m: z(if mem { rows } else { 0 }),
                kvq: z(rows * 3 * dm),
                s: z(cache_len),
                r: z(rows * dm),
                h2: z(if mem { n } else { 0 }),
                rstd2: z(rows),
                gu: z(2 * rows * h),
            })
            .collect();
        self.rstd_out = z(rows);
        self.hf = z(n);
        self.head_buf = z(HEAD_BLOCK.min(rows) * v);
        self.tmp = z(n);
        self.anorm = z(n);
        self.dh = z(n);
        self.dgated = z(n);
        self.dup = z(2 * n);
        self.dr = z(rows * dm);
        self.ds = z(m.mem_shape(t).map_or(0, |sh| b * sh.scratch_len()));
        self.dkvq = z(rows * 3 * dm);
        self.dact = z(rows * h);
        self.dgu = z(2 * rows * h);
    }
}
