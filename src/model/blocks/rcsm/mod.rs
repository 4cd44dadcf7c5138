//! P-RCSM sub-layer of a v6 block (spec §7.2), composed of the scale bank
//! (bank.rs), the state gate and planner (gate.rs) and the slot memory
//! (memory.rs):
//!
//!   r = W_dn·h;  e = r + Bank(RMS_b(r));  r = e ⊙ σ(W_pg·p);
//!   p' = p + W_pu·RMS_c(p + W_ep·ē)   (only when a next block uses it);
//!   r = Slots(r);  h ← h + σ(ρ)·W_up·r

pub mod bank;
pub mod gate;
pub mod memory;

use self::bank::{bank_backward, bank_forward, BankGrads, BankScratch, BankShape, BankWeights};
use self::gate::{
    gate_backward, gate_forward, planner_backward, planner_forward, summary_backward, summary_forward, GateShape, PlannerActs,
    PlannerGrads, PlannerWeights,
};
use self::memory::{slots_backward, slots_forward, SlotActs, SlotGrads, SlotScratch, SlotWeights};
use super::rmsnorm::{rmsnorm_backward, rmsnorm_forward};
use crate::kernels::ops::sigmoid;
use crate::kernels::vec::dot;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug)]
pub struct RcsmShape {
    pub t: usize,
    pub d: usize,
    pub d_r: usize,
    pub n_s: usize,
    pub n_slots: usize,
    pub d_p: usize,
    /// window-mean planner summary (D6)
    pub compat: bool,
}

impl RcsmShape {
    fn bank(&self) -> BankShape {
        BankShape { t: self.t, d_r: self.d_r, n_s: self.n_s }
    }
    fn gate(&self) -> GateShape {
        GateShape { t: self.t, d_r: self.d_r, d_p: self.d_p, compat: self.compat }
    }
}

/// Weights in the order of the reference state dict (matrices already quantised by the caller).
pub struct RcsmWeights<'a> {
    /// ρ, the residual gate logit
    pub rho: f32,
    /// W_dn [d_r × d]
    pub down: &'a [f32],
    /// RMS_b gain \[d_r\]
    pub norm_b: &'a [f32],
    pub bank: BankWeights<'a>,
    /// W_pg [d_r × d_p]
    pub pg: &'a [f32],
    pub planner: PlannerWeights<'a>,
    pub slots: SlotWeights<'a>,
    /// W_up [d × d_r]
    pub up: &'a [f32],
}

pub struct RcsmGrads<'a> {
    /// \[1\]
    pub rho: &'a mut [f32],
    pub down: &'a mut [f32],
    pub norm_b: &'a mut [f32],
    pub bank: BankGrads<'a>,
    pub pg: &'a mut [f32],
    pub planner: PlannerGrads<'a>,
    pub slots: SlotGrads<'a>,
    pub up: &'a mut [f32],
}

/// Activations of one P-RCSM sub-layer kept for backward.
#[derive(Default)]
pub struct RcsmActs {
    /// W_dn·h, [rows × d_r]
    r0: Vec<f32>,
    rstd_b: Vec<f32>,
    /// RMS_b(r0)
    a: Vec<f32>,
    /// scale outputs [rows × n_s·d_r] and router weights [rows × n_s]
    s: Vec<f32>,
    pi: Vec<f32>,
    /// executor state before gating, the gate, and after gating
    e: Vec<f32>,
    eta: Vec<f32>,
    r1: Vec<f32>,
    /// planner update: ē, c, rstd_c, RMS_c(c)
    ebar: Vec<f32>,
    c: Vec<f32>,
    rstd_c: Vec<f32>,
    nc: Vec<f32>,
    /// slot memory: q, α, [r1 ; m̃], r2
    q: Vec<f32>,
    alpha: Vec<f32>,
    cat: Vec<f32>,
    r2: Vec<f32>,
    /// W_up·r2 [rows × d]
    o: Vec<f32>,
}

