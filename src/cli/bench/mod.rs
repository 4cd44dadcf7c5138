//! `flashlm-tui bench`: this machine's sgemm peak, then training and generation
//! speed of a preset on random tokens. Figures are measured here, never assumed.

use super::BenchArgs;
use crate::kernels::default_threads;
use crate::kernels::peak::{cores_available, fma_peak, fma_single, kernel_label, sgemm_peak, tile_line};

use crate::preset::{resolve, thousands};
use anyhow::{Context, Result};
use steps::StepBench;

/// The pool steps are timed in, its products (and the lanes' pools, built
/// from this thread) in the precision asked for.
fn bench_pool(a: &BenchArgs, threads: usize) -> Result<rayon::ThreadPool> {
    let bf16 = a.precision == crate::precision::Precision::Bf16;
    crate::kernels::matmul::set_bf16_products(bf16);
    crate::kernels::matmul::choose_tile();
    let b = rayon::ThreadPoolBuilder::new().num_threads(threads).start_handler(crate::kernels::matmul::bf16_start_handler(bf16));
    b.build().context("thread pool")
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
    /// where `pytorch_tok_s` was measured
    #[serde(default)]
    pub pytorch_machine: Option<String>,
}

/// Timed steps when `--steps` is not given: 5, or for short steps as many as
/// fill about 2 s (at most 100), from the last warm-up step's time in seconds:
/// medians of a few short steps move too much on a shared host.
fn default_steps(warm: f64) -> usize {
    let fill = if warm > 0.0 { (2.0 / warm).ceil() as usize } else { 5 };
    fill.clamp(5, 100)
}

mod all;
mod generation;
mod pytorch;
mod steps;

pub fn run(a: &BenchArgs) -> Result<()> {
    // `auto` is decided once, here, and every child of --all is given the
    // result; said on stderr, so stdout stays the figures
    let mut a = a.clone();
    if a.precision == crate::precision::Precision::Auto {
        let choice = crate::auto_precision::resolve(a.threads.unwrap_or_else(default_threads).max(1));
        eprintln!("{}", choice.line());
        a.precision = choice.precision;
    }
    let a = &a;
    crate::precision::check_training(a.precision)?;
    if a.all {
        return all::run_all(a);
    }
    if a.hebbian {
        return steps::run_hebbian(a);
    }
    if a.tiles {
        return steps::run_tiles(a);
    }
    if a.lanes {
        return steps::run_lanes(a);
    }
    let (preset, _) = resolve(&a.preset, a.presets.as_deref())?;
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let b = a.batch.unwrap_or(preset.train.batch).max(1);
    crate::limits::check_preset(&preset, b, crate::model::footprint::Purpose::Train)?;
    let model = preset.build_model();
    let mut sb = StepBench::new(&model, &preset, b, threads, true)?;
    let tr = time_training(a, &mut sb, threads, b * preset.train.seq_len)?;
    let rss_train = peak_rss_mb();
    let fig = TrainFigures::new(&tr, &*model, sb.accum, b, preset.train.seq_len);
    let pyt = pytorch::figure(a, &preset)?;
    print_training(a, &preset, &*model, &sb, &tr, &fig, threads, b);
    if let Some(p) = &pyt {
        println!("{}", pytorch::ratio_line(p, fig.tok_s));
    }
    if a.precision == crate::precision::Precision::Bf16 {
        compare_with_fp32(a, &mut sb, threads, b * preset.train.seq_len, &fig, &tr)?;
    }
    // generation always runs with fp32 products (`--precision` is the training's;
    // the window decoders run whole forward passes through the products)
    let gen = if a.no_gen { generation::GenFigures::default() } else { generation::time_all(&*model, &sb.params, threads)? };
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
            seq_len: preset.train.seq_len,
            accum: sb.accum,
            threads,
            ms_per_step: fig.median * 1e3,
            min_ms_per_step: fig.fastest * 1e3,
            tok_per_sec: fig.tok_s,
            gflops: fig.gflops,
            sgemm_peak: tr.peak,
            fma_peak: tr.fma,
            fma_single: tr.fma_single,
            fma_low: tr.fma_low,
            mfu: fig.gflops / tr.peak,
            mfu_fastest: fig.mfu_fastest,
            gen_tok_per_sec: gen.fp32.0,
            gen_first16: gen.fp32.1,
            gen_at_4096: gen.fp32.2,
            gen_bf16_tok_per_sec: gen.bf16,
            gen_int8_tok_per_sec: gen.int8,
            peak_rss_mb: rss_train,
            peak_rss_all_mb: rss,
            pytorch_tok_s: pyt.as_ref().map(|p| p.tok_s),
            pytorch_machine: pyt.as_ref().map(|p| p.machine.clone()),
        };
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}

