//! CPUFlow v5-LN (spec §12) and CPUFlow v9.7 (spec §13), with the fixes D22
//! (generation past the position table: decode.rs) and, for training, D23–D26
//! through the preset's schedule and accumulation:
//!
//!   h = E\[x\] + P (P_t = Σ_{i≤t} steps_i, BB-CSP)
//!   per block: a = LN₁(h); m = W_m·NCS(a) \[+ W_mp·W_read·RAM(a)\]; h += W_out·m
//!              h += W_down·ReLU(W_up·LN₂(h))
//!   z = E·LN_f(h) (tied)

use super::config::CpuFlowConfig;
use super::decode::Decoder;
use super::workspace::CpuFlowWs;
use crate::model::blocks::cumstep_pos::{cumstep_backward, cumstep_forward, positions};
use crate::model::blocks::embedding::{embedding_backward, embedding_forward};
use crate::model::blocks::layernorm::{layernorm_apply, layernorm_backward, layernorm_forward};
use crate::model::blocks::norm_scan::{scan_backward, scan_forward, ScanActs, ScanGrads, ScanWeights};
use crate::model::blocks::ram_memory::{ram_backward, ram_forward, RamActs, RamGrads, RamScratch, RamShape, RamWeights};
use crate::model::blocks::relu_ffn::{relu_ffn_backward, relu_ffn_forward, ReluGrads, ReluWeights};
use crate::model::lm::{Decode, LanguageModel, MemoryDims, MemoryKind, Workspace};
use crate::model::params::{carve_mut, Layout};
use crate::rng::Rng;
use crate::kernels::{matmul, MatRef};
use std::ops::Range;

/// The memory's parameters of one block.
#[derive(Clone, Debug)]
pub(super) struct MemRanges {
    pub(super) init: Range<usize>,
    pub(super) addr: Range<usize>,
    pub(super) val: Range<usize>,
    pub(super) gate: Range<usize>,
    pub(super) read: Range<usize>,
    pub(super) proj: Range<usize>,
}

#[derive(Clone, Debug)]
pub(super) struct BlockRanges {
    pub(super) ln1w: Range<usize>,
    pub(super) ln1b: Range<usize>,
    pub(super) proj: Range<usize>,
    pub(super) wm: Range<usize>,
    pub(super) mem: Option<MemRanges>,
    pub(super) wout: Range<usize>,
    pub(super) ln2w: Range<usize>,
    pub(super) ln2b: Range<usize>,
    pub(super) up: Range<usize>,
    pub(super) down: Range<usize>,
}

/// The model definition: config, parameter layout and offsets.
#[derive(Clone, Debug)]
pub struct CpuFlow {
    pub cfg: CpuFlowConfig,
    pub layout: Layout,
    pub(super) embed: Range<usize>,
    pub(super) steps: Range<usize>,
    pub(super) blocks: Vec<BlockRanges>,
    pub(super) lnfw: Range<usize>,
    pub(super) lnfb: Range<usize>,
}

