//! The terminal UI: terminal set-up and restore (drop guard + panic hook), and
//! the event loop joining crossterm input, the trainer's events and the
//! background samplers. State and its updates live in [`app`]; drawing in [`ui`].
//!
//! The loop wakes on input or every 100 ms, drains the trainer's channel, and
//! redraws at most ~10 times a second and only when something changed, so the
//! UI thread stays a small fraction of a core while training runs.

pub mod app;
pub mod ui;

use crate::cli::{load_model, ModelSource};
use crate::data::tokenizer::EOS;
use crate::engine::{EngineHandle, Event};
use crate::generate::{generate, SampleParams};
use crate::preset::PresetEntry;
use crate::train::RunConfig;
use anyhow::{Context, Result};
use app::{Action, App, AppOptions, Level};
use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};
use crossterm::event::{self as cevent, DisableBracketedPaste, EnableBracketedPaste, Event as CEvent};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ndarray::Array2;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How the TUI opens.
pub enum Launch {
    /// The preset picker (`flashlm-tui` in a terminal).
    Picker,
    /// The dashboard of a run started from the command line (`train` in a terminal).
    Train(Box<RunConfig>),
    /// Only the sampling pane (`sample --interactive`), with the model already loaded.
    Sample { source: ModelSource, loaded: Option<Box<crate::cli::Loaded>>, prompt: String, params: SampleParams },
}

pub struct Options {
    pub launch: Launch,
    pub presets_dir: Option<PathBuf>,
    pub runs_root: PathBuf,
    pub threads: usize,
}

/// What the caller prints once the terminal is back.
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Option<String>,
    pub error: Option<String>,
    pub note: Option<String>,
    /// Mean CPU use of the UI thread while training ran (% of one core).
    pub ui_cpu_percent: Option<f64>,
}

// ------------------------------------------------------------------ terminal

static TUI_ACTIVE: AtomicBool = AtomicBool::new(false);
static UI_THREAD: OnceLock<Mutex<Option<std::thread::ThreadId>>> = OnceLock::new();
/// Panics of other threads while the TUI owns the terminal: shown in the log, not printed.
static THREAD_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Leaves raw mode and the alternate screen, once: a second "leave" would send
/// the cursor back to where the TUI started, over a panic message printed since.
fn restore_terminal() {
    if TUI_ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = crossterm::execute!(std::io::stdout(), DisableBracketedPaste, LeaveAlternateScreen, crossterm::cursor::Show);
    }
}

/// Installed once: on the UI thread it restores the terminal before the
/// default report; on other threads (while the TUI is up) it keeps the message
/// for the log pane instead of writing over the screen.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !TUI_ACTIVE.load(Ordering::SeqCst) {
                return prev(info);
            }
            let me = std::thread::current().id();
            let ui = UI_THREAD.get().and_then(|m| m.lock().ok().and_then(|g| *g));
            if ui == Some(me) {
                restore_terminal();
                prev(info);
            } else {
                let name = std::thread::current().name().unwrap_or("unnamed").to_string();
                // the trainer's own panic comes back as Event::Error; others would vanish silently
                if name != "trainer" {
                    let msg = info
                        .payload()
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| info.payload().downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    let loc = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                    if let Ok(mut v) = THREAD_PANICS.lock() {
                        v.push(format!("thread '{name}' panicked{loc}: {msg}"));
                    }
                }
            }
        }));
    });
}

/// Raw mode + alternate screen for as long as it lives; restores on drop
/// (normal return, `?` errors and unwinding panics alike).
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<Self> {
        install_panic_hook();
        if let Ok(mut g) = UI_THREAD.get_or_init(|| Mutex::new(None)).lock() {
            *g = Some(std::thread::current().id());
        }
        enable_raw_mode().context("cannot switch the terminal to raw mode")?;
        TUI_ACTIVE.store(true, Ordering::SeqCst);
        let guard = TerminalGuard;
        crossterm::execute!(std::io::stdout(), EnterAlternateScreen, EnableBracketedPaste, crossterm::cursor::Hide)
            .context("cannot enter the alternate screen")?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

// ------------------------------------------------------------- CPU metering

/// CPU time of the calling thread (ns), from /proc/thread-self/schedstat (or stat).
pub fn thread_cpu_ns() -> Option<u64> {
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat") {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()) {
            return Some(ns);
        }
    }
    // utime + stime in clock ticks (100 Hz on Linux), fields 14 and 15
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

/// Tracks the UI thread's CPU use since training started.
struct CpuMeter {
    start: Option<(Instant, u64)>,
    last_read: Instant,
    percent: Option<f64>,
}

