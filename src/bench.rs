//! `flashlm-tui bench`: this machine's sgemm peak, then training and generation
//! speed of a preset on random tokens. Figures are measured here, never assumed.

use crate::cli::{default_threads, BenchArgs};
use crate::kernels::{matmul, MatRef};
use crate::model::Workspace;
use crate::preset::{resolve, thousands};
use crate::rng::Rng;
use crate::train::lanes::{LaneA, Lanes};
use anyhow::{Context, Result};
use std::time::Instant;

/// Training FLOPs per token: 6 × (matmul parameters, head included) for the
/// dense products, plus per layer 6·d·k for the depthwise conv and, with memory,
/// 6·T·d_mem for the causal quadratic memory form (the average reader sees T/2
/// positions: 2 products × 2 flops × T/2 × d_mem forward, ×3 with backward).
pub fn flops_per_token(m: &dyn crate::model::LanguageModel, t: usize) -> f64 {
    m.flops_per_token(t)
}

/// Best GFLOP/s of our matmul over the training shapes (M = B·T rows), best of
/// 4 timed runs per shape after one warm-up.
pub fn sgemm_peak(rows: usize) -> f64 {
    let shapes = [(rows, 512, 256), (rows, 256, 512), (rows, 1024, 256), (rows, 256, 1024)];
    let mut best = 0.0f64;
    let mut rng = Rng::new(7);
    for &(m, n, k) in &shapes {
        let a: Vec<f32> = (0..m * k).map(|_| rng.next_f32() - 0.5).collect();
        let b: Vec<f32> = (0..n * k).map(|_| rng.next_f32() - 0.5).collect();
        let mut c = vec![0.0f32; m * n];
        for rep in 0..5 {
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

/// The pool steps are timed in, its products (and the lanes' pools, built
/// from this thread) in the precision asked for.
fn bench_pool(a: &BenchArgs, threads: usize) -> Result<rayon::ThreadPool> {
    let bf16 = a.precision == crate::precision::Precision::Bf16;
    crate::kernels::matmul::set_bf16_products(bf16);
    let b = rayon::ThreadPoolBuilder::new().num_threads(threads).start_handler(crate::kernels::matmul::bf16_start_handler(bf16));
    b.build().context("thread pool")
}

/// The sgemm kernel this machine runs, for the output.
fn kernel_label() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::simd::available() {
        return crate::kernels::sgemm::kernel().label();
    }
    "gemm crate"
}

/// The cores' bare FMA peak: every thread of the current pool runs the
/// register-only FMA loop at once (about 16 ms), their GFLOP/s summed; best of 3.
pub fn fma_peak() -> f64 {
    best_of_3(|| rayon::broadcast(|_| crate::kernels::simd::fma_gflops(FMA_ROUNDS)).iter().sum())
}

const FMA_ROUNDS: usize = 8_000_000;

fn best_of_3(f: impl Fn() -> f64) -> f64 {
    (0..3).map(|_| f()).fold(0.0, f64::max)
}

/// One thread's FMA peak (best of 3), the yardstick for [`cores_available`].
pub fn fma_single() -> f64 {
    best_of_3(|| crate::kernels::simd::fma_gflops(FMA_ROUNDS))
}

/// Whether all `threads` cores delivered (≥ 80 % of `threads` × one thread's
/// FMA rate) when the all-threads peak was taken: on a shared host another
/// load can take a core away for a while, and figures taken then are low.
pub fn cores_available(all: f64, single: f64, threads: usize) -> bool {
    single <= 0.0 || all >= 0.8 * threads as f64 * single
}

fn one() -> usize {
    1
}

fn fp32() -> String {
    "fp32".into()
}

/// One preset's figures, as printed by `bench --json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BenchResult {
    pub preset: String,
    /// precision of the training products (`sgemm_peak` and `mfu` are that precision's)
    #[serde(default = "fp32")]
    pub precision: String,
    pub params: usize,
    pub batch: usize,
    pub seq_len: usize,
    /// micro-batches per timed step (the preset's accumulation; 1 when --batch overrides)
    #[serde(default = "one")]
    pub accum: usize,
    pub threads: usize,
    pub ms_per_step: f64,
    /// fastest timed step (the shared host's noise only ever adds time)
    #[serde(default)]
    pub min_ms_per_step: f64,
    pub tok_per_sec: f64,
    pub gflops: f64,
    pub sgemm_peak: f64,
    /// the cores' bare FMA peak (0 where not measured)
    #[serde(default)]
    pub fma_peak: f64,
    /// one thread's FMA peak, and the lower all-threads FMA peak of before and
    /// after the steps: together they say whether every core was there
    #[serde(default)]
    pub fma_single: f64,
    #[serde(default)]
    pub fma_low: f64,
    pub mfu: f64,
    /// MFU of the fastest timed step
    #[serde(default)]
    pub mfu_fastest: f64,
    pub gen_tok_per_sec: f64,
    /// tok/s at context 16–32
    pub gen_first16: f64,
    pub gen_at_4096: f64,
    #[serde(default)]
    pub gen_bf16_tok_per_sec: Option<f64>,
    #[serde(default)]
    pub gen_int8_tok_per_sec: Option<f64>,
    /// VmHWM after the training steps (before any generation)
    pub peak_rss_mb: Option<f64>,
    /// VmHWM at the end (training, then the generation decoders)
    #[serde(default)]
    pub peak_rss_all_mb: Option<f64>,
    pub pytorch_tok_s: Option<f64>,
}

/// Timed steps when `--steps` is not given: 5, or for short steps as many as
/// fill about 2 s (at most 100), from the last warm-up step's time in seconds.
/// On the shared 2-core host a median of 3–5 steps of 25–40 ms (v4, v6) moved
/// by ±10 % from run to run.
fn default_steps(warm: f64) -> usize {
    let fill = if warm > 0.0 { (2.0 / warm).ceil() as usize } else { 5 };
    fill.clamp(5, 100)
}

/// One model's training state on random tokens, stepped and timed the way the
/// trainer steps: `accum` micro-batches with gradients summed, scaled by
/// 1/accum, clipped, one AdamW update (with --batch: one micro-batch of that
/// size plus the update). The learning rate is tiny so random tokens do not push
/// the weights anywhere odd.
struct StepBench<'m> {
    model: &'m crate::model::Model,
    params: Vec<f32>,
    grads: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    ws: Workspace,
    lanes: Option<Lanes>,
    x: Vec<u32>,
    y: Vec<u32>,
    /// lane A's token buffers, refilled from `x`, `y` for each micro-batch
    ax: Vec<u32>,
    ay: Vec<u32>,
    opt: crate::train::optim::AdamW,
    clip: f32,
    accum: usize,
    b: usize,
    t: usize,
}