impl CpuFlow {
    pub fn new(cfg: CpuFlowConfig) -> Self {
        let (v, d, k, h) = (cfg.vocab, cfg.d_model, cfg.k, cfg.d_ff);
        let mut l = Layout::default();
        let embed = l.add("embed.weight", &[v, d]);
        let steps = l.add("pos.steps", &[cfg.seq_len.max(1), d]);
        let mut blocks = Vec::new();
        for i in 0..cfg.n_layers {
            let p = |s: &str| format!("blocks.{i}.{s}");
            // the memory's own parameter comes first in the reference state dict
            let init = cfg.memory.as_ref().map(|m| l.add(p("mem_init"), &[m.d_sub.pow(3), m.d_val]));
            let ln1w = l.add(p("norm.weight"), &[d]);
            let ln1b = l.add(p("norm.bias"), &[d]);
            let proj = l.add(p("W_proj.weight"), &[3 * k, d]);
            let wm = l.add(p("W_m.weight"), &[k, k]);
            let mem = cfg.memory.as_ref().zip(init).map(|(m, init)| MemRanges {
                init,
                addr: l.add(p("W_addr.weight"), &[3 * m.d_sub, d]),
                val: l.add(p("W_val.weight"), &[m.d_val, d]),
                gate: l.add(p("W_write_gate.weight"), &[m.d_val, d]),
                read: l.add(p("W_read.weight"), &[m.d_val, m.d_val]),
                proj: l.add(p("W_mem_proj.weight"), &[k, m.d_val]),
            });
            let wout = l.add(p("W_out.weight"), &[d, k]);
            let ln2w = l.add(p("norm_ff.weight"), &[d]);
            let ln2b = l.add(p("norm_ff.bias"), &[d]);
            let up = l.add(p("ff_up.weight"), &[h, d]);
            let down = l.add(p("ff_down.weight"), &[d, h]);
            blocks.push(BlockRanges { ln1w, ln1b, proj, wm, mem, wout, ln2w, ln2b, up, down });
        }
        let lnfw = l.add("ln_f.weight", &[d]);
        let lnfb = l.add("ln_f.bias", &[d]);
        CpuFlow { cfg, layout: l, embed, steps, blocks, lnfw, lnfb }
    }

    /// Rows of the position table: the longest window a forward accepts.
    pub fn max_len(&self) -> usize {
        self.cfg.seq_len.max(1)
    }

    pub(super) fn ram_shape(&self, t: usize) -> Option<RamShape> {
        self.cfg.memory.as_ref().map(|m| RamShape {
            t,
            d: self.cfg.d_model,
            d_sub: m.d_sub,
            d_v: m.d_val,
            k: self.cfg.k,
            top: m.top_k,
            decay: m.decay,
            chunk: m.chunk,
        })
    }

