//! v7 CORTEX (spec §8): ternary "RWKV" decayed sum + SwiGLU blocks, tied head,
//! and float exit heads trained with consistency and diversity terms.
//!
//!   h = RMS_in(E\[x\])
//!   per block: h += TM(RMS₁(h)); h += SwiGLU(RMS₂(h))      (blocks/decayed_sum.rs, swiglu.rs)
//!   z = E·RMS_out(h)                                          (tied head)
//!   exit j after block n_j: ℓ^j = U_j·RMS_j(h_{n_j}), c^j = gate(…)   (blocks/exit_head.rs)
//!
//! All block matrices (W_r, W_k, W_v, W_o, W1, W2, channel W_o) are BIT-C ternary:
//! quantised once per forward into workspace scratch, straight-through backward.
//! Fixes on: D3 (every position t scored against y_t = x_{t+1}, main and exit
//! heads alike), D8 (true recurrence), D9 (`loss`/`loss_and_grad` report the main
//! head's CE; the full objective is [`CortexV7::objective`]), D18 (decoder).

use super::config::CortexV7Config;
use super::decode::Decoder;
use super::workspace::V7Ws;
use crate::kernels::ops::add;
use crate::model::blocks::bitlinear::{quantize, ternary_share, BitVariant};
use crate::model::blocks::decayed_sum::{
    decay_weights, time_mix_backward, time_mix_forward, TimeMixActs, TimeMixGrads, TimeMixScratch, TimeMixWeights,
};
use crate::model::blocks::embedding::{embedding_backward, embedding_forward};
use crate::model::blocks::fsp::fsp_train;
use crate::model::blocks::exit_head::{
    exit_forward, exit_objective, head_pass, row_objective, ExitBackward, ExitCoefs, ExitGrads, ExitTerms, ExitWeights, GATE_HIDDEN,
};
use crate::model::blocks::head::{head_logits, head_loss};
use crate::model::blocks::rmsnorm::{rmsnorm_apply, rmsnorm_backward, rmsnorm_forward};
use crate::model::blocks::swiglu::{ffn_backward, ffn_forward, FfnGrads, FfnWeights};
use crate::model::lm::{Decode, LanguageModel, TernaryShare, Workspace};
use crate::model::params::{carve_mut, Layout};
use crate::rng::Rng;
use std::ops::Range;

#[derive(Clone, Debug)]
pub(super) struct BlockRanges {
    pub(super) ln1: Range<usize>,
    pub(super) decay: Range<usize>,
    /// Wr, Wk, Wv (adjacent)
    pub(super) rkv: Range<usize>,
    pub(super) wo: Range<usize>,
    pub(super) ln_x: Range<usize>,
    pub(super) ln2: Range<usize>,
    /// W1 (gate), W2 (up) (adjacent)
    pub(super) gu: Range<usize>,
    pub(super) o: Range<usize>,
}

#[derive(Clone, Debug)]
pub(super) struct ExitRanges {
    pub(super) ln: Range<usize>,
    pub(super) head: Range<usize>,
    pub(super) w1: Range<usize>,
    pub(super) b1: Range<usize>,
    pub(super) w2: Range<usize>,
    pub(super) b2: Range<usize>,
}

/// Offsets of one layer's quantised matrices in the workspace scratch.
#[derive(Clone, Debug)]
pub(super) struct QRanges {
    pub(super) rkv: Range<usize>,
    pub(super) wo: Range<usize>,
    pub(super) gu: Range<usize>,
    pub(super) o: Range<usize>,
}

/// The v7 objective and its parts (f64 means over the B·T scored positions).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Objective {
    /// CE_main + Σ_j w_j·CE_exit_j + consistency·Σ_j BCE_j + diversity·Σ_j D_j
    pub total: f64,
    /// main-head CE (what validation reports, D9)
    pub main: f64,
    /// per exit, in config order
    pub exits: Vec<ExitTerms>,
}