impl<'m> StepBench<'m> {
    /// `threads`: the pool it will step in (the second lane's pools split it);
    /// `two_lanes`: false keeps every micro-batch on one lane (`--lanes` compares).
    fn new(model: &'m crate::model::Model, preset: &crate::preset::Preset, b: usize, threads: usize, two_lanes: bool) -> Result<Self> {
        let tr = &preset.train;
        let n = model.num_params();
        let accum = if b == tr.batch { tr.accum.max(1) } else { 1 };
        let lanes = if two_lanes { Lanes::for_run(n, accum, b, tr.seq_len, threads).map_err(anyhow::Error::msg)? } else { None };
        let mut rng = Rng::new(3);
        let (v, t) = (model.vocab(), tr.seq_len);
        Ok(StepBench {
            model,
            params: model.init_params(1),
            grads: vec![0.0; n],
            m: vec![0.0; n],
            v: vec![0.0; n],
            ws: Workspace::new(),
            lanes,
            ax: vec![0; b * t],
            ay: vec![0; b * t],
            x: (0..b * t).map(|_| rng.below(v) as u32).collect(),
            y: (0..b * t).map(|_| rng.below(v) as u32).collect(),
            opt: crate::train::optim::AdamW { beta1: tr.beta1, beta2: tr.beta2, eps: tr.eps, weight_decay: tr.weight_decay },
            clip: tr.grad_clip,
            accum,
            b,
            t,
        })
    }

    /// One whole step; its wall time in seconds.
    fn step(&mut self, i: u64) -> f64 {
        let t0 = Instant::now();
        // the same micro-batch tokens every time, as the trainer's buffers would hold them
        let (x, y) = (&self.x, &self.y);
        crate::train::lanes::accumulate(
            self.model,
            &self.params,
            LaneA { ws: &mut self.ws, grads: &mut self.grads, x: &mut self.ax, y: &mut self.ay },
            self.lanes.as_mut(),
            self.accum,
            (self.b, self.t),
            &mut |_, bx, by| {
                bx.copy_from_slice(x);
                by.copy_from_slice(y);
            },
            &|micro| i << 8 | micro as u64,
        );
        let (_, clip) = crate::train::optim::clip_grad_norm(&self.grads, self.clip);
        self.opt.update(&mut self.params, &self.grads, clip, &mut self.m, &mut self.v, 1e-6, i);
        t0.elapsed().as_secs_f64()
    }
}

