//! All state of the terminal UI and the pure functions that change it.
//!
//! Each screen has its own state and key handling, mirroring the render
//! modules in `tui::ui`: [`Picker`], [`Dashboard`], [`Runs`] and [`Sampling`].
//! A screen's `on_key` returns an [`Effect`]; [`App`] routes keys (overlays
//! first, then the keys every screen shares, then the screen's own), carries
//! out effects that reach past one screen, and hands the event loop an
//! [`Action`]. App also holds what the screens share: the run being trained
//! ([`RunView`]), the [`Log`], the stop in progress ([`Quitting`]) and the
//! status line. Trainer events arrive through [`App::on_event`] (in
//! `events.rs`), timers through [`App::on_tick`] (in `quit.rs`).
//!
//! Nothing here touches the terminal, and only read-only file-system look-ups
//! happen (which checkpoint to resume, does a typed path exist).

mod checkpoint;
mod corpus;
mod dashboard;
mod editor;
mod events;
mod form;
mod keymap;
mod log;
mod overlay;
mod picker;
mod quit;
mod run;
mod runs;
mod sampling;
mod sweep_table;
mod watch;

pub use checkpoint::{checkpoint_preset, model_source, spent_budget_extension};
pub use corpus::{find_tinystories, Corpus, CorpusChoice, CorpusDialog, CORPUS_OPTIONS};
pub use dashboard::{Dashboard, Pane, XAxis, EMA_SPANS, SAVING};
pub use editor::LineEditor;
pub use form::{complete_path, parse_budget, resolve_corpus, FormField, FormValues, ResolvedCorpus, RunForm, FORM_FIELDS};
pub use keymap::KEYMAP;
pub use log::{Level, Log, LogLine};
pub use overlay::{Overlay, QuitChoice};
pub use picker::{NewRun, Picker, PresetRow};
pub use quit::{Quitting, LEAVE_UNSTARTED_AFTER, SIGINT};
pub use run::{HeatData, HeatKind, RunView, TrainPoint};
pub use runs::Runs;
pub use sampling::{Live, SampleFocus, Sampling, PARAM_NAMES};
pub use sweep_table::SweepView;

use crate::engine::Command;
use crate::generate::SampleParams;
use crate::inference::ModelSource;
use crate::preset::{Preset, PresetEntry};
use crate::train::RunConfig;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::path::PathBuf;

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
    /// Follow this run folder's metrics.jsonl into [`App::on_watched`].
    Follow(PathBuf),
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
    /// Watch this run folder on the dashboard.
    Watch(PathBuf),
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
    /// The signal (Ctrl-C counts as SIGINT) that ended the run: the process exits with 128 + it.
    pub exit_signal: Option<i32>,
    pub status: Option<String>,
    /// Measured GEMM peaks (GFLOP/s) for MFU: fp32's, and bf16's where the CPU has it.
    pub peak_fp32: Option<f64>,
    pub peak_bf16: Option<f64>,
    /// Precision of the products of the run last started.
    pub run_precision: crate::precision::Precision,
    /// The run last started asked for `auto` (`run_precision` is what it became).
    pub run_precision_auto: bool,
    /// Dates of the fp32 and bf16 peaks ("YYYY-MM-DD"), for the picker's precision line.
    pub peak_dates: (Option<String>, Option<String>),
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
            exit_signal: None,
            status: None,
            peak_fp32: None,
            peak_bf16: None,
            run_precision: Default::default(),
            run_precision_auto: false,
            peak_dates: (None, None),
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

    // ------------------------------------------------------------------ keys

    /// Bracketed paste: text for whichever line editor has focus.
    pub fn on_paste(&mut self, text: &str) {
        self.dirty = true;
        if let Overlay::Corpus(dlg) = &mut self.overlay {
            dlg.paste(text);
        } else if self.overlay == Overlay::None && self.screen == Screen::Picker && self.picker.typing() {
            self.picker.form.paste(text);
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
            Overlay::Help { .. } | Overlay::Ron { .. } => {
                if !self.overlay.scroll_key(key) {
                    self.overlay = Overlay::None;
                }
                return Action::None;
            }
            Overlay::Corpus(_) => return self.corpus_key(key),
        }
        if self.screen == Screen::Picker && self.picker.typing() {
            let e = self.picker.on_key(key, self.run_active(), &self.opts.runs_root, &self.auto_choice());
            return self.apply(e);
        }
        if self.screen == Screen::Sampling && self.sampling.takes_key(&key) {
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
                let e = self.picker.on_key(key, self.run_active(), &self.opts.runs_root, &self.auto_choice());
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

    /// What `auto` picks from the peaks measured so far (the picker's `b`).
    pub fn auto_choice(&self) -> crate::auto_precision::AutoChoice {
        let peak = |g: Option<f64>, d: &Option<String>| g.map(|gflops| crate::peaks::Peak { gflops, date: d.clone().unwrap_or_default() });
        crate::auto_precision::AutoChoice::from_peaks(
            crate::kernels::matmul::bf16_supported(),
            peak(self.peak_fp32, &self.peak_dates.0),
            peak(self.peak_bf16, &self.peak_dates.1),
        )
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
                if self.picker.form.open {
                    // chosen from the form: on to the validation text
                    self.picker.form.field = FORM_FIELDS.iter().position(|f| *f == FormField::Valid).unwrap_or(0);
                }
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
            Effect::Watch(dir) => {
                if self.run_active() {
                    return self.apply(Effect::Status("a run is training here: its dashboard is live (2)".into()));
                }
                self.watch(&dir, crate::follow::run_preset(&dir).as_ref());
                Action::Follow(dir)
            }
            Effect::Sample(checkpoint) => {
                // keys stay commands here (the Enter that chose the run must not
                // leave the user typing): Enter generates, i edits the prompt
                self.sampling.use_checkpoint(checkpoint);
                self.screen = Screen::Sampling;
                self.sampling.focus = SampleFocus::Output;
                self.status = Some("Enter generates from this checkpoint · i edits the prompt".into());
                Action::None
            }
        }
    }
}
