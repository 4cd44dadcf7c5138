//! The v7.2 Hebbian associative memory (spec §10.2), parallel (quadratic) form:
//! k, v, q = W_k·a, W_v·a, W_q·a;  r_t = c · Σ_{i≤t} λ^{t−i} (v_i·q_t) k_i;  out = W_mo·r.
//!
//! Per sequence, with P = Q·Vᵀ (P\[t,i\] = q_t·v_i) and S = c·Λ⊙P (Λ\[t,i\] = λ^{t−i} for
//! i ≤ t, else 0): R = S·K. The value is matched against the query and the key is
//! returned, as in the reference (kept for weight compatibility). c is the constant
//! 1/(√d_mem·√T_train) (fix D2), not the current window length.
//! The recurrent form M_t = λM_{t−1} + k_t v_tᵀ, r_t = c·M_t q_t is in generate.rs.
//!
//! Training uses the chunkwise form (`memory_forward` / `memory_backward`): the
//! exact quadratic form inside chunks of C positions, plus a running d_mem × d_mem
//! state M carried across chunks, so the work is O(T·C·d_mem + T·d_mem²) instead
//! of O(T²·d_mem). For a chunk [s, e) with L = e − s:
//!   r_t = c·λ^{t−s+1}·M_{s−1} q_t + c·Σ_{s≤i≤t} λ^{t−i} (v_i·q_t) k_i
//!   M_{e−1} = λ^L·M_{s−1} + Σ_{i∈chunk} λ^{e−1−i} k_i v_iᵀ
//! The quadratic form over the whole window is kept (`*_quadratic`) as the
//! reference the tests compare against.

use crate::kernels::matmul::matmul_serial;
use crate::kernels::scratch::{self, Scratch};
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
    /// positions per chunk in the chunkwise form
    pub chunk: usize,
}

/// The chunk size used by the model: 64 balances the quadratic in-chunk work
/// against the d_mem × d_mem state products.
pub const CHUNK: usize = 64;

crate::vectorized! {
    /// Applies S\[t,i\] ← w\[t−i\]·S\[t,i\] for i ≤ t and 0 above the diagonal, in place on
    /// an [n × n] block (w = c·λ^Δ: the causal decay mask of the forward and backward).
    fn causal_decay(block: &mut [f32], n: usize, w: &[f32]) {
        for ti in 0..n {
            let row = &mut block[ti * n..(ti + 1) * n];
            for i in 0..=ti {
                row[i] *= w[ti - i];
            }
            row[ti + 1..].fill(0.0);
        }
    }
}

impl MemoryShape {
    fn chunks(&self) -> usize {
        self.t.div_ceil(self.chunk.max(1))
    }

    fn c(&self) -> usize {
        self.chunk.max(1).min(self.t)
    }

    /// Floats per sequence of the forward cache (`s` of memory_forward): per chunk
    /// its masked score block [C × C] and the state before it [d_mem × d_mem], plus
    /// two [C × d_mem] scratch blocks.
    pub fn cache_len(&self) -> usize {
        let (c, dm) = (self.c(), self.d_mem);
        self.chunks() * (c * c + dm * dm) + 2 * c * dm
    }

    /// Floats per sequence of the backward scratch (`ds` of memory_backward).
    pub fn scratch_len(&self) -> usize {
        let c = self.c();
        c * c + self.d_mem * self.d_mem
    }

    /// c·λ^Δ for Δ = 0..t
    fn weights(&self) -> Scratch {
        let mut w = scratch::zeroed(self.t);
        for (delta, w) in w.iter_mut().enumerate() {
            *w = self.scale * self.decay.powi(delta as i32);
        }
        w
    }

    /// λ^Δ for Δ = 0..=c
    fn powers(&self) -> Scratch {
        let mut p = scratch::zeroed(self.c() + 1);
        for (k, p) in p.iter_mut().enumerate() {
            *p = self.decay.powi(k as i32);
        }
        p
    }
}

