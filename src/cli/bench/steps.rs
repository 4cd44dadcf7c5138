//! Timed training steps on random tokens, and the paired comparisons
//! (`--hebbian`, `--lanes`, `--tiles`) that alternate two variants in one process.

use super::{bench_pool, BenchArgs};
use crate::kernels::default_threads;
use crate::kernels::sgemm::Tile;
use crate::model::Workspace;
use crate::preset::resolve;
use crate::rng::Rng;
use crate::train::lanes::{LaneA, Lanes};
use anyhow::Result;
use std::time::Instant;

/// One model's training state on random tokens, stepped and timed the way the
/// trainer steps: `accum` micro-batches with gradients summed, scaled by
/// 1/accum, clipped, one AdamW update (with --batch: one micro-batch of that
/// size plus the update). The learning rate is tiny so random tokens do not push
/// the weights anywhere odd.
pub(super) struct StepBench<'m> {
    model: &'m crate::model::Model,
    pub(super) params: Vec<f32>,
    grads: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    ws: Workspace,
    pub(super) lanes: Option<Lanes>,
    /// the AVX-512 tile its products run on (`--tiles`; `None`: the process's)
    pub(super) tile: Option<Tile>,
    x: Vec<u32>,
    y: Vec<u32>,
    /// lane A's token buffers, refilled from `x`, `y` for each micro-batch
    ax: Vec<u32>,
    ay: Vec<u32>,
    opt: crate::train::optim::AdamW,
    clip: f32,
    pub(super) accum: usize,
    b: usize,
    t: usize,
}

impl<'m> StepBench<'m> {
    /// `threads`: the pool it will step in (the second lane's pools split it);
    /// `two_lanes`: false keeps every micro-batch on one lane (`--lanes` compares).
    pub(super) fn new(
        model: &'m crate::model::Model,
        preset: &crate::preset::Preset,
        b: usize,
        threads: usize,
        two_lanes: bool,
    ) -> Result<Self> {
        let tr = &preset.train;
        let n = model.layout().total;
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
            tile: None,
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
    pub(super) fn step(&mut self, i: u64) -> f64 {
        if let Some(t) = self.tile {
            crate::kernels::sgemm::set_tile(t);
        }
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

/// What a paired comparison steps in: the thread count, the pool, and the
/// micro-batch (--batch or the preset's), checked against the memory limits.
fn paired_setup(a: &BenchArgs, preset: &crate::preset::Preset) -> Result<(usize, rayon::ThreadPool, usize)> {
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let pool = bench_pool(a, threads)?;
    let b = a.batch.unwrap_or(preset.train.batch).max(1);
    crate::limits::check_preset(preset, b, crate::model::footprint::Purpose::Train)?;
    Ok((threads, pool, b))
}

/// `bench --hebbian`: the memory's cost as v7.2 (the preset, with its Hebbian
/// memory) against the same model without it (v7.1's architecture), or v9.7
/// (RAM-Net memory) against v5-LN, steps
/// alternating in one process so both see the same moments of a shared host.
pub(super) fn run_hebbian(a: &BenchArgs) -> Result<()> {
    let (preset, _) = resolve(&a.preset, a.presets.as_deref())?;
    let mut plain = preset.clone();
    let label = match &mut plain.model {
        crate::preset::ModelSpec::Cortex(c) if c.memory.is_some() => {
            c.memory = None;
            "Hebbian"
        }
        // v9.7's RAM-Net memory against its memory-less twin, v5-LN
        crate::preset::ModelSpec::CpuFlow(c) if c.memory.is_some() => {
            c.memory = None;
            "RAM-Net memory"
        }
        _ => anyhow::bail!("--hebbian needs a preset with a Hebbian memory (v7.2) or a RAM-Net memory (cpuflow-v9.7), not {}", preset.name),
    };
    let (threads, pool, b) = paired_setup(a, &preset)?;
    let (with, without) = (preset.build_model(), plain.build_model());
    let (mut sw, mut so) = (StepBench::new(&with, &preset, b, threads, true)?, StepBench::new(&without, &plain, b, threads, true)?);
    let pairs = a.steps.unwrap_or(5);
    println!(
        "{} with and without its memory, {b} × {} on {threads} threads, 2 warm-up steps each, then {pairs} alternating pairs:",
        preset.name, preset.train.seq_len
    );
    let summary = paired(&pool, pairs, (&mut sw, "with"), (&mut so, "without"));
    println!("{label} overhead: {summary}");
    Ok(())
}

/// `bench --lanes`: the two-lane step (train/lanes.rs) against the one-lane
/// step of the same preset, steps alternating in one process.
pub(super) fn run_lanes(a: &BenchArgs) -> Result<()> {
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
    crate::limits::check_preset(&preset, b, crate::model::footprint::Purpose::Train)?;
    let model = preset.build_model();
    let (mut two, mut one) = (StepBench::new(&model, &preset, b, threads, true)?, StepBench::new(&model, &preset, b, threads, false)?);
    let pairs = a.steps.unwrap_or(5);
    println!(
        "{}: steps of {} micro-batches of {b} × {} on two lanes and on one, {threads} threads, 2 warm-up steps each, then {pairs} alternating pairs:",
        preset.name, accum, t
    );
    let summary = paired(&pool, pairs, (&mut two, "on two lanes"), (&mut one, "on one"));
    println!("two lanes: step time {summary}");
    Ok(())
}

/// `bench --tiles`: the preset's steps on the 6 × 64 AVX-512 tile against the
/// 8 × 32 one, alternating in one process (the same bits either way; only the
/// time differs).
pub(super) fn run_tiles(a: &BenchArgs) -> Result<()> {
    if !crate::kernels::simd::available() || crate::kernels::sgemm::kernel() != crate::kernels::sgemm::Kernel::Avx512 {
        anyhow::bail!(
            "--tiles compares the AVX-512 kernel's two tiles; this process runs the {} kernel",
            crate::kernels::peak::kernel_label()
        );
    }
    if a.precision == crate::precision::Precision::Bf16 {
        anyhow::bail!("--tiles times the fp32 tiles; leave out --precision bf16");
    }
    let (preset, _) = resolve(&a.preset, a.presets.as_deref())?;
    let (threads, pool, b) = paired_setup(a, &preset)?;
    let model = preset.build_model();
    let (mut wide, mut square) = (StepBench::new(&model, &preset, b, threads, true)?, StepBench::new(&model, &preset, b, threads, true)?);
    (wide.tile, square.tile) = (Some(Tile::Wide), Some(Tile::Square));
    let pairs = a.steps.unwrap_or(5);
    if let Some(line) = crate::kernels::peak::tile_line() {
        println!("{line}");
    }
    println!(
        "{}: steps of {b} × {} on the 6 × 64 and the 8 × 32 tile, {threads} threads, 2 warm-up steps each, then {pairs} alternating pairs:",
        preset.name, preset.train.seq_len
    );
    let summary = paired(&pool, pairs, (&mut wide, "6 × 64"), (&mut square, "8 × 32"));
    println!("6 × 64 tile: step time {summary}");
    Ok(())
}