pub fn run(a: &BenchArgs) -> Result<()> {
    crate::precision::check_training(a.precision)?;
    if a.all {
        return run_all(a);
    }
    if a.hebbian {
        return run_hebbian(a);
    }
    if a.lanes {
        return run_lanes(a);
    }
    let (preset, _) = resolve(&a.preset, a.presets.as_deref())?;
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    // bf16: every product of the step on the pool's workers (and the lanes' pools,
    // built from this thread) rounds its operands to bf16, as in training
    let bf16 = a.precision == crate::precision::Precision::Bf16;
    let pool = bench_pool(a, threads)?;
    let (b, t) = (a.batch.unwrap_or(preset.train.batch).max(1), preset.train.seq_len);
    let model = preset.build_model();
    let v = model.vocab();
    let warmup = 2;
    let mut sb = StepBench::new(&model, &preset, b, threads, true)?;
    let accum = sb.accum;
    let (times, peak, fma_before, fp32_peak, steps) = pool.install(|| {
        let fma_before = fma_peak();
        // with bf16 the fp32 peak too, for comparison (products follow the calling thread's setting)
        let fp32_peak = bf16.then(|| {
            crate::kernels::matmul::set_bf16_products(false);
            let p = sgemm_peak(b * t);
            crate::kernels::matmul::set_bf16_products(true);
            p
        });
        let peak = sgemm_peak(b * t); // before the steps
        let mut last_warm = 0.0;
        for i in 0..warmup {
            last_warm = sb.step(i as u64);
        }
        let steps = a.steps.map_or_else(|| default_steps(last_warm), |s| s.max(3));
        let times: Vec<f64> = (warmup..warmup + steps).map(|i| sb.step(i as u64)).collect();
        // measured again after the steps, the higher one kept: on a shared host a
        // peak taken in a slow moment would make MFU read above what the code does
        (times, peak.max(sgemm_peak(b * t)), fma_before, fp32_peak, steps)
    });
    let fma_after = pool.install(fma_peak);
    let fma = fma_before.max(fma_after);
    let fma_low = fma_before.min(fma_after);
    let single = if threads > 1 { pool.install(fma_single) } else { fma };
    let params = sb.params;
    let rss_train = peak_rss_mb();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let med = sorted[sorted.len() / 2];
    let tok_s = (accum * b * t) as f64 / med;
    let fpt = flops_per_token(&*model, t);
    let gflops = fpt * tok_s / 1e9;
    println!("train: {:.0} tok/s ({}, {threads} threads)", tok_s, a.precision.label());
    println!("preset {} ({} params), batch {b} × seq {t}", preset.name, thousands(model.num_params() as u64));
    if b != preset.train.batch {
        println!(
            "timed: micro-batches of {b} × {t} (the preset trains {} × {t} × accum {}); a step here is one micro-batch plus clip and AdamW",
            preset.train.batch, preset.train.accum
        );
    } else if accum > 1 {
        let lanes = if sb.lanes.is_some() { " on two lanes (micro-batches in pairs, train/lanes.rs)" } else { "" };
        println!("timed: whole steps of {accum} micro-batches of {b} × {t} (gradients summed){lanes} plus clip and one AdamW update, as the trainer runs them");
    }
    println!(
        "ms/step: median {:.1} (min {:.1}, max {:.1}) over {} timed steps after {warmup} warm-up",
        med * 1e3,
        sorted[0] * 1e3,
        sorted[sorted.len() - 1] * 1e3,
        steps
    );
    println!("FLOP/token = {} = {:.2} MFLOP", model.flop_formula(), fpt / 1e6);
    println!(
        "achieved {:.1} GFLOP/s; {} peak measured {:.1} GFLOP/s ({} kernel; the higher of before and after the steps) → MFU {:.1} %",
        gflops,
        if bf16 { "bf16 GEMM" } else { "fp32 sgemm" },
        peak,
        if bf16 { "AVX512-BF16" } else { kernel_label() },
        100.0 * gflops / peak
    );
    if let Some(p32) = fp32_peak {
        println!(
            "fp32 sgemm peak measured {p32:.1} GFLOP/s ({} kernel): the bf16 GEMM runs {:.2}× it, the bf16 step at {:.1} % of it",
            kernel_label(),
            peak / p32,
            100.0 * gflops / p32
        );
    }
    if fma > 0.0 {
        println!(
            "the cores' bare FMA peak (registers only, {threads} threads) measures {fma:.1} GFLOP/s: the fp32 sgemm reaches {:.1} % of it, the training step {:.1} %",
            100.0 * fp32_peak.unwrap_or(peak) / fma,
            100.0 * gflops / fma
        );
        if !cores_available(fma_low, single, threads) {
            println!(
                "warning: the cores were not all available (another load on this host): {threads} threads gave {fma_low:.0} GFLOP/s of bare FMA at one point, one thread alone {single:.0}; these figures read low"
            );
        }
    }
    // the host's noise only ever adds time, so the fastest step is the closer
    // measure of what the code does; both are printed
    let mfu_fastest = gflops * med / sorted[0] / peak;
    println!("fastest step: {:.0} tok/s, MFU {:.1} %", (accum * b * t) as f64 / sorted[0], 100.0 * mfu_fastest);
    if let Some(r) = &preset.reference {
        println!("PyTorch reference (DESIGN.md, 2-core EPYC): {:.0} tok/s → ratio {:.2}×", r.pytorch_tok_s, tok_s / r.pytorch_tok_s);
    }
    // generation: one stream, incremental state, context 1 … 4096; fp32, then
    // bf16 and int8 weight storage where the model's decoder has them. Always
    // with fp32 products (`--precision` is the training's; the window decoders
    // run whole forward passes through the products)
    let (gen, gen16) = if a.no_gen {
        ((0.0, 0.0, 0.0), None)
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .start_handler(crate::kernels::matmul::bf16_start_handler(false))
            .build()
            .context("thread pool")?;
        let gen = pool.install(|| time_generation(&|| Some(model.decoder(&params)), v)).unwrap_or_default();
        println!(
            "generate (fp32): {:.0} tok/s single stream over {GEN_TOKENS} tokens (context 16–32: {:.0} tok/s, context 4,080–4,096: {:.0} tok/s)",
            gen.0, gen.1, gen.2
        );
        let mut low = Vec::new();
        for p in [crate::precision::Precision::Bf16, crate::precision::Precision::Int8] {
            match pool.install(|| time_generation(&|| model.decoder_lowp(&params, p), v)) {
                Some(g) => {
                    println!(
                        "generate ({} weights): {:.0} tok/s (context 16–32: {:.0} tok/s, context 4,080–4,096: {:.0} tok/s)",
                        p.label(),
                        g.0,
                        g.1,
                        g.2
                    );
                    low.push(g.0);
                }
                None => println!("generate ({} weights): not available for this model (fp32 decoder only)", p.label()),
            }
        }
        let gen16 = (low.len() == 2).then(|| (low[0], low[1]));
        (gen, gen16)
    };
    let rss = peak_rss_mb();
    if let (Some(tr), Some(all)) = (rss_train, rss) {
        println!("peak RSS (this process): {tr:.0} MB while training; {all:.0} MB including the generation decoders");
    }
    if a.json {
        let r = BenchResult {
            preset: preset.name.clone(),
            precision: a.precision.label().into(),
            params: model.num_params(),
            batch: b,
            seq_len: t,
            accum,
            threads,
            ms_per_step: med * 1e3,
            min_ms_per_step: sorted[0] * 1e3,
            tok_per_sec: tok_s,
            gflops,
            sgemm_peak: peak,
            fma_peak: fma,
            fma_single: single,
            fma_low,
            mfu: gflops / peak,
            mfu_fastest,
            gen_tok_per_sec: gen.0,
            gen_first16: gen.1,
            gen_at_4096: gen.2,
            gen_bf16_tok_per_sec: gen16.map(|g| g.0),
            gen_int8_tok_per_sec: gen16.map(|g| g.1),
            peak_rss_mb: rss_train,
            peak_rss_all_mb: rss,
            pytorch_tok_s: preset.reference.as_ref().map(|r| r.pytorch_tok_s),
        };
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}

const GEN_TOKENS: usize = 4096;

/// Feeds GEN_TOKENS tokens one at a time to a fresh decoder from `make`: (mean
/// tok/s, tok/s at context 16–32, tok/s at context 4,080–4,096). A first decoder
/// is fed 64 tokens and dropped, so the timed one does not start with cold
/// caches and sleeping pool threads. None if `make` has no decoder.
fn time_generation<'a>(make: &dyn Fn() -> Option<Box<dyn crate::model::Decode + 'a>>, v: usize) -> Option<(f64, f64, f64)> {
    let mut warm = make()?;
    warm.set_parallel(true);
    for i in 0..64u32 {
        warm.step(i % v as u32);
    }
    drop(warm);
    let mut dec = make()?;
    dec.set_parallel(true);
    let t0 = Instant::now();
    let mut tok = 1u32;
    let (mut at16, mut at32, mut before_last16) = (0.0, 0.0, 0.0);
    for i in 0..GEN_TOKENS {
        match i {
            16 => at16 = t0.elapsed().as_secs_f64(),
            32 => at32 = t0.elapsed().as_secs_f64(),
            i if i == GEN_TOKENS - 16 => before_last16 = t0.elapsed().as_secs_f64(),
            _ => {}
        }
        dec.step(tok);
        tok = (i as u32 * 31 + 7) % v as u32;
    }
    let total = t0.elapsed().as_secs_f64();
    Some((GEN_TOKENS as f64 / total, 16.0 / (at32 - at16), 16.0 / (total - before_last16)))
}