/// The model definition: config, parameter layout and offsets.
#[derive(Clone, Debug)]
pub struct CortexV7 {
    pub cfg: CortexV7Config,
    pub layout: Layout,
    /// true (default): the block matrices are BIT-C ternary. false: they are used
    /// as stored (the float path; gradient checks of the blocks use it).
    pub ternary: bool,
    pub(super) embed: Range<usize>,
    pub(super) ln_in: Range<usize>,
    pub(super) blocks: Vec<BlockRanges>,
    pub(super) ln_out: Range<usize>,
    pub(super) exits: Vec<ExitRanges>,
    pub(super) q: Vec<QRanges>,
    pub(super) q_len: usize,
}

impl CortexV7 {
    /// Panics on a config it cannot build: a zero size, or an exit after no
    /// block (presets are checked first, by `ModelConfig::validate`).
    pub fn new(cfg: CortexV7Config) -> Self {
        assert!(cfg.vocab > 0 && cfg.d_model > 0 && cfg.n_layers > 0 && cfg.d_ff > 0, "v7: sizes must be positive: {cfg:?}");
        for &(after, w, thr) in &cfg.exits {
            assert!((1..=cfg.n_layers).contains(&after), "v7: exit after block {after}; expected 1..={}", cfg.n_layers);
            assert!(w.is_finite() && thr.is_finite(), "v7: exit ({after}, {w}, {thr}) must be finite");
        }
        let (v, d, f) = (cfg.vocab, cfg.d_model, cfg.d_ff);
        let mut l = Layout::default();
        let embed = l.add("embed.weight", &[v, d]);
        let ln_in = l.add("ln_in.weight", &[d]);
        let (mut blocks, mut q, mut q_len) = (Vec::new(), Vec::new(), 0);
        let mut take = |len: usize| {
            q_len += len;
            q_len - len..q_len
        };
        for i in 0..cfg.n_layers {
            let p = |s: &str| format!("blocks.{i}.{s}");
            let ln1 = l.add(p("ln1.weight"), &[d]);
            let decay = l.add(p("time_mix.decay"), &[d]);
            let r = l.add(p("time_mix.Wr.weight"), &[d, d]);
            l.add(p("time_mix.Wk.weight"), &[d, d]);
            let vv = l.add(p("time_mix.Wv.weight"), &[d, d]);
            let wo = l.add(p("time_mix.Wo.weight"), &[d, d]);
            let ln_x = l.add(p("time_mix.ln_x.weight"), &[d]);
            let ln2 = l.add(p("ln2.weight"), &[d]);
            let w1 = l.add(p("channel_mix.W1.weight"), &[f, d]);
            let w2 = l.add(p("channel_mix.W2.weight"), &[f, d]);
            let o = l.add(p("channel_mix.Wo.weight"), &[d, f]);
            blocks.push(BlockRanges { ln1, decay, rkv: r.start..vv.end, wo, ln_x, ln2, gu: w1.start..w2.end, o });
            q.push(QRanges { rkv: take(3 * d * d), wo: take(d * d), gu: take(2 * f * d), o: take(d * f) });
        }
        let ln_out = l.add("ln_out.weight", &[d]);
        let exits = (0..cfg.exits.len())
            .map(|j| {
                let p = |s: &str| format!("exit_gates.{j}.{s}");
                ExitRanges {
                    ln: l.add(p("ln.weight"), &[d]),
                    head: l.add(p("head.weight"), &[v, d]),
                    w1: l.add(p("gate.0.weight"), &[GATE_HIDDEN, d]),
                    b1: l.add(p("gate.0.bias"), &[GATE_HIDDEN]),
                    w2: l.add(p("gate.2.weight"), &[1, GATE_HIDDEN]),
                    b2: l.add(p("gate.2.bias"), &[1]),
                }
            })
            .collect();
        CortexV7 { cfg, layout: l, ternary: true, embed, ln_in, blocks, ln_out, exits, q, q_len }
    }