/// What timing the steps measured: step times and the peaks around them.
struct Timed {
    /// wall seconds of each timed step, sorted
    times: Vec<f64>,
    warmup: usize,
    /// GEMM peak in the run's precision (the higher of before and after the steps)
    peak: f64,
    /// with bf16, the fp32 peak too, for comparison
    fp32_peak: Option<f64>,
    /// bare FMA peaks: the higher and the lower of before and after, and one thread's
    fma: f64,
    fma_low: f64,
    fma_single: f64,
}

/// Warm-up steps, then the timed ones, with the peaks measured around them.
fn time_training(a: &BenchArgs, sb: &mut StepBench, threads: usize, rows: usize) -> Result<Timed> {
    // bf16: every product of the step on the pool's workers (and the lanes' pools,
    // built from this thread) rounds its operands to bf16, as in training
    let bf16 = a.precision == crate::precision::Precision::Bf16;
    let pool = bench_pool(a, threads)?;
    let warmup = 2;
    let (mut times, peak, fma_before, fp32_peak) = pool.install(|| {
        let fma_before = fma_peak();
        // products follow the calling thread's setting
        let fp32_peak = bf16.then(|| {
            crate::kernels::matmul::set_bf16_products(false);
            let p = sgemm_peak(rows);
            crate::kernels::matmul::set_bf16_products(true);
            p
        });
        let peak = sgemm_peak(rows); // before the steps
        let mut last_warm = 0.0;
        for i in 0..warmup {
            last_warm = sb.step(i as u64);
        }
        let steps = a.steps.unwrap_or_else(|| default_steps(last_warm));
        let times: Vec<f64> = (warmup..warmup + steps).map(|i| sb.step(i as u64)).collect();
        // measured again after the steps, the higher one kept: on a shared host a
        // peak taken in a slow moment would make MFU read above what the code does
        (times, peak.max(sgemm_peak(rows)), fma_before, fp32_peak)
    });
    let fma_after = pool.install(fma_peak);
    let fma = fma_before.max(fma_after);
    let fma_single = if threads > 1 { pool.install(fma_single) } else { fma };
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(Timed { times, warmup, peak, fp32_peak, fma, fma_low: fma_before.min(fma_after), fma_single })
}

/// The figures derived from the step times.
struct TrainFigures {
    median: f64,
    fastest: f64,
    tok_s: f64,
    flop_per_token: f64,
    gflops: f64,
    /// MFU of the fastest step: the host's noise only ever adds time
    mfu_fastest: f64,
}

impl TrainFigures {
    fn new(tr: &Timed, model: &dyn crate::model::LanguageModel, accum: usize, b: usize, t: usize) -> Self {
        let (median, fastest) = (tr.times[tr.times.len() / 2], tr.times[0]);
        let tok_s = (accum * b * t) as f64 / median;
        let flop_per_token = model.flops_per_token(t);
        let gflops = flop_per_token * tok_s / 1e9;
        TrainFigures { median, fastest, tok_s, flop_per_token, gflops, mfu_fastest: gflops * median / fastest / tr.peak }
    }
}