/// Steps `x` and `y` alternately in one pool, 2 warm-up pairs then `pairs`
/// timed ones (the order within a pair alternates too, so neither always runs
/// second), prints each pair, and returns the summary of x's time over y's:
/// "median ±p % (range a … b %) over n pairs".
fn paired(pool: &rayon::ThreadPool, pairs: usize, (x, x_label): (&mut StepBench, &str), (y, y_label): (&mut StepBench, &str)) -> String {
    let mut ratios = Vec::new();
    pool.install(|| {
        for i in 0..2 + pairs as u64 {
            let (tx, ty) = if i % 2 == 0 {
                let tx = x.step(i);
                (tx, y.step(i))
            } else {
                let ty = y.step(i);
                (x.step(i), ty)
            };
            if i >= 2 {
                println!(
                    "  pair {}: {:.0} ms {x_label}, {:.0} ms {y_label} → {:+.1} %",
                    i - 1,
                    tx * 1e3,
                    ty * 1e3,
                    100.0 * (tx / ty - 1.0)
                );
                ratios.push(tx / ty);
            }
        }
    });
    ratios.sort_by(|a, b| a.total_cmp(b));
    let pct = |r: f64| 100.0 * (r - 1.0);
    format!(
        "median {:+.1} % (range {:+.1} … {:+.1} %) over {pairs} pairs",
        pct(ratios[ratios.len() / 2]),
        pct(ratios[0]),
        pct(ratios[ratios.len() - 1])
    )
}

