//! Incremental generation with O(1) work per token: a ring buffer of the last
//! k−1 conv inputs per layer and the running Hebbian state
//! M_t = λ·M_{t−1} + k_t·v_tᵀ, read as r_t = c·M_t·q_t (the recurrent form of
//! hebbian.rs). Works past the training window; c stays the training constant (D2).
//! Sampling follows BB-SAMPLE with the D13 fix: CTRL repetition penalty on the
//! raw logits, then temperature, top-p, top-k, one multinomial draw.

use crate::kernels::ops::{sigmoid, silu};
use crate::model::rmsnorm::RMS_EPS;
use crate::model::Cortex;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// Dot product with 16 independent FMA lanes (vectorises to AVX2/AVX-512 FMAs).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Products at least this large (multiply-adds) are split over the current rayon pool.
const PAR_MATVEC: usize = 1 << 17;

/// y[o] = Σ_i w[o, i]·x[i] for w stored [out × in]; large products run on the
/// current rayon pool when `parallel` (never from a thread outside the pool).
fn matvec(y: &mut [f32], w: &[f32], x: &[f32], parallel: bool) {
    let n = x.len();
    if parallel && y.len() * n >= PAR_MATVEC {
        use rayon::prelude::*;
        // one contiguous block per thread: a fork/join costs microseconds, a token ~1 ms
        let per = y.len().div_ceil(rayon::current_num_threads());
        y.par_chunks_mut(per).enumerate().for_each(|(c, ys)| {
            for (i, yo) in ys.iter_mut().enumerate() {
                let o = c * per + i;
                *yo = dot(&w[o * n..(o + 1) * n], x);
            }
        });
    } else {
        for (o, yo) in y.iter_mut().enumerate() {
            *yo = dot(&w[o * n..(o + 1) * n], x);
        }
    }
}