fn print_training(
    a: &BenchArgs,
    preset: &crate::preset::Preset,
    model: &dyn crate::model::LanguageModel,
    sb: &StepBench,
    tr: &Timed,
    fig: &TrainFigures,
    threads: usize,
    b: usize,
) {
    let (t, accum, bf16) = (preset.train.seq_len, sb.accum, a.precision == crate::precision::Precision::Bf16);
    println!("train: {:.0} tok/s ({}, {threads} threads)", fig.tok_s, a.precision.label());
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
        "ms/step: median {:.1} (min {:.1}, max {:.1}) over {} timed steps after {} warm-up",
        fig.median * 1e3,
        fig.fastest * 1e3,
        tr.times[tr.times.len() - 1] * 1e3,
        tr.times.len(),
        tr.warmup
    );
    println!("FLOP/token = {} = {:.2} MFLOP", model.flop_formula(), fig.flop_per_token / 1e6);
    println!(
        "achieved {:.1} GFLOP/s; {} peak measured {:.1} GFLOP/s ({} kernel; the higher of before and after the steps) → MFU {:.1} %",
        fig.gflops,
        if bf16 { "bf16 GEMM" } else { "fp32 sgemm" },
        tr.peak,
        if bf16 { "AVX512-BF16" } else { kernel_label() },
        100.0 * fig.gflops / tr.peak
    );
    if let Some(line) = tile_line() {
        println!("{line}");
    }
    if let Some(p32) = tr.fp32_peak {
        println!(
            "fp32 sgemm peak measured {p32:.1} GFLOP/s ({} kernel): the bf16 GEMM runs {:.2}× it, the bf16 step at {:.1} % of it",
            kernel_label(),
            tr.peak / p32,
            100.0 * fig.gflops / p32
        );
    }
    if tr.fma > 0.0 {
        println!(
            "the cores' bare FMA peak (registers only, {threads} threads) measures {:.1} GFLOP/s: the fp32 sgemm reaches {:.1} % of it, the training step {:.1} %",
            tr.fma,
            100.0 * tr.fp32_peak.unwrap_or(tr.peak) / tr.fma,
            100.0 * fig.gflops / tr.fma
        );
        if !cores_available(tr.fma_low, tr.fma_single, threads) {
            println!(
                "warning: the cores were not all available (another load on this host): {threads} threads gave {:.0} GFLOP/s of bare FMA at one point, one thread alone {:.0}; these figures read low",
                tr.fma_low, tr.fma_single
            );
        }
    }
    println!("fastest step: {:.0} tok/s, MFU {:.1} %", (accum * b * t) as f64 / fig.fastest, 100.0 * fig.mfu_fastest);
}

/// `--precision bf16`: the same steps timed again with fp32 products, and
/// which precision is the faster one on this CPU, with both GEMM peaks.
fn compare_with_fp32(a: &BenchArgs, sb: &mut StepBench, threads: usize, rows: usize, bf16: &TrainFigures, tr: &Timed) -> Result<()> {
    let fp32_args = BenchArgs { precision: crate::precision::Precision::Fp32, ..a.clone() };
    let tr32 = time_training(&fp32_args, sb, threads, rows)?;
    // the same steps timed twice: the speeds relate as the median step times
    let median32 = tr32.times[tr32.times.len() / 2];
    let tok_s32 = bf16.tok_s * bf16.median / median32;
    println!(
        "fp32 on this CPU: {tok_s32:.0} tok/s (median {:.1} ms/step) vs bf16 {:.0} tok/s: bf16 runs at {:.2}× fp32's speed",
        median32 * 1e3,
        bf16.tok_s,
        bf16.tok_s / tok_s32
    );
    match crate::precision::bf16_slower(Some(tr32.peak), Some(tr.peak)) {
        Some(why) => println!("{why}"),
        None => println!("bf16 GEMM peak {:.0} GFLOP/s vs fp32 {:.0} GFLOP/s: bf16 is the faster choice here", tr.peak, tr32.peak),
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
