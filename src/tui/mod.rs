//! The terminal UI: the event loop joining crossterm input, the trainer's
//! events and background work. State and its updates live in [`app`]; drawing
//! in [`ui`]; the terminal's set-up and restore in `terminal`; the trainer,
//! samplers and background threads behind the loop in `runtime` and `sampler`.
//!
//! The loop wakes on input or every 100 ms, drains the trainer's channel, and
//! redraws at most ~10 times a second and only when something changed, so the
//! UI thread stays a small fraction of a core while training runs.

pub mod app;
mod cpu;
mod runtime;
mod sampler;
mod terminal;
pub mod ui;

pub use cpu::thread_cpu_ns;
pub use sampler::{conv_taps, CheckpointSampler};

use anyhow::{Context, Result};
use app::{Action, App, AppOptions};
use crossbeam_channel::{unbounded, Receiver};
use crossterm::event::{self as cevent, Event as CEvent};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use runtime::Runtime;
use std::io::Stdout;
use std::time::{Duration, Instant};
use terminal::TerminalGuard;

/// The loop redraws at most this often, and only when something changed.
const FRAME: Duration = Duration::from_millis(100);

pub use crate::launch::{Launch, Options, Outcome};

/// Opens the TUI and runs it until the user leaves.
pub fn run(opts: Options) -> Result<Outcome> {
    let threads = opts.threads.max(1);
    let rt = Runtime::new(threads);
    let (app, first) = open(opts, threads, &rt);
    run_in_terminal(app, first, rt, threads)
}

/// The App as the launch asks for it, and its first action.
fn open(opts: Options, threads: usize, rt: &Runtime) -> (App, Action) {
    let presets = crate::preset::discover(opts.presets_dir.as_deref());
    let app_opts = || AppOptions { runs_root: opts.runs_root.clone(), threads, tinystories: app::find_tinystories() };
    match opts.launch {
        Launch::Picker => (App::new(presets, app_opts()), Action::None),
        Launch::Train(cfg) => {
            let mut app = App::new(presets, app_opts());
            let a = app.start_configured(*cfg);
            (app, a)
        }
        Launch::Watch(dir) => {
            let mut app = App::new(presets, app_opts());
            app.watch(&dir, crate::follow::run_preset(&dir).as_ref());
            (app, Action::Follow(dir))
        }
        Launch::Sample { source, loaded, prompt, params } => {
            if let Some(m) = loaded {
                rt.sampler.preload(&source, *m);
            }
            let label = source.label();
            (App::sample_only(source, label, &prompt, params), Action::None)
        }
    }
}

/// Takes the terminal, runs the loop, gives the terminal back.
fn run_in_terminal(mut app: App, first: Action, mut rt: Runtime, threads: usize) -> Result<Outcome> {
    if !app.sample_only {
        rt.measure_peaks(threads, &first);
        rt.perform(&mut app, Action::ScanRuns);
    }

    // SIGINT (`kill -INT`; in raw mode Ctrl-C arrives as a key instead), SIGTERM
    // and SIGHUP (the terminal went away) stop the run as Ctrl-C does
    let (sig_tx, signals) = unbounded();
    let mut hooks =
        signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP]).context("installing signal handlers")?;
    let hooks_handle = hooks.handle();
    std::thread::spawn(move || {
        for sig in hooks.forever() {
            if sig_tx.send(sig).is_err() {
                return;
            }
        }
    });

    let guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout())).context("cannot open the terminal")?;
    terminal.clear().context("cannot clear the terminal")?;
    rt.perform(&mut app, first);
    let result = event_loop(&mut terminal, &mut app, &mut rt, &signals);
    drop(terminal);
    drop(guard);

    rt.wait_for_trainer();
    hooks_handle.close();
    result?;
    Ok(outcome(&app, rt.cpu.percent))
}

/// Until the App wants to quit: input, the trainer's events, background
/// results and timers, then a redraw if something changed (at most every [`FRAME`]).
/// After SIGHUP the terminal is gone: the loop neither reads nor draws, and
/// waits for the trainer to save.
fn event_loop(terminal: &mut Terminal<CrosstermBackend<Stdout>>, app: &mut App, rt: &mut Runtime, signals: &Receiver<i32>) -> Result<()> {
    let mut last_draw = Instant::now() - FRAME;
    let mut hung_up = false;
    loop {
        let now = Instant::now();
        // a running sample is timed by when its last token arrives: wake more often then
        let idle = if app.sampling.running { Duration::from_millis(15) } else { FRAME };
        let wait = if app.dirty { (last_draw + FRAME).saturating_duration_since(now).min(idle) } else { idle };
        if hung_up {
            std::thread::sleep(FRAME);
        } else if cevent::poll(wait).context("reading terminal input")? {
            read_input(app, rt)?;
        }
        while let Ok(sig) = signals.try_recv() {
            hung_up |= sig == libc::SIGHUP;
            let a = app.on_signal(sig);
            rt.perform(app, a);
        }
        rt.pump_engine(app);
        rt.pump_follow(app);
        rt.pump_background(app);
        let now = Instant::now();
        let a = app.on_tick(now);
        rt.perform(app, a);
        rt.update_cpu(app, now);
        if app.should_quit {
            return Ok(());
        }
        if app.dirty && now >= last_draw + FRAME && !hung_up {
            terminal.draw(|f| ui::draw(f, app)).context("drawing the terminal")?;
            app.dirty = false;
            last_draw = now;
        }
    }
}

/// Every input event that is waiting: keys, pastes, resizes.
fn read_input(app: &mut App, rt: &mut Runtime) -> Result<()> {
    loop {
        match cevent::read().context("reading terminal input")? {
            CEvent::Key(k) => {
                let a = app.on_key(k);
                rt.perform(app, a);
            }
            CEvent::Paste(s) => app.on_paste(&s),
            CEvent::Resize(_, _) => app.dirty = true,
            _ => {}
        }
        if app.should_quit || !cevent::poll(Duration::ZERO).context("reading terminal input")? {
            return Ok(());
        }
    }
}

/// What to print once the terminal is back.
fn outcome(app: &App, ui_cpu_percent: Option<f64>) -> Outcome {
    let mut out = Outcome { note: app.exit_note.clone(), ui_cpu_percent, signal: app.exit_signal, ..Default::default() };
    let four = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "–".into());
    if let Some(run) = &app.run {
        out.error = run.error.clone();
        out.summary = Some(match (&run.summary, &run.run_dir) {
            (Some(s), _) => format!(
                "run {}: {} steps, {} tokens in {}; final val loss {} (best {}); saved: {}",
                s.run_dir.display(),
                s.steps,
                crate::preset::thousands(s.tokens),
                crate::runs::fmt_duration(s.elapsed_secs),
                four(s.final_val_loss),
                four(s.best_val_loss),
                run.saved_label()
            ),
            (None, Some(d)) => format!("run {}: left at step {}", d.display(), run.last.as_ref().map_or(0, |m| m.step)),
            (None, None) => "no run was started".into(),
        });
    }
    out
}
