//! Workspace of the CPUFlow model: every activation the backward pass reads
//! and its scratch, sized for one (batch, window) shape.

use super::model::CpuFlow;
use crate::model::blocks::head::HEAD_BLOCK;

#[derive(Default)]
pub(super) struct LayerActs {
    pub(super) mean1: Vec<f32>,
    pub(super) rstd1: Vec<f32>,
    pub(super) qkv: Vec<f32>,
    pub(super) n: Vec<f32>,
    pub(super) den: Vec<f32>,
    pub(super) s: Vec<f32>,
    /// scan output (+ memory output): what W_out multiplies
    pub(super) merged: Vec<f32>,
    pub(super) h1: Vec<f32>,
    pub(super) mean2: Vec<f32>,
    pub(super) rstd2: Vec<f32>,
    pub(super) up: Vec<f32>,
    // memory (empty without one)
    pub(super) sig: Vec<f32>,
    pub(super) idx: Vec<u32>,
    pub(super) wt: Vec<f32>,
    pub(super) what: Vec<f32>,
    pub(super) gate: Vec<f32>,
    pub(super) val: Vec<f32>,
    pub(super) phi: Vec<f32>,
    pub(super) r: Vec<f32>,
    pub(super) rho: Vec<f32>,
    pub(super) states: Vec<f32>,
}

/// All activations and backward scratch for one (batch, window) shape, allocated
/// once and reused every step.
#[derive(Default)]
pub struct CpuFlowWs {
    pub(super) shape: (usize, usize),
    /// the position table P [t × d]
    pub(super) pos: Vec<f32>,
    pub(super) hs: Vec<Vec<f32>>,
    pub(super) layers: Vec<LayerActs>,
    pub(super) mean_f: Vec<f32>,
    pub(super) rstd_f: Vec<f32>,
    pub(super) hf: Vec<f32>,
    pub(super) head_buf: Vec<f32>,
    pub(super) tmp: Vec<f32>,
    pub(super) anorm: Vec<f32>,
    pub(super) dh: Vec<f32>,
    pub(super) dmerged: Vec<f32>,
    pub(super) ds: Vec<f32>,
    pub(super) dqkv: Vec<f32>,
    pub(super) dffn: Vec<f32>,
    pub(super) drho: Vec<f32>,
    pub(super) dr: Vec<f32>,
    pub(super) dphi: Vec<f32>,
    pub(super) dval: Vec<f32>,
    pub(super) dwhat: Vec<f32>,
    pub(super) dsig: Vec<f32>,
    pub(super) gmem: Vec<f32>,
}

impl CpuFlowWs {
    /// Grows buffers to fit `b × t` (never shrinks).
    pub(super) fn ensure(&mut self, m: &CpuFlow, b: usize, t: usize) {
        if self.shape.0 >= b && self.shape.1 >= t && self.layers.len() == m.cfg.n_layers {
            return;
        }
        let c = &m.cfg;
        let (b, t) = (b.max(self.shape.0), t.max(self.shape.1));
        let rows = b * t;
        let (d, k, h, v) = (c.d_model, c.k, c.d_ff, c.vocab);
        let n = rows * d;
        let z = |len: usize| vec![0.0f32; len];
        let sh = m.ram_shape(t);
        let (ns, top, dv) = sh.map_or((0, 0, 0), |s| (3 * s.d_sub, s.top, s.d_v));
        let states = sh.map_or(0, |s| b * s.states_len());
        let slots = sh.map_or(0, |s| b * s.slots() * s.d_v);
        self.shape = (b, t);
        self.pos = z(t * d);
        self.hs = (0..=c.n_layers).map(|_| z(n)).collect();
        self.layers = (0..c.n_layers)
            .map(|_| LayerActs {
                mean1: z(rows),
                rstd1: z(rows),
                qkv: z(rows * 3 * k),
                n: z(rows * k),
                den: z(rows * k),
                s: z(rows * k),
                merged: z(rows * k),
                h1: z(n),
                mean2: z(rows),
                rstd2: z(rows),
                up: z(rows * h),
                sig: z(rows * ns),
                idx: vec![0; rows * top],
                wt: z(rows * top),
                what: z(rows * top),
                gate: z(rows * dv),
                val: z(rows * dv),
                phi: z(rows * dv),
                r: z(rows * dv),
                rho: z(rows * dv),
                states: z(states),
            })
            .collect();
        self.mean_f = z(rows);
        self.rstd_f = z(rows);
        self.hf = z(n);
        self.head_buf = z(HEAD_BLOCK.min(rows) * v);
        self.tmp = z(n);
        self.anorm = z(n);
        self.dh = z(n);
        self.dmerged = z(rows * k);
        self.ds = z(rows * k);
        self.dqkv = z(rows * 3 * k);
        self.dffn = z(rows * h);
        self.drho = z(rows * dv);
        self.dr = z(rows * dv);
        self.dphi = z(rows * dv);
        self.dval = z(rows * dv);
        self.dwhat = z(rows * top);
        self.dsig = z(rows * ns);
        self.gmem = z(slots);
    }
}
