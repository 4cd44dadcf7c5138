//! All state of the terminal UI and the pure functions that change it:
//! [`App::on_event`] (the trainer's events), [`App::on_key`] (a key press, which
//! returns the [`Action`] the event loop carries out) and [`App::on_tick`]
//! (timers). Nothing here touches the terminal, and only read-only file-system
//! look-ups happen (which checkpoint to resume, does a typed path exist).

mod checkpoint;
mod corpus;
mod dashboard;
mod editor;
mod keymap;
mod log;
mod picker;
mod run;
mod runs;
mod sampling;

pub use checkpoint::{checkpoint_preset, model_source, spent_budget_extension};
pub use corpus::{find_tinystories, Corpus, CorpusChoice, CorpusDialog, CORPUS_OPTIONS};
pub use dashboard::{Dashboard, Pane, XAxis};
pub use editor::LineEditor;
pub use keymap::KEYMAP;
pub use log::{Level, Log, LogLine};
pub use picker::{NewRun, Picker, PresetRow};
pub use run::{HeatData, HeatKind, RunView, TrainPoint};
pub use runs::Runs;
pub use sampling::{Live, SampleFocus, Sampling, PARAM_NAMES};

use crate::cli::ModelSource;
use crate::engine::{Command, Event, MemorySnapshot};
use crate::generate::SampleParams;
use crate::preset::{Preset, PresetEntry};
use crate::runs::RunRecord;
use crate::train::RunConfig;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ndarray::Array2;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// After `q` `s`, a second stop (which skips the final evaluation) goes out this late.
pub const ESCALATE_AFTER: Duration = Duration::from_millis(2500);
/// Before the first step there is nothing to save: leave this soon after a stop.
pub const LEAVE_UNSTARTED_AFTER: Duration = Duration::from_millis(1000);
/// A trainer that has not stopped by then is left behind (with a message).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(20);
/// The smallest terminal the layout is designed for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Picker,
    Dashboard,
    Runs,
    Sampling,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    None,
    Help { scroll: u16 },
    Confirm,
    Ron { scroll: u16 },
    Corpus(CorpusDialog),
}

/// What the event loop must do after a key or a tick.
#[derive(Debug)]
pub enum Action {
    None,
    Quit,
    /// Start the trainer with this configuration.
    Start(Box<RunConfig>),
    /// Send a command to the running trainer.
    Engine(Command),
    /// Generate from a checkpoint (or imported weights) on a background thread.
    SampleFrom {
        source: ModelSource,
        id: u64,
        prompt: String,
        params: SampleParams,
    },
    /// Re-read the runs folder and call [`App::set_runs`].
    ScanRuns,
}

/// What a screen's key handler asks of the [`App`]: an [`Action`] for the
/// event loop, or a change beyond the screen, which the App makes.
#[derive(Debug)]
pub enum Effect {
    None,
    Act(Action),
    /// Say this on the status line.
    Status(String),
    ActWithStatus(Action, String),
    Open(Overlay),
    /// Train `preset` (its RON `text`), or resume it from the checkpoint `resume`.
    Train {
        preset: Box<Preset>,
        text: String,
        resume: Option<PathBuf>,
    },
    /// Resume a past run of the preset named `preset` from `checkpoint`.
    Resume {
        preset: String,
        checkpoint: PathBuf,
    },
    /// Open the sampling screen on this checkpoint.
    Sample(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Quitting {
    pub save: bool,
    pub since: Instant,
    pub escalated: bool,
}

/// Where the runs live, the threads to train with, what TinyStories copy exists.
#[derive(Clone, Debug)]
pub struct AppOptions {
    pub runs_root: PathBuf,
    pub threads: usize,
    /// (train.txt, valid.txt) if a TinyStories copy was found.
    pub tinystories: Option<(PathBuf, PathBuf)>,
}

pub struct App {
    pub screen: Screen,
    pub overlay: Overlay,
    /// `sample --interactive`: only the sampling pane, no training.
    pub sample_only: bool,
    pub opts: AppOptions,
    pub picker: Picker,
    pub run: Option<RunView>,
    pub dashboard: Dashboard,
    pub log: Log,
    pub sampling: Sampling,
    pub runs: Runs,
    pub quitting: Option<Quitting>,
    pub should_quit: bool,
    /// Printed after the terminal is restored.
    pub exit_note: Option<String>,
    pub status: Option<String>,
    /// Measured GEMM peaks (GFLOP/s) for MFU: fp32's, and bf16's where the CPU has it.
    pub peak_fp32: Option<f64>,
    pub peak_bf16: Option<f64>,
    /// Precision of the products of the run last started.
    pub run_precision: crate::precision::Precision,
    /// CPU use of the UI thread, in % of one core.
    pub ui_cpu: Option<f64>,
    pub dirty: bool,
}

impl App {
    pub fn new(presets: Vec<PresetEntry>, opts: AppOptions) -> Self {
        App {
            screen: Screen::Picker,
            overlay: Overlay::None,
            sample_only: false,
            picker: Picker::new(presets, &opts.runs_root),
            opts,
            run: None,
            dashboard: Dashboard::default(),
            log: Log::default(),
            sampling: Sampling::new("Once upon a time", SampleParams::default()),
            runs: Runs::default(),
            quitting: None,
            should_quit: false,
            exit_note: None,
            status: None,
            peak_fp32: None,
            peak_bf16: None,
            run_precision: Default::default(),
            ui_cpu: None,
            dirty: true,
        }
    }

    /// The sampling pane alone, generating from `source` (`sample --interactive`).
    pub fn sample_only(source: ModelSource, label: String, prompt: &str, params: SampleParams) -> Self {
        let mut app = App::new(Vec::new(), AppOptions { runs_root: PathBuf::from("checkpoints"), threads: 1, tinystories: None });
        app.sample_only = true;
        app.screen = Screen::Sampling;
        app.sampling = Sampling::new(prompt, params);
        app.sampling.use_source(source, label);
        app
    }

    /// Opens the dashboard on a run the command line asked for (`train` in a terminal).
    pub fn start_configured(&mut self, cfg: RunConfig) -> Action {
        let corpus = cfg.corpus.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| Corpus::BuiltIn.label());
        self.picker.select(&cfg.preset.name);
        let view = cfg.resume.as_deref().and_then(checkpoint_preset).unwrap_or_else(|| cfg.preset.clone());
        self.begin_run(&view, corpus);
        Action::Start(Box::new(cfg))
    }

    pub fn run_active(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.active())
    }

