//! CPUFlow incremental decoder, O(1) per token: per layer the scan's running
//! sums (n, δ) in f64 and, for v9.7, the committed slot state S and the pending
//! chunk update U (S ← λS + U after every `chunk` positions), the position
//! table's running sum in f64. Exactly the full forward's recurrences.
//!
//! Fix D22: the position table has S_max rows and is never extrapolated. Once a
//! window holds S_max tokens, the next token restarts the state from the last
//! S_max/2 tokens (re-prefilled, positions from 0 again) and streams on, so the
//! context varies between S_max/2 and S_max tokens and the cost stays O(1) per
//! token amortised. (A [`WindowDecoder`](crate::model::WindowDecoder) over
//! S_max tokens is the exact sliding-window alternative, O(S_max) per token.)

use super::model::CpuFlow;
use crate::kernels::vec::matvec;
use crate::model::blocks::layernorm::layernorm_row;
use crate::model::blocks::norm_scan::scan_step;
use crate::model::blocks::ram_memory::{address_row, commit, read_row, write_row};
use crate::kernels::ops::sigmoid;

/// Side of the square the heatmap shows per layer for v5-LN: its normalised
/// running state n/δ (k channels as √k × √k) when k is a square. (v9.7 shows
/// its slot states \[M × d_v\] instead.)
pub fn heatmap_side(m: &CpuFlow) -> Option<usize> {
    if m.cfg.memory.is_some() {
        return None;
    }
    let s = (m.cfg.k as f64).sqrt().round() as usize;
    (s * s == m.cfg.k).then_some(s)
}

/// Per-layer recurrent state.
#[derive(Clone)]
struct LayerState {
    n: Vec<f64>,
    den: Vec<f64>,
    /// n/δ, kept for the heatmap
    mean: Vec<f32>,
    /// committed slot state S [M × d_v] and pending update U (v9.7)
    s: Vec<f32>,
    u: Vec<f32>,
}

/// Incremental decoder over a fixed parameter buffer.
pub struct Decoder<'a> {
    model: &'a CpuFlow,
    params: &'a [f32],
    layers: Vec<LayerState>,
    /// Σ steps of the positions so far in this window (f64, like the forward)
    pos_acc: Vec<f64>,
    /// tokens of the current window (since the last re-prefill)
    window: Vec<u32>,
    keep: Vec<u32>,
    pub pos: usize,
    pub parallel: bool,
    h: Vec<f32>,
    a: Vec<f32>,
    qkv: Vec<f32>,
    sv: Vec<f32>,
    m: Vec<f32>,
    y: Vec<f32>,
    up: Vec<f32>,
    sig: Vec<f32>,
    idx: Vec<u32>,
    wt: Vec<f32>,
    what: Vec<f32>,
    gate: Vec<f32>,
    val: Vec<f32>,
    r: Vec<f32>,
    rho: Vec<f32>,
    pub logits: Vec<f32>,
}

impl<'a> Decoder<'a> {
    pub fn new(model: &'a CpuFlow, params: &'a [f32]) -> Self {
        let c = &model.cfg;
        let (d, k) = (c.d_model, c.k);
        let (slots, dv, ns, top) = c.memory.as_ref().map_or((0, 0, 0, 0), |m| (m.d_sub.pow(3) * m.d_val, m.d_val, 3 * m.d_sub, m.top_k));
        let mut dec = Decoder {
            model,
            params,
            layers: (0..c.n_layers)
                .map(|_| LayerState { n: vec![0.0; k], den: vec![0.0; k], mean: vec![0.0; k], s: vec![0.0; slots], u: vec![0.0; slots] })
                .collect(),
            pos_acc: vec![0.0; d],
            window: Vec::with_capacity(model.max_len()),
            keep: Vec::with_capacity(model.max_len()),
            pos: 0,
            parallel: false,
            h: vec![0.0; d],
            a: vec![0.0; d],
            qkv: vec![0.0; 3 * k],
            sv: vec![0.0; k],
            m: vec![0.0; k],
            y: vec![0.0; d],
            up: vec![0.0; c.d_ff],
            sig: vec![0.0; ns],
            idx: vec![0; top],
            wt: vec![0.0; top],
            what: vec![0.0; top],
            gate: vec![0.0; dv],
            val: vec![0.0; dv],
            r: vec![0.0; dv],
            rho: vec![0.0; dv],
            logits: vec![0.0; c.vocab],
        };
        dec.reset();
        dec
    }