impl CpuMeter {
    fn new() -> Self {
        CpuMeter { start: None, last_read: Instant::now(), percent: None }
    }
    fn begin(&mut self) {
        if let Some(ns) = thread_cpu_ns() {
            self.start = Some((Instant::now(), ns));
        }
    }
    /// Re-reads about once a second; returns the mean % of a core since `begin`.
    fn update(&mut self, now: Instant) -> Option<f64> {
        if now.duration_since(self.last_read) < Duration::from_secs(1) {
            return self.percent;
        }
        self.last_read = now;
        let (t0, c0) = self.start?;
        let wall = now.duration_since(t0).as_secs_f64();
        if wall >= 1.0 {
            let cpu = thread_cpu_ns()?.saturating_sub(c0) as f64 / 1e9;
            self.percent = Some(100.0 * cpu / wall);
        }
        self.percent
    }
}

// -------------------------------------------------------- background work

/// The last model loaded for sampling, keyed by its source.
type CachedModel = (String, Arc<crate::cli::Loaded>);

/// Generates from checkpoints (when nothing is training) on background
/// threads; a newer request cancels an older one. The loaded model is kept.
pub struct CheckpointSampler {
    current: Arc<AtomicU64>,
    cache: Arc<Mutex<Option<CachedModel>>>,
    pool: Option<Arc<rayon::ThreadPool>>,
}

fn source_key(s: &ModelSource) -> String {
    format!("{:?}|{:?}|{:?}|{:?}", s.checkpoint, s.weights, s.preset, s.tokenizer)
}

impl CheckpointSampler {
    /// Generation runs inside a pool of `threads` (its large products use it).
    pub fn new(threads: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().ok().map(Arc::new);
        CheckpointSampler { current: Arc::new(AtomicU64::new(0)), cache: Arc::new(Mutex::new(None)), pool }
    }

    /// A model the caller already loaded (so nothing loads, or prints, later).
    pub fn preload(&self, source: &ModelSource, m: crate::cli::Loaded) {
        if let Ok(mut g) = self.cache.lock() {
            *g = Some((source_key(source), Arc::new(m)));
        }
    }

    pub fn start(&self, source: ModelSource, id: u64, prompt: String, params: SampleParams, tx: Sender<Event>) {
        self.current.store(id, Ordering::SeqCst);
        let current = self.current.clone();
        let cache = self.cache.clone();
        let pool = self.pool.clone();
        let tx_err = tx.clone();
        let spawned = std::thread::Builder::new().name("sampler".into()).spawn(move || {
            let key = source_key(&source);
            let cached = cache.lock().ok().and_then(|g| g.as_ref().filter(|(k, _)| *k == key).map(|(_, m)| m.clone()));
            let m = match cached {
                Some(m) => m,
                None => match load_model(&source) {
                    Ok(m) => {
                        let m = Arc::new(m);
                        if let Ok(mut g) = cache.lock() {
                            *g = Some((key, m.clone()));
                        }
                        m
                    }
                    Err(e) => {
                        let _ = tx.send(Event::Warning(format!("cannot load the model to sample from: {e:#}")));
                        let _ = tx.send(Event::Generated { id, text: format!("[cannot load the model: {e:#}]"), done: true });
                        return;
                    }
                },
            };
            let ids = match m.tokenizer.encode_prompt(&prompt) {
                Ok(ids) => ids,
                Err(e) => {
                    let _ = tx.send(Event::Generated { id, text: format!("[{e}]"), done: true });
                    return;
                }
            };
            let banned = crate::cli::banned_ids(&m.tokenizer, m.model.vocab());
            let mut out: Vec<u32> = Vec::new();
            let mut run = || {
                generate(&*m.model, &m.params, &ids, &banned, EOS, &params, |t| {
                    out.push(t);
                    current.load(Ordering::SeqCst) == id
                        && tx.send(Event::Generated { id, text: m.tokenizer.decode(&out), done: false }).is_ok()
                })
            };
            match &pool {
                Some(p) => p.install(run),
                None => run(),
            };
            let _ = tx.send(Event::Generated { id, text: m.tokenizer.decode(&out), done: true });
        });
        if let Err(e) = spawned {
            let _ = tx_err.send(Event::Generated { id, text: format!("[cannot start a sampling thread: {e}]"), done: true });
        }
    }
}

/// Each layer's depthwise conv taps (k × d_model) from a checkpoint: the
/// nearest picture of "what a layer looks at" for presets without memory.
pub fn conv_taps(checkpoint: &Path) -> Result<(u64, Vec<Array2<f32>>)> {
    let (ck, _) = crate::train::checkpoint::load(checkpoint, |text| {
        let p = crate::preset::Preset::parse(text, "preset.ron").map_err(|e| e.to_string())?;
        Ok(p.build_model())
    })?;
    let preset = crate::preset::Preset::parse(&ck.preset_text, "preset.ron")?;
    let model = preset.build_model();
    let layers = model
        .conv_taps(&ck.params)
        .into_iter()
        .map(|(d, k, conv)| {
            // stored [channel × tap]; shown taps down, channels across
            Array2::from_shape_fn((k, d), |(tap, ch)| conv.get(ch * k + tap).copied().unwrap_or(0.0))
        })
        .collect();
    Ok((ck.state.step, layers))
}

