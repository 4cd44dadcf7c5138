//! v6 SUPERNOVA (spec §7): ternary shift mixer + P-RCSM + SwiGLU, with fixes
//! D6 (causal running-mean planner summary, unless `reference_compat`) and D17
//! (zero-filled shifts for any window length).
//!
//!   h = E\[x\]·d^(−1/2);  p = planner_init (per position)
//!   per block: h += ShiftMixer(RMS_a(h)); (h, p) ← P-RCSM(h, p); h += SwiGLU(RMS_d(h))
//!   z = W_head·RMS_out(h)
//!
//! Every matrix is BIT-C ternary (per-row scale), the untied head included,
//! except the router; E, the slots, planner_init, ρ and the gains are float.
//! The matrices are quantised once per forward into `SupernovaWs::q` and the
//! float kernels run on Q(W); their weight gradients go straight into W's slot
//! (straight-through estimator, bitlinear.rs).

use super::config::SupernovaConfig;
use super::decode::Decoder;
use super::workspace::SupernovaWs;
use crate::kernels::ops::add;
use crate::model::blocks::bitlinear::{quantize, ternary_share, BitVariant};
use crate::model::blocks::embedding::{embedding_backward, embedding_forward};
use crate::model::blocks::head::{head_logits, head_loss, head_train, TrainHead};
use crate::model::blocks::rcsm::bank::{BankGrads, BankWeights};
use crate::model::blocks::rcsm::gate::{PlannerGrads, PlannerWeights};
use crate::model::blocks::rcsm::memory::{SlotGrads, SlotWeights};
use crate::model::blocks::rcsm::{rcsm_backward, rcsm_forward, RcsmGrads, RcsmShape, RcsmWeights};
use crate::model::blocks::rmsnorm::{rmsnorm_apply, rmsnorm_backward, rmsnorm_forward};
use crate::model::blocks::shift_mixer::{
    shift_mixer_backward, shift_mixer_forward, ShiftMixerActs, ShiftMixerGrads, ShiftMixerScratch, ShiftMixerWeights,
};
use crate::model::blocks::swiglu::{ffn_backward, ffn_forward, FfnGrads, FfnWeights};
use crate::model::lm::{Decode, LanguageModel, TernaryShare, WindowDecoder, Workspace};
use crate::model::params::{carve_mut, Layout};
use crate::rng::Rng;
use rayon::prelude::*;
use std::ops::Range;

/// One block's parameter ranges, in the order of the reference state dict.
#[derive(Clone, Debug)]
pub(super) struct BlockRanges {
    pub norm_a: Range<usize>,
    pub mix: Range<usize>,
    pub gate: Range<usize>,
    pub val: Range<usize>,
    pub rho: Range<usize>,
    pub down: Range<usize>,
    pub norm_b: Range<usize>,
    /// scales.0 … scales.{n_s−1}, contiguous
    pub scales: Range<usize>,
    pub router: Range<usize>,
    pub pg: Range<usize>,
    pub ep: Range<usize>,
    pub pu: Range<usize>,
    pub norm_c: Range<usize>,
    pub slots: Range<usize>,
    pub q: Range<usize>,
    pub mg: Range<usize>,
    pub up: Range<usize>,
    pub norm_d: Range<usize>,
    pub gu: Range<usize>,
    pub o: Range<usize>,
}

impl BlockRanges {
    fn all(&self) -> [Range<usize>; 20] {
        [
            self.norm_a.clone(),
            self.mix.clone(),
            self.gate.clone(),
            self.val.clone(),
            self.rho.clone(),
            self.down.clone(),
            self.norm_b.clone(),
            self.scales.clone(),
            self.router.clone(),
            self.pg.clone(),
            self.ep.clone(),
            self.pu.clone(),
            self.norm_c.clone(),
            self.slots.clone(),
            self.q.clone(),
            self.mg.clone(),
            self.up.clone(),
            self.norm_d.clone(),
            self.gu.clone(),
            self.o.clone(),
        ]
    }

