//! P-RCSM multi-scale bank (spec §7.2): with a = RMS_b(r) computed by the caller,
//!
//!   s_i = W_s,i·[a ; shift_{2^i}(a)]  (i < n_s),  π = softmax(W_router·a),
//!   e = r + Σ_i π_i s_i
//!
//! W_s,i are BIT-C [d_r × 2d_r] stored one after the other, W_router [n_s × d_r] is float.

use crate::kernels::ops::softmax;
use crate::kernels::vec::dot;
use crate::kernels::{matmul, MatRef};
use crate::model::blocks::shift_mixer::{scale_offset, shift_concat, unshift_add};
use rayon::prelude::*;

pub struct BankWeights<'a> {
    /// W_s,0 … W_s,n_s−1, [n_s × d_r × 2d_r]
    pub scales: &'a [f32],
    /// [n_s × d_r]
    pub router: &'a [f32],
}

pub struct BankGrads<'a> {
    pub scales: &'a mut [f32],
    pub router: &'a mut [f32],
}

#[derive(Clone, Copy, Debug)]
pub struct BankShape {
    pub t: usize,
    pub d_r: usize,
    pub n_s: usize,
}

crate::vectorized! {
    /// e += Σ_i π_i s_i (the caller puts r into `e` first). Keeps `s` [rows × n_s·d_r]
    /// (scale i in columns i·d_r…) and `pi` [rows × n_s]; `cat` [rows × 2d_r] is scratch.
    pub fn bank_forward(e: &mut [f32], s: &mut [f32], pi: &mut [f32], cat: &mut [f32], a: &[f32], w: &BankWeights, sh: BankShape) {
        let (dr, ns) = (sh.d_r, sh.n_s);
        let rows = a.len() / dr;
        for i in 0..ns {
            shift_concat(cat, a, sh.t, dr, scale_offset(i));
            let wi = &w.scales[i * 2 * dr * dr..(i + 1) * 2 * dr * dr];
            matmul(&mut s[i * dr..], ns * dr, false, MatRef::rows(cat, 2 * dr), MatRef::t(wi, 2 * dr), rows, dr, 2 * dr);
        }
        e.par_chunks_mut(dr).zip(pi.par_chunks_mut(ns)).zip(a.par_chunks(dr).zip(s.par_chunks(ns * dr))).for_each(|((e, p), (a, s))| {
            for (i, pv) in p.iter_mut().enumerate() {
                *pv = dot(&w.router[i * dr..(i + 1) * dr], a);
            }
            softmax(p);
            for (i, &pv) in p.iter().enumerate() {
                for (ej, sj) in e.iter_mut().zip(&s[i * dr..(i + 1) * dr]) {
                    *ej += pv * sj;
                }
            }
        });
    }
}

/// Scratch for [`bank_backward`].
pub struct BankScratch<'a> {
    /// ∂L/∂s, [rows × n_s·d_r]
    pub ds: &'a mut [f32],
    /// ∂L/∂(router logits), [rows × n_s]
    pub dz: &'a mut [f32],
    /// [rows × 2d_r] each
    pub cat: &'a mut [f32],
    pub dcat: &'a mut [f32],
}

crate::vectorized! {
    /// da = ∂L/∂a (overwritten) from de = ∂L/∂e; weight gradients added. The
    /// residual path ∂L/∂r = de is left to the caller. `acts` = (s, π).
    #[allow(clippy::too_many_arguments)]
    pub fn bank_backward(
        da: &mut [f32],
        g: BankGrads,
        de: &[f32],
        a: &[f32],
        acts: (&[f32], &[f32]),
        w: &BankWeights,
        sc: BankScratch,
        sh: BankShape,
    ) {
        let (s, pi) = acts;
        let (dr, ns) = (sh.d_r, sh.n_s);
        let rows = a.len() / dr;
        // ds_i = π_i·de; dπ_i = de·s_i; dz = π ⊙ (dπ − Σ π dπ); da = dz·W_router
        sc.ds
            .par_chunks_mut(ns * dr)
            .zip(sc.dz.par_chunks_mut(ns))
            .zip(da.par_chunks_mut(dr))
            .zip(de.par_chunks(dr).zip(s.par_chunks(ns * dr)).zip(pi.par_chunks(ns)))
            .for_each(|(((ds, dz), da), ((de, s), p))| {
                let mut mean = 0.0;
                for i in 0..ns {
                    dz[i] = dot(de, &s[i * dr..(i + 1) * dr]);
                    mean += p[i] * dz[i];
                    for (o, &x) in ds[i * dr..(i + 1) * dr].iter_mut().zip(de) {
                        *o = p[i] * x;
                    }
                }
                da.fill(0.0);
                for i in 0..ns {
                    dz[i] = p[i] * (dz[i] - mean);
                    for (o, &wv) in da.iter_mut().zip(&w.router[i * dr..(i + 1) * dr]) {
                        *o += dz[i] * wv;
                    }
                }
            });
        matmul(g.router, dr, true, MatRef::t(sc.dz, ns), MatRef::rows(a, dr), ns, dr, rows);
        for i in 0..ns {
            let wi = &w.scales[i * 2 * dr * dr..(i + 1) * 2 * dr * dr];
            let gi = &mut g.scales[i * 2 * dr * dr..(i + 1) * 2 * dr * dr];
            shift_concat(sc.cat, a, sh.t, dr, scale_offset(i));
            matmul(gi, 2 * dr, true, MatRef::t(&sc.ds[i * dr..], ns * dr), MatRef::rows(sc.cat, 2 * dr), dr, 2 * dr, rows);
            matmul(sc.dcat, 2 * dr, false, MatRef::rows(&sc.ds[i * dr..], ns * dr), MatRef::rows(wi, 2 * dr), rows, 2 * dr, dr);
            unshift_add(da, sc.dcat, sh.t, dr, scale_offset(i));
        }
    }
}
