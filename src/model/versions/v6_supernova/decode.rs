//! v6 incremental decoder (D6 fix on): O(1) work per token. Per layer it keeps
//! the previous normalised mixer input (shift by 1), a ring of the last 2^(n_s−1)
//! normalised bank inputs (shifts by 2^i), and the running sum of the executor
//! state e, whose mean is the causal planner summary; the planner itself is
//! recomputed per token from block to block, as in the full forward.

use super::model::Supernova;
use crate::kernels::ops::softmax;
use crate::kernels::ops::{sigmoid, silu};
use crate::kernels::vec::{dot, matvec_mat, rmsnorm, PackedStore};
use crate::model::blocks::shift_mixer::scale_offset;

struct LayerState {
    /// u_{t−1}
    prev_u: Vec<f32>,
    /// a_τ at slot τ mod R, R = 2^(n_s−1); never-written slots are zero
    ring: Vec<f32>,
    /// Σ_{τ≤t} e_τ
    esum: Vec<f32>,
}

pub struct Decoder<'a> {
    model: &'a Supernova,
    params: &'a [f32],
    /// Q(W) of every ternary matrix (flat layout)
    q: Vec<f32>,
    /// the BitLinear matrices of `q`, packed
    packed: PackedStore,
    layers: Vec<LayerState>,
    ring_len: usize,
    pos: usize,
    parallel: bool,
    h: Vec<f32>,
    u: Vec<f32>,
    cat: Vec<f32>,
    m: Vec<f32>,
    y: Vec<f32>,
    r: Vec<f32>,
    a: Vec<f32>,
    e: Vec<f32>,
    eta: Vec<f32>,
    cat_r: Vec<f32>,
    s: Vec<f32>,
    pi: Vec<f32>,
    alpha: Vec<f32>,
    qv: Vec<f32>,
    p: Vec<f32>,
    c: Vec<f32>,
    nc: Vec<f32>,
    dp: Vec<f32>,
    gu: Vec<f32>,
    act: Vec<f32>,
    logits: Vec<f32>,
}

impl<'a> Decoder<'a> {
    pub fn new(model: &'a Supernova, params: &'a [f32]) -> Self {
        let c = &model.cfg;
        let (d, dr, dp) = (c.d_model, c.d_reason, c.d_planner);
        let ring_len = if c.n_scales == 0 { 0 } else { scale_offset(c.n_scales - 1) };
        let mut q = Vec::new();
        let _ = model.matrices(&mut q, params);
        // Q(W) of the BitLinear matrices as ternary bytes + row scales
        let packed = PackedStore::new(&q, if q.is_empty() { Vec::new() } else { model.ternary_ranges() });
        let z = |n: usize| vec![0.0f32; n];
        Decoder {
            model,
            params,
            q,
            packed,
            layers: (0..c.n_layers).map(|_| LayerState { prev_u: z(d), ring: z(ring_len * dr), esum: z(dr) }).collect(),
            ring_len,
            pos: 0,
            parallel: false,
            h: z(d),
            u: z(d),
            cat: z(2 * d),
            m: z(d),
            y: z(d),
            r: z(dr),
            a: z(dr),
            e: z(dr),
            eta: z(dr),
            cat_r: z(2 * dr),
            s: z(dr),
            pi: z(c.n_scales),
            alpha: z(c.n_slots),
            qv: z(dr),
            p: z(dp),
            c: z(dp),
            nc: z(dp),
            dp: z(dp),
            gu: z(2 * c.d_ff),
            act: z(c.d_ff),
            logits: z(c.vocab),
        }
    }

