//! Workspace of the v4 model: activations, quantised weights and backward
//! scratch for one (batch, window) shape.

use super::config::BoltConfig;
use super::model::TernaryBlock;
use crate::model::blocks::head::HEAD_BLOCK;

#[derive(Default)]
pub(super) struct LayerActs {
    pub(super) rstd1: Vec<f32>,
    /// [g ; u] = Q(W_up)·RMS₁(h)
    pub(super) up: Vec<f32>,
    pub(super) conv: Vec<f32>,
    /// h after the mixer
    pub(super) h1: Vec<f32>,
    pub(super) rstd2: Vec<f32>,
    /// [W_gate·a ; W_up·a]
    pub(super) gu: Vec<f32>,
}

/// Activations, quantised weights and backward scratch for one (batch, window)
/// shape, allocated once and reused every step.
#[derive(Default)]
pub struct BoltWs {
    pub(super) cfg: Option<BoltConfig>,
    pub(super) shape: (usize, usize),
    pub(super) q: Vec<TernaryBlock>,
    pub(super) hs: Vec<Vec<f32>>,
    pub(super) layers: Vec<LayerActs>,
    pub(super) rstd_f: Vec<f32>,
    pub(super) hf: Vec<f32>,
    pub(super) head_buf: Vec<f32>,
    pub(super) tmp: Vec<f32>,
    pub(super) anorm: Vec<f32>,
    pub(super) dh: Vec<f32>,
    pub(super) dgated: Vec<f32>,
    pub(super) dup: Vec<f32>,
    pub(super) dact: Vec<f32>,
    pub(super) dgu: Vec<f32>,
}

impl BoltWs {
    /// Grows buffers to fit `b × t` (never shrinks).
    pub(super) fn ensure(&mut self, c: &BoltConfig, b: usize, t: usize) {
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