crate::vectorized! {
    /// Reference quadratic forward over the whole window. `kvq` [rows × 3·d_mem],
    /// `s` [b × t × t] and `r` [rows × d_mem] are kept for backward.
    pub fn memory_forward_quadratic(
        out: &mut [f32],
        kvq: &mut [f32],
        s: &mut [f32],
        r: &mut [f32],
        a: &[f32],
        w: &MemoryWeights,
        sh: MemoryShape,
    ) {
        let (t, d, dm) = (sh.t, sh.d, sh.d_mem);
        let rows = a.len() / d;
        let lam = sh.weights();
        matmul(kvq, 3 * dm, false, MatRef::rows(a, d), MatRef::t(w.kvq, d), rows, 3 * dm, d);
        let kvq_ro: &[f32] = kvq;
        s.par_chunks_mut(t * t).zip(r.par_chunks_mut(t * dm)).enumerate().for_each(|(b, (sb, rb))| {
            let x = &kvq_ro[b * t * 3 * dm..(b + 1) * t * 3 * dm];
            let (kk, vv, qq) = (x, &x[dm..], &x[2 * dm..]);
            // P = Q·Vᵀ
            matmul_serial(sb, t, false, MatRef::rows(qq, 3 * dm), MatRef::t(vv, 3 * dm), t, t, dm);
            causal_decay(&mut sb[..t * t], t, &lam);
            // R = S·K
            matmul_serial(rb, dm, false, MatRef::rows(sb, t), MatRef::rows(kk, 3 * dm), t, dm, t);
        });
        matmul(out, d, false, MatRef::rows(r, dm), MatRef::t(w.out, dm), rows, d, dm);
    }
}

crate::vectorized! {
    /// Reference quadratic backward: da overwritten, weight gradients added into `g`.
    /// Scratch: `dr` [rows × d_mem], `ds` [b × t × t], `dkvq` [rows × 3·d_mem].
    #[allow(clippy::too_many_arguments)]
    pub fn memory_backward_quadratic(
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
            let (kk, vv, qq) = (x, &x[dm..], &x[2 * dm..]);
            let sb = &s[b * t * t..(b + 1) * t * t];
            let drb = &dr_ro[b * t * dm..(b + 1) * t * dm];
            // R = S·K  ⇒  dK = Sᵀ·dR, dS = dR·Kᵀ
            matmul_serial(dx, 3 * dm, false, MatRef::t(sb, t), MatRef::rows(drb, dm), t, dm, t);
            matmul_serial(dsb, t, false, MatRef::rows(drb, dm), MatRef::t(kk, 3 * dm), t, t, dm);
            // S = c·Λ⊙P  ⇒  dP = c·Λ⊙dS
            causal_decay(&mut dsb[..t * t], t, &lam);
            // P = Q·Vᵀ  ⇒  dQ = dP·V, dV = dPᵀ·Q
            matmul_serial(&mut dx[2 * dm..], 3 * dm, false, MatRef::rows(dsb, t), MatRef::rows(vv, 3 * dm), t, dm, t);
            matmul_serial(&mut dx[dm..], 3 * dm, false, MatRef::t(dsb, t), MatRef::rows(qq, 3 * dm), t, dm, t);
        });
        matmul(g.kvq, d, true, MatRef::t(dkvq, 3 * dm), MatRef::rows(a, d), 3 * dm, d, rows);
        matmul(da, d, false, MatRef::rows(dkvq, 3 * dm), MatRef::rows(w.kvq, d), rows, d, 3 * dm);
    }
}