    /// The BitLinear matrices: (module name, range, out, in), reference order.
    fn bit_matrices(&self) -> Vec<(String, Range<usize>, usize, usize)> {
        let (d, f) = (self.cfg.d_model, self.cfg.d_ff);
        let mut out = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            for (k, name) in ["Wr", "Wk", "Wv"].iter().enumerate() {
                let s = b.rkv.start + k * d * d;
                out.push((format!("blocks.{i}.time_mix.{name}"), s..s + d * d, d, d));
            }
            out.push((format!("blocks.{i}.time_mix.Wo"), b.wo.clone(), d, d));
            out.push((format!("blocks.{i}.channel_mix.W1"), b.gu.start..b.gu.start + f * d, f, d));
            out.push((format!("blocks.{i}.channel_mix.W2"), b.gu.start + f * d..b.gu.end, f, d));
            out.push((format!("blocks.{i}.channel_mix.Wo"), b.o.clone(), d, f));
        }
        out
    }

    pub(super) fn exit_weights<'a>(&self, params: &'a [f32], j: usize) -> ExitWeights<'a> {
        let e = &self.exits[j];
        ExitWeights {
            ln: &params[e.ln.clone()],
            head: &params[e.head.clone()],
            w1: &params[e.w1.clone()],
            b1: &params[e.b1.clone()],
            w2: &params[e.w2.clone()],
            b2: &params[e.b2.clone()],
        }
    }

    fn exit_coefs(&self, j: usize) -> ExitCoefs {
        ExitCoefs { ce: self.cfg.exits[j].1, consistency: self.cfg.consistency_weight, diversity: self.cfg.diversity_weight }
    }

    /// Quantised matrices (or the stored ones on the float path) and w = σ(δ) of layer `li`.
    pub(super) fn block_weights<'a>(
        &self,
        params: &'a [f32],
        q: &'a [f32],
        w: &'a [f32],
        li: usize,
    ) -> (TimeMixWeights<'a>, FfnWeights<'a>) {
        let (b, qr) = (&self.blocks[li], &self.q[li]);
        let pick = |p: &Range<usize>, qq: &Range<usize>| if self.ternary { &q[qq.clone()] } else { &params[p.clone()] };
        let d = self.cfg.d_model;
        (
            TimeMixWeights {
                rkv: pick(&b.rkv, &qr.rkv),
                w: &w[li * d..(li + 1) * d],
                ln_x: &params[b.ln_x.clone()],
                o: pick(&b.wo, &qr.wo),
            },
            FfnWeights { gu: pick(&b.gu, &qr.gu), o: pick(&b.o, &qr.o) },
        )
    }

    /// Q(W) of every BitLinear matrix into `q` (ternary path only) and w = σ(δ) into `w`.
    fn prepare(&self, q: &mut [f32], w: &mut [f32], params: &[f32]) {
        let (d, f) = (self.cfg.d_model, self.cfg.d_ff);
        for (li, (b, qr)) in self.blocks.iter().zip(&self.q).enumerate() {
            decay_weights(&mut w[li * d..(li + 1) * d], &params[b.decay.clone()]);
            if self.ternary {
                quantize(&mut q[qr.rkv.clone()], &params[b.rkv.clone()], 3 * d, d, BitVariant::C);
                quantize(&mut q[qr.wo.clone()], &params[b.wo.clone()], d, d, BitVariant::C);
                quantize(&mut q[qr.gu.clone()], &params[b.gu.clone()], 2 * f, d, BitVariant::C);
                quantize(&mut q[qr.o.clone()], &params[b.o.clone()], d, f, BitVariant::C);
            }
        }
    }

    /// Exit-head outputs of a forward over `tokens`: per exit (config order) the
    /// logits [b·t × V] and the gate confidence c [b·t].
    pub fn exit_outputs(&self, ws: &mut Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
        let (w, _, _) = ws.parts::<V7Ws>();
        self.forward_hidden(w, params, tokens, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        (0..self.exits.len())
            .map(|j| {
                let (mut logits, mut conf) = (vec![0.0; rows * v], vec![0.0; rows]);
                let h = &w.hs[self.cfg.exits[j].0][..rows * d];
                let eb = &mut w.exit[j];
                let ew = self.exit_weights(params, j);
                exit_forward(
                    &mut logits,
                    &mut conf,
                    &mut eb.e[..rows * d],
                    &mut eb.rstd[..rows],
                    &mut eb.hid[..rows * GATE_HIDDEN],
                    h,
                    &ew,
                    d,
                    v,
                );
                (logits, conf)
            })
            .collect()
    }

    /// Everything up to the final norm: `ws.hs[i]` = h after block i, `ws.hf` = RMS_out(h).
    fn forward_hidden(&self, ws: &mut V7Ws, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        let c = &self.cfg;
        let (d, f) = (c.d_model, c.d_ff);
        ws.ensure(self, b, t);
        let (rows, n) = (b * t, b * t * d);
        self.prepare(&mut ws.q, &mut ws.wdec, params);
        embedding_forward(&mut ws.emb[..n], tokens, &params[self.embed.clone()], d);
        rmsnorm_forward(&mut ws.hs[0][..n], &mut ws.rstd_in[..rows], &ws.emb[..n], &params[self.ln_in.clone()], d);
        for (li, br) in self.blocks.iter().enumerate() {
            let (before, after) = ws.hs.split_at_mut(li + 1);
            let (x, y) = (&before[li][..n], &mut after[0][..n]);
            let la = &mut ws.layers[li];
            let (tmp, an) = (&mut ws.tmp[..n], &mut ws.anorm[..n]);
            let (tw, fw) = self.block_weights(params, &ws.q, &ws.wdec, li);
            rmsnorm_forward(an, &mut la.rstd1[..rows], x, &params[br.ln1.clone()], d);
            let acts = TimeMixActs { rkv: &mut la.rkv[..3 * n], s: &mut la.s[..n], rstd_x: &mut la.rstd_x[..rows] };
            time_mix_forward(tmp, acts, &mut ws.y[..n], an, &tw, t, d);
            add(&mut la.h1[..n], x, tmp);
            rmsnorm_forward(an, &mut la.rstd2[..rows], &la.h1[..n], &params[br.ln2.clone()], d);
            ffn_forward(tmp, &mut la.gu[..2 * rows * f], &mut ws.dact[..rows * f], an, &fw, d, f);
            add(y, &la.h1[..n], tmp);
        }
        let last = &ws.hs[self.blocks.len()][..n];
        rmsnorm_forward(&mut ws.hf[..n], &mut ws.rstd_out[..rows], last, &params[self.ln_out.clone()], d);
    }

    /// The full training objective and its parts, no gradient.
    pub fn objective(&self, ws: &mut Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> Objective {
        let (total, main) = self.run_objective(ws, params, None, x, y, b, t);
        Objective { total, main, exits: ws.parts::<V7Ws>().0.exit_terms.clone() }
    }

    /// Forward + backward of the full objective; gradients *added* into `grads`.
    /// A non-finite `main` means the gradient must not be used.
    #[allow(clippy::too_many_arguments)]
    pub fn objective_and_grad(
        &self,
        ws: &mut Workspace,
        params: &[f32],
        grads: &mut [f32],
        x: &[u32],
        y: &[u32],
        b: usize,
        t: usize,
    ) -> Objective {
        let (total, main) = self.run_objective(ws, params, Some(grads), x, y, b, t);
        Objective { total, main, exits: ws.parts::<V7Ws>().0.exit_terms.clone() }
    }

    /// Per exit (config order), whether its argmax agreed with the main head at
    /// each position of the last `objective*` call (the no-gradient targets).
    pub fn last_agreement(&self, ws: &mut Workspace) -> Vec<Vec<bool>> {
        let (w, _, _) = ws.parts::<V7Ws>();
        let rows = w.last_rows;
        w.exit.iter().map(|e| e.agree[..rows].iter().map(|&a| a == 1.0).collect()).collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn run_objective(
        &self,
        ws: &mut Workspace,
        params: &[f32],
        mut grads: Option<&mut [f32]>,
        x: &[u32],
        y: &[u32],
        b: usize,
        t: usize,
    ) -> (f64, f64) {
        let (w, losses, fsp) = ws.train_parts::<V7Ws>();
        self.forward_hidden(w, params, x, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        let n = rows * d;
        let grad = grads.is_some();
        w.last_rows = rows;
        // main head: CE (scale 1/N) and argmax per position
        let scale = 1.0 / rows as f32;
        let row = |r: usize, z: &mut [f32]| row_objective(z, y[r], grad, scale, None, 0.0);
        let emb = &params[self.embed.clone()];
        let hp_grad = grads.as_mut().map(|g| (&mut w.tmp[..n], &mut g[self.embed.clone()]));
        head_pass(&mut w.main[..rows], hp_grad, &mut w.head_buf, &w.hf[..n], emb, d, v, row);
        if let Some(g) = grads.as_mut() {
            // FSP reads the main head only (the exit heads are not its business)
            fsp_train(fsp, &mut w.tmp[..n], g, &self.embed, emb, params, &w.hf[..n], y, b, t, d, v);
        }
        losses.resize(rows, 0.0);
        for (l, s) in losses[..rows].iter_mut().zip(&w.main[..rows]) {
            *l = s.ce;
        }
        for (a, s) in w.argmax[..rows].iter_mut().zip(&w.main[..rows]) {
            *a = s.argmax;
        }
        let main = crate::model::blocks::head::mean_loss(&losses[..rows]);
        // the exit terms live in the workspace (no allocation in the step)
        let mut exits = std::mem::take(&mut w.exit_terms);
        exits.clear();
        exits.resize(self.exits.len(), ExitTerms::default());
        match grads {
            Some(g) if main.is_finite() => self.backward(w, params, g, x, y, b, t, &mut exits),
            _ => {
                for (j, terms) in exits.iter_mut().enumerate() {
                    *terms = self.exit_terms(w, params, None, j, y, rows);
                }
            }
        }
        let total = main
            + exits
                .iter()
                .zip(&self.cfg.exits)
                .map(|(e, &(_, wj, _))| {
                    wj as f64 * e.ce + self.cfg.consistency_weight as f64 * e.consistency + self.cfg.diversity_weight as f64 * e.diversity
                })
                .sum::<f64>();
        w.exit_terms = exits;
        (total, main)
    }

    /// Exit j's terms (and with `back`, its gradient into dh = ws.dh and the exit's parameters).
    fn exit_terms(&self, w: &mut V7Ws, params: &[f32], grads: Option<&mut [f32]>, j: usize, y: &[u32], rows: usize) -> ExitTerms {
        let d = self.cfg.d_model;
        let n = rows * d;
        let h = &w.hs[self.cfg.exits[j].0][..n];
        let ew = self.exit_weights(params, j);
        let back = grads.map(|g| {
            let e = &self.exits[j];
            let [ln, head, w1, b1, w2, b2] =
                carve_mut(g, &[e.ln.clone(), e.head.clone(), e.w1.clone(), e.b1.clone(), e.w2.clone(), e.b2.clone()]);
            ExitBackward { dh: &mut w.dh[..n], de: &mut w.anorm[..n], grads: ExitGrads { ln, head, w1, b1, w2, b2 } }
        });
        exit_objective(&mut w.exit[j], back, &mut w.head_buf, h, &ew, y, &w.argmax[..rows], self.exit_coefs(j), d, self.cfg.vocab)
    }

    /// Backward from ∂L/∂hf (left in `ws.tmp` by the main head pass); exit j's
    /// gradient enters dh when the backward reaches the output of its block.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        ws: &mut V7Ws,
        params: &[f32],
        grads: &mut [f32],
        x: &[u32],
        y: &[u32],
        b: usize,
        t: usize,
        terms: &mut [ExitTerms],
    ) {
        let c = &self.cfg;
        let (d, f) = (c.d_model, c.d_ff);
        let (rows, n) = (b * t, b * t * d);
        {
            let gln = &mut grads[self.ln_out.clone()];
            let dh = &mut ws.dh[..n];
            dh.fill(0.0);
            let last = &ws.hs[self.blocks.len()][..n];
            rmsnorm_backward(dh, gln, &ws.tmp[..n], last, &params[self.ln_out.clone()], &ws.rstd_out[..rows], d);
        }
        for li in (0..=self.blocks.len()).rev() {
            // exits reading the output of block li (hs[li])
            for (j, term) in terms.iter_mut().enumerate() {
                if c.exits[j].0 == li {
                    let g = if self.exit_coefs(j).is_zero() { None } else { Some(&mut *grads) };
                    *term = self.exit_terms(ws, params, g, j, y, rows);
                }
            }
            if li == 0 {
                break;
            }
            let li = li - 1;
            let br = &self.blocks[li];
            let la = &ws.layers[li];
            let x_in = &ws.hs[li][..n];
            let (dh, da, an) = (&mut ws.dh[..n], &mut ws.tmp[..n], &mut ws.anorm[..n]);
            let ranges = [
                br.ln1.clone(),
                br.decay.clone(),
                br.rkv.clone(),
                br.wo.clone(),
                br.ln_x.clone(),
                br.ln2.clone(),
                br.gu.clone(),
                br.o.clone(),
            ];
            let [g_ln1, g_decay, g_rkv, g_wo, g_lnx, g_ln2, g_gu, g_o] = carve_mut(grads, &ranges);
            let (tw, fw) = self.block_weights(params, &ws.q, &ws.wdec, li);
            // channel mix
            rmsnorm_apply(an, &la.h1[..n], &params[br.ln2.clone()], &la.rstd2[..rows], d);
            let (dact, dgu) = (&mut ws.dact[..rows * f], &mut ws.dgu[..2 * rows * f]);
            ffn_backward(da, FfnGrads { gu: g_gu, o: g_o }, dh, an, &la.gu[..2 * rows * f], &fw, dact, dgu, d, f);
            rmsnorm_backward(dh, g_ln2, da, &la.h1[..n], &params[br.ln2.clone()], &la.rstd2[..rows], d);
            // time mix
            rmsnorm_apply(an, x_in, &params[br.ln1.clone()], &la.rstd1[..rows], d);
            let sc =
                TimeMixScratch { y: &mut ws.y[..n], n: &mut ws.nrm[..n], drkv: &mut ws.drkv[..3 * n], carry: &mut ws.carry[..2 * b * d] };
            let tg = TimeMixGrads { rkv: g_rkv, decay: g_decay, ln_x: g_lnx, o: g_wo };
            time_mix_backward(da, tg, dh, an, (&la.rkv[..3 * n], &la.s[..n], &la.rstd_x[..rows]), &tw, sc, t, d);
            rmsnorm_backward(dh, g_ln1, da, x_in, &params[br.ln1.clone()], &la.rstd1[..rows], d);
        }
        // h0 = RMS_in(E[x])
        let [gemb, gln] = carve_mut(grads, &[self.embed.clone(), self.ln_in.clone()]);
        let de = &mut ws.tmp[..n];
        de.fill(0.0);
        rmsnorm_backward(de, gln, &ws.dh[..n], &ws.emb[..n], &params[self.ln_in.clone()], &ws.rstd_in[..rows], d);
        embedding_backward(gemb, de, x, d);
    }

    /// The quantised (ternary path) or stored (float path) block matrices and
    /// w = σ(δ), for the decoder: (q buffer, w [L × d]).
    pub(super) fn decode_weights(&self, params: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut q = vec![0.0f32; if self.ternary { self.q_len } else { 0 }];
        let mut w = vec![0.0f32; self.cfg.n_layers * self.cfg.d_model];
        self.prepare(&mut q, &mut w, params);
        (q, w)
    }
}

impl LanguageModel for CortexV7 {
    fn version(&self) -> &'static str {
        "v7"
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn vocab(&self) -> usize {
        self.cfg.vocab
    }
    /// Spec §8.3: E ~ N(0, 0.02²); BIT-C matrices Kaiming-normal fan_out
    /// (std √(2/out)); δ = 0.99; RMS gains 1; exit heads torch-default
    /// (U(±1/√fan_in) for U_j, W1, b1, w2, b2).
    fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = vec![0.0f32; self.layout.total];
        for t in &self.layout.tensors {
            let r = t.range();
            let name = t.name.as_str();
            if name.ends_with("time_mix.decay") {
                p[r].fill(0.99);
            } else if t.shape.len() == 1 && !name.ends_with(".bias") {
                p[r].fill(1.0); // RMS gains
            } else if name.starts_with("exit_gates.") {
                let fan_in = if name.contains("gate.2") { GATE_HIDDEN } else { self.cfg.d_model };
                let bound = 1.0 / (fan_in as f32).sqrt();
                for x in &mut p[r] {
                    *x = (2.0 * rng.next_f32() - 1.0) * bound;
                }
            } else {
                let std = if name == "embed.weight" { 0.02 } else { (2.0 / t.shape[0] as f32).sqrt() };
                for x in &mut p[r] {
                    *x = rng.normal() * std;
                }
            }
        }
        p
    }
    fn tied_aliases(&self) -> Vec<(&'static str, &'static str)> {
        vec![("head.weight", "embed.weight")]
    }
    /// Full forward; main-head logits [b·t × V] in `ws.logits`.
    fn forward(&self, ws: &mut Workspace, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        let (w, logits, _) = ws.parts::<V7Ws>();
        self.forward_hidden(w, params, tokens, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        head_logits(logits, &w.hf[..rows * d], &params[self.embed.clone()], d, v);
    }
    /// Evaluation loss: main-head mean CE (per-position values in `ws.losses`).
    fn loss(&self, ws: &mut Workspace, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        let (w, _, losses) = ws.parts::<V7Ws>();
        self.forward_hidden(w, params, x, b, t);
        let (rows, d, v) = (b * t, self.cfg.d_model, self.cfg.vocab);
        head_loss(losses, &mut w.head_buf, &w.hf[..rows * d], &params[self.embed.clone()], y, d, v)
    }
    /// Gradient of the full objective (§8.2, D3 positions); returns the main-head CE (D9).
    fn loss_and_grad(&self, ws: &mut Workspace, params: &[f32], grads: &mut [f32], x: &[u32], y: &[u32], b: usize, t: usize) -> f64 {
        self.run_objective(ws, params, Some(grads), x, y, b, t).1
    }
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        Box::new(Decoder::new(self, params))
    }
    /// 6 × (matmul parameters incl. the tied head and the exit heads U_j, W1, w2:
    /// L·(4d² + 3·d·d_ff) + V·d + n_exits·(V·d + 64·d + 64)) plus the decayed-sum
    /// scan, ~9 flops per channel per layer (3 forward, 6 backward): 9·L·d.
    /// Independent of the window t (the recurrence is linear in t).
    fn flops_per_token(&self, _t: usize) -> f64 {
        let c = &self.cfg;
        let (d, f, v) = (c.d_model as f64, c.d_ff as f64, c.vocab as f64);
        let h = GATE_HIDDEN as f64;
        let mm = c.n_layers as f64 * (4.0 * d * d + 3.0 * d * f) + v * d + c.exits.len() as f64 * (v * d + h * d + h);
        6.0 * mm + 9.0 * c.n_layers as f64 * d
    }
    fn flop_formula(&self) -> &'static str {
        "6·(L·(4d² + 3·d·d_ff) + V·d + n_exits·(V·d + 64·d + 64)) + 9·L·d"
    }
    fn ternary_shares(&self, params: &[f32]) -> Vec<TernaryShare> {
        self.bit_matrices().into_iter().map(|(name, r, out, inp)| ternary_share(&name, &params[r], out, inp, BitVariant::C)).collect()
    }
    fn describe(&self) -> String {
        crate::model::ModelConfig::describe(&self.cfg)
    }
}