impl RcsmActs {
    /// Sizes every buffer for `rows` rows (reusing allocations).
    pub fn fit(&mut self, rows: usize, sh: RcsmShape) {
        let (dr, dp) = (sh.d_r, sh.d_p);
        for x in [&mut self.r0, &mut self.a, &mut self.e, &mut self.eta, &mut self.r1, &mut self.ebar, &mut self.q, &mut self.r2] {
            fit(x, rows * dr);
        }
        fit(&mut self.rstd_b, rows);
        fit(&mut self.rstd_c, rows);
        fit(&mut self.s, rows * sh.n_s * dr);
        fit(&mut self.pi, rows * sh.n_s);
        fit(&mut self.c, rows * dp);
        fit(&mut self.nc, rows * dp);
        fit(&mut self.alpha, rows * sh.n_slots);
        fit(&mut self.cat, rows * 2 * dr);
        fit(&mut self.o, rows * sh.d);
    }
}

/// Scratch shared by every layer (forward uses only `cat_a`).
#[derive(Default)]
pub struct RcsmScratch {
    cat_a: Vec<f32>,
    dcat: Vec<f32>,
    ds: Vec<f32>,
    dz: Vec<f32>,
    dsc: Vec<f32>,
    dout: Vec<f32>,
    dr2: Vec<f32>,
    dr1: Vec<f32>,
    de: Vec<f32>,
    da: Vec<f32>,
    dq: Vec<f32>,
    deta: Vec<f32>,
    debar: Vec<f32>,
    dnc: Vec<f32>,
    dc: Vec<f32>,
}

impl RcsmScratch {
    /// Sizes every buffer for `rows` rows (reusing allocations).
    pub fn fit(&mut self, rows: usize, sh: RcsmShape) {
        let (dr, dp) = (sh.d_r, sh.d_p);
        for x in [&mut self.dr2, &mut self.dr1, &mut self.de, &mut self.da, &mut self.dq, &mut self.deta, &mut self.debar] {
            fit(x, rows * dr);
        }
        fit(&mut self.cat_a, rows * 2 * dr);
        fit(&mut self.dcat, rows * 2 * dr);
        fit(&mut self.ds, rows * sh.n_s * dr);
        fit(&mut self.dz, rows * sh.n_s);
        fit(&mut self.dsc, rows * sh.n_slots);
        fit(&mut self.dout, rows * sh.d);
        fit(&mut self.dnc, rows * dp);
        fit(&mut self.dc, rows * dp);
    }
}

/// Exactly `len` elements, reusing the allocation.
fn fit(v: &mut Vec<f32>, len: usize) {
    v.resize(len, 0.0);
}

crate::vectorized! {
    /// out += σ(ρ)·W_up·r for the P-RCSM of input `x` [rows × d] and planner `p`
    /// [rows × d_p]; writes the next block's planner into `p_next` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn rcsm_forward(
        out: &mut [f32],
        acts: &mut RcsmActs,
        sc: &mut RcsmScratch,
        x: &[f32],
        p: &[f32],
        p_next: Option<&mut [f32]>,
        w: &RcsmWeights,
        sh: RcsmShape,
    ) {
        let (d, dr) = (sh.d, sh.d_r);
        let rows = x.len() / d;
        let ac = acts;
        matmul(&mut ac.r0, dr, false, MatRef::rows(x, d), MatRef::t(w.down, d), rows, dr, d);
        rmsnorm_forward(&mut ac.a, &mut ac.rstd_b, &ac.r0, w.norm_b, dr);
        ac.e.copy_from_slice(&ac.r0);
        bank_forward(&mut ac.e, &mut ac.s, &mut ac.pi, &mut sc.cat_a, &ac.a, &w.bank, sh.bank());
        gate_forward(&mut ac.r1, &mut ac.eta, &ac.e, p, w.pg, sh.gate());
        if let Some(p_next) = p_next {
            summary_forward(&mut ac.ebar, &ac.e, sh.gate());
            let pa = PlannerActs { c: &mut ac.c, rstd: &mut ac.rstd_c, nc: &mut ac.nc };
            planner_forward(p_next, pa, p, &ac.ebar, &w.planner, sh.gate());
        }
        let sa = SlotActs { q: &mut ac.q, alpha: &mut ac.alpha, cat: &mut ac.cat };
        slots_forward(&mut ac.r2, sa, &ac.r1, &w.slots, dr, sh.n_slots);
        matmul(&mut ac.o, d, false, MatRef::rows(&ac.r2, dr), MatRef::t(w.up, dr), rows, d, dr);
        let gate = sigmoid(w.rho);
        out.par_chunks_mut(d).zip(ac.o.par_chunks(d)).for_each(|(h, o)| {
            for j in 0..d {
                h[j] += gate * o[j];
            }
        });
    }
}

