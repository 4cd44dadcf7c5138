//! "No allocation in the step", checked: a counting global
//! allocator around whole training steps — zeroed gradients, forward and
//! backward, clip norm, AdamW — of every preset's architecture at its real
//! width and depth (a short batch, two Hebbian chunks long), one step of one
//! micro-batch and one of two on two lanes (train/lanes.rs), after three of each
//! have sized the workspaces and the packing buffers.
//!
//! Its own test binary, holding this one test; and only the test's thread and
//! its pools' workers are counted (libtest's own thread may allocate to print
//! "running for over 60 seconds").

use flashlm_tui::model::{registry, Workspace};
use flashlm_tui::preset::resolve;
use flashlm_tui::train::lanes::{accumulate, LaneA, Lanes};
use flashlm_tui::train::optim::{clip_grad_norm, AdamW};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

struct Counting;
thread_local! {
    /// this thread's allocations are counted (the test's thread, the pool's)
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// inside `note`'s own printing
    static INSIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
static TRACE: AtomicBool = AtomicBool::new(false);

/// Counts one allocation; with ALLOC_TRACE set, prints where it came from.
fn note(size: usize) {
    if !ARMED.load(Relaxed) || !COUNTED.with(|c| c.get()) || INSIDE.with(|i| i.get()) {
        return;
    }
    COUNT.fetch_add(1, Relaxed);
    BYTES.fetch_add(size, Relaxed);
    if TRACE.load(Relaxed) {
        INSIDE.with(|i| i.set(true));
        eprintln!("--- {size} bytes\n{}", std::backtrace::Backtrace::force_capture());
        INSIDE.with(|i| i.set(false));
    }
}
static ARMED: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System`, which meets GlobalAlloc's contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size());
        // SAFETY: forwards the caller's arguments, under the same contract, to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwards the caller's arguments, under the same contract, to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note(l.size());
        // SAFETY: forwards the caller's arguments, under the same contract, to the system allocator.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note(n);
        // SAFETY: forwards the caller's arguments, under the same contract, to the system allocator.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const LINEUP: [&str; 9] = [
    "v4-bolt",
    "v5-thunderbolt",
    "v5.2-nova-ignition",
    "v6-supernova",
    "v7-cortex",
    "v7.1-cortex-iii",
    "v7.2-cortex-vi",
    "cpuflow-v5-ln",
    "cpuflow-v9.7",
];

#[test]
fn a_training_step_allocates_nothing_once_warm() {
    TRACE.store(std::env::var_os("ALLOC_TRACE").is_some(), Relaxed);
    COUNTED.with(|c| c.set(true));
    let mut report = Vec::new();
    let mut total = 0;
    // fp32 products, and bf16 ones where the CPU has them (their packing has its own buffers)
    let bf16_too = flashlm_tui::kernels::matmul::bf16_supported();
    if !bf16_too {
        eprintln!("note: bf16 steps not checked: this CPU has no AVX512-BF16");
    }
    for (bf16, name) in [false, true].into_iter().filter(|&b| !b || bf16_too).flat_map(|b| LINEUP.map(|n| (b, n))) {
        let handler = move |_| {
            COUNTED.with(|c| c.set(true));
            flashlm_tui::kernels::matmul::set_bf16_products(bf16);
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).start_handler(handler).build().unwrap();
        let (p, _) = resolve(name, None).unwrap();
        let (b, t) = (2, 128.min(p.train.seq_len));
        let model = registry::build(&p.model, p.train.seq_len);
        let n = model.num_params();
        let tr = &p.train;
        let opt = AdamW { beta1: tr.beta1, beta2: tr.beta2, eps: tr.eps, weight_decay: tr.weight_decay };
        let mut params = model.init_params(1);
        let (mut grads, mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let vocab = model.vocab() as u32;
        let x: Vec<u32> = (0..b * t).map(|i| (i as u32 * 7919) % vocab).collect();
        let y: Vec<u32> = (0..b * t).map(|i| (i as u32 * 104_729 + 3) % vocab).collect();
        let (mut ws, mut ax, mut ay) = (Workspace::new(), vec![0u32; b * t], vec![0u32; b * t]);
        let counted = |n| rayon::ThreadPoolBuilder::new().num_threads(n).start_handler(handler);
        let mut lanes = Lanes::with_pools(n, 2, b, t, 2, counted).unwrap();
        assert!(lanes.is_some(), "{name}: 2 × ({b} × {t}) gets a second lane");
        let (allocs, bytes, loss) = pool.install(|| {
            assert_eq!(flashlm_tui::kernels::matmul::bf16_products(), bf16, "the pool's products");
            // a step of one micro-batch, or of two on two lanes (train/lanes.rs)
            let mut step = |i: u64, two: bool| {
                let (accum, l) = if two { (2, lanes.as_mut()) } else { (1, None) };
                let a = LaneA { ws: &mut ws, grads: &mut grads, x: &mut ax, y: &mut ay };
                let loss = accumulate(
                    &model,
                    &params,
                    a,
                    l,
                    accum,
                    (b, t),
                    &mut |_, bx, by| {
                        bx.copy_from_slice(&x);
                        by.copy_from_slice(&y);
                    },
                    &|micro| i << 8 | micro as u64,
                );
                let (_, f) = clip_grad_norm(&grads, tr.grad_clip);
                opt.update(&mut params, &grads, f, &mut m, &mut v, 1e-4, i);
                loss
            };
            for i in 0..3 {
                step(2 * i, false);
                step(2 * i + 1, true);
            }
            COUNT.store(0, Relaxed);
            BYTES.store(0, Relaxed);
            ARMED.store(true, Relaxed);
            let loss = step(6, false) + step(7, true);
            ARMED.store(false, Relaxed);
            (COUNT.load(Relaxed), BYTES.load(Relaxed), loss)
        });
        assert!(loss.is_finite(), "{name}: loss {loss}");
        let prec = if bf16 { "bf16" } else { "fp32" };
        report.push(format!("{name} ({prec}): {allocs} allocations ({bytes} bytes) in two steps"));
        total += allocs;
    }
    assert_eq!(total, 0, "steps allocate (ALLOC_TRACE=1 shows where):\n{}", report.join("\n"));
}
