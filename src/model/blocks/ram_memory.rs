//! The RAM-Net sparse product-key memory of CPUFlow v9.7 (spec §13.2), for one
//! LayerNorm'd input a [b·t × d]:
//!
//! * address: A = W_addr·a_t viewed as 3 groups of d_sub, σᵘ = softmax of group u;
//!   slot weights w\[m\] = (σ⁰_i·σ¹_j)·σ²_l for m = i·d_sub² + j·d_sub + l (this
//!   product order is the reference einsum's, bit for bit); the K largest
//!   (descending; selection not differentiable), renormalised ŵ = w̃/(Σw̃ + 1e-8);
//! * write value φ_t = σ(W_wg·a_t) ⊙ tanh(W_val·a_t) ∈ R^{d_v};
//! * chunked state, per sequence: S₀ = `mem_init` [M × d_v]; in chunk c (positions
//!   \[C·c, C·c + C)) every position reads r_t = Σ_r ŵ_{t,r}·S_c\[idx_{t,r}\] from the
//!   chunk-start state, then S_{c+1} = λ·S_c + U_c with U_c the scatter-add of
//!   ŵ_{t,r}·φ_t into the slots idx_{t,r}. A position never reads its own chunk's
//!   writes (D31, kept: it defines the trained model); the last chunk's update is unused;
//! * out **+=** W_mp·(W_read·r_t) (W_read [d_v × d_v], W_mp [k × d_v]).
//!
//! The chunk recurrence runs once per sequence; the sequences of a batch run in
//! parallel. The backward walks the chunks in reverse with G = ∂L/∂S_{c+1}:
//! ∂ŵ_{t,r} = G\[m\]·φ_t + S_c\[m\]·∂r_t, ∂φ_t += ŵ_{t,r}·G\[m\], then
//! G ← λ·G + Σ_t Σ_r ŵ_{t,r}·e_m ⊗ ∂r_t; finally ∂mem_init += G.

use crate::kernels::ops::{sigmoid, softmax};
use crate::kernels::vec::dot;
use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

/// The renormalisation's ε: ŵ = w̃/(Σw̃ + 1e-8).
pub const TOP_EPS: f32 = 1e-8;

#[derive(Clone, Copy, Debug)]
pub struct RamShape {
    /// window (rows = b·t)
    pub t: usize,
    pub d: usize,
    /// sub-key size: M = d_sub³ slots
    pub d_sub: usize,
    /// slot width
    pub d_v: usize,
    /// output width (the scan's k)
    pub k: usize,
    /// slots read and written per position
    pub top: usize,
    /// λ per chunk
    pub decay: f32,
    pub chunk: usize,
}

impl RamShape {
    pub fn slots(&self) -> usize {
        self.d_sub * self.d_sub * self.d_sub
    }
    pub fn n_chunks(&self) -> usize {
        self.t.div_ceil(self.chunk)
    }
    /// Floats of the kept chunk-start states of one sequence.
    pub fn states_len(&self) -> usize {
        self.n_chunks() * self.slots() * self.d_v
    }
}

pub struct RamWeights<'a> {
    /// [M × d_v]
    pub mem_init: &'a [f32],
    /// W_addr [3·d_sub × d]
    pub addr: &'a [f32],
    /// W_val [d_v × d]
    pub val: &'a [f32],
    /// W_write_gate [d_v × d]
    pub gate: &'a [f32],
    /// W_read [d_v × d_v]
    pub read: &'a [f32],
    /// W_mem_proj [k × d_v]
    pub proj: &'a [f32],
}

pub struct RamGrads<'a> {
    pub mem_init: &'a mut [f32],
    pub addr: &'a mut [f32],
    pub val: &'a mut [f32],
    pub gate: &'a mut [f32],
    pub read: &'a mut [f32],
    pub proj: &'a mut [f32],
}

/// What the forward keeps for the backward (rows = b·t).
pub struct RamActs<'a> {
    /// [rows × 3·d_sub] the three softmaxes
    pub sig: &'a mut [f32],
    /// [rows × K] selected slots, by descending weight
    pub idx: &'a mut [u32],
    /// [rows × K] their raw weights w̃
    pub wt: &'a mut [f32],
    /// [rows × K] renormalised ŵ
    pub what: &'a mut [f32],
    /// [rows × d_v] σ(W_wg·a)
    pub gate: &'a mut [f32],
    /// [rows × d_v] tanh(W_val·a)
    pub val: &'a mut [f32],
    /// [rows × d_v] φ = gate ⊙ val
    pub phi: &'a mut [f32],
    /// [rows × d_v] reads r
    pub r: &'a mut [f32],
    /// [rows × d_v] W_read·r (the reference's memory output)
    pub rho: &'a mut [f32],
    /// [b × n_chunks × M × d_v] chunk-start states S_c
    pub states: &'a mut [f32],
}