/// `bench --hebbian`: the Hebbian memory's cost as v7.2 (the preset, with
/// memory) against the same model without it (v7.1's architecture), steps
/// alternating in one process so both see the same moments of a shared host.
fn run_hebbian(a: &BenchArgs) -> Result<()> {
    let (preset, _) = resolve(&a.preset, a.presets.as_deref())?;
    let mut plain = preset.clone();
    match &mut plain.model {
        crate::preset::ModelSpec::Cortex(c) if c.memory.is_some() => c.memory = None,
        _ => anyhow::bail!("--hebbian needs a preset with a Hebbian memory (v7.2), not {}", preset.name),
    }
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let pool = bench_pool(a, threads)?;
    let b = a.batch.unwrap_or(preset.train.batch).max(1);
    let (with, without) = (preset.build_model(), plain.build_model());
    let (mut sw, mut so) = (StepBench::new(&with, &preset, b, threads, true)?, StepBench::new(&without, &plain, b, threads, true)?);
    let pairs = a.steps.unwrap_or(5).max(3);
    println!(
        "{} with and without its memory, {b} × {} on {threads} threads, 2 warm-up steps each, then {pairs} alternating pairs:",
        preset.name, preset.train.seq_len
    );
    let summary = paired(&pool, pairs, (&mut sw, "with"), (&mut so, "without"));
    println!("Hebbian overhead: {summary}");
    Ok(())
}