    /// The run the sampling screen samples from: one that trains and is not being stopped.
    pub fn live(&self) -> Option<Live> {
        let run = self.run.as_ref().filter(|r| r.active() && self.quitting.is_none())?;
        Some(Live { started: run.started, step: run.last.as_ref().map_or(0, |m| m.step) })
    }

    pub fn push_log(&mut self, level: Level, text: impl Into<String>) {
        self.log.push(level, text);
        self.dirty = true;
    }

    // ---------------------------------------------------------------- events

    /// One event from the trainer (or from a checkpoint sampler).
    pub fn on_event(&mut self, ev: Event) {
        self.dirty = true;
        if let Event::Generated { id, text, done } = ev {
            self.sampling.on_generated(id, text, done);
            return;
        }
        let Some(run) = self.run.as_mut() else {
            // events with no run: only messages are worth keeping
            match ev {
                Event::Warning(w) => self.push_log(Level::Warn, w),
                Event::Error(e) => self.push_log(Level::Error, e),
                _ => {}
            }
            return;
        };
        let finished = matches!(ev, Event::Finished(_));
        let log = run.apply(ev);
        if finished {
            if let Some(ck) = run.best_ckpt.clone().or(run.last_ckpt.clone()) {
                self.sampling.use_checkpoint(ck);
            }
            if self.quitting.is_some() {
                self.should_quit = true;
            }
        }
        for (level, text) in log {
            self.push_log(level, text);
        }
    }