    pub(super) fn ram_weights<'a>(&self, params: &'a [f32], m: &MemRanges) -> RamWeights<'a> {
        RamWeights {
            mem_init: &params[m.init.clone()],
            addr: &params[m.addr.clone()],
            val: &params[m.val.clone()],
            gate: &params[m.gate.clone()],
            read: &params[m.read.clone()],
            proj: &params[m.proj.clone()],
        }
    }

    /// The last forward's memory internals of layer `li` for sequence-major rows:
    /// (selected slots [rows × K], W_read·r [rows × d_v]); empty without a memory.
    pub fn memory_internals<'w>(&self, ws: &'w mut Workspace, li: usize) -> (&'w [u32], &'w [f32]) {
        let (cw, _, _) = ws.parts::<CpuFlowWs>();
        let (b, t) = cw.shape;
        let rows = b * t;
        match self.ram_shape(t) {
            Some(sh) => (&cw.layers[li].idx[..rows * sh.top], &cw.layers[li].rho[..rows * sh.d_v]),
            None => (&[], &[]),
        }
    }

    /// Everything up to the final norm: `ws.hf` = LN_f(h).
    fn forward_hidden(&self, ws: &mut CpuFlowWs, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        assert!(t <= self.max_len(), "CPUFlow: a window of {t} tokens exceeds the {}-row position table", self.max_len());
        let c = &self.cfg;
        let (d, k, h) = (c.d_model, c.k, c.d_ff);
        ws.ensure(self, b, t);
        let rows = b * t;
        let n = rows * d;
        positions(&mut ws.pos, &params[self.steps.clone()], t, d);
        embedding_forward(&mut ws.hs[0][..n], tokens, &params[self.embed.clone()], d);
        cumstep_forward(&mut ws.hs[0][..n], &ws.pos, t, d);
        for (li, br) in self.blocks.iter().enumerate() {
            let (before, after) = ws.hs.split_at_mut(li + 1);
            let x = &before[li][..n];
            let y = &mut after[0][..n];
            let la = &mut ws.layers[li];
            let an = &mut ws.anorm[..n];
            layernorm_forward(an, &mut la.mean1[..rows], &mut la.rstd1[..rows], x, &params[br.ln1w.clone()], &params[br.ln1b.clone()], d);
            let sw = ScanWeights { proj: &params[br.proj.clone()], m: &params[br.wm.clone()] };
            let acts = ScanActs { qkv: &mut la.qkv[..rows * 3 * k], n: &mut la.n[..rows * k], den: &mut la.den[..rows * k], s: &mut la.s[..rows * k] };
            let merged = &mut la.merged[..rows * k];
            scan_forward(merged, acts, an, &sw, t, d, k);
            if let (Some(mr), Some(sh)) = (&br.mem, self.ram_shape(t)) {
                let (ns, top, dv) = (3 * sh.d_sub, sh.top, sh.d_v);
                let acts = RamActs {
                    sig: &mut la.sig[..rows * ns],
                    idx: &mut la.idx[..rows * top],
                    wt: &mut la.wt[..rows * top],
                    what: &mut la.what[..rows * top],
                    gate: &mut la.gate[..rows * dv],
                    val: &mut la.val[..rows * dv],
                    phi: &mut la.phi[..rows * dv],
                    r: &mut la.r[..rows * dv],
                    rho: &mut la.rho[..rows * dv],
                    states: &mut la.states[..b * sh.states_len()],
                };
                ram_forward(merged, acts, an, &self.ram_weights(params, mr), sh);
            }
            let h1 = &mut la.h1[..n];
            h1.copy_from_slice(x);
            matmul(h1, d, true, MatRef::rows(merged, k), MatRef::t(&params[br.wout.clone()], k), rows, d, k);
            layernorm_forward(an, &mut la.mean2[..rows], &mut la.rstd2[..rows], h1, &params[br.ln2w.clone()], &params[br.ln2b.clone()], d);
            y.copy_from_slice(h1);
            let fw = ReluWeights { up: &params[br.up.clone()], down: &params[br.down.clone()] };
            relu_ffn_forward(y, &mut la.up[..rows * h], &mut ws.dffn[..rows * h], an, &fw, d, h);
        }
        let last = &ws.hs[self.blocks.len()][..n];
        layernorm_forward(&mut ws.hf[..n], &mut ws.mean_f[..rows], &mut ws.rstd_f[..rows], last, &params[self.lnfw.clone()], &params[self.lnfb.clone()], d);
    }

    /// Backward from ∂L/∂hf, left in `ws.tmp` by the fused head.
    fn backward(&self, ws: &mut CpuFlowWs, params: &[f32], grads: &mut [f32], x: &[u32], b: usize, t: usize) {
        let c = &self.cfg;
        let (d, k, h) = (c.d_model, c.k, c.d_ff);
        let rows = b * t;
        let n = rows * d;
        {
            let [gw, gb] = carve_mut(grads, &[self.lnfw.clone(), self.lnfb.clone()]);
            let dh = &mut ws.dh[..n];
            dh.fill(0.0);
            let last = &ws.hs[self.blocks.len()][..n];
            layernorm_backward(dh, gw, gb, &ws.tmp[..n], last, &params[self.lnfw.clone()], &ws.mean_f[..rows], &ws.rstd_f[..rows], d);
        }
        for (li, br) in self.blocks.iter().enumerate().rev() {
            let la = &mut ws.layers[li];
            let x_in = &ws.hs[li][..n];
            let dh = &mut ws.dh[..n];
            let da = &mut ws.tmp[..n];
            let an = &mut ws.anorm[..n];
            // without a memory its ranges are empty (and unused)
            let e0 = br.ln1w.start..br.ln1w.start;
            let e1 = br.wm.end..br.wm.end;
            let mr = br.mem.clone().unwrap_or(super::model::MemRanges {
                init: e0,
                addr: e1.clone(),
                val: e1.clone(),
                gate: e1.clone(),
                read: e1.clone(),
                proj: e1,
            });
            let ranges = [
                mr.init.clone(),
                br.ln1w.clone(),
                br.ln1b.clone(),
                br.proj.clone(),
                br.wm.clone(),
                mr.addr.clone(),
                mr.val.clone(),
                mr.gate.clone(),
                mr.read.clone(),
                mr.proj.clone(),
                br.wout.clone(),
                br.ln2w.clone(),
                br.ln2b.clone(),
                br.up.clone(),
                br.down.clone(),
            ];
            let [g_init, g_ln1w, g_ln1b, g_proj, g_wm, g_addr, g_val, g_gate, g_read, g_mp, g_wout, g_ln2w, g_ln2b, g_up, g_down] =
                carve_mut(grads, &ranges);
            // FFN sub-layer
            let h1 = &la.h1[..n];
            layernorm_apply(an, h1, &params[br.ln2w.clone()], &params[br.ln2b.clone()], &la.mean2[..rows], &la.rstd2[..rows], d);
            let fw = ReluWeights { up: &params[br.up.clone()], down: &params[br.down.clone()] };
            relu_ffn_backward(da, ReluGrads { up: g_up, down: g_down }, dh, an, &la.up[..rows * h], &fw, &mut ws.dffn[..rows * h], d, h);
            layernorm_backward(dh, g_ln2w, g_ln2b, da, h1, &params[br.ln2w.clone()], &la.mean2[..rows], &la.rstd2[..rows], d);
            // mixer sub-layer: h1 = x + W_out·merged
            let merged = &la.merged[..rows * k];
            let dm = &mut ws.dmerged[..rows * k];
            matmul(g_wout, k, true, MatRef::t(dh, d), MatRef::rows(merged, k), d, k, rows);
            matmul(dm, k, false, MatRef::rows(dh, d), MatRef::rows(&params[br.wout.clone()], k), rows, k, d);
            layernorm_apply(an, x_in, &params[br.ln1w.clone()], &params[br.ln1b.clone()], &la.mean1[..rows], &la.rstd1[..rows], d);
            let sw = ScanWeights { proj: &params[br.proj.clone()], m: &params[br.wm.clone()] };
            let acts = (&la.qkv[..rows * 3 * k], &la.n[..rows * k], &la.den[..rows * k], &la.s[..rows * k]);
            scan_backward(da, ScanGrads { proj: g_proj, m: g_wm }, dm, an, acts, &sw, &mut ws.ds[..rows * k], &mut ws.dqkv[..rows * 3 * k], t, d, k);
            if let (Some(mrr), Some(sh)) = (&br.mem, self.ram_shape(t)) {
                let (ns, top, dv) = (3 * sh.d_sub, sh.top, sh.d_v);
                let acts = RamActs {
                    sig: &mut la.sig[..rows * ns],
                    idx: &mut la.idx[..rows * top],
                    wt: &mut la.wt[..rows * top],
                    what: &mut la.what[..rows * top],
                    gate: &mut la.gate[..rows * dv],
                    val: &mut la.val[..rows * dv],
                    phi: &mut la.phi[..rows * dv],
                    r: &mut la.r[..rows * dv],
                    rho: &mut la.rho[..rows * dv],
                    states: &mut la.states[..b * sh.states_len()],
                };
                let sc = RamScratch {
                    drho: &mut ws.drho[..rows * dv],
                    dr: &mut ws.dr[..rows * dv],
                    dphi: &mut ws.dphi[..rows * dv],
                    dval: &mut ws.dval[..rows * dv],
                    dwhat: &mut ws.dwhat[..rows * top],
                    dsig: &mut ws.dsig[..rows * ns],
                    g: &mut ws.gmem[..b * sh.slots() * dv],
                };
                let g = RamGrads { mem_init: g_init, addr: g_addr, val: g_val, gate: g_gate, read: g_read, proj: g_mp };
                ram_backward(da, g, dm, an, acts, &self.ram_weights(params, mrr), sc, sh);
            }
            layernorm_backward(dh, g_ln1w, g_ln1b, da, x_in, &params[br.ln1w.clone()], &la.mean1[..rows], &la.rstd1[..rows], d);
        }
        // h0 = E[x] + P
        let [gemb, gsteps] = carve_mut(grads, &[self.embed.clone(), self.steps.clone()]);
        embedding_backward(gemb, &ws.dh[..n], x, d);
        cumstep_backward(gsteps, &ws.dh[..n], b, t, d);
    }
}