    /// Views into `w`, the buffer the matrices are read from (Q(W) when quantising).
    pub fn mixer<'a>(&self, w: &'a [f32]) -> ShiftMixerWeights<'a> {
        ShiftMixerWeights { mix: &w[self.mix.clone()], gate: &w[self.gate.clone()], val: &w[self.val.clone()] }
    }

    /// `f` = the parameters (float tensors), `w` = the matrices (Q(W) when quantising).
    pub fn rcsm<'a>(&self, f: &'a [f32], w: &'a [f32]) -> RcsmWeights<'a> {
        RcsmWeights {
            rho: f[self.rho.start],
            down: &w[self.down.clone()],
            norm_b: &f[self.norm_b.clone()],
            bank: BankWeights { scales: &w[self.scales.clone()], router: &f[self.router.clone()] },
            pg: &w[self.pg.clone()],
            planner: PlannerWeights { ep: &w[self.ep.clone()], pu: &w[self.pu.clone()], norm: &f[self.norm_c.clone()] },
            slots: SlotWeights { slots: &f[self.slots.clone()], q: &w[self.q.clone()], mg: &w[self.mg.clone()] },
            up: &w[self.up.clone()],
        }
    }

    pub fn ffn<'a>(&self, w: &'a [f32]) -> FfnWeights<'a> {
        FfnWeights { gu: &w[self.gu.clone()], o: &w[self.o.clone()] }
    }
}

/// A BIT-C matrix of the layout: (index into `layout.tensors`, out, in).
#[derive(Clone, Debug)]
struct Ternary {
    tensor: usize,
    out: usize,
    inp: usize,
}

/// The model definition: config, layout, offsets. Parameters live in a flat
/// buffer owned by the caller.
#[derive(Clone, Debug)]
pub struct Supernova {
    pub cfg: SupernovaConfig,
    pub layout: Layout,
    pub(super) planner: Range<usize>,
    pub(super) embed: Range<usize>,
    pub(super) blocks: Vec<BlockRanges>,
    pub(super) ln_out: Range<usize>,
    pub(super) head: Range<usize>,
    ternary: Vec<Ternary>,
    quantized: bool,
}

impl Supernova {
    pub fn new(cfg: SupernovaConfig) -> Self {
        let (v, d, h, dr, ns, nsl, dp) = (cfg.vocab, cfg.d_model, cfg.d_ff, cfg.d_reason, cfg.n_scales, cfg.n_slots, cfg.d_planner);
        let mut l = Layout::default();
        let mut ternary = Vec::new();
        let mut bit = |l: &mut Layout, name: String, out: usize, inp: usize| {
            ternary.push(Ternary { tensor: l.tensors.len(), out, inp });
            l.add(name, &[out, inp])
        };
        let planner = l.add("planner_init", &[1, 1, dp]);
        let embed = l.add("embed.weight", &[v, d]);
        let mut blocks = Vec::new();
        for i in 0..cfg.n_layers {
            let p = |s: &str| format!("blocks.{i}.{s}");
            let norm_a = l.add(p("token_mix.norm.weight"), &[d]);
            let mix = bit(&mut l, p("token_mix.mix.weight"), d, 2 * d);
            let gate = bit(&mut l, p("token_mix.gate_proj.weight"), d, d);
            let val = bit(&mut l, p("token_mix.value_proj.weight"), d, d);
            let rho = l.add(p("reasoning.res_gate"), &[1]);
            let down = bit(&mut l, p("reasoning.down_proj.weight"), dr, d);
            let norm_b = l.add(p("reasoning.conv_bank.norm.weight"), &[dr]);
            let start = l.total;
            for s in 0..ns {
                bit(&mut l, p(&format!("reasoning.conv_bank.scales.{s}.weight")), dr, 2 * dr);
            }
            let scales = start..l.total;
            let router = l.add(p("reasoning.conv_bank.router.weight"), &[ns, dr]);
            let pg = bit(&mut l, p("reasoning.state_gate.planner_to_gate.weight"), dr, dp);
            let ep = bit(&mut l, p("reasoning.state_gate.executor_to_planner.weight"), dp, dr);
            let pu = bit(&mut l, p("reasoning.state_gate.planner_update.weight"), dp, dp);
            let norm_c = l.add(p("reasoning.state_gate.norm.weight"), &[dp]);
            let slots = l.add(p("reasoning.memory.slots"), &[nsl, dr]);
            let q = bit(&mut l, p("reasoning.memory.query_proj.weight"), dr, dr);
            let mg = bit(&mut l, p("reasoning.memory.mix_gate.weight"), dr, 2 * dr);
            let up = bit(&mut l, p("reasoning.up_proj.weight"), d, dr);
            let norm_d = l.add(p("channel_mix.norm.weight"), &[d]);
            let gu = bit(&mut l, p("channel_mix.gate_up.weight"), 2 * h, d);
            let o = bit(&mut l, p("channel_mix.down.weight"), d, h);
            blocks.push(BlockRanges {
                norm_a,
                mix,
                gate,
                val,
                rho,
                down,
                norm_b,
                scales,
                router,
                pg,
                ep,
                pu,
                norm_c,
                slots,
                q,
                mg,
                up,
                norm_d,
                gu,
                o,
            });
        }
        let ln_out = l.add("ln_out.weight", &[d]);
        let head = bit(&mut l, "head.weight".into(), v, d);
        Supernova { cfg, layout: l, planner, embed, blocks, ln_out, head, ternary, quantized: true }
    }

