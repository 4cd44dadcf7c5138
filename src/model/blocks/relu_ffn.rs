//! ReLU FFN (CPUFlow v5-LN, v9.7): y = W_down·ReLU(W_up·a), W_up ∈ \[H,d\],
//! W_down ∈ \[d,H\], no biases.

use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

pub struct ReluWeights<'a> {
    /// [H × d]
    pub up: &'a [f32],
    /// [d × H]
    pub down: &'a [f32],
}

pub struct ReluGrads<'a> {
    pub up: &'a mut [f32],
    pub down: &'a mut [f32],
}

crate::vectorized! {
    /// r = max(u, 0).
    fn relu(r: &mut [f32], u: &[f32]) {
        r.par_chunks_mut(4096).zip(u.par_chunks(4096)).for_each(|(r, u)| {
            for (r, &u) in r.iter_mut().zip(u) {
                *r = u.max(0.0);
            }
        });
    }
}

/// out **+=** W_down·ReLU(W_up·a) (the residual add is fused); keeps the
/// pre-activation u = W_up·a [rows × H] for backward; `r` [rows × H] is scratch.
pub fn relu_ffn_forward(out: &mut [f32], u: &mut [f32], r: &mut [f32], a: &[f32], w: &ReluWeights, d: usize, h: usize) {
    let rows = a.len() / d;
    matmul(u, h, false, MatRef::rows(a, d), MatRef::t(w.up, d), rows, h, d);
    relu(r, u);
    matmul(out, d, true, MatRef::rows(r, h), MatRef::t(w.down, h), rows, d, h);
}

crate::vectorized! {
    /// Backward: `da` overwritten with ∂L/∂a; weight gradients added. `dr` [rows × H]
    /// is scratch (first the recomputed activation, then ∂L/∂u in place):
    /// dW_down += doutᵀ·r; du = (dout·W_down) ⊙ \[u > 0\]; dW_up += duᵀ·a; da = du·W_up.
    #[allow(clippy::too_many_arguments)]
    pub fn relu_ffn_backward(
        da: &mut [f32],
        g: ReluGrads,
        dout: &[f32],
        a: &[f32],
        u: &[f32],
        w: &ReluWeights,
        dr: &mut [f32],
        d: usize,
        h: usize,
    ) {
        let rows = a.len() / d;
        relu(dr, u);
        matmul(g.down, h, true, MatRef::t(dout, d), MatRef::rows(dr, h), d, h, rows);
        matmul(dr, h, false, MatRef::rows(dout, d), MatRef::rows(w.down, h), rows, h, d);
        dr.par_chunks_mut(4096).zip(u.par_chunks(4096)).for_each(|(g, u)| {
            for (g, &u) in g.iter_mut().zip(u) {
                if u <= 0.0 {
                    *g = 0.0;
                }
            }
        });
        matmul(g.up, d, true, MatRef::t(dr, h), MatRef::rows(a, d), h, d, rows);
        matmul(da, d, false, MatRef::rows(dr, h), MatRef::rows(w.up, d), rows, d, h);
    }
}