enum Background {
    /// the GEMM peak, in the precision it was measured in
    Peak(f64, crate::precision::Precision),
    ConvTaps(PathBuf, u64, Vec<Array2<f32>>),
}

// ------------------------------------------------------------------- loop

struct Runtime {
    engine: Option<EngineHandle>,
    sampler: CheckpointSampler,
    gen_tx: Sender<Event>,
    gen_rx: Receiver<Event>,
    bg_tx: Sender<Background>,
    bg_rx: Receiver<Background>,
    conv_loading: Arc<AtomicBool>,
    cpu: CpuMeter,
    cpu_started: bool,
}

impl Runtime {
    fn perform(&mut self, app: &mut App, action: Action) {
        match action {
            Action::None | Action::Quit => {}
            Action::Start(cfg) => {
                if let Some(old) = self.engine.take() {
                    // a finished run's thread: it has ended or is about to
                    let _ = old.commands.send(crate::engine::Command::Stop { save: true });
                }
                let mut cfg = *cfg;
                cfg.progress = false;
                app.run_precision = cfg.precision;
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
            Action::ScanRuns => {
                let runs = crate::runs::scan(&app.opts.runs_root);
                app.set_runs(runs);
            }
        }
    }

    /// Drains the trainer's channel (bounded per call so input stays responsive).
    fn pump_engine(&mut self, app: &mut App) {
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
                        Event::CheckpointSaved { path, .. } => {
                            let no_memory = app.run.as_ref().is_some_and(|r| !r.has_memory && r.has_conv);
                            if no_memory && !self.conv_loading.swap(true, Ordering::SeqCst) {
                                let (path, tx, flag) = (path.clone(), self.bg_tx.clone(), self.conv_loading.clone());
                                let _ = std::thread::Builder::new().name("conv-taps".into()).spawn(move || {
                                    if let Ok((step, layers)) = conv_taps(&path) {
                                        let _ = tx.send(Background::ConvTaps(path, step, layers));
                                    }
                                    flag.store(false, Ordering::SeqCst);
                                });
                            }
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

    fn pump_background(&mut self, app: &mut App) {
        while let Ok(ev) = self.gen_rx.try_recv() {
            app.on_event(ev);
        }
        while let Ok(b) = self.bg_rx.try_recv() {
            match b {
                Background::Peak(p, prec) => {
                    match prec {
                        crate::precision::Precision::Bf16 => app.peak_bf16 = Some(p),
                        _ => app.peak_fp32 = Some(p),
                    }
                    app.push_log(
                        Level::Info,
                        format!("{} GEMM peak measured: {p:.1} GFLOP/s; MFU is against it (low if other work was running)", prec.label()),
                    );
                }
                Background::ConvTaps(path, step, layers) => app.on_conv_taps(path, step, layers),
            }
        }
        let panics: Vec<String> = THREAD_PANICS.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        for p in panics {
            app.push_log(Level::Error, p);
        }
    }
}

/// Opens the TUI and runs it until the user leaves.
pub fn run(opts: Options) -> Result<Outcome> {
    let presets: Vec<PresetEntry> = crate::preset::discover(opts.presets_dir.as_deref());
    let threads = opts.threads.max(1);
    let (gen_tx, gen_rx) = unbounded();
    let (bg_tx, bg_rx) = unbounded();
    let mut rt = Runtime {
        engine: None,
        sampler: CheckpointSampler::new(threads),
        gen_tx,
        gen_rx,
        bg_tx,
        bg_rx,
        conv_loading: Arc::new(AtomicBool::new(false)),
        cpu: CpuMeter::new(),
        cpu_started: false,
    };
    let (mut app, first) = match opts.launch {
        Launch::Picker => {
            let app = App::new(presets, AppOptions { runs_root: opts.runs_root.clone(), threads, tinystories: app::find_tinystories() });
            (app, Action::None)
        }
        Launch::Train(cfg) => {
            let mut app =
                App::new(presets, AppOptions { runs_root: opts.runs_root.clone(), threads, tinystories: app::find_tinystories() });
            let a = app.start_configured(*cfg);
            (app, a)
        }
        Launch::Sample { source, loaded, prompt, params } => {
            if let Some(m) = loaded {
                rt.sampler.preload(&source, *m);
            }
            let label = match (&source.checkpoint, &source.weights) {
                (Some(c), _) => format!("checkpoint {}", c.display()),
                (None, Some(w)) => format!("weights {}", w.display()),
                _ => "model".into(),
            };
            (App::sample_only(source, label, &prompt, params), Action::None)
        }
    };
    if !app.sample_only {
        // the GEMM peaks for MFU, measured once each on their own pool (~0.3 s):
        // in the background while the picker waits for the user (fp32's, then
        // bf16's where the CPU has it, for runs `b` starts in bf16), but only the
        // run's own, before the trainer starts, when it starts at once, so
        // neither slows the other
        let tx = rt.bg_tx.clone();
        let measure = move |bf16: bool| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).start_handler(crate::kernels::matmul::bf16_start_handler(bf16));
            if let Ok(pool) = pool.build() {
                let p = pool.install(|| crate::bench::sgemm_peak(4096));
                let prec = if bf16 { crate::precision::Precision::Bf16 } else { crate::precision::Precision::Fp32 };
                let _ = tx.send(Background::Peak(p, prec));
            }
        };
        match &first {
            Action::Start(c) => measure(c.precision == crate::precision::Precision::Bf16),
            _ => {
                let _ = std::thread::Builder::new().name("gemm-peaks".into()).spawn(move || {
                    measure(false);
                    if crate::kernels::matmul::bf16_supported() {
                        measure(true);
                    }
                });
            }
        }
        rt.perform(&mut app, Action::ScanRuns);
    }

    // Ctrl-C as a signal (e.g. `kill -INT`); in raw mode the key arrives as a key event instead
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }

