//! v7.1 / v7.2 incremental decoder with O(1) work per token: a ring buffer of
//! the last k−1 conv inputs per layer and the running Hebbian state
//! M_t = λ·M_{t−1} + k_t·v_tᵀ, read as r_t = c·M_t·q_t (the recurrent form of
//! blocks/hebbian.rs). Works past the training window; c stays the training constant (D2).

use super::model::Cortex;
use crate::kernels::ops::{sigmoid, silu};
use crate::kernels::vec::{dot, matvec_mat, rmsnorm, WeightStore};

/// Per-layer recurrent state after the tokens fed so far.
#[derive(Clone)]
pub struct LayerState {
    /// last k−1 conv inputs u, oldest first, [(k−1) × d] as a ring
    ring: Vec<f32>,
    ring_pos: usize,
    /// Hebbian memory M [d_mem × d_mem] (row = key dimension)
    pub mem: Vec<f32>,
}

/// Incremental decoder over a fixed parameter buffer.
pub struct Decoder<'a> {
    model: &'a Cortex,
    /// f32 weights, plus a bf16 / int8 copy for the products in lower precision
    w: WeightStore<'a>,
    pub layers: Vec<LayerState>,
    pub pos: usize,
    /// split large products over the current rayon pool
    pub parallel: bool,
    /// each layer's conv taps transposed to [k × d] (tap-major, so a tap is one
    /// contiguous pass over the channels)
    taps: Vec<Vec<f32>>,
    h: Vec<f32>,
    a: Vec<f32>,
    up: Vec<f32>,
    m: Vec<f32>,
    y: Vec<f32>,
    kvq: Vec<f32>,
    r: Vec<f32>,
    gu: Vec<f32>,
    act: Vec<f32>,
    pub logits: Vec<f32>,
}

impl<'a> Decoder<'a> {
    pub fn new(model: &'a Cortex, params: &'a [f32]) -> Self {
        Self::with_weights(model, WeightStore::fp32(params))
    }

    /// A decoder over `w`; with bf16 or int8 copies the model computed is the
    /// one with rounded weights (f32 arithmetic).
    pub fn with_weights(model: &'a Cortex, w: WeightStore<'a>) -> Self {
        let c = &model.cfg;
        let d = c.d_model;
        let dm = c.memory.as_ref().map_or(0, |m| m.d_mem);
        Decoder {
            model,
            layers: (0..c.n_layers)
                .map(|_| LayerState { ring: vec![0.0; (c.kernel_size - 1) * d], ring_pos: 0, mem: vec![0.0; dm * dm] })
                .collect(),
            pos: 0,
            parallel: false,
            taps: (0..c.n_layers)
                .map(|li| {
                    let mut wt = vec![0.0; c.kernel_size * d];
                    crate::kernels::conv::taps_major(&mut wt, model.block_view(w.params(), li).conv, d, c.kernel_size);
                    wt
                })
                .collect(),
            h: vec![0.0; d],
            a: vec![0.0; d],
            up: vec![0.0; 2 * d],
            m: vec![0.0; d],
            y: vec![0.0; d],
            kvq: vec![0.0; 3 * dm],
            r: vec![0.0; dm],
            gu: vec![0.0; 2 * c.d_ff],
            act: vec![0.0; c.d_ff],
            logits: vec![0.0; c.vocab],
            w,
        }
    }

    /// Feeds one token; `self.logits` then holds the next-token logits.
    #[inline(always)]
    pub fn step(&mut self, token: u32) {
        let c = &self.model.cfg;
        let (d, h, k) = (c.d_model, c.d_ff, c.kernel_size);
        let (emb, ln_in, ln_out) = self.model.outer_view(self.w.params());
        let t = token as usize;
        rmsnorm(&mut self.h, &emb[t * d..(t + 1) * d], ln_in);
        let scale = self.model.read_scale();
        let par = self.parallel;
        for li in 0..c.n_layers {
            let bv = self.model.block_view(self.w.params(), li);
            let st = &mut self.layers[li];
            // gated conv mixer
            rmsnorm(&mut self.a, &self.h, bv.ln1);
            matvec_mat(&mut self.up, self.w.mat(bv.up), &self.a, par);
            let (g, u) = self.up.split_at(d);
            // tap k−1 is the current token, tap j the token k−1−j steps back
            let taps = &self.taps[li];
            for ((m, &t), &u) in self.m.iter_mut().zip(&taps[(k - 1) * d..]).zip(u) {
                *m = t * u;
            }
            for back in 1..k {
                let slot = (st.ring_pos + (k - 1) - back) % (k - 1);
                let (tap, past) = (&taps[(k - 1 - back) * d..(k - back) * d], &st.ring[slot * d..(slot + 1) * d]);
                for ((m, &t), &p) in self.m.iter_mut().zip(tap).zip(past) {
                    *m += t * p;
                }
            }
            for (m, &g) in self.m.iter_mut().zip(g) {
                *m *= sigmoid(g);
            }
            if k > 1 {
                st.ring[st.ring_pos * d..(st.ring_pos + 1) * d].copy_from_slice(u);
                st.ring_pos = (st.ring_pos + 1) % (k - 1);
            }
            matvec_mat(&mut self.y, self.w.mat(bv.down), &self.m, par);
            for i in 0..d {
                self.h[i] += self.y[i];
            }
            // Hebbian memory
            if let (Some((ln, wkvq, wmo)), Some(mc)) = (bv.mem, c.memory.as_ref()) {
                let dm = mc.d_mem;
                rmsnorm(&mut self.a, &self.h, ln);
                matvec_mat(&mut self.kvq, self.w.mat(wkvq), &self.a, par);
                let (kk, rest) = self.kvq.split_at(dm);
                let (vv, qq) = rest.split_at(dm);
                for i in 0..dm {
                    let row = &mut st.mem[i * dm..(i + 1) * dm];
                    for j in 0..dm {
                        row[j] = mc.decay * row[j] + kk[i] * vv[j];
                    }
                }
                for i in 0..dm {
                    let row = &st.mem[i * dm..(i + 1) * dm];
                    self.r[i] = scale * dot(row, qq);
                }
                matvec_mat(&mut self.y, self.w.mat(wmo), &self.r, par);
                for i in 0..d {
                    self.h[i] += self.y[i];
                }
            }
            // SwiGLU
            rmsnorm(&mut self.a, &self.h, bv.ln2);
            matvec_mat(&mut self.gu, self.w.mat(bv.gu), &self.a, par);
            for j in 0..h {
                self.act[j] = silu(self.gu[j]) * self.gu[h + j];
            }
            matvec_mat(&mut self.y, self.w.mat(bv.o), &self.act, par);
            for i in 0..d {
                self.h[i] += self.y[i];
            }
        }
        rmsnorm(&mut self.a, &self.h, ln_out);
        matvec_mat(&mut self.logits, self.w.mat(emb), &self.a, par);
        self.pos += 1;
    }
}

crate::model::lm::impl_decode!(Decoder {
    fn memory(&self) -> Vec<&[f32]> {
        if self.model.cfg.memory.is_none() {
            return Vec::new();
        }
        self.layers.iter().map(|l| l.mem.as_slice()).collect()
    }
});
