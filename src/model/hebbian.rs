//! The v7.2 Hebbian associative memory (spec §10.2), parallel (quadratic) form:
//! k, v, q = W_k·a, W_v·a, W_q·a;  r_t = c · Σ_{i≤t} λ^{t−i} (v_i·q_t) k_i;  out = W_mo·r.
//!
//! Per sequence, with P = Q·Vᵀ (P[t,i] = q_t·v_i) and S = c·Λ⊙P (Λ[t,i] = λ^{t−i} for
//! i ≤ t, else 0): R = S·K. The value is matched against the query and the key is
//! returned, as in the reference (kept for weight compatibility). c is the constant
//! 1/(√d_mem·√T_train) (fix D2), not the current window length.
//! The recurrent form M_t = λM_{t−1} + k_t v_tᵀ, r_t = c·M_t q_t is in generate.rs.

use crate::kernels::matmul::matmul_serial;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

pub struct MemoryWeights<'a> {
    /// key_proj, val_proj, query_proj stacked: [3·d_mem × d]
    pub kvq: &'a [f32],
    /// mem_out: [d × d_mem]
    pub out: &'a [f32],
}

pub struct MemoryGrads<'a> {
    pub kvq: &'a mut [f32],
    pub out: &'a mut [f32],
}

#[derive(Clone, Copy, Debug)]
pub struct MemoryShape {
    pub t: usize,
    pub d: usize,
    pub d_mem: usize,
    pub decay: f32,
    /// the read scale c
    pub scale: f32,
}

impl MemoryShape {
    /// c·λ^Δ for Δ = 0..t
    fn weights(&self) -> Vec<f32> {
        (0..self.t).map(|delta| self.scale * self.decay.powi(delta as i32)).collect()
    }
}

/// Forward. `kvq` [rows × 3·d_mem], `s` [b × t × t] and `r` [rows × d_mem] are kept for backward.
pub fn memory_forward(out: &mut [f32], kvq: &mut [f32], s: &mut [f32], r: &mut [f32], a: &[f32], w: &MemoryWeights, sh: MemoryShape) {
    let (t, d, dm) = (sh.t, sh.d, sh.d_mem);
    let rows = a.len() / d;
    let lam = sh.weights();
    matmul(kvq, 3 * dm, false, MatRef::rows(a, d), MatRef::t(w.kvq, d), rows, 3 * dm, d);
    let kvq_ro: &[f32] = kvq;
    s.par_chunks_mut(t * t).zip(r.par_chunks_mut(t * dm)).enumerate().for_each(|(b, (sb, rb))| {
        let x = &kvq_ro[b * t * 3 * dm..(b + 1) * t * 3 * dm];
        let (kk, vv, qq) = (&x[..], &x[dm..], &x[2 * dm..]);
        // P = Q·Vᵀ
        matmul_serial(sb, t, false, MatRef::rows(qq, 3 * dm), MatRef::t(vv, 3 * dm), t, t, dm);
        for ti in 0..t {
            let row = &mut sb[ti * t..(ti + 1) * t];
            for i in 0..=ti {
                row[i] *= lam[ti - i];
            }
            row[ti + 1..].fill(0.0);
        }
        // R = S·K
        matmul_serial(rb, dm, false, MatRef::rows(sb, t), MatRef::rows(kk, 3 * dm), t, dm, t);
    });
    matmul(out, d, false, MatRef::rows(r, dm), MatRef::t(w.out, dm), rows, d, dm);
}

/// Backward: da overwritten, weight gradients added into `g`.
/// Scratch: `dr` [rows × d_mem], `ds` [b × t × t], `dkvq` [rows × 3·d_mem].
#[allow(clippy::too_many_arguments)]
pub fn memory_backward(
    da: &mut [f32],
    g: MemoryGrads,
    dout: &[f32],
    a: &[f32],
    acts: (&[f32], &[f32], &[f32]),
    w: &MemoryWeights,
    dr: &mut [f32],
    ds: &mut [f32],
    dkvq: &mut [f32],
    sh: MemoryShape,
) {
    let (kvq, s, r) = acts;
    let (t, d, dm) = (sh.t, sh.d, sh.d_mem);
    let rows = a.len() / d;
    let lam = sh.weights();
    matmul(g.out, dm, true, MatRef::t(dout, d), MatRef::rows(r, dm), d, dm, rows);
    matmul(dr, dm, false, MatRef::rows(dout, d), MatRef::rows(w.out, dm), rows, dm, d);
    let dr_ro: &[f32] = dr;
    dkvq.par_chunks_mut(t * 3 * dm).zip(ds.par_chunks_mut(t * t)).enumerate().for_each(|(b, (dx, dsb))| {
        let x = &kvq[b * t * 3 * dm..(b + 1) * t * 3 * dm];
        let (kk, vv, qq) = (&x[..], &x[dm..], &x[2 * dm..]);
        let sb = &s[b * t * t..(b + 1) * t * t];
        let drb = &dr_ro[b * t * dm..(b + 1) * t * dm];
        // R = S·K  ⇒  dK = Sᵀ·dR, dS = dR·Kᵀ
        matmul_serial(dx, 3 * dm, false, MatRef::t(sb, t), MatRef::rows(drb, dm), t, dm, t);
        matmul_serial(dsb, t, false, MatRef::rows(drb, dm), MatRef::t(kk, 3 * dm), t, t, dm);
        // S = c·Λ⊙P  ⇒  dP = c·Λ⊙dS
        for ti in 0..t {
            let row = &mut dsb[ti * t..(ti + 1) * t];
            for i in 0..=ti {
                row[i] *= lam[ti - i];
            }
            row[ti + 1..].fill(0.0);
        }
        // P = Q·Vᵀ  ⇒  dQ = dP·V, dV = dPᵀ·Q
        matmul_serial(&mut dx[2 * dm..], 3 * dm, false, MatRef::rows(dsb, t), MatRef::rows(vv, 3 * dm), t, dm, t);
        matmul_serial(&mut dx[dm..], 3 * dm, false, MatRef::t(dsb, t), MatRef::rows(qq, 3 * dm), t, dm, t);
    });
    matmul(g.kvq, d, true, MatRef::t(dkvq, 3 * dm), MatRef::rows(a, d), 3 * dm, d, rows);
    matmul(da, d, false, MatRef::rows(dkvq, 3 * dm), MatRef::rows(w.kvq, d), rows, d, 3 * dm);
}