crate::vectorized! {
    /// Chunkwise forward (see the module doc). `kvq` [rows × 3·d_mem], `cache`
    /// [b × cache_len] and `r` [rows × d_mem] are kept for backward.
    pub fn memory_forward(out: &mut [f32], kvq: &mut [f32], cache: &mut [f32], r: &mut [f32], a: &[f32], w: &MemoryWeights, sh: MemoryShape) {
        let (t, d, dm) = (sh.t, sh.d, sh.d_mem);
        let rows = a.len() / d;
        let lam = sh.weights(); // c·λ^Δ
        let pow = sh.powers(); // λ^Δ
        let (cs, nch, clen) = (sh.c(), sh.chunks(), sh.cache_len());
        matmul(kvq, 3 * dm, false, MatRef::rows(a, d), MatRef::t(w.kvq, d), rows, 3 * dm, d);
        let kvq_ro: &[f32] = kvq;
        cache[..rows / t * clen].par_chunks_mut(clen).zip(r.par_chunks_mut(t * dm)).enumerate().for_each(|(b, (cb, rb))| {
            let x = &kvq_ro[b * t * 3 * dm..(b + 1) * t * 3 * dm];
            let (blocks, rest) = cb.split_at_mut(nch * cs * cs);
            let (states, scratch) = rest.split_at_mut(nch * dm * dm);
            let scratch = &mut scratch[..cs * dm];
            let mut m_prev: Option<usize> = None;
            for j in 0..nch {
                let (s0, e) = (j * cs, ((j + 1) * cs).min(t));
                let l = e - s0;
                let xc = &x[s0 * 3 * dm..];
                let (kk, vv, qq) = (xc, &xc[dm..], &xc[2 * dm..]);
                // the state before this chunk
                let (done, cur) = states.split_at_mut(j * dm * dm);
                let m = &mut cur[..dm * dm];
                match m_prev {
                    None => m.fill(0.0),
                    Some(p) => {
                        // M_{s−1} = λ^{L_prev}·M_prev + Σ λ^{e−1−i} k_i v_iᵀ over the previous chunk
                        let lp = cs;
                        let prev = &done[p * dm * dm..(p + 1) * dm * dm];
                        for (mi, &pi) in m.iter_mut().zip(prev) {
                            *mi = pow[lp] * pi;
                        }
                        let ps = p * cs;
                        let xp = &x[ps * 3 * dm..];
                        for i in 0..lp {
                            let wgt = pow[lp - 1 - i];
                            for q in 0..dm {
                                scratch[i * dm + q] = wgt * xp[i * 3 * dm + q];
                            }
                        }
                        // M += Kwᵀ·V
                        matmul_serial(m, dm, true, MatRef::t(scratch, dm), MatRef::rows(&xp[dm..], 3 * dm), dm, dm, lp);
                    }
                }
                m_prev = Some(j);
                let m: &[f32] = m;
                // in-chunk scores S = c·Λ⊙(Q·Vᵀ)
                let sb = &mut blocks[j * cs * cs..j * cs * cs + l * l];
                matmul_serial(sb, l, false, MatRef::rows(qq, 3 * dm), MatRef::t(vv, 3 * dm), l, l, dm);
                causal_decay(&mut sb[..l * l], l, &lam);
                let rc = &mut rb[s0 * dm..e * dm];
                matmul_serial(rc, dm, false, MatRef::rows(sb, l), MatRef::rows(kk, 3 * dm), l, dm, l);
                if j > 0 {
                    // inter-chunk read: r_t += c·λ^{t−s+1}·M q_t  (rows of Qs·Mᵀ)
                    for ti in 0..l {
                        let u = sh.scale * pow[ti + 1];
                        for q in 0..dm {
                            scratch[ti * dm + q] = u * qq[ti * 3 * dm + q];
                        }
                    }
                    matmul_serial(rc, dm, true, MatRef::rows(scratch, dm), MatRef::t(m, dm), l, dm, dm);
                }
            }
        });
        matmul(out, d, false, MatRef::rows(r, dm), MatRef::t(w.out, dm), rows, d, dm);
    }
}

