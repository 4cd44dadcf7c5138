//! BB-FFN ReLU² (v5): y = W_down·ReLU²(W_up·a), W_up ∈ \[H,d\], W_down ∈ \[d,H\].
//! The weights passed in are the matrices the matmuls use (for v5 the ternary
//! Q(W); the straight-through gradient of the latent W is the gradient given here).

use crate::kernels::{matmul, MatRef};
use rayon::prelude::*;

pub struct Relu2Weights<'a> {
    /// [H × d]
    pub up: &'a [f32],
    /// [d × H]
    pub down: &'a [f32],
}

pub struct Relu2Grads<'a> {
    pub up: &'a mut [f32],
    pub down: &'a mut [f32],
}

crate::vectorized! {
    /// r = max(u, 0)².
    fn relu2(r: &mut [f32], u: &[f32]) {
        r.par_chunks_mut(4096).zip(u.par_chunks(4096)).for_each(|(r, u)| {
            for (r, &u) in r.iter_mut().zip(u) {
                let p = u.max(0.0);
                *r = p * p;
            }
        });
    }
}

/// out **+=** W_down·ReLU²(W_up·a) (the residual add is fused); keeps the
/// pre-activation u = W_up·a [rows × H] for backward; `r` [rows × H] is scratch.
#[allow(clippy::too_many_arguments)]
pub fn relu2_ffn_forward(out: &mut [f32], u: &mut [f32], r: &mut [f32], a: &[f32], w: &Relu2Weights, d: usize, h: usize) {
    let rows = a.len() / d;
    matmul(u, h, false, MatRef::rows(a, d), MatRef::t(w.up, d), rows, h, d);
    relu2(r, u);
    matmul(out, d, true, MatRef::rows(r, h), MatRef::t(w.down, h), rows, d, h);
}

crate::vectorized! {
    /// Backward: `da` overwritten with ∂L/∂a; weight gradients added. `dr` [rows × H]
    /// is scratch (first the recomputed activation, then ∂L/∂u in place):
    /// dW_down += doutᵀ·r; du = (dout·W_down) ⊙ 2·max(u, 0); dW_up += duᵀ·a; da = du·W_up.
    #[allow(clippy::too_many_arguments)]
    pub fn relu2_ffn_backward(
        da: &mut [f32],
        g: Relu2Grads,
        dout: &[f32],
        a: &[f32],
        u: &[f32],
        w: &Relu2Weights,
        dr: &mut [f32],
        d: usize,
        h: usize,
    ) {
        let rows = a.len() / d;
        relu2(dr, u);
        matmul(g.down, h, true, MatRef::t(dout, d), MatRef::rows(dr, h), d, h, rows);
        matmul(dr, h, false, MatRef::rows(dout, d), MatRef::rows(w.down, h), rows, h, d);
        dr.par_chunks_mut(4096).zip(u.par_chunks(4096)).for_each(|(g, u)| {
            for (g, &u) in g.iter_mut().zip(u) {
                *g *= 2.0 * u.max(0.0);
            }
        });
        matmul(g.up, d, true, MatRef::t(dr, h), MatRef::rows(a, d), h, d, rows);
        matmul(da, d, false, MatRef::rows(dr, h), MatRef::rows(w.up, d), rows, d, h);
    }
}