    /// The same model with BIT-C switched off (every matrix used as stored). Only
    /// for gradient checks: the straight-through gradient is the exact gradient
    /// of this float path at W = Q(W).
    pub fn float_path(mut self) -> Self {
        self.quantized = false;
        self
    }

    /// h = E\[x\]·d^(−1/2) (the reference multiplies by the Python float d**−0.5).
    pub fn embed_scale(&self) -> f32 {
        (self.cfg.d_model as f64).powf(-0.5) as f32
    }

    pub(super) fn shape(&self, t: usize) -> RcsmShape {
        let c = &self.cfg;
        RcsmShape { t, d: c.d_model, d_r: c.d_reason, n_s: c.n_scales, n_slots: c.n_slots, d_p: c.d_planner, compat: c.reference_compat }
    }

    /// Q(W) of every ternary matrix into `q` (same layout as `params`; other
    /// ranges are left alone). Returns the buffer the matrices are read from.
    /// Where the BitLinear matrices sit in the parameter buffer, with their row length.
    pub(super) fn ternary_ranges(&self) -> Vec<(std::ops::Range<usize>, usize)> {
        self.ternary.iter().map(|tq| (self.layout.tensors[tq.tensor].range(), tq.inp)).collect()
    }

    pub fn matrices<'a>(&self, q: &'a mut Vec<f32>, params: &'a [f32]) -> &'a [f32] {
        if !self.quantized {
            return params;
        }
        q.resize(self.layout.total, 0.0);
        for tq in &self.ternary {
            let r = self.layout.tensors[tq.tensor].range();
            quantize(&mut q[r.clone()], &params[r], tq.out, tq.inp, BitVariant::C);
        }
        q
    }

