//! What the event loop does besides input and drawing: carries out the App's
//! actions (start the trainer, send it commands, sample from a checkpoint,
//! rescan the runs) and brings in what arrived since (trainer events, sampler
//! output, measured GEMM peaks, conv taps, other threads' panics).

use super::app::{Action, App, Level};
use super::cpu::CpuMeter;
use super::sampler::{conv_taps, CheckpointSampler};
use super::terminal::take_thread_panics;
use crate::engine::{EngineHandle, Event};
use crate::precision::Precision;
use crate::train::Cadence;
use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};
use ndarray::Array2;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long after training starts the dashboard gets its first validation
/// point, sample and heatmap: 60 s, or `FLASHLM_FIRST_VIEW_SECS`.
pub fn first_view_delay() -> Duration {
    std::env::var("FLASHLM_FIRST_VIEW_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(60), Duration::from_secs_f64)
}

/// How often a watched run's metrics.jsonl is read.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// Results of background threads for the App.
enum Background {
    /// the GEMM peak, in the precision it was measured in, with its date
    Peak(f64, Precision, String),
    ConvTaps(PathBuf, u64, Vec<Array2<f32>>),
}

/// The side of the event loop that is not the App: the trainer, the
/// checkpoint sampler, background threads and their channels.
pub(super) struct Runtime {
    engine: Option<EngineHandle>,
    pub sampler: CheckpointSampler,
    gen_tx: Sender<Event>,
    gen_rx: Receiver<Event>,
    bg_tx: Sender<Background>,
    bg_rx: Receiver<Background>,
    conv_loading: Arc<AtomicBool>,
    pub cpu: CpuMeter,
    cpu_started: bool,
    /// The watched run's record, and when it was last read.
    follow: Option<(crate::follow::Follow, Instant)>,
}

impl Runtime {
    /// `threads`: for checkpoint sampling (the trainer gets its own from its configuration).
    pub fn new(threads: usize) -> Self {
        let (gen_tx, gen_rx) = unbounded();
        let (bg_tx, bg_rx) = unbounded();
        Runtime {
            engine: None,
            sampler: CheckpointSampler::new(threads),
            gen_tx,
            gen_rx,
            bg_tx,
            bg_rx,
            conv_loading: Arc::new(AtomicBool::new(false)),
            cpu: CpuMeter::new(),
            cpu_started: false,
            follow: None,
        }
    }

    /// Carries out what the App asked for.
    pub fn perform(&mut self, app: &mut App, action: Action) {
        match action {
            Action::None | Action::Quit => {}
            Action::Start(cfg) => {
                if let Some(old) = self.engine.take() {
                    // a finished run's thread: it has ended or is about to
                    let _ = old.commands.send(crate::engine::Command::Stop { save: true });
                }
                let mut cfg = *cfg;
                cfg.progress = false;
                // someone watches: evaluate and sample on the clock
                cfg.cadence = Cadence::Clock { first_view: first_view_delay() };
                // `auto` becomes fp32 or bf16 here, before anything records it
                let asked = cfg.precision;
                let (prec, line) = crate::auto_precision::for_run(asked, cfg.threads, cfg.resume.as_deref());
                cfg.precision = prec;
                app.run_precision = prec;
                app.run_precision_auto = asked == Precision::Auto;
                if let Some(line) = line {
                    app.push_log(Level::Info, line);
                }
                self.engine = Some(crate::train::start(cfg));
                if !self.cpu_started {
                    self.cpu.begin();
                    self.cpu_started = true;
                }
            }
            Action::Engine(cmd) => {
                let sent = self.engine.as_ref().map(|e| e.commands.send(cmd).is_ok()).unwrap_or(false);
                if !sent {
                    app.push_log(Level::Warn, "the trainer is not running; command ignored");
                }
            }
            Action::SampleFrom { source, id, prompt, params } => self.sampler.start(source, id, prompt, params, self.gen_tx.clone()),
            Action::Follow(dir) => match crate::follow::Follow::open(&dir) {
                Ok(f) => {
                    self.follow = Some((f, Instant::now() - FOLLOW_EVERY));
                    self.pump_follow(app);
                }
                Err(e) => app.push_log(Level::Error, e.to_string()),
            },
            Action::ScanRuns => {
                let runs = crate::runs::scan(&app.opts.runs_root);
                app.set_runs(runs);
            }
        }
    }

    /// Reads what the watched run appended since the last look (at most every [`FOLLOW_EVERY`]).
    pub fn pump_follow(&mut self, app: &mut App) {
        let Some((follow, last)) = self.follow.as_mut() else {
            return;
        };
        if last.elapsed() < FOLLOW_EVERY {
            return;
        }
        *last = Instant::now();
        match follow.poll() {
            Ok(events) if events.is_empty() => {}
            Ok(events) => app.on_watched(events),
            Err(e) => {
                app.push_log(Level::Error, format!("{e}; no longer following"));
                self.follow = None;
            }
        }
    }

    /// Drains the trainer's channel (bounded per call so input stays responsive).
    pub fn pump_engine(&mut self, app: &mut App) {
        let Some(engine) = self.engine.as_ref() else {
            return;
        };
        let mut finished = false;
        for _ in 0..20_000 {
            match engine.events.try_recv() {
                Ok(ev) => {
                    match &ev {
                        Event::MemoryUpdated { .. } => {
                            if let Some(m) = engine.memory.take() {
                                app.on_memory(m);
                            }
                        }
                        Event::Started { run_dir, resumed_from: Some(_), .. } => {
                            if let Some(rec) = crate::runs::read_run(run_dir) {
                                app.preload(&rec);
                            }
                        }
                        Event::CheckpointSaved { path, .. } if app.run.as_ref().is_some_and(|r| !r.has_memory && r.has_conv) => {
                            self.load_conv_taps(path)
                        }
                        _ => {}
                    }
                    finished |= matches!(ev, Event::Finished(_));
                    app.on_event(ev);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    app.on_engine_gone();
                    break;
                }
            }
        }
        if finished {
            // the runs table and the picker's resume targets changed
            self.perform(app, Action::ScanRuns);
        }
    }

    /// Reads a new checkpoint's conv taps on a thread, unless a read is under way.
    fn load_conv_taps(&self, path: &Path) {
        if self.conv_loading.swap(true, Ordering::SeqCst) {
            return;
        }
        let (path, tx, flag) = (path.to_path_buf(), self.bg_tx.clone(), self.conv_loading.clone());
        let _ = std::thread::Builder::new().name("conv-taps".into()).spawn(move || {
            if let Ok((step, layers)) = conv_taps(&path) {
                let _ = tx.send(Background::ConvTaps(path, step, layers));
            }
            flag.store(false, Ordering::SeqCst);
        });
    }

    /// Sampler output, background results and other threads' panics.
    pub fn pump_background(&mut self, app: &mut App) {
        while let Ok(ev) = self.gen_rx.try_recv() {
            app.on_event(ev);
        }
        while let Ok(b) = self.bg_rx.try_recv() {
            match b {
                Background::Peak(p, prec, date) => {
                    match prec {
                        Precision::Bf16 => (app.peak_bf16, app.peak_dates.1) = (Some(p), Some(date.clone())),
                        _ => (app.peak_fp32, app.peak_dates.0) = (Some(p), Some(date.clone())),
                    }
                    let file = crate::peaks::path();
                    app.push_log(
                        Level::Info,
                        format!(
                            "{} GEMM peak {p:.1} GFLOP/s (measured {date}, kept in {}; delete it to measure again); MFU is against it",
                            prec.label(),
                            file.display()
                        ),
                    );
                }
                Background::ConvTaps(path, step, layers) => app.on_conv_taps(path, step, layers),
            }
        }
        for p in take_thread_panics() {
            app.push_log(Level::Error, p);
        }
    }

    /// The GEMM peaks for MFU (and for what `auto` picks): this machine's
    /// from the cache (crate::peaks), else measured once each on their own
    /// pool (~0.3 s) and cached: in the background while the picker waits
    /// for the user (fp32's, then bf16's where the CPU has it), but only the
    /// run's own (both for `auto`), before the trainer starts, when `first`
    /// starts one at once, so neither slows the other.
    pub fn measure_peaks(&self, threads: usize, first: &Action) {
        let tx = self.bg_tx.clone();
        let measure = move |prec: Precision| {
            if let Some((p, _)) = crate::peaks::load_or_measure(threads, prec) {
                let _ = tx.send(Background::Peak(p.gflops, prec, p.date));
            }
        };
        let bf16 = crate::kernels::matmul::bf16_supported();
        match first {
            Action::Start(c) if c.precision == Precision::Auto => {
                // the same figures `auto` decides by (resolved once per process)
                let choice = crate::auto_precision::resolve(threads);
                for (p, prec) in [(choice.fp32, Precision::Fp32), (choice.bf16, Precision::Bf16)] {
                    match p {
                        Some(p) => {
                            let _ = self.bg_tx.send(Background::Peak(p.gflops, prec, p.date));
                        }
                        None if prec == Precision::Fp32 => measure(prec),
                        None => {}
                    }
                }
            }
            Action::Start(c) => measure(c.precision),
            _ => {
                let _ = std::thread::Builder::new().name("gemm-peaks".into()).spawn(move || {
                    measure(Precision::Fp32);
                    if bf16 {
                        measure(Precision::Bf16);
                    }
                });
            }
        }
    }

    /// The UI thread's CPU use since training started, for the tab bar.
    pub fn update_cpu(&mut self, app: &mut App, now: Instant) {
        if self.cpu_started {
            let c = self.cpu.update(now);
            if c != app.ui_cpu {
                app.ui_cpu = c;
            }
        }
    }

    /// The trainer ends on its own once it has sent Finished: gives it a moment to exit.
    pub fn wait_for_trainer(&mut self) {
        if let Some(mut e) = self.engine.take() {
            if let Some(t) = e.thread.take() {
                let deadline = Instant::now() + Duration::from_secs(2);
                while !t.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if t.is_finished() {
                    let _ = t.join();
                }
            }
        }
    }
}
