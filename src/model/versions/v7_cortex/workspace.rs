//! Workspace of the v7 model: activations, quantised weights and scratch for
//! one (batch, window) shape.

use super::model::CortexV7;
use crate::model::blocks::exit_head::{ExitBuffers, ExitTerms, RowStats};
use crate::model::blocks::head::HEAD_BLOCK;

#[derive(Default)]
pub(super) struct LayerActs {
    pub(super) rstd1: Vec<f32>,
    /// σ(r), k, v [rows × 3d]
    pub(super) rkv: Vec<f32>,
    /// decayed state S [rows × d]
    pub(super) s: Vec<f32>,
    pub(super) rstd_x: Vec<f32>,
    pub(super) h1: Vec<f32>,
    pub(super) rstd2: Vec<f32>,
    pub(super) gu: Vec<f32>,
}

/// Activations and scratch for one (batch, window) shape, allocated once and reused.
#[derive(Default)]
pub(super) struct V7Ws {
    pub(super) shape: (usize, usize),
    /// positions of the last objective (for `last_agreement`)
    pub(super) last_rows: usize,
    /// per exit, the terms of the last objective
    pub(super) exit_terms: Vec<ExitTerms>,
    /// Q(W) of every BitLinear matrix (ternary path)
    pub(super) q: Vec<f32>,
    /// w = σ(δ) per layer [L × d]
    pub(super) wdec: Vec<f32>,
    pub(super) emb: Vec<f32>,
    pub(super) rstd_in: Vec<f32>,
    pub(super) hs: Vec<Vec<f32>>,
    pub(super) layers: Vec<LayerActs>,
    pub(super) rstd_out: Vec<f32>,
    pub(super) hf: Vec<f32>,
    pub(super) head_buf: Vec<f32>,
    pub(super) main: Vec<RowStats>,
    pub(super) argmax: Vec<u32>,
    pub(super) exit: Vec<ExitBuffers>,
    pub(super) tmp: Vec<f32>,
    pub(super) anorm: Vec<f32>,
    pub(super) dh: Vec<f32>,
    pub(super) y: Vec<f32>,
    pub(super) nrm: Vec<f32>,
    pub(super) drkv: Vec<f32>,
    pub(super) carry: Vec<f32>,
    pub(super) dact: Vec<f32>,
    pub(super) dgu: Vec<f32>,
}

impl V7Ws {
    /// Grows buffers to fit `b × t` (never shrinks, so alternating shapes do not reallocate).
    pub(super) fn ensure(&mut self, m: &CortexV7, b: usize, t: usize) {
        let fits = self.shape.0 * self.shape.1 >= b * t && self.shape.0 >= b;
        if fits && self.layers.len() == m.cfg.n_layers && self.exit.len() == m.exits.len() && self.q.len() == m.q_len {
            return;
        }
        let c = &m.cfg;
        let (b, t) = (b.max(self.shape.0), t.max(self.shape.1));
        let rows = b * t;
        let (d, f, v) = (c.d_model, c.d_ff, c.vocab);
        let n = rows * d;
        let z = |len: usize| vec![0.0f32; len];
        self.shape = (b, t);
        self.q = z(m.q_len);
        self.wdec = z(c.n_layers * d);
        self.emb = z(n);
        self.rstd_in = z(rows);
        self.hs = (0..=c.n_layers).map(|_| z(n)).collect();
        self.layers = (0..c.n_layers)
            .map(|_| LayerActs { rstd1: z(rows), rkv: z(3 * n), s: z(n), rstd_x: z(rows), h1: z(n), rstd2: z(rows), gu: z(2 * rows * f) })
            .collect();
        self.rstd_out = z(rows);
        self.hf = z(n);
        self.head_buf = z(HEAD_BLOCK.min(rows) * v);
        self.main = vec![RowStats::default(); rows];
        self.argmax = vec![0; rows];
        self.exit = (0..m.exits.len())
            .map(|_| {
                let mut e = ExitBuffers::default();
                e.ensure(rows, d);
                e
            })
            .collect();
        self.tmp = z(n);
        self.anorm = z(n);
        self.dh = z(n);
        self.y = z(n);
        self.nrm = z(n);
        self.drkv = z(3 * n);
        self.carry = z(2 * b * d);
        self.dact = z(rows * f);
        self.dgu = z(2 * rows * f);
    }
}