    /// Everything up to the final norm: `ws.hf` = RMS_out(h); quantised matrices in `ws.q`.
    fn forward_hidden(&self, ws: &mut SupernovaWs, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        let c = &self.cfg;
        let (d, h, dp) = (c.d_model, c.d_ff, c.d_planner);
        ws.ensure(self, b, t);
        let w = self.matrices(&mut ws.q, params);
        let sh = self.shape(t);
        let rows = b * t;
        let n = rows * d;
        let scale = self.embed_scale();
        embedding_forward(&mut ws.hs[0][..n], tokens, &params[self.embed.clone()], d);
        ws.hs[0][..n].par_iter_mut().for_each(|x| *x *= scale);
        let p0 = &params[self.planner.clone()];
        if let Some(ps0) = ws.ps.first_mut() {
            ps0[..rows * dp].par_chunks_mut(dp).for_each(|p| p.copy_from_slice(p0));
        }
        let last = self.blocks.len().saturating_sub(1);
        for (li, br) in self.blocks.iter().enumerate() {
            let (before, after) = ws.hs.split_at_mut(li + 1);
            let x = &before[li][..n];
            let la = &mut ws.layers[li];
            // shift mixer
            let u = &mut ws.u[..n];
            rmsnorm_forward(u, &mut la.rstd_a[..rows], x, &params[br.norm_a.clone()], d);
            la.h1[..n].copy_from_slice(x);
            let acts = ShiftMixerActs { m: &mut la.m[..n], g: &mut la.g[..n], v: &mut la.v[..n] };
            shift_mixer_forward(&mut la.h1[..n], acts, &mut ws.cat[..2 * n], u, &br.mixer(w), t, d);
            // P-RCSM (the last block's planner update would be unused: skipped)
            la.h2[..n].copy_from_slice(&la.h1[..n]);
            let (p_in, p_out) = ws.ps.split_at_mut(li + 1);
            let p_next = (li < last).then(|| &mut p_out[0][..rows * dp]);
            let rw = br.rcsm(params, w);
            rcsm_forward(&mut la.h2[..n], &mut la.rcsm, &mut ws.rcsm, &la.h1[..n], &p_in[li][..rows * dp], p_next, &rw, sh);
            // SwiGLU
            rmsnorm_forward(u, &mut la.rstd_d[..rows], &la.h2[..n], &params[br.norm_d.clone()], d);
            let tmp = &mut ws.tmp[..n];
            ffn_forward(tmp, &mut la.gu[..2 * rows * h], &mut ws.dact[..rows * h], u, &br.ffn(w), d, h);
            add(&mut after[0][..n], &la.h2[..n], tmp);
        }
        let hl = &ws.hs[self.blocks.len()][..n];
        rmsnorm_forward(&mut ws.hf[..n], &mut ws.rstd_out[..rows], hl, &params[self.ln_out.clone()], d);
    }