crate::vectorized! {
    /// Backward of [`rcsm_forward`]: `dh` = ∂L/∂out on entry, += the path through
    /// W_dn (so it ends as ∂L/∂x, the residual included). `dp` is overwritten with
    /// ∂L/∂p; `dp_next` = ∂L/∂p_next when the forward produced one. Gradients added.
    #[allow(clippy::too_many_arguments)]
    pub fn rcsm_backward(
        dh: &mut [f32],
        dp: &mut [f32],
        dp_next: Option<&[f32]>,
        g: RcsmGrads,
        x: &[f32],
        p: &[f32],
        ac: &RcsmActs,
        w: &RcsmWeights,
        sc: &mut RcsmScratch,
        sh: RcsmShape,
    ) {
        let (d, dr) = (sh.d, sh.d_r);
        let rows = x.len() / d;
        // out += σ(ρ)·o
        let gate = sigmoid(w.rho);
        let d_gate: f32 = dh.chunks(d).zip(ac.o.chunks(d)).map(|(a, b)| dot(a, b)).sum();
        g.rho[0] += d_gate * gate * (1.0 - gate);
        sc.dout.par_chunks_mut(d).zip(dh.par_chunks(d)).for_each(|(o, x)| {
            for j in 0..d {
                o[j] = gate * x[j];
            }
        });
        // o = r2·W_upᵀ
        matmul(g.up, dr, true, MatRef::t(&sc.dout, d), MatRef::rows(&ac.r2, dr), d, dr, rows);
        matmul(&mut sc.dr2, dr, false, MatRef::rows(&sc.dout, d), MatRef::rows(w.up, dr), rows, dr, d);
        // slot memory
        let ss = SlotScratch { dcat: &mut sc.dcat, dsc: &mut sc.dsc, dq: &mut sc.dq };
        slots_backward(&mut sc.dr1, g.slots, &sc.dr2, (&ac.q, &ac.alpha, &ac.cat), &w.slots, ss, dr, sh.n_slots);
        // state gate and planner
        dp.fill(0.0);
        gate_backward(&mut sc.de, dp, g.pg, &sc.dr1, &ac.e, &ac.eta, p, w.pg, &mut sc.deta, sh.gate());
        if let Some(dp_next) = dp_next {
            let acts = (&ac.c[..], &ac.rstd_c[..], &ac.nc[..]);
            planner_backward(dp, &mut sc.debar, g.planner, dp_next, &ac.ebar, acts, &w.planner, &mut sc.dnc, &mut sc.dc, sh.gate());
            summary_backward(&mut sc.de, &mut sc.debar, sh.gate());
        }
        // bank: e = r0 + Bank(RMS_b(r0))
        let bs = BankScratch { ds: &mut sc.ds, dz: &mut sc.dz, cat: &mut sc.cat_a, dcat: &mut sc.dcat };
        bank_backward(&mut sc.da, g.bank, &sc.de, &ac.a, (&ac.s, &ac.pi), &w.bank, bs, sh.bank());
        rmsnorm_backward(&mut sc.de, g.norm_b, &sc.da, &ac.r0, w.norm_b, &ac.rstd_b, dr);
        // r0 = x·W_dnᵀ
        matmul(g.down, d, true, MatRef::t(&sc.de, dr), MatRef::rows(x, d), dr, d, rows);
        matmul(dh, d, true, MatRef::rows(&sc.de, dr), MatRef::rows(w.down, d), rows, d, dr);
    }
}