/// `bench --lanes`: the two-lane step (train/lanes.rs) against the one-lane
/// step of the same preset, steps alternating in one process.
fn run_lanes(a: &BenchArgs) -> Result<()> {
    let (preset, _) = resolve(&a.preset, a.presets.as_deref())?;
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let pool = bench_pool(a, threads)?;
    if a.batch.is_some_and(|b| b != preset.train.batch) {
        anyhow::bail!(
            "--lanes times the preset's own steps ({} micro-batches of {} × {}); leave out --batch",
            preset.train.accum,
            preset.train.batch,
            preset.train.seq_len
        );
    }
    let (b, t, accum) = (preset.train.batch, preset.train.seq_len, preset.train.accum);
    if !crate::train::lanes::pays(accum, b, t) {
        anyhow::bail!(
            "{} keeps one lane: a second needs accum ≥ 2 (it has {accum}) and micro-batches of at most {} tokens (it has {b} × {t})",
            preset.name,
            crate::train::lanes::MAX_LANE_TOKENS,
        );
    }
    if threads == 1 {
        println!("(one thread: the two lanes take turns, so this times only their bookkeeping)");
    }
    let model = preset.build_model();
    let (mut two, mut one) = (StepBench::new(&model, &preset, b, threads, true)?, StepBench::new(&model, &preset, b, threads, false)?);
    let pairs = a.steps.unwrap_or(5).max(3);
    println!(
        "{}: steps of {} micro-batches of {b} × {} on two lanes and on one, {threads} threads, 2 warm-up steps each, then {pairs} alternating pairs:",
        preset.name, accum, t
    );
    let summary = paired(&pool, pairs, (&mut two, "on two lanes"), (&mut one, "on one"));
    println!("two lanes: step time {summary}");
    Ok(())
}

