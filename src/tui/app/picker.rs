//! The preset picker: the presets found, the selected one, what new runs train
//! on (corpus, precision), and the newest checkpoint of each preset.

use super::checkpoint::{checkpoint_preset, spent_budget_extension};
use super::corpus::{Corpus, CorpusDialog};
use super::form::{resolve_corpus, FormOutcome, RunForm};
use super::log::Level;
use super::{AppOptions, Effect, Overlay};
use crate::auto_precision::AutoChoice;
use crate::precision::Precision;
use crate::preset::{Preset, PresetEntry};
use crate::train::RunConfig;
use crossterm::event::{KeyCode, KeyEvent};
use std::path::{Path, PathBuf};

/// A preset as listed in the picker.
#[derive(Clone, Debug)]
pub struct PresetRow {
    pub name: String,
    pub file: String,
    pub text: String,
    pub preset: Result<Preset, String>,
    pub params: usize,
    /// That it overrides another preset of its name, or that its name is
    /// ambiguous ([`PresetEntry::note`]).
    pub note: Option<String>,
    /// Another file in the same folder defines this name: it cannot start.
    pub ambiguous: bool,
}

impl PresetRow {
    pub fn from_entry(e: PresetEntry) -> Self {
        // counted from the config: opening the picker never builds a model
        let params = e.parsed.as_ref().ok().and_then(|p| p.param_count()).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let (note, ambiguous) = (e.note(), !e.duplicates.is_empty());
        PresetRow { name: e.name(), file: e.file, text: e.text, preset: e.parsed, params, note, ambiguous }
    }
}

pub struct Picker {
    pub presets: Vec<PresetRow>,
    pub selected: usize,
    pub corpus: Corpus,
    /// Precision of the products in runs the picker starts: `auto` (the
    /// default), fp32, or bf16 where the CPU has AVX512-BF16 (`b` cycles).
    pub precision: Precision,
    /// The newest checkpoint of each preset (what `r` resumes), refreshed with the runs.
    pub latest_ckpts: Vec<Option<PathBuf>>,
    /// The run-setup form (Tab or `f`): what Enter starts with.
    pub form: RunForm,
}

/// A run about to start, as the picker configured it.
pub struct NewRun {
    pub cfg: RunConfig,
    /// The preset the dashboard describes (a resumed checkpoint's own).
    pub view: Preset,
    pub corpus_label: String,
    /// Lines for the log once the dashboard is open.
    pub notes: Vec<(Level, String)>,
}

impl Picker {
    pub fn new(presets: Vec<PresetEntry>, runs_root: &Path) -> Self {
        let mut p = Picker {
            presets: presets.into_iter().map(PresetRow::from_entry).collect(),
            selected: 0,
            corpus: Corpus::BuiltIn,
            precision: Precision::Auto,
            latest_ckpts: Vec::new(),
            form: RunForm::default(),
        };
        p.refresh_checkpoints(runs_root);
        p
    }

    /// Looks up the newest checkpoint of every preset (for the details pane and `r`).
    pub fn refresh_checkpoints(&mut self, runs_root: &Path) {
        self.latest_ckpts = self.presets.iter().map(|p| crate::runs::latest_checkpoint(runs_root, &p.name)).collect();
    }

    pub fn latest_checkpoint(&self, preset: usize) -> Option<&PathBuf> {
        self.latest_ckpts.get(preset).and_then(|c| c.as_ref())
    }

    /// Selects the preset called `name`, if listed.
    pub fn select(&mut self, name: &str) {
        if let Some(i) = self.presets.iter().position(|p| p.name == name) {
            self.selected = i;
        }
    }

    /// The form is open: keys are its text, not commands.
    pub fn typing(&self) -> bool {
        self.form.open
    }

