//! One optimiser step's gradient accumulation over its `accum` micro-batches,
//! on two lanes.
//!
//! A small micro-batch (v5.2 and v6 train 4 × 128) gives each kernel too little
//! work to split two ways: every GEMM, norm and gate pays a fork and a join for
//! a few hundred rows. So when a step has two or more micro-batches, the
//! even-numbered ones run on lane A and the odd-numbered ones on lane B, side by
//! side, each lane with its own workspace, gradient buffer and half of the
//! threads; at the end lane B's gradients are added to lane A's and the sum is
//! scaled by 1/accum in the same pass.
//!
//! - The sums are grouped by `accum` alone (A: 0, 2, 4… and an odd last one;
//!   B: 1, 3, 5…; then A + B), never by the thread count: one thread runs the two lanes one after
//!   the other and gets the same bits as two (the kernels themselves never
//!   depend on the thread count). Against the one-lane loop of earlier binaries
//!   the gradients differ in their last bits, so a checkpoint from before the
//!   lanes resumes exactly only on one lane.
//! - Data and dropout: micro-batch `i` is drawn and seeded exactly as in the
//!   one-lane loop (the batches are drawn in order before each pair runs), and
//!   the losses are summed in micro-batch order, so the step's loss is the
//!   one-lane loss bit for bit; the gradients differ only by the grouping.
//! - Memory: lane B's workspace is a second set of activations (plus a gradient
//!   buffer and its threads' packing buffers), so micro-batches of more than
//!   [`MAX_LANE_TOKENS`] tokens (v5's 64 × 256) keep one lane. Measured
//!   (`bench --lanes`): 512 tokens (v6, v5.2) −3 … −4 % step time, 2,048 (v7
//!   as 8 × 256 × accum 4) −1.4 %, 4,096 (v7) +0.7 %.
//! - Each lane's pool is a one-job pool of its own (⌈threads/2⌉ workers for
//!   lane A, ⌊threads/2⌋ for lane B, the step's pool waiting on them
//!   meanwhile), so there is never more than the asked-for number of threads at
//!   work; odd thread counts (lane B the slower) are unmeasured. Handing a job to
//!   another pool goes through rayon's injector, which allocates one 63-slot
//!   block per 63 hand-offs (every 16 steps of v5.2); that is the only
//!   allocation here.
//! - An odd `accum` runs its last micro-batch alone on lane A with every thread.

use super::collective::Share;
use crate::model::fsp::fsp_value;
use crate::model::{Model, Workspace};
use rayon::prelude::*;

/// Largest micro-batch (b·t tokens) that gets a second lane.
pub const MAX_LANE_TOKENS: usize = 2048;

/// Whether a run of `accum` micro-batches of `b`×`t` tokens gets a second lane.
pub fn pays(accum: usize, b: usize, t: usize) -> bool {
    accum >= 2 && b * t <= MAX_LANE_TOKENS
}

/// Fills micro-batch `i`'s inputs and targets: `next(i, x, y)` (the trainer
/// draws the next windows and ignores `i`; tests check the order with it).
pub type Fill<'a> = dyn FnMut(usize, &mut [u32], &mut [u32]) + 'a;

/// Lane B's buffers and the two lanes' pools.
pub struct Lanes {
    ws: Workspace,
    grads: Vec<f32>,
    x: Vec<u32>,
    y: Vec<u32>,
    /// `None` with one thread: the lanes take turns on the caller's thread
    pools: Option<[rayon::ThreadPool; 2]>,
}

/// Lane A: the caller's own buffers.
pub struct LaneA<'a> {
    pub ws: &'a mut Workspace,
    pub grads: &'a mut [f32],
    pub x: &'a mut [u32],
    pub y: &'a mut [u32],
}

impl Lanes {
    /// Two lanes for a run of `accum` micro-batches of `b`×`t` tokens on
    /// `threads` threads, or `None` where one lane is the rule.
    pub fn for_run(n_params: usize, accum: usize, b: usize, t: usize, threads: usize) -> Result<Option<Lanes>, String> {
        // the lanes' workers multiply in the precision of the thread that builds them
        let bf16 = crate::kernels::matmul::bf16_products();
        Self::with_pools(n_params, accum, b, t, threads, move |n| {
            rayon::ThreadPoolBuilder::new().num_threads(n).start_handler(crate::kernels::matmul::bf16_start_handler(bf16))
        })
    }

    /// As [`Lanes::for_run`], the pools built from `builder(workers)` (tests count their threads).
    pub fn with_pools(
        n_params: usize,
        accum: usize,
        b: usize,
        t: usize,
        threads: usize,
        builder: impl Fn(usize) -> rayon::ThreadPoolBuilder,
    ) -> Result<Option<Lanes>, String> {
        if !pays(accum, b, t) {
            return Ok(None);
        }
        let pools = if threads >= 2 {
            let (a, b) = (threads.div_ceil(2), threads / 2);
            let build = |n: usize, name: &'static str| {
                builder(n)
                    .thread_name(move |i| format!("{name}-{i}"))
                    .build()
                    .map_err(|e| format!("cannot start the {name} pool of {n} threads: {e}"))
            };
            Some([build(a, "lane-a")?, build(b, "lane-b")?])
        } else {
            None
        };
        Ok(Some(Lanes { ws: Workspace::new(), grads: vec![0.0; n_params], x: vec![0; b * t], y: vec![0; b * t], pools }))
    }
}