    /// The trainer's channel closed (its thread ended).
    pub fn on_engine_gone(&mut self) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if !run.engine_alive {
            return;
        }
        run.engine_alive = false;
        self.dirty = true;
        if run.summary.is_none() {
            let msg = run.error.clone().map(|e| format!("the trainer stopped: {e}")).unwrap_or_else(|| "the trainer stopped".into());
            if run.error.is_none() {
                run.error = Some(msg.clone());
                self.push_log(Level::Error, msg);
            }
        }
        if self.quitting.is_some() {
            self.should_quit = true;
        }
    }

    /// New Hebbian memory matrices from the engine's slot.
    pub fn on_memory(&mut self, m: MemorySnapshot) {
        if let Some(run) = self.run.as_mut() {
            run.heat = Some(HeatData { kind: HeatKind::Memory, step: m.step, layers: m.layers });
            self.dirty = true;
        }
    }

    /// Conv taps read from a checkpoint (presets without memory).
    pub fn on_conv_taps(&mut self, checkpoint: PathBuf, step: u64, layers: Vec<Array2<f32>>) {
        if let Some(run) = self.run.as_mut() {
            if !run.has_memory {
                run.heat = Some(HeatData { kind: HeatKind::ConvTaps { checkpoint }, step, layers });
                self.dirty = true;
            }
        }
    }

    /// The history of a resumed run, read from its metrics.jsonl.
    pub fn preload(&mut self, rec: &RunRecord) {
        if let Some(run) = self.run.as_mut() {
            run.preload(rec);
            self.dirty = true;
        }
    }

    pub fn set_runs(&mut self, runs: Vec<RunRecord>) {
        self.runs.set(runs);
        self.picker.refresh_checkpoints(&self.opts.runs_root);
        self.dirty = true;
    }

    // ------------------------------------------------------------------ time

    /// Timers: the second stop after `q s`, leaving when there is nothing left to wait for.
    pub fn on_tick(&mut self, now: Instant) -> Action {
        let started = self.run.as_ref().is_some_and(|r| r.started);
        let Some(q) = self.quitting.as_mut() else {
            return Action::None;
        };
        let waited = now.saturating_duration_since(q.since);
        if !started && waited >= LEAVE_UNSTARTED_AFTER {
            self.should_quit = true;
            self.exit_note = Some("stopped before the first training step; nothing was saved".into());
            return Action::Quit;
        }
        if q.save && !q.escalated && waited >= ESCALATE_AFTER {
            q.escalated = true;
            self.push_log(Level::Warn, "still stopping: skipping the final evaluation to save sooner");
            return Action::Engine(Command::Stop { save: true });
        }
        if waited >= GIVE_UP_AFTER {
            self.should_quit = true;
            self.exit_note = Some(format!("the trainer did not stop within {} s; the last save may be missing", GIVE_UP_AFTER.as_secs()));
            return Action::Quit;
        }
        Action::None
    }

    // ------------------------------------------------------------------ keys

    /// Bracketed paste: text for whichever line editor has focus.
    pub fn on_paste(&mut self, text: &str) {
        self.dirty = true;
        if let Overlay::Corpus(dlg) = &mut self.overlay {
            dlg.paste(text);
        } else if self.overlay == Overlay::None && self.screen == Screen::Sampling {
            self.sampling.paste(text);
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        self.dirty = true;
        self.status = None;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
            return self.interrupt();
        }
        match &self.overlay {
            Overlay::None => {}
            Overlay::Confirm => return self.confirm_key(key),
            Overlay::Help { .. } | Overlay::Ron { .. } => return self.scroll_overlay_key(key),
            Overlay::Corpus(_) => return self.corpus_key(key),
        }
        if self.screen == Screen::Sampling && self.sampling.typing() {
            let e = self.sampling.prompt_key(key, self.live());
            return self.apply(e);
        }
        // keys that work on every screen
        match key.code {
            KeyCode::Char('?') => {
                self.overlay = Overlay::Help { scroll: 0 };
                return Action::None;
            }
            KeyCode::Char('q') => return self.request_quit(),
            KeyCode::Esc => return Action::None,
            KeyCode::Char(c @ '1'..='4') if !self.sample_only => return self.switch_screen(c),
            _ => {}
        }
        match self.screen {
            Screen::Picker => {
                let e = self.picker.on_key(key, self.run_active(), &self.opts.runs_root);
                self.apply(e)
            }
            Screen::Dashboard => {
                let e = self.dashboard.on_key(key, self.run.as_mut(), &mut self.log, self.quitting.is_some());
                self.apply(e)
            }
            Screen::Runs => {
                let e = self.runs.on_key(key, self.run_active());
                self.apply(e)
            }
            Screen::Sampling => {
                let e = self.sampling.on_key(key, self.live());
                self.apply(e)
            }
        }
    }

    /// Ctrl-C: stop and save; a second one skips the final evaluation; a third leaves at once.
    fn interrupt(&mut self) -> Action {
        if !self.run_active() {
            self.should_quit = true;
            return Action::Quit;
        }
        self.overlay = Overlay::None;
        match self.quitting.as_mut() {
            None => self.begin_quit(true),
            Some(q) if q.save && !q.escalated => {
                q.escalated = true;
                self.push_log(Level::Warn, "second Ctrl-C: skipping the final evaluation (a third one quits at once)");
                Action::Engine(Command::Stop { save: true })
            }
            Some(_) => {
                self.should_quit = true;
                self.exit_note = Some("quit while the trainer was still stopping; the last save may be missing".into());
                Action::Quit
            }
        }
    }

    fn begin_quit(&mut self, save: bool) -> Action {
        self.overlay = Overlay::None;
        self.quitting = Some(Quitting { save, since: Instant::now(), escalated: false });
        if save {
            self.push_log(Level::Info, "stopping: final evaluation, then saving last/");
        } else {
            self.push_log(Level::Warn, "stopping without saving");
        }
        Action::Engine(Command::Stop { save })
    }

    fn request_quit(&mut self) -> Action {
        if self.run_active() {
            if self.quitting.is_some() {
                self.status = Some("stopping… (Ctrl-C to hurry)".into());
            } else {
                self.overlay = Overlay::Confirm;
            }
            Action::None
        } else {
            self.should_quit = true;
            Action::Quit
        }
    }

    fn confirm_key(&mut self, key: KeyEvent) -> Action {
        match key.code {
            KeyCode::Char('s') | KeyCode::Char('S') => self.begin_quit(true),
            KeyCode::Char('d') | KeyCode::Char('D') => self.begin_quit(false),
            KeyCode::Char('c') | KeyCode::Char('C') | KeyCode::Esc => {
                self.overlay = Overlay::None;
                Action::None
            }
            _ => Action::None,
        }
    }

    fn scroll_overlay_key(&mut self, key: KeyEvent) -> Action {
        let close = matches!(
            (&self.overlay, key.code),
            (_, KeyCode::Esc | KeyCode::Char('q')) | (Overlay::Help { .. }, KeyCode::Char('?')) | (Overlay::Ron { .. }, KeyCode::Char('e'))
        );
        if close {
            self.overlay = Overlay::None;
            return Action::None;
        }
        if let Overlay::Help { scroll } | Overlay::Ron { scroll } = &mut self.overlay {
            match key.code {
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                KeyCode::PageDown => *scroll = scroll.saturating_add(10),
                KeyCode::Home => *scroll = 0,
                _ => {}
            }
        }
        Action::None
    }

    fn switch_screen(&mut self, c: char) -> Action {
        match c {
            '1' => self.screen = Screen::Picker,
            '2' => {
                if self.run.is_none() {
                    self.status = Some("no run yet: pick a preset and press Enter".into());
                } else {
                    self.screen = Screen::Dashboard;
                }
            }
            '3' => {
                self.screen = Screen::Runs;
                return Action::ScanRuns;
            }
            _ => {
                self.screen = Screen::Sampling;
                self.sampling.focus = SampleFocus::Prompt;
            }
        }
        Action::None
    }

    /// The measured GEMM peak of products in `p`, if measured.
    pub fn peak_for(&self, p: crate::precision::Precision) -> Option<f64> {
        match p {
            crate::precision::Precision::Bf16 => self.peak_bf16,
            _ => self.peak_fp32,
        }
    }

    fn begin_run(&mut self, preset: &Preset, corpus: String) {
        self.run = Some(RunView::new(preset, corpus));
        self.quitting = None;
        self.dashboard.reset_for_run();
        self.log.scroll = 0;
        self.screen = Screen::Dashboard;
    }

    /// Starts `preset` as the picker configures runs, or resumes it from `resume`.
    fn start_with(&mut self, preset: Preset, text: String, resume: Option<PathBuf>) -> Action {
        let NewRun { cfg, view, corpus_label, notes } = self.picker.new_run(preset, text, resume, &self.opts);
        self.begin_run(&view, corpus_label);
        for (level, text) in notes {
            self.push_log(level, text);
        }
        Action::Start(Box::new(cfg))
    }

    fn corpus_key(&mut self, key: KeyEvent) -> Action {
        let Overlay::Corpus(dlg) = &mut self.overlay else {
            return Action::None;
        };
        match dlg.on_key(key, &self.picker.corpus, self.opts.tinystories.as_ref()) {
            None => {}
            Some(CorpusChoice::Cancelled) => self.overlay = Overlay::None,
            Some(CorpusChoice::Chosen(corpus)) => {
                // a typed path is not in the dialog's list: confirm it
                if matches!(corpus, Corpus::File(_)) {
                    self.status = Some(format!("corpus: {}", corpus.label()));
                }
                self.picker.corpus = corpus;
                self.overlay = Overlay::None;
            }
        }
        Action::None
    }

    /// Carries out what a screen's key asked for.
    fn apply(&mut self, effect: Effect) -> Action {
        match effect {
            Effect::None => Action::None,
            Effect::Act(a) => a,
            Effect::Status(s) => {
                self.status = Some(s);
                Action::None
            }
            Effect::ActWithStatus(a, s) => {
                self.status = Some(s);
                a
            }
            Effect::Open(o) => {
                self.overlay = o;
                Action::None
            }
            Effect::Train { preset, text, resume } => self.start_with(*preset, text, resume),
            Effect::Resume { preset, checkpoint } => match self.picker.preset_named(&preset) {
                // the checkpoint carries its own preset; this one only labels the dashboard
                Some((preset, text)) => self.start_with(preset, text, Some(checkpoint)),
                None => self.apply(Effect::Status("no valid preset to resume with".into())),
            },
            Effect::Sample(checkpoint) => {
                self.sampling.use_checkpoint(checkpoint);
                self.screen = Screen::Sampling;
                self.sampling.focus = SampleFocus::Prompt;
                Action::None
            }
        }
    }
}