    /// Backward from ∂L/∂hf, left in `ws.tmp` by the fused head.
    fn backward(&self, ws: &mut SupernovaWs, params: &[f32], grads: &mut [f32], x: &[u32], b: usize, t: usize) {
        let c = &self.cfg;
        let (d, h, dp) = (c.d_model, c.d_ff, c.d_planner);
        let rows = b * t;
        let n = rows * d;
        let sh = self.shape(t);
        let w = if self.quantized { &ws.q[..] } else { params };
        {
            let dh = &mut ws.dh[..n];
            dh.fill(0.0);
            let hl = &ws.hs[self.blocks.len()][..n];
            rmsnorm_backward(dh, &mut grads[self.ln_out.clone()], &ws.tmp[..n], hl, &params[self.ln_out.clone()], &ws.rstd_out[..rows], d);
        }
        let last = self.blocks.len().saturating_sub(1);
        ws.dp_next.fill(0.0); // ∂L/∂p₀ stays zero without blocks
        for (li, br) in self.blocks.iter().enumerate().rev() {
            let la = &ws.layers[li];
            let x_in = &ws.hs[li][..n];
            let dh = &mut ws.dh[..n];
            let da = &mut ws.tmp[..n];
            let u = &mut ws.u[..n];
            let mut g = carve_mut(grads, &br.all()).into_iter();
            let mut next = || g.next().expect("20 ranges");
            let (g_norm_a, g_mix, g_gate, g_val, g_rho, g_down, g_norm_b) = (next(), next(), next(), next(), next(), next(), next());
            let (g_scales, g_router, g_pg, g_ep, g_pu, g_norm_c) = (next(), next(), next(), next(), next(), next());
            let (g_slots, g_q, g_mg, g_up, g_norm_d, g_gu, g_o) = (next(), next(), next(), next(), next(), next(), next());

            // SwiGLU sub-layer
            rmsnorm_apply(u, &la.h2[..n], &params[br.norm_d.clone()], &la.rstd_d[..rows], d);
            let fg = FfnGrads { gu: g_gu, o: g_o };
            let (dact, dgu) = (&mut ws.dact[..rows * h], &mut ws.dgu[..2 * rows * h]);
            ffn_backward(da, fg, dh, u, &la.gu[..2 * rows * h], &br.ffn(w), dact, dgu, d, h);
            rmsnorm_backward(dh, g_norm_d, da, &la.h2[..n], &params[br.norm_d.clone()], &la.rstd_d[..rows], d);
            // P-RCSM sub-layer; dp_next holds ∂L/∂p of block li+1
            let rg = RcsmGrads {
                rho: g_rho,
                down: g_down,
                norm_b: g_norm_b,
                bank: BankGrads { scales: g_scales, router: g_router },
                pg: g_pg,
                planner: PlannerGrads { ep: g_ep, pu: g_pu, norm: g_norm_c },
                slots: SlotGrads { slots: g_slots, q: g_q, mg: g_mg },
                up: g_up,
            };
            let dp_next = (li < last).then_some(&ws.dp_next[..rows * dp]);
            let p_in = &ws.ps[li][..rows * dp];
            rcsm_backward(dh, &mut ws.dp[..rows * dp], dp_next, rg, &la.h1[..n], p_in, &la.rcsm, &br.rcsm(params, w), &mut ws.rcsm, sh);
            std::mem::swap(&mut ws.dp, &mut ws.dp_next);
            // shift mixer sub-layer
            rmsnorm_apply(u, x_in, &params[br.norm_a.clone()], &la.rstd_a[..rows], d);
            let s = ShiftMixerScratch { dv: &mut ws.dv[..n], dg: &mut ws.dg[..n], cat: &mut ws.cat[..2 * n], dcat: &mut ws.dcat[..2 * n] };
            let mg = ShiftMixerGrads { mix: g_mix, gate: g_gate, val: g_val };
            shift_mixer_backward(da, mg, dh, u, (&la.m[..n], &la.g[..n], &la.v[..n]), &br.mixer(w), s, t, d);
            rmsnorm_backward(dh, g_norm_a, da, x_in, &params[br.norm_a.clone()], &la.rstd_a[..rows], d);
        }
        // planner_init is broadcast to every position: its gradient is the sum (∂L/∂p₀ is in dp_next after the swap)
        {
            let gp = &mut grads[self.planner.clone()];
            for row in ws.dp_next[..rows * dp].chunks(dp) {
                for (g, v) in gp.iter_mut().zip(row) {
                    *g += v;
                }
            }
        }
        // h = E[x]·s
        let scale = self.embed_scale();
        let de = &mut ws.dh[..n];
        de.par_iter_mut().for_each(|v| *v *= scale);
        embedding_backward(&mut grads[self.embed.clone()], de, x, d);
    }
}

