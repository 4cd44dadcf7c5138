//! Workspace of the v6 model: activations and scratch for one (batch, window)
//! shape.

use super::config::SupernovaConfig;
use super::model::Supernova;
use crate::model::blocks::head::HEAD_BLOCK;
use crate::model::blocks::rcsm::{RcsmActs, RcsmScratch};

#[derive(Default)]
pub(super) struct LayerActs {
    pub(super) rstd_a: Vec<f32>,
    pub(super) m: Vec<f32>,
    pub(super) g: Vec<f32>,
    pub(super) v: Vec<f32>,
    pub(super) h1: Vec<f32>,
    pub(super) rcsm: RcsmActs,
    pub(super) h2: Vec<f32>,
    pub(super) rstd_d: Vec<f32>,
    pub(super) gu: Vec<f32>,
}

/// Activations and scratch for one (batch, window) shape, allocated once and reused.
#[derive(Default)]
pub struct SupernovaWs {
    pub(super) shape: (usize, usize),
    pub(super) cfg: Option<SupernovaConfig>,
    /// Q(W) of every ternary matrix (flat layout)
    pub(super) q: Vec<f32>,
    /// block inputs h_l, [rows × d] each (hs\[0\] = scaled embedding)
    pub(super) hs: Vec<Vec<f32>>,
    /// planner entering block l, [rows × d_p] each
    pub(super) ps: Vec<Vec<f32>>,
    pub(super) layers: Vec<LayerActs>,
    pub(super) rstd_out: Vec<f32>,
    pub(super) hf: Vec<f32>,
    pub(super) head_buf: Vec<f32>,
    /// the current normalised sub-layer input (recomputed in backward)
    pub(super) u: Vec<f32>,
    pub(super) tmp: Vec<f32>,
    pub(super) cat: Vec<f32>,
    pub(super) dcat: Vec<f32>,
    pub(super) dv: Vec<f32>,
    pub(super) dg: Vec<f32>,
    pub(super) dh: Vec<f32>,
    pub(super) dact: Vec<f32>,
    pub(super) dgu: Vec<f32>,
    pub(super) dp: Vec<f32>,
    pub(super) dp_next: Vec<f32>,
    pub(super) rcsm: RcsmScratch,
}

impl SupernovaWs {
    /// Sizes every buffer for exactly `b × t` rows of this config. `Vec::resize`
    /// keeps the capacity, so changing shapes (e.g. a growing generation window)
    /// only allocates when a buffer outgrows everything seen before. Every
    /// buffer is written before it is read in each pass, so stale tails are harmless.
    pub(super) fn ensure(&mut self, m: &Supernova, b: usize, t: usize) {
        if self.shape == (b, t) && self.cfg.as_ref() == Some(&m.cfg) {
            return;
        }
        let c = &m.cfg;
        let rows = b * t;
        let (d, h, dp, v) = (c.d_model, c.d_ff, c.d_planner, c.vocab);
        let n = rows * d;
        let sh = m.shape(t);
        self.shape = (b, t);
        self.cfg = Some(c.clone());
        self.hs.resize_with(c.n_layers + 1, Vec::new);
        self.hs.iter_mut().for_each(|x| fit(x, n));
        self.ps.resize_with(c.n_layers, Vec::new);
        self.ps.iter_mut().for_each(|x| fit(x, rows * dp));
        self.layers.resize_with(c.n_layers, LayerActs::default);
        for la in &mut self.layers {
            fit(&mut la.rstd_a, rows);
            for x in [&mut la.m, &mut la.g, &mut la.v, &mut la.h1, &mut la.h2] {
                fit(x, n);
            }
            la.rcsm.fit(rows, sh);
            fit(&mut la.rstd_d, rows);
            fit(&mut la.gu, 2 * rows * h);
        }
        fit(&mut self.rstd_out, rows);
        fit(&mut self.head_buf, HEAD_BLOCK.min(rows) * v);
        for x in [&mut self.hf, &mut self.u, &mut self.tmp, &mut self.dv, &mut self.dg, &mut self.dh] {
            fit(x, n);
        }
        fit(&mut self.cat, 2 * n);
        fit(&mut self.dcat, 2 * n);
        fit(&mut self.dact, rows * h);
        fit(&mut self.dgu, 2 * rows * h);
        fit(&mut self.dp, rows * dp);
        fit(&mut self.dp_next, rows * dp);
        self.rcsm.fit(rows, sh);
    }
}

/// Exactly `len` elements, reusing the allocation.
fn fit(v: &mut Vec<f32>, len: usize) {
    v.resize(len, 0.0);
}