/// Zeroes `a.grads`, runs `accum` micro-batches of `b`×`t` — `next(i, x, y)`
/// fills micro-batch `i`'s tokens, `seed(i)` is its dropout seed — and leaves
/// the mean gradient in `a.grads`; returns the mean loss. With `lanes` the
/// micro-batches run in pairs (module docs), without them one after another.
/// A non-finite loss leaves the gradients unscaled (the step is skipped).
/// Call it inside the step's pool: the lanes split that pool's threads.
/// `lanes` must have been built for the same `b`×`t`.
#[allow(clippy::too_many_arguments)]
pub fn accumulate(
    model: &Model,
    params: &[f32],
    a: LaneA<'_>,
    lanes: Option<&mut Lanes>,
    accum: usize,
    bt: (usize, usize),
    next: &mut Fill<'_>,
    seed: &dyn Fn(usize) -> u64,
) -> f64 {
    accumulate_with_fsp(model, params, a, lanes, accum, bt, next, seed).0
}

/// [`accumulate`], also returning the mean FSP value over the micro-batches
/// when the model trains with FSP (`model::fsp`; summed in micro-batch order
/// like the loss).
#[allow(clippy::too_many_arguments)]
pub fn accumulate_with_fsp(
    model: &Model,
    params: &[f32],
    a: LaneA<'_>,
    lanes: Option<&mut Lanes>,
    accum: usize,
    bt: (usize, usize),
    next: &mut Fill<'_>,
    seed: &dyn Fn(usize) -> u64,
) -> (f64, Option<f64>) {
    let accum = accum.max(1);
    accumulate_share(model, params, a, lanes, Share::whole(accum), bt, next, seed)
}

/// [`accumulate_with_fsp`] over one rank's share of a step's micro-batches
/// (collective.rs): micro-batches `share.first..share.first + share.count`,
/// paired on the lanes by their order within the share, `next` and `seed`
/// called with their step-wide numbers; the gradients, loss and FSP value are
/// divided by `share.total`, so the ranks' sums are the step's means.
#[allow(clippy::too_many_arguments)]
pub fn accumulate_share(
    model: &Model,
    params: &[f32],
    a: LaneA<'_>,
    mut lanes: Option<&mut Lanes>,
    share: Share,
    (b, t): (usize, usize),
    next: &mut Fill<'_>,
    seed: &dyn Fn(usize) -> u64,
) -> (f64, Option<f64>) {
    let LaneA { ws, grads, x, y } = a;
    let (first, count, accum) = (share.first, share.count, share.total.max(1));
    zero(grads);
    let mut loss = 0.0;
    let mut fsp: Option<f64> = None;
    let mut add_fsp = |v: Option<f64>| {
        if let Some(v) = v {
            *fsp.get_or_insert(0.0) += v / accum as f64;
        }
    };
    let pairs = if lanes.is_some() { count / 2 } else { 0 };
    if let Some(l) = lanes.as_deref_mut() {
        debug_assert_eq!(l.x.len(), b * t, "lanes built for another micro-batch size");
        zero(&mut l.grads);
        for pair in 0..pairs {
            let (i, j) = (first + 2 * pair, first + 2 * pair + 1);
            next(i, x, y);
            next(j, &mut l.x, &mut l.y);
            ws.seed = seed(i);
            l.ws.seed = seed(j);
            let (wb, gb, xb, yb) = (&mut l.ws, &mut l.grads[..], &l.x[..], &l.y[..]);
            let mut lane_a = || model.loss_and_grad(ws, params, grads, x, y, b, t);
            let mut lane_b = || model.loss_and_grad(wb, params, gb, xb, yb, b, t);
            let (la, lb) = match &l.pools {
                Some([pa, pb]) => rayon::join(|| pa.install(lane_a), || pb.install(lane_b)),
                None => (lane_a(), lane_b()),
            };
            loss += la / accum as f64;
            loss += lb / accum as f64;
            add_fsp(fsp_value(ws));
            add_fsp(fsp_value(&l.ws));
        }
    }
    // the rest (all of them on one lane, the odd last one on two) alone on lane A
    for i in first + 2 * pairs..first + count {
        next(i, x, y);
        ws.seed = seed(i);
        loss += model.loss_and_grad(ws, params, grads, x, y, b, t) / accum as f64;
        add_fsp(fsp_value(ws));
    }
    // lane B's sum and the 1/accum scaling in one pass; a non-finite loss skips
    // the step, its gradients stay unscaled
    let f = if loss.is_finite() { 1.0 / accum as f32 } else { 1.0 };
    match lanes {
        Some(l) => add_scaled(grads, &l.grads, f),
        None if f != 1.0 => grads.par_chunks_mut(1 << 14).for_each(|g| g.iter_mut().for_each(|x| *x *= f)),
        None => {}
    }
    (loss, fsp)
}

fn zero(g: &mut [f32]) {
    g.par_chunks_mut(1 << 14).for_each(|g| g.fill(0.0));
}

/// `a = (a + b) · f`
fn add_scaled(a: &mut [f32], b: &[f32], f: f32) {
    a.par_chunks_mut(1 << 14).zip(b.par_chunks(1 << 14)).for_each(|(a, b)| {
        for (a, b) in a.iter_mut().zip(b) {
            *a = (*a + b) * f;
        }
    });
}