    /// Empty window: zero sums, S = mem_init, U = 0.
    fn reset(&mut self) {
        self.window.clear();
        self.pos_acc.fill(0.0);
        for (li, st) in self.layers.iter_mut().enumerate() {
            st.n.fill(0.0);
            st.den.fill(0.0);
            st.mean.fill(0.0);
            if let Some(mr) = &self.model.blocks[li].mem {
                st.s.copy_from_slice(&self.params[mr.init.clone()]);
                st.u.fill(0.0);
            }
        }
    }

    /// Tokens in the current window (at most S_max).
    pub fn window_len(&self) -> usize {
        self.window.len()
    }

    /// Feeds one token; `self.logits` then holds the next-token logits.
    #[inline(always)]
    pub fn step(&mut self, token: u32) {
        let s_max = self.model.max_len();
        if self.window.len() == s_max {
            let mut keep = std::mem::take(&mut self.keep);
            keep.clear();
            keep.extend_from_slice(&self.window[s_max - s_max / 2..]);
            self.reset();
            for &t in &keep {
                self.advance(t, false);
            }
            self.keep = keep;
        }
        self.advance(token, true);
        self.pos += 1;
    }

    /// One position of the window; the head runs only if `logits`.
    fn advance(&mut self, token: u32, logits: bool) {
        let model = self.model;
        let c = &model.cfg;
        let (d, k) = (c.d_model, c.k);
        let p = self.params;
        let par = self.parallel;
        let i = self.window.len();
        self.window.push(token);
        let steps = &p[model.steps.clone()];
        let emb = &p[model.embed.clone()];
        let t = token as usize;
        for j in 0..d {
            self.pos_acc[j] += steps[i * d + j] as f64;
            self.h[j] = emb[t * d + j] + self.pos_acc[j] as f32;
        }
        for (li, br) in model.blocks.iter().enumerate() {
            let st = &mut self.layers[li];
            layernorm_row(&mut self.a, &self.h, &p[br.ln1w.clone()], &p[br.ln1b.clone()]);
            matvec(&mut self.qkv, &p[br.proj.clone()], &self.a, par);
            scan_step(&mut self.sv, &self.qkv, &mut st.n, &mut st.den, k);
            for j in 0..k {
                st.mean[j] = st.n[j] as f32 / (st.den[j] as f32 + crate::model::blocks::norm_scan::SCAN_EPS);
            }
            matvec(&mut self.m, &p[br.wm.clone()], &self.sv, par);
            if let (Some(mr), Some(mc)) = (&br.mem, c.memory.as_ref()) {
                let dv = mc.d_val;
                matvec(&mut self.sig, &p[mr.addr.clone()], &self.a, par);
                address_row(&mut self.sig, &mut self.idx, &mut self.wt, &mut self.what, mc.d_sub);
                read_row(&mut self.r, &st.s, &self.idx, &self.what, dv);
                matvec(&mut self.rho, &p[mr.read.clone()], &self.r, par);
                matvec(&mut self.y[..k], &p[mr.proj.clone()], &self.rho, par);
                for j in 0..k {
                    self.m[j] += self.y[j];
                }
                matvec(&mut self.gate, &p[mr.gate.clone()], &self.a, par);
                matvec(&mut self.val, &p[mr.val.clone()], &self.a, par);
                for j in 0..dv {
                    self.gate[j] = sigmoid(self.gate[j]) * self.val[j].tanh();
                }
                write_row(&mut st.u, &self.gate, &self.idx, &self.what, dv);
                if (i + 1).is_multiple_of(mc.chunk) {
                    commit(&mut st.s, &mut st.u, mc.decay);
                }
            }
            matvec(&mut self.y, &p[br.wout.clone()], &self.m, par);
            for j in 0..d {
                self.h[j] += self.y[j];
            }
            layernorm_row(&mut self.a, &self.h, &p[br.ln2w.clone()], &p[br.ln2b.clone()]);
            matvec(&mut self.up, &p[br.up.clone()], &self.a, par);
            for u in self.up.iter_mut() {
                *u = u.max(0.0);
            }
            matvec(&mut self.y, &p[br.down.clone()], &self.up, par);
            for j in 0..d {
                self.h[j] += self.y[j];
            }
        }
        if logits {
            layernorm_row(&mut self.a, &self.h, &p[model.lnfw.clone()], &p[model.lnfb.clone()]);
            matvec(&mut self.logits, emb, &self.a, par);
        }
    }
}

crate::model::lm::impl_decode!(Decoder {
    fn memory(&self) -> Vec<&[f32]> {
        if self.model.cfg.memory.is_some() {
            // the committed slot states S, what the reads of this chunk see
            return self.layers.iter().map(|l| l.s.as_slice()).collect();
        }
        if heatmap_side(self.model).is_none() {
            return Vec::new();
        }
        self.layers.iter().map(|l| l.mean.as_slice()).collect()
    }
});
