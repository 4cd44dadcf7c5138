//! v7.1 CORTEX-III (gated conv) and v7.2 CORTEX-VI (gated conv + Hebbian memory),
//! spec §9–§10 with fixes D1 (causal mask), D2 (constant read scale) and D3
//! (plain next-token loss over all T positions).
//!
//!   h = RMS_in(E\[x\])
//!   per block: h += GCM(RMS₁(h)); [h += Mem(RMS_m(h))]; h += SwiGLU(RMS₂(h))
//!   z = E·RMS_out(h)

use super::config::CortexConfig;
use super::decode::Decoder;
use super::workspace::CortexWs;
use crate::kernels::ops::add;
use crate::model::blocks::embedding::{embedding_backward, embedding_forward};
use crate::model::blocks::gated_conv::{mixer_backward, mixer_forward, MixerActs, MixerGrads, MixerWeights};
use crate::model::blocks::hebbian::{memory_backward, memory_forward, MemoryGrads, MemoryShape, MemoryWeights, CHUNK};
use crate::model::blocks::rmsnorm::{rmsnorm_apply, rmsnorm_backward, rmsnorm_forward};
use crate::model::blocks::swiglu::{ffn_backward, ffn_forward, FfnGrads, FfnWeights};
use crate::model::lm::{Decode, LanguageModel, MemoryDims, MemoryKind};
use crate::model::params::{carve_mut, Layout};
use crate::precision::Precision;
use crate::rng::Rng;
use std::ops::Range;

#[derive(Clone, Debug)]
struct BlockRanges {
    ln1: Range<usize>,
    up: Range<usize>,
    conv: Range<usize>,
    down: Range<usize>,
    mem: Option<(Range<usize>, Range<usize>, Range<usize>)>, // ln_mem, kvq, mem_out
    ln2: Range<usize>,
    gu: Range<usize>,
    o: Range<usize>,
}

/// One block's parameters, in the order of the reference state dict.
pub struct BlockView<'a> {
    pub ln1: &'a [f32],
    pub up: &'a [f32],
    pub conv: &'a [f32],
    pub down: &'a [f32],
    /// (ln_mem gain, [key; val; query] projections, mem_out)
    pub mem: Option<(&'a [f32], &'a [f32], &'a [f32])>,
    pub ln2: &'a [f32],
    pub gu: &'a [f32],
    pub o: &'a [f32],
}

/// The model definition: config, parameter layout and offsets. Parameters
/// themselves live in a flat buffer owned by the caller (trainer, sampler).
#[derive(Clone, Debug)]
pub struct Cortex {
    pub cfg: CortexConfig,
    pub layout: Layout,
    embed: Range<usize>,
    ln_in: Range<usize>,
    blocks: Vec<BlockRanges>,
    ln_out: Range<usize>,
}

impl Cortex {
    pub fn new(cfg: CortexConfig) -> Self {
        let (v, d, h, k) = (cfg.vocab, cfg.d_model, cfg.d_ff, cfg.kernel_size);
        let mut l = Layout::default();
        let embed = l.add("embed.weight", &[v, d]);
        let ln_in = l.add("ln_in.weight", &[d]);
        let mut blocks = Vec::new();
        for i in 0..cfg.n_layers {
            let p = |s: &str| format!("blocks.{i}.{s}");
            let ln1 = l.add(p("ln1.weight"), &[d]);
            let up = l.add(p("mixer_up.weight"), &[2 * d, d]);
            let conv = l.add(p("conv.conv.weight"), &[d, 1, k]);
            let down = l.add(p("mixer_down.weight"), &[d, d]);
            let mem = cfg.memory.as_ref().map(|m| {
                let ln = l.add(p("ln_mem.weight"), &[d]);
                let kk = l.add(p("key_proj.weight"), &[m.d_mem, d]);
                l.add(p("val_proj.weight"), &[m.d_mem, d]);
                let q = l.add(p("query_proj.weight"), &[m.d_mem, d]);
                let mo = l.add(p("mem_out.weight"), &[d, m.d_mem]);
                (ln, kk.start..q.end, mo)
            });
            let ln2 = l.add(p("ln2.weight"), &[d]);
            let g = l.add(p("Wg.weight"), &[h, d]);
            let u = l.add(p("Wu.weight"), &[h, d]);
            let o = l.add(p("Wo.weight"), &[d, h]);
            blocks.push(BlockRanges { ln1, up, conv, down, mem, ln2, gu: g.start..u.end, o });
        }
        let ln_out = l.add("ln_out.weight", &[d]);
        Cortex { cfg, layout: l, embed, ln_in, blocks, ln_out }
    }