/// Backward scratch (rows = b·t).
pub struct RamScratch<'a> {
    /// [rows × d_v] ×4: ∂ρ, ∂r, ∂φ, then the gate/value pre-activation gradients
    pub drho: &'a mut [f32],
    pub dr: &'a mut [f32],
    pub dphi: &'a mut [f32],
    pub dval: &'a mut [f32],
    /// [rows × K]
    pub dwhat: &'a mut [f32],
    /// [rows × 3·d_sub]
    pub dsig: &'a mut [f32],
    /// [b × M × d_v] per-sequence ∂mem_init
    pub g: &'a mut [f32],
}

crate::vectorized! {
    /// One position's addressing: `sig` holds W_addr·a_t on entry and the three
    /// softmaxes on return; the top slots (descending, the lower index first on a
    /// tie) and their raw and renormalised weights are written.
    pub fn address_row(sig: &mut [f32], idx: &mut [u32], wt: &mut [f32], what: &mut [f32], d_sub: usize) {
        for g in sig.chunks_exact_mut(d_sub) {
            softmax(g);
        }
        let (s0, rest) = sig.split_at(d_sub);
        let (s1, s2) = rest.split_at(d_sub);
        let top = idx.len();
        let mut n = 0;
        let mut m = 0u32;
        for &a in s0 {
            for &b in s1 {
                let ab = a * b;
                for &c in s2 {
                    let w = ab * c;
                    if n < top || w > wt[n - 1] {
                        // insertion into the descending list, dropping the smallest when full
                        let mut p = if n < top { n } else { top - 1 };
                        while p > 0 && wt[p - 1] < w {
                            wt[p] = wt[p - 1];
                            idx[p] = idx[p - 1];
                            p -= 1;
                        }
                        wt[p] = w;
                        idx[p] = m;
                        n = (n + 1).min(top);
                    }
                    m += 1;
                }
            }
        }
        let z = wt.iter().sum::<f32>() + TOP_EPS;
        for (h, &w) in what.iter_mut().zip(wt.iter()) {
            *h = w / z;
        }
    }
}

crate::vectorized! {
    /// r = Σ_r ŵ_r·S\[idx_r\] (`r` overwritten).
    pub fn read_row(r: &mut [f32], state: &[f32], idx: &[u32], what: &[f32], d_v: usize) {
        r.fill(0.0);
        for (&m, &w) in idx.iter().zip(what) {
            let row = &state[m as usize * d_v..(m as usize + 1) * d_v];
            for (o, &s) in r.iter_mut().zip(row) {
                *o += w * s;
            }
        }
    }
}

crate::vectorized! {
    /// U\[idx_r\] += ŵ_r·φ.
    pub fn write_row(u: &mut [f32], phi: &[f32], idx: &[u32], what: &[f32], d_v: usize) {
        for (&m, &w) in idx.iter().zip(what) {
            for (o, &p) in u[m as usize * d_v..(m as usize + 1) * d_v].iter_mut().zip(phi) {
                *o += w * p;
            }
        }
    }
}

crate::vectorized! {
    /// S ← λ·S + U, U ← 0 (the end of a chunk).
    pub fn commit(state: &mut [f32], u: &mut [f32], decay: f32) {
        for (s, u) in state.iter_mut().zip(u.iter_mut()) {
            *s = decay * *s + *u;
            *u = 0.0;
        }
    }
}