    /// `training`: a run is training now, so none can start; `auto`: what
    /// `auto` picks from the peaks measured so far, for what `b` says.
    pub fn on_key(&mut self, key: KeyEvent, training: bool, runs_root: &Path, auto: &AutoChoice) -> Effect {
        let n = self.presets.len();
        if self.form.open {
            return match self.form.on_key(key) {
                FormOutcome::Stay => Effect::None,
                FormOutcome::ChooseCorpus => Effect::Open(Overlay::Corpus(CorpusDialog::new(&self.corpus))),
                FormOutcome::Start => self.start_selected(None, training),
            };
        }
        match key.code {
            KeyCode::Tab | KeyCode::Char('f') => {
                self.form.open = true;
                self.form.error = None;
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(n.saturating_sub(1)),
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = n.saturating_sub(1),
            KeyCode::Enter => return self.start_selected(None, training),
            KeyCode::Char('r') => {
                let Some(row) = self.presets.get(self.selected) else {
                    return Effect::None;
                };
                return match crate::runs::latest_checkpoint(runs_root, &row.name) {
                    Some(ck) => self.start_selected(Some(ck), training),
                    None => Effect::Status(format!("no checkpoint of {} under {}/", row.name, runs_root.display())),
                };
            }
            KeyCode::Char('c') => return Effect::Open(Overlay::Corpus(CorpusDialog::new(&self.corpus))),
            KeyCode::Char('e') if !self.presets.is_empty() => return Effect::Open(Overlay::Ron { scroll: 0 }),
            KeyCode::Char('b') => return self.cycle_precision(auto),
            _ => {}
        }
        Effect::None
    }

    /// `b`: auto → fp32 → bf16 (where the CPU has AVX512-BF16) → auto for
    /// the runs the picker starts, said with both measured peaks and what
    /// auto picks, and plainly where bf16 is the slower one.
    fn cycle_precision(&mut self, auto: &AutoChoice) -> Effect {
        let bf16 = crate::kernels::matmul::bf16_supported();
        self.precision = match self.precision {
            Precision::Auto => Precision::Fp32,
            Precision::Fp32 if bf16 => Precision::Bf16,
            _ => Precision::Auto,
        };
        let peaks = (auto.fp32.as_ref().map(|p| p.gflops), auto.bf16.as_ref().map(|p| p.gflops));
        let msg = match self.precision {
            Precision::Auto => format!("runs started here: {}", auto.line()),
            Precision::Bf16 => match crate::precision::bf16_slower(peaks.0, peaks.1) {
                Some(why) => format!("bf16 products chosen, but {why}"),
                None => "runs started here train with bf16 products (f32 weights, gradients and optimizer state)".to_string(),
            },
            _ if bf16 => format!("runs started here train in fp32 (auto would pick {})", auto.precision.label()),
            _ => "runs started here train in fp32 (bf16 training needs AVX512-BF16, which this CPU lacks)".to_string(),
        };
        Effect::Status(msg)
    }

    /// Enter (`resume` None) or `r`.
    fn start_selected(&mut self, resume: Option<PathBuf>, training: bool) -> Effect {
        if training {
            return Effect::Status("a run is already training: stop it first (q)".into());
        }
        let Some(row) = self.presets.get(self.selected) else {
            return Effect::None;
        };
        if row.ambiguous {
            let note = row.note.as_deref().unwrap_or_default();
            return Effect::Status(format!("{} cannot start: {} ({note}); rename one of them", row.name, row.file));
        }
        if let Err((field, e)) = self.form.values() {
            self.form.open = true;
            self.form.field = super::form::FORM_FIELDS.iter().position(|f| *f == field).unwrap_or(0);
            self.form.error = Some(e.clone());
            return Effect::Status(e);
        }
        match &row.preset {
            Ok(p) => Effect::Train { preset: Box::new(p.clone()), text: row.text.clone(), resume },
            Err(e) => Effect::Status(format!("{} cannot start: {e}", row.name)),
        }
    }

    /// The preset to label a resumed past run with: its own if listed, else any valid one.
    pub fn preset_named(&self, name: &str) -> Option<(Preset, String)> {
        let row = self.presets.iter().find(|p| p.name == name && p.preset.is_ok()).or(self.presets.iter().find(|p| p.preset.is_ok()));
        match row.map(|p| (p.preset.clone(), p.text.clone())) {
            Some((Ok(preset), text)) => Some((preset, text)),
            _ => None,
        }
    }

    /// Configures a run of `preset` (RON `text`) on the chosen corpus and
    /// precision, or its resumption from the checkpoint `resume`.
    pub fn new_run(&self, preset: Preset, text: String, resume: Option<PathBuf>, opts: &AppOptions) -> NewRun {
        let form = self.form.values().unwrap_or_default();
        let resolved = resolve_corpus(&self.corpus);
        let (corpus, valid) = (resolved.train, form.valid.clone().or(resolved.valid));
        // on resume the checkpoint's own corpus is used unless another one was chosen
        let keep_corpus = resume.is_some() && self.corpus == Corpus::BuiltIn;
        let corpus_label = if keep_corpus { "the checkpoint's corpus".into() } else { self.corpus.label() };
        // a resumed run trains the checkpoint's own preset; one whose budget is
        // spent continues for another budget of the same size (the engine
        // recomputes the LR horizon for the new total)
        let overrides = crate::preset::Overrides { warmup: form.warmup, eval_every: form.eval_every, ..Default::default() };
        let view = resume.as_deref().and_then(checkpoint_preset).unwrap_or_else(|| preset.clone());
        // the dashboard shows the intervals the run will use
        let view = view.with_overrides("", &overrides).map(|(p, _)| p).unwrap_or(view);
        let extension = if form.budget.is_some() { None } else { resume.as_deref().and_then(spent_budget_extension) };
        let mut notes = Vec::new();
        if let Some(r) = &resume {
            notes.push((Level::Info, format!("resuming from {}", r.display())));
        }
        let budget = form.budget.clone().or(extension.map(|(budget, msg)| {
            notes.push((Level::Warn, msg));
            budget
        }));
        if !keep_corpus && self.corpus != Corpus::BuiltIn {
            notes.push((Level::Info, format!("training text: {}", resolved.note)));
        }
        let cfg = RunConfig {
            preset,
            preset_text: text,
            corpus: if keep_corpus { None } else { corpus },
            valid,
            budget,
            threads: opts.threads.max(1),
            seed: None,
            resume,
            import: None,
            runs_root: opts.runs_root.clone(),
            run_dir: None,
            progress: false,
            sample_prompt: "Once upon a time".into(),
            overrides,
            // auto unless `b` chose fp32 or bf16; auto is resolved as the run starts
            precision: self.precision,
            cadence: Default::default(),
            ranks: None,
        };
        NewRun { cfg, view, corpus_label, notes }
    }
}
