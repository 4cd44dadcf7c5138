//! `flashlm-tui bench`: this machine's sgemm peak, then training and generation
//! speed of a preset on random tokens. Figures are measured here, never assumed.

use crate::cli::{default_threads, BenchArgs};
use crate::generate::Decoder;
use crate::kernels::{matmul, MatRef};
use crate::model::{Cortex, Workspace};
use crate::preset::{resolve, thousands};
use crate::rng::Rng;
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::time::Instant;

/// Training FLOPs per token: 6 × (matmul parameters, head included) for the
/// dense products, plus per layer 6·d·k for the depthwise conv and, with memory,
/// 6·T·d_mem for the causal quadratic memory form (the average reader sees T/2
/// positions: 2 products × 2 flops × T/2 × d_mem forward, ×3 with backward).
pub fn flops_per_token(m: &Cortex, t: usize) -> f64 {
    let c = &m.cfg;
    let (d, h, v) = (c.d_model as f64, c.d_ff as f64, c.vocab as f64);
    let dm = c.memory.as_ref().map_or(0.0, |m| m.d_mem as f64);
    let per_layer_mm = 2.0 * d * d + d * d + 3.0 * h * d + if dm > 0.0 { 4.0 * dm * d } else { 0.0 };
    let mm = c.n_layers as f64 * per_layer_mm + v * d;
    let mix = c.n_layers as f64 * (6.0 * d * c.kernel_size as f64 + 6.0 * t as f64 * dm);
    6.0 * mm + mix
}

pub const FLOP_FORMULA: &str = "FLOP/token = 6·(matmul params incl. head) + L·(6·d·k + 6·T·d_mem)";

/// Best GFLOP/s of our matmul over the training shapes (M = B·T rows).
pub fn sgemm_peak(rows: usize) -> f64 {
    let shapes = [(rows, 512, 256), (rows, 256, 512), (rows, 1024, 256), (rows, 256, 1024)];
    let mut best = 0.0f64;
    let mut rng = Rng::new(7);
    for &(m, n, k) in &shapes {
        let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
        let b: Vec<f32> = (0..n * k).map(|_| rng.normal()).collect();
        let mut c = vec![0.0f32; m * n];
        for rep in 0..16 {
            let t0 = Instant::now();
            matmul(&mut c, n, false, MatRef::rows(&a, k), MatRef::t(&b, k), m, n, k);
            let dt = t0.elapsed().as_secs_f64();
            if rep > 0 {
                best = best.max(2.0 * (m * n * k) as f64 / dt / 1e9);
            }
        }
    }
    best
}

pub fn run(a: &BenchArgs) -> Result<()> {
    let (preset, _) = resolve(&a.preset, a.presets.as_deref())?;
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("thread pool")?;
    let (b, t) = (preset.train.batch, preset.train.seq_len);
    let model = preset.build_model();
    let mut params = model.init_params(1);
    let mut grads = vec![0.0f32; params.len()];
    let (mut m, mut vv) = (vec![0.0f32; params.len()], vec![0.0f32; params.len()]);
    let tr = &preset.train;
    let opt = crate::train::optim::AdamW { beta1: tr.beta1, beta2: tr.beta2, eps: tr.eps, weight_decay: tr.weight_decay };
    let mut rng = Rng::new(3);
    let v = model.cfg.vocab;
    let x: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    let y: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    let mut ws = Workspace::new();
    let warmup = 2;
    let steps = a.steps.max(3);
    let (times, peak) = pool.install(|| {
        let peak = sgemm_peak(b * t);
        let mut times = Vec::new();
        for i in 0..warmup + steps {
            let t0 = Instant::now();
            // a whole training step: zero grads, forward + backward, clip, AdamW (lr tiny
            // so random tokens do not push the weights anywhere odd)
            grads.par_iter_mut().for_each(|g| *g = 0.0);
            model.loss_and_grad(&mut ws, &params, &mut grads, &x, &y, b, t);
            crate::train::optim::clip_grad_norm(&mut grads, tr.grad_clip);
            opt.update(&mut params, &grads, &mut m, &mut vv, 1e-6, i as u64);
            if i >= warmup {
                times.push(t0.elapsed().as_secs_f64());
            }
        }
        (times, peak)
    });
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let med = sorted[sorted.len() / 2];
    let tok_s = (b * t) as f64 / med;
    let fpt = flops_per_token(&model, t);
    let gflops = fpt * tok_s / 1e9;
    println!("train: {:.0} tok/s (fp32, {threads} threads)", tok_s);
    println!("preset {} ({} params), batch {b} × seq {t}", preset.name, thousands(model.num_params() as u64));
    println!(
        "ms/step: median {:.1} (min {:.1}, max {:.1}) over {} timed steps after {warmup} warm-up",
        med * 1e3,
        sorted[0] * 1e3,
        sorted[sorted.len() - 1] * 1e3,
        steps
    );
    println!("{FLOP_FORMULA} = {:.2} MFLOP", fpt / 1e6);
    println!("achieved {:.1} GFLOP/s; fp32 sgemm peak measured {:.1} GFLOP/s → MFU {:.1} %", gflops, peak, 100.0 * gflops / peak);
    if let Some(r) = &preset.reference {
        println!("PyTorch reference (DESIGN.md, 2-core EPYC): {:.0} tok/s → ratio {:.2}×", r.pytorch_tok_s, tok_s / r.pytorch_tok_s);
    }
    // generation: one stream, incremental state
    let n_gen = 512;
    let gen = pool.install(|| {
        let mut dec = Decoder::new(&model, &params);
        dec.parallel = true;
        let t0 = Instant::now();
        let mut tok = 1u32;
        let mut at16 = 0.0;
        for i in 0..n_gen {
            dec.step(tok);
            tok = (i as u32 * 31 + 7) % v as u32;
            if i == 15 {
                at16 = t0.elapsed().as_secs_f64();
            }
        }
        (n_gen as f64 / t0.elapsed().as_secs_f64(), 16.0 / at16)
    });
    println!("generate: {:.0} tok/s single stream over {n_gen} tokens (first 16: {:.0} tok/s)", gen.0, gen.1);
    if let Some(rss) = peak_rss_mb() {
        println!("peak RSS (this process): {rss:.0} MB");
    }
    Ok(())
}

/// VmHWM from /proc/self/status, in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