    let guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout())).context("cannot open the terminal")?;
    terminal.clear().context("cannot clear the terminal")?;
    rt.perform(&mut app, first);

    let frame = Duration::from_millis(100);
    let mut last_draw = Instant::now() - frame;
    let result: Result<()> = (|| loop {
        let now = Instant::now();
        // a running sample is timed by when its last token arrives: wake more often then
        let idle = if app.sampling.running { Duration::from_millis(15) } else { frame };
        let wait = if app.dirty { (last_draw + frame).saturating_duration_since(now).min(idle) } else { idle };
        if cevent::poll(wait).context("reading terminal input")? {
            loop {
                match cevent::read().context("reading terminal input")? {
                    CEvent::Key(k) => {
                        let a = app.on_key(k);
                        rt.perform(&mut app, a);
                    }
                    CEvent::Paste(s) => app.on_paste(&s),
                    CEvent::Resize(_, _) => app.dirty = true,
                    _ => {}
                }
                if app.should_quit || !cevent::poll(Duration::ZERO).context("reading terminal input")? {
                    break;
                }
            }
        }
        if interrupted.swap(false, Ordering::SeqCst) {
            let a = app.on_key(cevent::KeyEvent::new(cevent::KeyCode::Char('c'), cevent::KeyModifiers::CONTROL));
            rt.perform(&mut app, a);
        }
        rt.pump_engine(&mut app);
        rt.pump_background(&mut app);
        let now = Instant::now();
        let a = app.on_tick(now);
        rt.perform(&mut app, a);
        if rt.cpu_started {
            let c = rt.cpu.update(now);
            if c != app.ui_cpu {
                app.ui_cpu = c;
            }
        }
        if app.should_quit {
            return Ok(());
        }
        if app.dirty && now >= last_draw + frame {
            terminal.draw(|f| ui::draw(f, &app)).context("drawing the terminal")?;
            app.dirty = false;
            last_draw = now;
        }
    })();
    drop(terminal);
    drop(guard);

    // the trainer ends on its own once it has sent Finished; give it a moment to exit
    if let Some(mut e) = rt.engine.take() {
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
    result?;
    let mut out = Outcome { note: app.exit_note.clone(), ui_cpu_percent: rt.cpu.percent, ..Default::default() };
    if let Some(run) = &app.run {
        out.error = run.error.clone();
        out.summary = Some(match (&run.summary, &run.run_dir) {
            (Some(s), _) => format!(
                "run {}: {} steps, {} tokens in {}; best val loss {}; saved: {}",
                s.run_dir.display(),
                s.steps,
                crate::preset::thousands(s.tokens),
                crate::runs::fmt_duration(s.elapsed_secs),
                s.best_val_loss.map(|v| format!("{v:.4}")).unwrap_or_else(|| "–".into()),
                run.last_ckpt.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "nothing".into())
            ),
            (None, Some(d)) => format!("run {}: left at step {}", d.display(), run.last.as_ref().map_or(0, |m| m.step)),
            (None, None) => "no run was started".into(),
        });
    }
    Ok(out)
}