    #[inline(always)]
    pub fn step(&mut self, token: u32) {
        let md = self.model;
        let c = &md.cfg;
        let (d, hdim, dr) = (c.d_model, c.d_ff, c.d_reason);
        let par = self.parallel;
        let f = self.params;
        let w: &[f32] = if self.q.is_empty() { f } else { &self.q };
        let tok = token as usize;
        let emb = &f[md.embed.clone()];
        let scale = md.embed_scale();
        for (h, &x) in self.h.iter_mut().zip(&emb[tok * d..(tok + 1) * d]) {
            *h = x * scale;
        }
        self.p.copy_from_slice(&f[md.planner.clone()]);
        let n_layers = md.blocks.len();
        for (li, br) in md.blocks.iter().enumerate() {
            let st = &mut self.layers[li];
            // shift mixer: h += σ(W_gate·u) ⊙ W_val·W_mix·[u ; u_{t−1}]
            rmsnorm(&mut self.u, &self.h, &f[br.norm_a.clone()]);
            self.cat[..d].copy_from_slice(&self.u);
            self.cat[d..].copy_from_slice(&st.prev_u);
            st.prev_u.copy_from_slice(&self.u);
            let mw = br.mixer(w);
            matvec_mat(&mut self.m, self.packed.mat(w, mw.mix), &self.cat, par);
            matvec_mat(&mut self.y, self.packed.mat(w, mw.val), &self.m, par);
            matvec_mat(&mut self.m, self.packed.mat(w, mw.gate), &self.u, par);
            for j in 0..d {
                self.h[j] += sigmoid(self.m[j]) * self.y[j];
            }
            // P-RCSM
            let rw = br.rcsm(f, w);
            matvec_mat(&mut self.r, self.packed.mat(w, rw.down), &self.h, par);
            rmsnorm(&mut self.a, &self.r, rw.norm_b);
            for (i, pv) in self.pi.iter_mut().enumerate() {
                *pv = dot(&rw.bank.router[i * dr..(i + 1) * dr], &self.a);
            }
            softmax(&mut self.pi);
            self.e.copy_from_slice(&self.r);
            self.cat_r[..dr].copy_from_slice(&self.a);
            for i in 0..c.n_scales {
                let o = scale_offset(i);
                if self.pos >= o {
                    let slot = (self.pos - o) % self.ring_len;
                    self.cat_r[dr..].copy_from_slice(&st.ring[slot * dr..(slot + 1) * dr]);
                } else {
                    self.cat_r[dr..].fill(0.0);
                }
                matvec_mat(&mut self.s, self.packed.mat(w, &rw.bank.scales[i * 2 * dr * dr..(i + 1) * 2 * dr * dr]), &self.cat_r, par);
                for (e, s) in self.e.iter_mut().zip(&self.s) {
                    *e += self.pi[i] * s;
                }
            }
            if self.ring_len > 0 {
                let slot = self.pos % self.ring_len;
                st.ring[slot * dr..(slot + 1) * dr].copy_from_slice(&self.a);
            }
            // state gate with this position's planner
            matvec_mat(&mut self.eta, self.packed.mat(w, rw.pg), &self.p, par);
            for j in 0..dr {
                self.r[j] = self.e[j] * sigmoid(self.eta[j]);
            }
            for (sum, e) in st.esum.iter_mut().zip(&self.e) {
                *sum += e;
            }
            if li + 1 < n_layers {
                // p ← p + W_pu·RMS_c(p + W_ep·ē_t)
                let n = (self.pos + 1) as f32;
                for (eb, s) in self.s.iter_mut().zip(&st.esum) {
                    *eb = s / n;
                }
                matvec_mat(&mut self.c, self.packed.mat(w, rw.planner.ep), &self.s, par);
                for (c, p) in self.c.iter_mut().zip(&self.p) {
                    *c += p;
                }
                rmsnorm(&mut self.nc, &self.c, rw.planner.norm);
                matvec_mat(&mut self.dp, self.packed.mat(w, rw.planner.pu), &self.nc, par);
                for (p, x) in self.p.iter_mut().zip(&self.dp) {
                    *p += x;
                }
            }
            // slot memory
            let sw = &rw.slots;
            matvec_mat(&mut self.qv, self.packed.mat(w, sw.q), &self.r, par);
            let inv = 1.0 / (dr as f32).sqrt();
            for (j, al) in self.alpha.iter_mut().enumerate() {
                *al = dot(&self.qv, &sw.slots[j * dr..(j + 1) * dr]) * inv;
            }
            softmax(&mut self.alpha);
            self.cat_r[..dr].copy_from_slice(&self.r);
            let mem = &mut self.cat_r[dr..];
            mem.fill(0.0);
            for (j, &al) in self.alpha.iter().enumerate() {
                for (mv, sv) in mem.iter_mut().zip(&sw.slots[j * dr..(j + 1) * dr]) {
                    *mv += al * sv;
                }
            }
            matvec_mat(&mut self.s, self.packed.mat(w, sw.mg), &self.cat_r, par);
            for (r, x) in self.r.iter_mut().zip(&self.s) {
                *r += x;
            }
            matvec_mat(&mut self.y, self.packed.mat(w, rw.up), &self.r, par);
            let gate = sigmoid(rw.rho);
            for j in 0..d {
                self.h[j] += gate * self.y[j];
            }
            // SwiGLU
            rmsnorm(&mut self.u, &self.h, &f[br.norm_d.clone()]);
            let fw = br.ffn(w);
            matvec_mat(&mut self.gu, self.packed.mat(w, fw.gu), &self.u, par);
            for j in 0..hdim {
                self.act[j] = silu(self.gu[j]) * self.gu[hdim + j];
            }
            matvec_mat(&mut self.y, self.packed.mat(w, fw.o), &self.act, par);
            for j in 0..d {
                self.h[j] += self.y[j];
            }
        }
        rmsnorm(&mut self.u, &self.h, &f[md.ln_out.clone()]);
        matvec_mat(&mut self.logits, self.packed.mat(w, &w[md.head.clone()]), &self.u, par);
        self.pos += 1;
    }
}

crate::model::lm::impl_decode!(Decoder {});