/// `bench --all`: every full-size preset in a child process (peak RSS is then
/// that preset's own), at the default thread count and at 1 thread.
fn run_all(a: &BenchArgs) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let parsed: Vec<crate::preset::Preset> =
        crate::preset::discover(a.presets.as_deref()).into_iter().filter_map(|e| e.parsed.ok()).filter(|p| p.name != "tiny").collect();
    let presets: Vec<String> = parsed.iter().map(|p| p.name.clone()).collect();
    // micro-batches above 16×256 tokens (v5's 64×256) are timed at 8 × 256, so that
    // the whole table stays under 5 minutes: v5 alone took ~155 of its ~330 s at
    // 16 × 256 (PyTorch's shape), where its tok/s measured 0–7 % higher back to back
    let batches: Vec<(String, Option<usize>)> = parsed
        .iter()
        .map(|p| (p.name.clone(), (p.train.batch * p.train.seq_len > 4096).then_some(2048 / p.train.seq_len).or(a.batch)))
        .collect();
    let child = |name: &str, th: usize| -> Result<BenchResult> {
        eprintln!("bench: {name} at {th} thread(s)…");
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["bench", "--json", "--preset", name, "--threads", &th.to_string()]);
        if let Some(s) = a.steps {
            cmd.args(["--steps", &s.to_string()]);
        }
        if th != threads {
            // generation is timed once, at the default thread count
            cmd.arg("--no-gen");
        }
        if let Some(b) = batches.iter().find(|(n, _)| n == name).and_then(|(_, b)| *b) {
            cmd.args(["--batch", &b.to_string()]);
        }
        if let Some(d) = &a.presets {
            cmd.arg("--presets").arg(d);
        }
        cmd.args(["--precision", a.precision.label()]);
        let out = cmd.output().context("cannot run the benchmark child process")?;
        if !out.status.success() {
            anyhow::bail!("bench of {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().rev().find(|l| l.starts_with('{')).context("no JSON line from the benchmark child")?;
        Ok(serde_json::from_str(line)?)
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut reruns = Vec::new();
    for name in &presets {
        let mut full = child(name, threads)?;
        if !cores_available(full.fma_low, full.fma_single, threads) {
            // a core was taken by another load on the host: measure once more
            eprintln!(
                "bench: {name}: not every core was available (bare FMA {:.0} GFLOP/s at {threads} threads vs {:.0} for one); once more",
                full.fma_low, full.fma_single
            );
            reruns.push(name.clone());
            full = child(name, threads)?;
        }
        let one = if threads > 1 { Some(child(name, 1)?) } else { None };
        rows.push((full, one));
    }
    let (prec, peak_col) = match a.precision {
        crate::precision::Precision::Bf16 => ("bf16", "bf16 GEMM peak (fp32 FMA peak)"),
        _ => ("fp32", "sgemm peak (FMA peak)"),
    };
    println!("Training in {prec}; MFU against the {prec} GEMM peak measured in each child.");
    println!();
    println!("| preset | params | batch×seq | ms/step | tok/s ({threads} thr) | tok/s (1 thr) | scaling (fastest steps) | GFLOP/s | {peak_col} | MFU (fastest step) | gen tok/s (ctx 16–32 / 4,080–4,096) | gen bf16 / int8 | peak RSS (training) | PyTorch tok/s |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (r, one) in &rows {
        let (one_s, scale) = match one {
            // medians, then fastest steps: the shared host's slow spells only add time,
            // and the two runs are minutes apart
            Some(o) => (
                format!("{:.0}", o.tok_per_sec),
                format!("{:.2}× ({:.2}×)", r.tok_per_sec / o.tok_per_sec, o.min_ms_per_step / r.min_ms_per_step),
            ),
            None => ("–".into(), "–".into()),
        };
        println!(
            "| {} | {} | {}×{}{} | {:.0} | {:.0} | {} | {} | {:.1} | {:.1} ({:.0}) | {:.1} % ({:.1} %) | {:.0} ({:.0} / {:.0}) | {} | {} | {} |",
            r.preset,
            thousands(r.params as u64),
            r.batch,
            r.seq_len,
            if r.accum > 1 { format!(" ×{} accum", r.accum) } else { String::new() },
            r.ms_per_step,
            r.tok_per_sec,
            one_s,
            scale,
            r.gflops,
            r.sgemm_peak,
            r.fma_peak,
            100.0 * r.mfu,
            100.0 * r.mfu_fastest,
            r.gen_tok_per_sec,
            r.gen_first16,
            r.gen_at_4096,
            match (r.gen_bf16_tok_per_sec, r.gen_int8_tok_per_sec) {
                (Some(b), Some(i)) => format!("{b:.0} / {i:.0}"),
                _ => "–".into(),
            },
            r.peak_rss_mb.map(|m| format!("{m:.0} MB")).unwrap_or_else(|| "–".into()),
            r.pytorch_tok_s.map(|t| format!("{t:.0}")).unwrap_or_else(|| "–".into()),
        );
    }
    let find = |n: &str| rows.iter().find(|(r, _)| r.preset == n).map(|(r, _)| r);
    if let (Some(a72), Some(a71)) = (find("v7.2-cortex-vi"), find("v7.1-cortex-iii")) {
        println!(
            "\nHebbian overhead: v7.2 {:.0} ms/step vs v7.1 {:.0} ms/step = {:+.1} % (medians); fastest steps {:.0} vs {:.0} = {:+.1} %",
            a72.ms_per_step,
            a71.ms_per_step,
            100.0 * (a72.ms_per_step / a71.ms_per_step - 1.0),
            a72.min_ms_per_step,
            a71.min_ms_per_step,
            100.0 * (a72.min_ms_per_step / a71.min_ms_per_step - 1.0)
        );
    }
    let busy: Vec<&str> =
        rows.iter().filter(|(r, _)| !cores_available(r.fma_low, r.fma_single, threads)).map(|(r, _)| r.preset.as_str()).collect();
    if !reruns.is_empty() {
        println!("\nre-run because another load had taken a core: {}", reruns.join(", "));
    }
    if !busy.is_empty() {
        println!("still short of cores in the figures above (they read low): {}", busy.join(", "));
    }
    let secs = started.elapsed().as_secs();
    println!(
        "\nbench --all: {} presets in {} min {:02} s; CPU: {}",
        rows.len(),
        secs / 60,
        secs % 60,
        crate::precision::cpu_vector_features()
    );
    Ok(())
}

/// VmHWM from /proc/self/status, in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::default_steps;

    #[test]
    fn short_steps_are_timed_for_about_two_seconds() {
        // v4's ~25 ms steps: 80 timed; v7.2's ~0.3 s: 7; v5's ~1 s: the floor of 5
        assert_eq!(default_steps(0.025), 80);
        assert_eq!(default_steps(0.3), 7);
        assert_eq!(default_steps(1.0), 5);
        // never fewer than 5 nor more than 100, whatever the warm-up said
        assert_eq!(default_steps(0.0001), 100);
        assert_eq!(default_steps(0.0), 5);
        assert_eq!(default_steps(f64::NAN), 5);
    }
}