    /// Views of one block's parameters (for the incremental generator).
    pub fn block_view<'a>(&self, params: &'a [f32], i: usize) -> BlockView<'a> {
        let b = &self.blocks[i];
        BlockView {
            ln1: &params[b.ln1.clone()],
            up: &params[b.up.clone()],
            conv: &params[b.conv.clone()],
            down: &params[b.down.clone()],
            mem: b.mem.as_ref().map(|(ln, kvq, mo)| (&params[ln.clone()], &params[kvq.clone()], &params[mo.clone()])),
            ln2: &params[b.ln2.clone()],
            gu: &params[b.gu.clone()],
            o: &params[b.o.clone()],
        }
    }

    /// (embedding table, ln_in gain, ln_out gain)
    pub fn outer_view<'a>(&self, params: &'a [f32]) -> (&'a [f32], &'a [f32], &'a [f32]) {
        (&params[self.embed.clone()], &params[self.ln_in.clone()], &params[self.ln_out.clone()])
    }

    pub(super) fn mem_shape(&self, t: usize) -> Option<MemoryShape> {
        self.cfg.memory.as_ref().map(|m| MemoryShape {
            t,
            d: self.cfg.d_model,
            d_mem: m.d_mem,
            decay: m.decay,
            scale: self.read_scale(),
            chunk: CHUNK,
        })
    }

    /// c = 1/(√d_mem·√T_train) (fix D2).
    pub fn read_scale(&self) -> f32 {
        match &self.cfg.memory {
            Some(m) => 1.0 / ((m.d_mem as f32).sqrt() * (self.cfg.seq_len as f32).sqrt()),
            None => 0.0,
        }
    }

    /// Everything up to the final norm: `ws.hf` = RMS_out(h).
    fn forward_hidden(&self, ws: &mut CortexWs, params: &[f32], tokens: &[u32], b: usize, t: usize) {
        let c = &self.cfg;
        let (d, h, k) = (c.d_model, c.d_ff, c.kernel_size);
        ws.ensure(self, b, t);
        let rows = b * t;
        let n = rows * d;
        embedding_forward(&mut ws.emb[..n], tokens, &params[self.embed.clone()], d);
        rmsnorm_forward(&mut ws.hs[0][..n], &mut ws.rstd_in[..rows], &ws.emb[..n], &params[self.ln_in.clone()], d);
        for (li, br) in self.blocks.iter().enumerate() {
            let (before, after) = ws.hs.split_at_mut(li + 1);
            let x = &before[li][..n];
            let y = &mut after[0][..n];
            let la = &mut ws.layers[li];
            let tmp = &mut ws.tmp[..n];
            let an = &mut ws.anorm[..n];
            rmsnorm_forward(an, &mut la.rstd1[..rows], x, &params[br.ln1.clone()], d);
            let mw = MixerWeights { up: &params[br.up.clone()], conv: &params[br.conv.clone()], down: &params[br.down.clone()] };
            let acts = MixerActs { up: &mut la.up[..2 * n], conv: &mut la.conv[..n], gated: &mut ws.dgated[..n] };
            mixer_forward(tmp, acts, an, &mw, t, d, k);
            add(&mut la.h1[..n], x, tmp);
            let h2: &[f32] = if let (Some((ln, kvq, mo)), Some(sh)) = (&br.mem, self.mem_shape(t)) {
                let dm = sh.d_mem;
                rmsnorm_forward(an, &mut la.rstd_m[..rows], &la.h1[..n], &params[ln.clone()], d);
                let w = MemoryWeights { kvq: &params[kvq.clone()], out: &params[mo.clone()] };
                memory_forward(tmp, &mut la.kvq[..rows * 3 * dm], &mut la.s[..b * sh.cache_len()], &mut la.r[..rows * dm], an, &w, sh);
                add(&mut la.h2[..n], &la.h1[..n], tmp);
                &la.h2[..n]
            } else {
                &la.h1[..n]
            };
            rmsnorm_forward(an, &mut la.rstd2[..rows], h2, &params[br.ln2.clone()], d);
            let fw = FfnWeights { gu: &params[br.gu.clone()], o: &params[br.o.clone()] };
            ffn_forward(tmp, &mut la.gu[..2 * rows * h], &mut ws.dact[..rows * h], an, &fw, d, h);
            add(y, h2, tmp);
        }
        let last = &ws.hs[self.blocks.len()][..n];
        rmsnorm_forward(&mut ws.hf[..n], &mut ws.rstd_out[..rows], last, &params[self.ln_out.clone()], d);
    }

    /// Backward from ∂L/∂hf, left in `ws.tmp` by the fused head.
    fn backward(&self, ws: &mut CortexWs, params: &[f32], grads: &mut [f32], x: &[u32], b: usize, t: usize) {
        let c = &self.cfg;
        let (d, h, k) = (c.d_model, c.d_ff, c.kernel_size);
        let rows = b * t;
        let n = rows * d;
        {
            let gln = &mut grads[self.ln_out.clone()];
            let dh = &mut ws.dh[..n];
            dh.fill(0.0);
            let last = &ws.hs[self.blocks.len()][..n];
            rmsnorm_backward(dh, gln, &ws.tmp[..n], last, &params[self.ln_out.clone()], &ws.rstd_out[..rows], d);
        }
        for (li, br) in self.blocks.iter().enumerate().rev() {
            let la = &mut ws.layers[li];
            let x_in = &ws.hs[li][..n];
            let dh = &mut ws.dh[..n];
            let da = &mut ws.tmp[..n];
            // without a memory its three ranges are empty (and unused)
            let none = br.down.end..br.down.end;
            let (m_ln, m_kvq, m_mo) = match &br.mem {
                Some((ln, kvq, mo)) => (ln.clone(), kvq.clone(), mo.clone()),
                None => (none.clone(), none.clone(), none),
            };
            let ranges = [
                br.ln1.clone(),
                br.up.clone(),
                br.conv.clone(),
                br.down.clone(),
                m_ln,
                m_kvq,
                m_mo,
                br.ln2.clone(),
                br.gu.clone(),
                br.o.clone(),
            ];
            let [g_ln1, g_up, g_conv, g_down, g_mln, g_kvq, g_mo, g_ln2, g_gu, g_o] = carve_mut(grads, &ranges);
            let g_mem = br.mem.as_ref().map(|_| (g_mln, g_kvq, g_mo));

            let h2: &[f32] = if br.mem.is_some() { &la.h2[..n] } else { &la.h1[..n] };
            // FFN sub-layer
            let an = &mut ws.anorm[..n];
            rmsnorm_apply(an, h2, &params[br.ln2.clone()], &la.rstd2[..rows], d);
            let fw = FfnWeights { gu: &params[br.gu.clone()], o: &params[br.o.clone()] };
            ffn_backward(
                da,
                FfnGrads { gu: g_gu, o: g_o },
                dh,
                an,
                &la.gu[..2 * rows * h],
                &fw,
                &mut ws.dact[..rows * h],
                &mut ws.dgu[..2 * rows * h],
                d,
                h,
            );
            rmsnorm_backward(dh, g_ln2, da, h2, &params[br.ln2.clone()], &la.rstd2[..rows], d);
            // memory sub-layer
            if let (Some((ln, kvq, mo)), Some(sh), Some((g_lnm, g_kvq, g_mo))) = (&br.mem, self.mem_shape(t), g_mem) {
                let dm = sh.d_mem;
                let w = MemoryWeights { kvq: &params[kvq.clone()], out: &params[mo.clone()] };
                rmsnorm_apply(an, &la.h1[..n], &params[ln.clone()], &la.rstd_m[..rows], d);
                memory_backward(
                    da,
                    MemoryGrads { kvq: g_kvq, out: g_mo },
                    dh,
                    an,
                    (&la.kvq[..rows * 3 * dm], &mut la.s[..b * sh.cache_len()], &la.r[..rows * dm]),
                    &w,
                    &mut ws.dr[..rows * dm],
                    &mut ws.ds[..b * sh.scratch_len()],
                    &mut ws.dkvq[..rows * 3 * dm],
                    sh,
                );
                rmsnorm_backward(dh, g_lnm, da, &la.h1[..n], &params[ln.clone()], &la.rstd_m[..rows], d);
            }
            // mixer sub-layer
            let mw = MixerWeights { up: &params[br.up.clone()], conv: &params[br.conv.clone()], down: &params[br.down.clone()] };
            rmsnorm_apply(an, x_in, &params[br.ln1.clone()], &la.rstd1[..rows], d);
            mixer_backward(
                da,
                MixerGrads { up: g_up, conv: g_conv, down: g_down },
                dh,
                an,
                (&la.up[..2 * n], &la.conv[..n]),
                &mw,
                &mut ws.dgated[..n],
                &mut ws.dup[..2 * n],
                t,
                d,
                k,
            );
            rmsnorm_backward(dh, g_ln1, da, x_in, &params[br.ln1.clone()], &la.rstd1[..rows], d);
        }
        // h0 = RMS_in(E[x])
        let [gemb, gln] = carve_mut(grads, &[self.embed.clone(), self.ln_in.clone()]);
        let de = &mut ws.tmp[..n];
        de.fill(0.0);
        rmsnorm_backward(de, gln, &ws.dh[..n], &ws.emb[..n], &params[self.ln_in.clone()], &ws.rstd_in[..rows], d);
        embedding_backward(gemb, de, x, d);
    }
}

