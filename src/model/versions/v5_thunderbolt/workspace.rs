//! Workspace of the v5 model: activations and scratch for one (batch, window)
//! shape.

use super::model::{BlockWeights, Thunderbolt};
use crate::model::blocks::head::HEAD_BLOCK;

#[derive(Default)]
pub(super) struct LayerActs {
    /// [z_f | z_v | z_o] = Q(W_fvo)·a, [rows × 3d]
    pub(super) z: Vec<f32>,
    /// h after the recurrence sub-layer, [rows × d]
    pub(super) h1: Vec<f32>,
    /// FFN pre-activation Q(W_up)·b', [rows × H]
    pub(super) u: Vec<f32>,
}

/// Activations and scratch for one (batch, window) shape, allocated once and
/// reused; sizes in [`Thunderbolt::workspace_floats`].
#[derive(Default)]
pub struct ThunderboltWs {
    pub(super) shape: (usize, usize),
    pub(super) hs: Vec<Vec<f32>>,
    pub(super) layers: Vec<LayerActs>,
    /// LN output (LN₁, LN₂, then LN_out = the head input)
    pub(super) an: Vec<f32>,
    /// token-shifted LN output (the sub-layer input); ∂L/∂LN_out from the head
    pub(super) a: Vec<f32>,
    /// q = o ⊙ c; backward: ∂L/∂(LN output)
    pub(super) q: Vec<f32>,
    /// scan states c
    pub(super) c: Vec<f32>,
    /// GroupNorm output; backward: ∂L/∂q
    pub(super) gn: Vec<f32>,
    /// ∂L/∂h (residual stream)
    pub(super) dh: Vec<f32>,
    /// backward: ∂L/∂a, ∂L/∂GN
    pub(super) tmp: Vec<f32>,
    pub(super) mean: Vec<f32>,
    pub(super) rstd: Vec<f32>,
    pub(super) gmean: Vec<f32>,
    pub(super) grstd: Vec<f32>,
    /// ReLU² activation / ∂u [rows × H]; ∂z [rows × 3d]
    pub(super) big: Vec<f32>,
    pub(super) head_buf: Vec<f32>,
    pub(super) qw: BlockWeights,
}

impl ThunderboltWs {
    /// Grows buffers to fit `b × t` (never shrinks, so alternating shapes do not reallocate).
    pub(super) fn ensure(&mut self, m: &Thunderbolt, b: usize, t: usize) {
        if self.shape.0 * self.shape.1 >= b * t && self.shape.1 >= t && self.layers.len() == m.cfg.n_layers {
            return;
        }
        let c = &m.cfg;
        let (rows, d, h) = (b * t, c.d_model, c.d_ff);
        let n = rows * d;
        let z = |len: usize| vec![0.0f32; len];
        self.shape = (b, t);
        self.hs = (0..=c.n_layers).map(|_| z(n)).collect();
        self.layers = (0..c.n_layers).map(|_| LayerActs { z: z(3 * n), h1: z(n), u: z(rows * h) }).collect();
        self.an = z(n);
        self.a = z(n);
        self.q = z(n);
        self.c = z(n);
        self.gn = z(n);
        self.dh = z(n);
        self.tmp = z(n);
        self.mean = z(rows);
        self.rstd = z(rows);
        self.gmean = z(rows * c.groups);
        self.grstd = z(rows * c.groups);
        self.big = z(rows * (3 * d).max(h));
        self.head_buf = z(HEAD_BLOCK.min(rows) * c.vocab);
        self.qw = BlockWeights { fvo: z(3 * d * d), proj: z(d * d), up: z(h * d), down: z(d * h) };
    }

    /// Floats currently allocated (compare with [`Thunderbolt::workspace_floats`]).
    pub fn floats(&self) -> usize {
        let v = |x: &Vec<f32>| x.len();
        self.hs.iter().map(v).sum::<usize>()
            + self.layers.iter().map(|l| l.z.len() + l.h1.len() + l.u.len()).sum::<usize>()
            + [&self.an, &self.a, &self.q, &self.c, &self.gn, &self.dh, &self.tmp].into_iter().map(v).sum::<usize>()
            + [&self.mean, &self.rstd, &self.gmean, &self.grstd, &self.big, &self.head_buf].into_iter().map(v).sum::<usize>()
            + [&self.qw.fvo, &self.qw.proj, &self.qw.up, &self.qw.down].into_iter().map(v).sum::<usize>()
    }
}