crate::vectorized! {
    /// out **+=** W_mp·W_read·r for the window (see the module doc).
    pub fn ram_forward(out: &mut [f32], acts: RamActs, a: &[f32], w: &RamWeights, sh: RamShape) {
        let RamShape { t, d, d_sub, d_v, k, top, decay, chunk } = sh;
        let rows = a.len() / d;
        let ns = 3 * d_sub;
        let RamActs { sig, idx, wt, what, gate, val, phi, r, rho, states } = acts;
        matmul(sig, ns, false, MatRef::rows(a, d), MatRef::t(w.addr, d), rows, ns, d);
        sig.par_chunks_mut(ns)
            .zip(idx.par_chunks_mut(top))
            .zip(wt.par_chunks_mut(top).zip(what.par_chunks_mut(top)))
            .for_each(|((s, i), (wt, wh))| address_row(s, i, wt, wh, d_sub));
        matmul(gate, d_v, false, MatRef::rows(a, d), MatRef::t(w.gate, d), rows, d_v, d);
        matmul(val, d_v, false, MatRef::rows(a, d), MatRef::t(w.val, d), rows, d_v, d);
        phi.par_chunks_mut(d_v).zip(gate.par_chunks_mut(d_v).zip(val.par_chunks_mut(d_v))).for_each(|(p, (g, v))| {
            for j in 0..d_v {
                g[j] = sigmoid(g[j]);
                v[j] = v[j].tanh();
                p[j] = g[j] * v[j];
            }
        });
        let (idx, what, phi) = (&*idx, &*what, &*phi);
        let sl = sh.slots() * d_v;
        states.par_chunks_mut(sh.states_len()).zip(r.par_chunks_mut(t * d_v)).enumerate().for_each(|(b, (st, r))| {
            st[..sl].copy_from_slice(w.mem_init);
            for c in 0..sh.n_chunks() {
                let (done, next) = st.split_at_mut((c + 1) * sl);
                let s_c = &done[c * sl..];
                let span = c * chunk..((c + 1) * chunk).min(t);
                for i in span.clone() {
                    let row = b * t + i;
                    read_row(&mut r[i * d_v..(i + 1) * d_v], s_c, &idx[row * top..(row + 1) * top], &what[row * top..(row + 1) * top], d_v);
                }
                if c + 1 < sh.n_chunks() {
                    let u = &mut next[..sl];
                    u.fill(0.0);
                    for i in span {
                        let row = b * t + i;
                        write_row(
                            u,
                            &phi[row * d_v..(row + 1) * d_v],
                            &idx[row * top..(row + 1) * top],
                            &what[row * top..(row + 1) * top],
                            d_v,
                        );
                    }
                    for (u, &s) in u.iter_mut().zip(s_c) {
                        *u += decay * s;
                    }
                }
            }
        });
        matmul(rho, d_v, false, MatRef::rows(r, d_v), MatRef::t(w.read, d_v), rows, d_v, d_v);
        matmul(out, k, true, MatRef::rows(rho, d_v), MatRef::t(w.proj, d_v), rows, k, d_v);
    }
}