impl LanguageModel for Cortex {
    fn version(&self) -> &'static str {
        if self.cfg.memory.is_some() {
            "v7.2"
        } else {
            "v7.1"
        }
    }
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn vocab(&self) -> usize {
        self.cfg.vocab
    }
    /// Spec §9.3 / §10.3: E ~ N(0, 0.02²); linears Kaiming-normal fan_out
    /// (std √(2/out)); conv std √(2/(d·k)); mem_out N(0, 0.01²); gains 1.
    fn init_params(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = vec![0.0f32; self.layout.total];
        for t in &self.layout.tensors {
            let r = t.range();
            let name = t.name.as_str();
            let std = if name.ends_with("ln_in.weight")
                || name.ends_with("ln_out.weight")
                || name.ends_with("ln1.weight")
                || name.ends_with("ln2.weight")
                || name.ends_with("ln_mem.weight")
            {
                p[r].fill(1.0);
                continue;
            } else if name == "embed.weight" {
                0.02
            } else if name.ends_with("mem_out.weight") {
                0.01
            } else if name.ends_with("conv.conv.weight") {
                (2.0 / (t.shape[0] * t.shape[2]) as f32).sqrt()
            } else {
                (2.0 / t.shape[0] as f32).sqrt()
            };
            for x in &mut p[r] {
                *x = rng.normal() * std;
            }
        }
        p
    }
    /// Names whose data is the same tensor as another name in reference state dicts.
    fn tied_aliases(&self) -> Vec<(&'static str, &'static str)> {
        vec![("head.weight", "embed.weight")]
    }
    fn is_buffer(&self, name: &str) -> bool {
        name.ends_with("decay_mask")
    }
    crate::model::lm::tied_head_methods!(CortexWs);
    fn decoder<'a>(&'a self, params: &'a [f32]) -> Box<dyn Decode + 'a> {
        Box::new(Decoder::new(self, params))
    }
    fn decoder_lowp<'a>(&'a self, params: &[f32], p: Precision) -> Option<Box<dyn Decode + 'a>> {
        use crate::kernels::vec::WeightStore;
        let w = match p {
            Precision::Fp32 | Precision::Auto => return None,
            Precision::Bf16 => WeightStore::bf16(params),
            Precision::Int8 => WeightStore::int8(params),
        };
        Some(Box::new(Decoder::with_weights(self, w)))
    }
    /// 6 × (matmul parameters, head included) for the dense products, plus per
    /// layer 6·d·k for the depthwise conv and, with memory, 6·T·d_mem for the
    /// causal quadratic memory form (the average reader sees T/2 positions:
    /// 2 products × 2 flops × T/2 × d_mem forward, ×3 with backward).
    fn flops_per_token(&self, t: usize) -> f64 {
        let c = &self.cfg;
        let (d, h, v) = (c.d_model as f64, c.d_ff as f64, c.vocab as f64);
        let dm = c.memory.as_ref().map_or(0.0, |m| m.d_mem as f64);
        let per_layer_mm = 2.0 * d * d + d * d + 3.0 * h * d + if dm > 0.0 { 4.0 * dm * d } else { 0.0 };
        let mm = c.n_layers as f64 * per_layer_mm + v * d;
        let mix = c.n_layers as f64 * (6.0 * d * c.kernel_size as f64 + 6.0 * t as f64 * dm);
        6.0 * mm + mix
    }
    fn flop_formula(&self) -> &'static str {
        if self.cfg.memory.is_some() {
            "6·(L·(3d² + 3·H·d + 4·d_mem·d) + V·d) + L·(6·d·k + 6·T·d_mem)"
        } else {
            "6·(L·(3d² + 3·H·d) + V·d) + L·6·d·k"
        }
    }
    fn memory_dims(&self) -> Option<MemoryDims> {
        self.cfg.memory.as_ref().map(|m| MemoryDims { n_layers: self.cfg.n_layers, rows: m.d_mem, cols: m.d_mem, kind: MemoryKind::Hebbian })
    }
    fn has_conv_taps(&self) -> bool {
        true
    }
    fn conv_taps(&self, params: &[f32]) -> Vec<(usize, usize, Vec<f32>)> {
        (0..self.cfg.n_layers).map(|l| (self.cfg.d_model, self.cfg.kernel_size, self.block_view(params, l).conv.to_vec())).collect()
    }
    fn receptive_field(&self) -> Option<usize> {
        Some(1 + self.cfg.n_layers * (self.cfg.kernel_size - 1))
    }
    fn describe(&self) -> String {
        crate::model::ModelConfig::describe(&self.cfg)
    }
}