impl LanguageModel for CpuFlow {
    fn version(&self) -> &'static str {
        if self.cfg.memory.is_some() {
            "v9.7"
        } else {
            "v5-LN"
        }
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn vocab(&self) -> usize {
        self.cfg.vocab
    }
    /// Spec §12.3 / §13.3: E, `pos.steps` and every linear ~ N(0, 0.02²), W_out
    /// and ff_down then × 1/√(2L); `mem_init` 0.01·N(0,1); LayerNorm γ = 1, β = 0.
    fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = vec![0.0f32; self.layout.total];
        let out_scale = 1.0 / (2.0 * self.cfg.n_layers as f32).sqrt();
        for t in &self.layout.tensors {
            let r = t.range();
            let name = t.name.as_str();
            if t.shape.len() == 1 {
                p[r].fill(if name.ends_with(".weight") { 1.0 } else { 0.0 });
                continue;
            }
            let std = if name.ends_with("mem_init") {
                0.01
            } else if name.ends_with("W_out.weight") || name.ends_with("ff_down.weight") {
                0.02 * out_scale
            } else {
                0.02
            };
            for x in &mut p[r] {
                *x = rng.normal() * std;
            }
        }
        p
    }
    crate::model::lm::tied_head_methods!(CpuFlowWs);
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        Box::new(Decoder::new(self, params))
    }
    /// 6 × (matmul parameters, head included) for the dense products, plus per
    /// layer the scan's elementwise work (~10 flops per channel forward, ×3 with
    /// backward: 30·k) and, with the memory, the slot weights (M products
    /// per position), K reads and K writes of d_v (2·K·d_v flops each), ×3.
    fn flops_per_token(&self, _t: usize) -> f64 {
        let c = &self.cfg;
        let (d, k, h, v) = (c.d_model as f64, c.k as f64, c.d_ff as f64, c.vocab as f64);
        let (mem_mm, mem_ew) = match &c.memory {
            Some(m) => {
                let (ds, dv, top) = (m.d_sub as f64, m.d_val as f64, m.top_k as f64);
                (3.0 * ds * d + 2.0 * dv * d + dv * dv + k * dv, 3.0 * (ds * ds * ds + 4.0 * top * dv))
            }
            None => (0.0, 0.0),
        };
        let per_layer_mm = 3.0 * k * d + k * k + d * k + 2.0 * h * d + mem_mm;
        let mm = c.n_layers as f64 * per_layer_mm + v * d;
        6.0 * mm + c.n_layers as f64 * (30.0 * k + mem_ew)
    }
    fn flop_formula(&self) -> &'static str {
        if self.cfg.memory.is_some() {
            "6·(L·(3k·d + k² + d·k + 2·H·d + 3·d_sub·d + 2·d_v·d + d_v² + k·d_v) + V·d) + L·(30·k + 3·(d_sub³ + 4·K·d_v))"
        } else {
            "6·(L·(3k·d + k² + d·k + 2·H·d) + V·d) + L·30·k"
        }
    }
    fn memory_dims(&self) -> Option<MemoryDims> {
        let n_layers = self.cfg.n_layers;
        match &self.cfg.memory {
            Some(m) => Some(MemoryDims { n_layers, rows: m.d_sub.pow(3), cols: m.d_val, kind: MemoryKind::Slots }),
            None => super::decode::heatmap_side(self).map(|side| MemoryDims { n_layers, rows: side, cols: side, kind: MemoryKind::RunningState }),
        }
    }
    fn describe(&self) -> String {
        crate::model::config::ModelConfig::describe(&self.cfg)
    }
}