impl LanguageModel for Supernova {
    fn version(&self) -> &'static str {
        "v6"
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn vocab(&self) -> usize {
        self.cfg.vocab
    }
    /// Spec §7.3: E ~ N(0, 0.02²); BIT-C matrices Kaiming-normal fan_out (std
    /// √(2/out)); router U(±1/√d_r); slots, planner_init ~ N(0, 0.01²); ρ = 0; gains 1.
    fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = vec![0.0f32; self.layout.total];
        let is_bit: Vec<bool> = (0..self.layout.tensors.len()).map(|i| self.ternary.iter().any(|t| t.tensor == i)).collect();
        for (i, t) in self.layout.tensors.iter().enumerate() {
            let r = t.range();
            let name = t.name.as_str();
            if is_bit[i] {
                let std = (2.0 / t.shape[0] as f32).sqrt();
                p[r].iter_mut().for_each(|x| *x = rng.normal() * std);
            } else if name.ends_with("norm.weight") || name == "ln_out.weight" {
                p[r].fill(1.0);
            } else if name.ends_with("res_gate") {
                p[r].fill(0.0);
            } else if name.ends_with("router.weight") {
                let bound = 1.0 / (t.shape[1] as f32).sqrt();
                p[r].iter_mut().for_each(|x| *x = (2.0 * rng.next_f32() - 1.0) * bound);
            } else {
                let std = if name == "embed.weight" { 0.02 } else { 0.01 }; // slots, planner_init
                p[r].iter_mut().for_each(|x| *x = rng.normal() * std);
            }
        }
        p
    }
    /// Forward over `tokens` [b × t]; logits [b·t × V] into `ws.logits`.
    fn forward(&self, ws: &mut Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        let (sw, logits, _) = ws.parts::<SupernovaWs>();
        self.forward_hidden(sw, params, tokens, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        let w = if self.quantized { &sw.q[..] } else { params };
        head_logits(logits, &sw.hf[..rows * d], &w[self.head.clone()], d, v);
    }
    /// Forward + per-position losses; returns the mean loss (f64 accumulation).
    fn loss(&self, ws: &mut Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        let (sw, _, losses) = ws.parts::<SupernovaWs>();
        self.forward_hidden(sw, params, x, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        let w = if self.quantized { &sw.q[..] } else { params };
        head_loss(losses, &mut sw.head_buf, &sw.hf[..rows * d], &w[self.head.clone()], y, d, v)
    }
    /// Forward + backward of the mean next-token loss; gradients added into `grads`.
    #[allow(clippy::too_many_arguments)]
    fn loss_and_grad(&self, ws: &mut Workspace, params: &[f32], grads: &mut [f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        let (sw, losses, fsp) = ws.train_parts::<SupernovaWs>();
        self.forward_hidden(sw, params, x, b, t);
        let (d, v) = (self.cfg.d_model, self.cfg.vocab);
        // the quantised head's effective matrix; its gradient passes straight through to W
        let w = if self.quantized { &sw.q[..] } else { params };
        let head = TrainHead { matrix: &w[self.head.clone()], grad: &self.head };
        let loss = head_train(losses, &mut sw.tmp, &mut sw.head_buf, grads, head, fsp, params, &sw.hf, y, b, t, d, v);
        if !loss.is_finite() {
            return loss;
        }
        self.backward(sw, params, grads, x, b, t);
        loss
    }
    /// O(1) per token with the D6 fix; with `reference_compat` the planner needs
    /// the whole window, so every token re-runs the last 128 (the training T).
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        if self.cfg.reference_compat {
            Box::new(WindowDecoder::new(self, params, 128))
        } else {
            Box::new(Decoder::new(self, params))
        }
    }
    /// 6 × (matmul parameters, head included, plus the slot read as two
    /// products with S): per layer 4d² (mixer), d_r·d (down), n_s·(2d_r² + d_r)
    /// (scales, router), 2·d_r·d_p + d_p² (gate, planner), 3d_r² + 2·n_slots·d_r
    /// (memory), d·d_r (up), 3·H·d (SwiGLU); plus V·d for the head. Shifts and the
    /// running mean are O(d) per token and left out; nothing grows with t.
    fn flops_per_token(&self, _t: usize) -> f64 {
        let c = &self.cfg;
        let (d, h, v) = (c.d_model as f64, c.d_ff as f64, c.vocab as f64);
        let (dr, ns, nsl, dp) = (c.d_reason as f64, c.n_scales as f64, c.n_slots as f64, c.d_planner as f64);
        let per_layer = 4.0 * d * d
            + dr * d
            + ns * (2.0 * dr * dr + dr)
            + 2.0 * dr * dp
            + dp * dp
            + 3.0 * dr * dr
            + 2.0 * nsl * dr
            + d * dr
            + 3.0 * h * d;
        6.0 * (c.n_layers as f64 * per_layer + v * d)
    }
    fn flop_formula(&self) -> &'static str {
        "6·(L·(4d² + 2·d_r·d + n_s·(2d_r² + d_r) + 2·d_r·d_p + d_p² + 3d_r² + 2·n_slots·d_r + 3·H·d) + V·d)"
    }
    fn ternary_shares(&self, params: &[f32]) -> Vec<TernaryShare> {
        self.ternary
            .iter()
            .map(|tq| {
                let info = &self.layout.tensors[tq.tensor];
                ternary_share(&info.name, &params[info.range()], tq.out, tq.inp, BitVariant::C)
            })
            .collect()
    }
    fn describe(&self) -> String {
        crate::model::ModelConfig::describe(&self.cfg)
    }
}