crate::vectorized! {
    /// Backward: `da` **+=** ∂L/∂a (the scan's backward writes it first), weight
    /// gradients added; `dout` = ∂L/∂(the sum `out` was added into).
    #[allow(clippy::too_many_arguments)]
    pub fn ram_backward(da: &mut [f32], g: RamGrads, dout: &[f32], a: &[f32], acts: RamActs, w: &RamWeights, sc: RamScratch, sh: RamShape) {
        let RamShape { t, d, d_sub, d_v, k, top, decay, chunk } = sh;
        let rows = a.len() / d;
        let ns = 3 * d_sub;
        let RamActs { sig, idx, wt, what, gate, val, phi, r, rho, states } = acts;
        let RamScratch { drho, dr, dphi, dval, dwhat, dsig, g: gseq } = sc;
        matmul(g.proj, d_v, true, MatRef::t(dout, k), MatRef::rows(rho, d_v), k, d_v, rows);
        matmul(drho, d_v, false, MatRef::rows(dout, k), MatRef::rows(w.proj, d_v), rows, d_v, k);
        matmul(g.read, d_v, true, MatRef::t(drho, d_v), MatRef::rows(r, d_v), d_v, d_v, rows);
        matmul(dr, d_v, false, MatRef::rows(drho, d_v), MatRef::rows(w.read, d_v), rows, d_v, d_v);
        // the chunk recurrence in reverse, one sequence per task
        let sl = sh.slots() * d_v;
        let (idx, what, phi, dr, states) = (&*idx, &*what, &*phi, &*dr, &*states);
        gseq.par_chunks_mut(sl).zip(dwhat.par_chunks_mut(t * top).zip(dphi.par_chunks_mut(t * d_v))).enumerate().for_each(
            |(b, (gs, (dwh, dph)))| {
                gs.fill(0.0);
                dph.fill(0.0);
                let st = &states[b * sh.states_len()..(b + 1) * sh.states_len()];
                for c in (0..sh.n_chunks()).rev() {
                    let s_c = &st[c * sl..(c + 1) * sl];
                    for i in c * chunk..((c + 1) * chunk).min(t) {
                        let row = b * t + i;
                        let (ix, wh) = (&idx[row * top..(row + 1) * top], &what[row * top..(row + 1) * top]);
                        let (p, drr) = (&phi[row * d_v..(row + 1) * d_v], &dr[row * d_v..(row + 1) * d_v]);
                        let dp = &mut dph[i * d_v..(i + 1) * d_v];
                        for (j, (&m, &wj)) in ix.iter().zip(wh).enumerate() {
                            let (gm, sm) = (&gs[m as usize * d_v..(m as usize + 1) * d_v], &s_c[m as usize * d_v..(m as usize + 1) * d_v]);
                            dwh[i * top + j] = dot(gm, p) + dot(sm, drr);
                            for (o, &x) in dp.iter_mut().zip(gm) {
                                *o += wj * x;
                            }
                        }
                    }
                    for x in gs.iter_mut() {
                        *x *= decay;
                    }
                    for i in c * chunk..((c + 1) * chunk).min(t) {
                        let row = b * t + i;
                        let (ix, wh) = (&idx[row * top..(row + 1) * top], &what[row * top..(row + 1) * top]);
                        write_row(gs, &dr[row * d_v..(row + 1) * d_v], ix, wh, d_v);
                    }
                }
            },
        );
        for gsq in gseq.chunks(sl) {
            for (o, &x) in g.mem_init.iter_mut().zip(gsq) {
                *o += x;
            }
        }
        // renormalisation, product weights and the three softmaxes, per row
        dsig.par_chunks_mut(ns)
            .zip(sig.par_chunks(ns))
            .zip(idx.par_chunks(top).zip(wt.par_chunks(top)))
            .zip(what.par_chunks(top).zip(dwhat.par_chunks(top)))
            .for_each(|(((ds, s), (ix, wt)), (wh, dwh))| {
                let z = wt.iter().sum::<f32>() + TOP_EPS;
                let proj: f32 = dwh.iter().zip(wh).map(|(a, b)| a * b).sum();
                ds.fill(0.0);
                let dd = d_sub * d_sub;
                for (&m, &dw) in ix.iter().zip(dwh) {
                    let dwt = (dw - proj) / z;
                    let m = m as usize;
                    let (i, j, l) = (m / dd, (m / d_sub) % d_sub, m % d_sub);
                    let (a0, a1, a2) = (s[i], s[d_sub + j], s[2 * d_sub + l]);
                    ds[i] += dwt * a1 * a2;
                    ds[d_sub + j] += dwt * a0 * a2;
                    ds[2 * d_sub + l] += dwt * a0 * a1;
                }
                for (dg, sg) in ds.chunks_exact_mut(d_sub).zip(s.chunks_exact(d_sub)) {
                    let inner: f32 = dg.iter().zip(sg).map(|(a, b)| a * b).sum();
                    for (x, &y) in dg.iter_mut().zip(sg) {
                        *x = y * (*x - inner);
                    }
                }
            });
        // φ = σ(gate pre)⊙tanh(val pre): dphi becomes the gate's pre-activation gradient
        dphi.par_chunks_mut(d_v).zip(dval.par_chunks_mut(d_v)).zip(gate.par_chunks(d_v).zip(val.par_chunks(d_v))).for_each(
            |((dp, dv), (gt, vl))| {
                for j in 0..d_v {
                    let (gj, vj, p) = (gt[j], vl[j], dp[j]);
                    dv[j] = p * gj * (1.0 - vj * vj);
                    dp[j] = p * vj * gj * (1.0 - gj);
                }
            },
        );
        matmul(g.addr, d, true, MatRef::t(dsig, ns), MatRef::rows(a, d), ns, d, rows);
        matmul(g.gate, d, true, MatRef::t(dphi, d_v), MatRef::rows(a, d), d_v, d, rows);
        matmul(g.val, d, true, MatRef::t(dval, d_v), MatRef::rows(a, d), d_v, d, rows);
        matmul(da, d, true, MatRef::rows(dsig, ns), MatRef::rows(w.addr, d), rows, d, ns);
        matmul(da, d, true, MatRef::rows(dphi, d_v), MatRef::rows(w.gate, d), rows, d, d_v);
        matmul(da, d, true, MatRef::rows(dval, d_v), MatRef::rows(w.val, d), rows, d, d_v);
    }
}