crate::vectorized! {
    /// Chunkwise backward: da overwritten, weight gradients added into `g`.
    /// Scratch: `dr` [rows × d_mem], `ds` [b × scratch_len], `dkvq` [rows × 3·d_mem];
    /// `cache` is the forward's (its scratch blocks are reused).
    #[allow(clippy::too_many_arguments)]
    pub fn memory_backward(
        da: &mut [f32],
        g: MemoryGrads,
        dout: &[f32],
        a: &[f32],
        acts: (&[f32], &mut [f32], &[f32]),
        w: &MemoryWeights,
        dr: &mut [f32],
        ds: &mut [f32],
        dkvq: &mut [f32],
        sh: MemoryShape,
    ) {
        let (kvq, cache, r) = acts;
        let (t, d, dm) = (sh.t, sh.d, sh.d_mem);
        let rows = a.len() / d;
        let lam = sh.weights();
        let pow = sh.powers();
        let (cs, nch, clen, slen) = (sh.c(), sh.chunks(), sh.cache_len(), sh.scratch_len());
        matmul(g.out, dm, true, MatRef::t(dout, d), MatRef::rows(r, dm), d, dm, rows);
        matmul(dr, dm, false, MatRef::rows(dout, d), MatRef::rows(w.out, dm), rows, dm, d);
        let dr_ro: &[f32] = dr;
        dkvq.par_chunks_mut(t * 3 * dm).zip(ds.par_chunks_mut(slen)).zip(cache[..rows / t * clen].par_chunks_mut(clen)).enumerate().for_each(
            |(b, ((dx, sc), cb))| {
                let x = &kvq[b * t * 3 * dm..(b + 1) * t * 3 * dm];
                let drb = &dr_ro[b * t * dm..(b + 1) * t * dm];
                let (blocks, rest) = cb.split_at_mut(nch * cs * cs);
                let (states, scratch) = rest.split_at_mut(nch * dm * dm);
                let (y, z) = scratch.split_at_mut(cs * dm);
                let (dsb, gst) = sc.split_at_mut(cs * cs);
                let gst = &mut gst[..dm * dm]; // ∂L/∂(state after the current chunk)
                gst.fill(0.0);
                for j in (0..nch).rev() {
                    let (s0, e) = (j * cs, ((j + 1) * cs).min(t));
                    let l = e - s0;
                    let xc = &x[s0 * 3 * dm..];
                    let (kk, vv, qq) = (xc, &xc[dm..], &xc[2 * dm..]);
                    let sb = &blocks[j * cs * cs..j * cs * cs + l * l];
                    let m = &states[j * dm * dm..(j + 1) * dm * dm];
                    let drc = &drb[s0 * dm..e * dm];
                    let dxc = &mut dx[s0 * 3 * dm..e * 3 * dm];
                    // in-chunk: R = S·K ⇒ dK = Sᵀ·dR, dS = dR·Kᵀ, dP = c·Λ⊙dS, dQ = dP·V, dV = dPᵀ·Q
                    matmul_serial(dxc, 3 * dm, false, MatRef::t(sb, l), MatRef::rows(drc, dm), l, dm, l);
                    let dsl = &mut dsb[..l * l];
                    matmul_serial(dsl, l, false, MatRef::rows(drc, dm), MatRef::t(kk, 3 * dm), l, l, dm);
                    causal_decay(&mut dsl[..l * l], l, &lam);
                    matmul_serial(&mut dxc[2 * dm..], 3 * dm, false, MatRef::rows(dsl, l), MatRef::rows(vv, 3 * dm), l, dm, l);
                    matmul_serial(&mut dxc[dm..], 3 * dm, false, MatRef::t(dsl, l), MatRef::rows(qq, 3 * dm), l, dm, l);
                    if j + 1 < nch {
                        // this chunk's keys/values enter the state read by later chunks:
                        // dk_i += λ^{e−1−i}·G v_i, dv_i += λ^{e−1−i}·Gᵀ k_i
                        matmul_serial(y, dm, false, MatRef::rows(vv, 3 * dm), MatRef::t(gst, dm), l, dm, dm);
                        matmul_serial(z, dm, false, MatRef::rows(kk, 3 * dm), MatRef::rows(gst, dm), l, dm, dm);
                        for i in 0..l {
                            let wgt = pow[l - 1 - i];
                            for q in 0..dm {
                                dxc[i * 3 * dm + q] += wgt * y[i * dm + q];
                                dxc[i * 3 * dm + dm + q] += wgt * z[i * dm + q];
                            }
                        }
                    }
                    if j > 0 {
                        // inter-chunk read r_t += u_t·M q_t, u_t = c·λ^{t−s+1}:
                        // dq_t += u_t·Mᵀ dr_t;  ∂L/∂M = Σ_t u_t dr_t q_tᵀ;  G_before = λ^L·G + ∂L/∂M
                        matmul_serial(y, dm, false, MatRef::rows(drc, dm), MatRef::rows(m, dm), l, dm, dm);
                        for ti in 0..l {
                            let u = sh.scale * pow[ti + 1];
                            for q in 0..dm {
                                dxc[ti * 3 * dm + 2 * dm + q] += u * y[ti * dm + q];
                                z[ti * dm + q] = u * drc[ti * dm + q];
                            }
                        }
                        for gv in gst.iter_mut() {
                            *gv *= pow[l];
                        }
                        matmul_serial(gst, dm, true, MatRef::t(z, dm), MatRef::rows(qq, 3 * dm), dm, dm, l);
                    }
                }
            },
        );
        matmul(g.kvq, d, true, MatRef::t(dkvq, 3 * dm), MatRef::rows(a, d), 3 * dm, d, rows);
        matmul(da, d, false, MatRef::rows(dkvq, 3 * dm), MatRef::rows(w.kvq, d), rows, d, 3 * dm);
    }
}