fn rmsnorm(out: &mut [f32], x: &[f32], g: &[f32]) {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (ms + RMS_EPS).sqrt();
    for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
        *o = x * r * g;
    }
}

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
    params: &'a [f32],
    pub layers: Vec<LayerState>,
    pub pos: usize,
    /// split large products over the current rayon pool
    pub parallel: bool,
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
        let c = &model.cfg;
        let d = c.d_model;
        let dm = c.memory.as_ref().map_or(0, |m| m.d_mem);
        Decoder {
            model,
            params,
            layers: (0..c.n_layers)
                .map(|_| LayerState { ring: vec![0.0; (c.kernel_size - 1) * d], ring_pos: 0, mem: vec![0.0; dm * dm] })
                .collect(),
            pos: 0,
            parallel: false,
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
        }
    }

    /// Feeds one token; `self.logits` then holds the next-token logits.
    pub fn step(&mut self, token: u32) {
        let c = &self.model.cfg;
        let (d, h, k) = (c.d_model, c.d_ff, c.kernel_size);
        let (emb, ln_in, ln_out) = self.model.outer_view(self.params);
        let t = token as usize;
        rmsnorm(&mut self.h, &emb[t * d..(t + 1) * d], ln_in);
        let scale = self.model.read_scale();
        let par = self.parallel;
        for li in 0..c.n_layers {
            let bv = self.model.block_view(self.params, li);
            let st = &mut self.layers[li];
            // gated conv mixer
            rmsnorm(&mut self.a, &self.h, bv.ln1);
            matvec(&mut self.up, bv.up, &self.a, par);
            let (g, u) = self.up.split_at(d);
            for ch in 0..d {
                // tap k−1 is the current token, tap j the token k−1−j steps back
                let mut acc = bv.conv[ch * k + k - 1] * u[ch];
                for j in 0..k - 1 {
                    let back = k - 1 - j; // 1..=k−1 steps back
                    let slot = (st.ring_pos + (k - 1) - back) % (k - 1);
                    acc += bv.conv[ch * k + j] * st.ring[slot * d + ch];
                }
                self.m[ch] = acc * sigmoid(g[ch]);
            }
            if k > 1 {
                st.ring[st.ring_pos * d..(st.ring_pos + 1) * d].copy_from_slice(u);
                st.ring_pos = (st.ring_pos + 1) % (k - 1);
            }
            matvec(&mut self.y, bv.down, &self.m, par);
            for i in 0..d {
                self.h[i] += self.y[i];
            }
            // Hebbian memory
            if let (Some((ln, wkvq, wmo)), Some(mc)) = (bv.mem, c.memory.as_ref()) {
                let dm = mc.d_mem;
                rmsnorm(&mut self.a, &self.h, ln);
                matvec(&mut self.kvq, wkvq, &self.a, par);
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
                matvec(&mut self.y, wmo, &self.r, par);
                for i in 0..d {
                    self.h[i] += self.y[i];
                }
            }
            // SwiGLU
            rmsnorm(&mut self.a, &self.h, bv.ln2);
            matvec(&mut self.gu, bv.gu, &self.a, par);
            for j in 0..h {
                self.act[j] = silu(self.gu[j]) * self.gu[h + j];
            }
            matvec(&mut self.y, bv.o, &self.act, par);
            for i in 0..d {
                self.h[i] += self.y[i];
            }
        }
        rmsnorm(&mut self.a, &self.h, ln_out);
        matvec(&mut self.logits, emb, &self.a, par);
        self.pos += 1;
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleParams {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub repetition_penalty: f32,
    /// How many recent tokens the repetition penalty looks at.
    pub penalty_window: usize,
    pub max_tokens: usize,
    pub seed: u64,
}

impl Default for SampleParams {
    fn default() -> Self {
        SampleParams { temperature: 0.8, top_k: 40, top_p: 1.0, repetition_penalty: 1.0, penalty_window: 64, max_tokens: 120, seed: 0 }
    }
}

/// Picks the next token from raw logits (modified in place). `banned` ids get −∞
/// (special tokens, ids the tokenizer never produces).
pub fn sample_token(logits: &mut [f32], recent: &[u32], banned: &[bool], p: &SampleParams, rng: &mut Rng) -> u32 {
    // 1. CTRL repetition penalty on raw logits (D13)
    if p.repetition_penalty != 1.0 {
        let start = recent.len().saturating_sub(p.penalty_window);
        let mut seen = std::collections::HashSet::new();
        for &t in &recent[start..] {
            if seen.insert(t) {
                let l = &mut logits[t as usize];
                *l = if *l > 0.0 { *l / p.repetition_penalty } else { *l * p.repetition_penalty };
            }
        }
    }
    for (l, &b) in logits.iter_mut().zip(banned) {
        if b {
            *l = f32::NEG_INFINITY;
        }
    }
    // 2. temperature (0 → greedy)
    if p.temperature <= 1e-5 {
        return argmax(logits);
    }
    for l in logits.iter_mut() {
        *l /= p.temperature;
    }
    // 3. top-p over the sorted distribution, 4. top-k
    let mut order: Vec<u32> = (0..logits.len() as u32).filter(|&i| logits[i as usize].is_finite()).collect();
    if order.is_empty() {
        return argmax(logits);
    }
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
    let max = logits[order[0] as usize];
    let mut keep = order.len();
    if p.top_p < 1.0 {
        let z: f32 = order.iter().map(|&i| (logits[i as usize] - max).exp()).sum();
        let mut cum = 0.0;
        for (rank, &i) in order.iter().enumerate() {
            if rank > 0 && cum > p.top_p {
                keep = rank;
                break;
            }
            cum += (logits[i as usize] - max).exp() / z;
        }
    }
    if p.top_k > 0 && p.top_k < keep {
        let kth = logits[order[p.top_k - 1] as usize];
        keep = order.iter().take(keep).take_while(|&&i| logits[i as usize] >= kth).count();
    }
    let kept = &order[..keep.max(1)];
    let weights: Vec<f32> = kept.iter().map(|&i| (logits[i as usize] - max).exp()).collect();
    let total: f32 = weights.iter().sum();
    let mut x = rng.next_f32() * total;
    for (&i, &w) in kept.iter().zip(&weights) {
        if x < w {
            return i;
        }
        x -= w;
    }
    kept[kept.len() - 1]
}

fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for i in 1..x.len() {
        if x[i] > x[best] {
            best = i;
        }
    }
    best as u32
}

/// Feeds `prompt` and then samples up to `p.max_tokens` tokens, calling
/// `on_token` after each one (return false to stop). Stops at `eos`.
/// Large products use the rayon pool only when called from inside one (CLI,
/// trainer); a sampling thread beside training stays serial.
pub fn generate(
    model: &Cortex,
    params: &[f32],
    prompt: &[u32],
    banned: &[bool],
    eos: u32,
    p: &SampleParams,
    mut on_token: impl FnMut(u32) -> bool,
) -> Vec<u32> {
    let mut dec = Decoder::new(model, params);
    dec.parallel = rayon::current_thread_index().is_some();
    let mut rng = Rng::new(p.seed);
    let mut history: Vec<u32> = prompt.to_vec();
    let start = if prompt.is_empty() { vec![eos] } else { prompt.to_vec() };
    for &t in &start {
        dec.step(t);
    }
    let mut out = Vec::new();
    let mut logits = vec![0.0f32; model.cfg.vocab];
    for _ in 0..p.max_tokens {
        logits.copy_from_slice(&dec.logits);
        let tok = sample_token(&mut logits, &history, banned, p, &mut rng);
        if tok == eos {
            break;
        }
        out.push(tok);
        history.push(tok);
        if !on_token(tok) {
            break;
        }
        dec.step(tok);
    }
    out
}
