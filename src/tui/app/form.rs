//! The picker's run-setup form (Tab or `f`): budget, warm-up, evaluation
//! interval, and the validation text, each blank for the preset's own; the
//! training text is the corpus chooser's. Also what a corpus path resolves
//! to (a folder's files) and Tab completion of paths.

use super::corpus::Corpus;
use super::editor::LineEditor;
use crate::preset::Budget;
use crossterm::event::{KeyCode, KeyEvent};
use std::path::{Path, PathBuf};

/// The form's fields, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormField {
    Budget,
    Warmup,
    EvalEvery,
    /// The corpus chooser (Enter opens it).
    Train,
    Valid,
}

pub const FORM_FIELDS: [FormField; 5] = [FormField::Budget, FormField::Warmup, FormField::EvalEvery, FormField::Train, FormField::Valid];

impl FormField {
    pub fn label(self) -> &'static str {
        match self {
            FormField::Budget => "budget",
            FormField::Warmup => "warm-up steps",
            FormField::EvalEvery => "eval every",
            FormField::Train => "training text",
            FormField::Valid => "validation text",
        }
    }
}

/// The values a run starts with, beyond the preset's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FormValues {
    pub budget: Option<Budget>,
    pub warmup: Option<u64>,
    pub eval_every: Option<u64>,
    pub valid: Option<PathBuf>,
}

/// How a key left the form.
#[derive(Clone, Debug, PartialEq)]
pub enum FormOutcome {
    /// Still open (or closed with Esc: `open` says which).
    Stay,
    /// Enter on the training text: open the corpus chooser.
    ChooseCorpus,
    /// Enter elsewhere: start the run.
    Start,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunForm {
    pub open: bool,
    pub field: usize,
    pub budget: LineEditor,
    pub warmup: LineEditor,
    pub eval_every: LineEditor,
    pub valid: LineEditor,
    /// Names a Tab completion found (shown under the form when several match).
    pub completions: Vec<String>,
    pub error: Option<String>,
}

impl RunForm {
    pub fn current(&self) -> FormField {
        FORM_FIELDS[self.field.min(FORM_FIELDS.len() - 1)]
    }

    /// The editor of a typed field (the training text has none).
    pub fn editor(&self, f: FormField) -> Option<&LineEditor> {
        match f {
            FormField::Budget => Some(&self.budget),
            FormField::Warmup => Some(&self.warmup),
            FormField::EvalEvery => Some(&self.eval_every),
            FormField::Valid => Some(&self.valid),
            FormField::Train => None,
        }
    }

    fn editor_mut(&mut self, f: FormField) -> Option<&mut LineEditor> {
        match f {
            FormField::Budget => Some(&mut self.budget),
            FormField::Warmup => Some(&mut self.warmup),
            FormField::EvalEvery => Some(&mut self.eval_every),
            FormField::Valid => Some(&mut self.valid),
            FormField::Train => None,
        }
    }

    fn focus(&mut self, f: FormField) {
        self.field = FORM_FIELDS.iter().position(|x| *x == f).unwrap_or(0);
    }

    /// A key while the form is open.
    pub fn on_key(&mut self, key: KeyEvent) -> FormOutcome {
        let n = FORM_FIELDS.len();
        let field = self.current();
        if key.code != KeyCode::Tab {
            self.completions.clear();
        }
        match key.code {
            KeyCode::Esc => self.open = false,
            KeyCode::Up => self.field = (self.field + n - 1) % n,
            KeyCode::Down => self.field = (self.field + 1) % n,
            KeyCode::BackTab => self.field = (self.field + n - 1) % n,
            KeyCode::Tab if field == FormField::Valid => {
                let (text, names) = complete_path(&self.valid.text());
                self.valid.set(&text);
                self.completions = if names.len() > 1 { names } else { Vec::new() };
            }
            KeyCode::Tab => self.field = (self.field + 1) % n,
            KeyCode::Enter if field == FormField::Train => return FormOutcome::ChooseCorpus,
            KeyCode::Enter => match self.values() {
                Ok(_) => return FormOutcome::Start,
                Err((f, e)) => {
                    self.focus(f);
                    self.error = Some(e);
                }
            },
            _ => {
                if let Some(ed) = self.editor_mut(field) {
                    ed.edit(&key);
                    self.error = None;
                }
            }
        }
        FormOutcome::Stay
    }

    /// Bracketed paste into the focused field.
    pub fn paste(&mut self, text: &str) {
        let f = self.current();
        if let Some(ed) = self.editor_mut(f) {
            ed.insert_str(text.trim());
        }
    }

    /// The parsed values, or the first bad field and why.
    pub fn values(&self) -> Result<FormValues, (FormField, String)> {
        let budget = parse_budget(&self.budget.text()).map_err(|e| (FormField::Budget, e))?;
        let count = |f: FormField, ed: &LineEditor, min: u64| -> Result<Option<u64>, (FormField, String)> {
            let t = ed.text();
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            match t.replace([',', '_'], "").parse::<u64>() {
                Ok(v) if v >= min => Ok(Some(v)),
                _ => Err((f, format!("{}: expected a whole number ≥ {min}, got {t:?}", f.label()))),
            }
        };
        let warmup = count(FormField::Warmup, &self.warmup, 0)?;
        let eval_every = count(FormField::EvalEvery, &self.eval_every, 1)?;
        let v = self.valid.text();
        let valid = match v.trim() {
            "" => None,
            p if Path::new(p).is_file() => Some(PathBuf::from(p)),
            p if Path::new(p).is_dir() => return Err((FormField::Valid, format!("{p} is a folder: give the validation file itself"))),
            p => return Err((FormField::Valid, format!("{p}: no such file"))),
        };
        Ok(FormValues { budget, warmup, eval_every, valid })
    }
}

/// "2000", "2000 steps", "10 min", "1.5 h", "2M tokens"; blank is the preset's.
pub fn parse_budget(text: &str) -> Result<Option<Budget>, String> {
    let t = text.trim().to_lowercase();
    if t.is_empty() {
        return Ok(None);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',' || c == '_')).unwrap_or(t.len());
    let (num, unit) = (t[..split].replace([',', '_'], ""), t[split..].trim());
    let bad = || format!("budget {text:?}: expected e.g. 2000 steps, 10 min or 5M tokens");
    let v: f64 = num.parse().map_err(|_| bad())?;
    if !(v > 0.0 && v.is_finite()) {
        return Err(bad());
    }
    // k or M right after the number, for token counts ("500k tokens", "5M tokens")
    let tokens_after = |u: &str| u.trim_start().starts_with("tok");
    let (mult, unit) = match unit.chars().next() {
        Some('k') if tokens_after(&unit[1..]) => (1e3, unit[1..].trim()),
        Some('m') if tokens_after(&unit[1..]) => (1e6, unit[1..].trim()),
        _ => (1.0, unit),
    };
    match unit {
        "" | "step" | "steps" if v.fract() == 0.0 => Ok(Some(Budget::Steps(v as u64))),
        u if u.starts_with("tok") => Ok(Some(Budget::Tokens((v * mult).round() as u64))),
        "m" | "min" | "mins" | "minute" | "minutes" => Ok(Some(Budget::Minutes(v))),
        "h" | "hour" | "hours" => Ok(Some(Budget::Minutes(v * 60.0))),
        _ => Err(bad()),
    }
}

/// What a training-text choice trains and validates on, and a line saying so.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedCorpus {
    pub train: Option<PathBuf>,
    /// The validation file that goes with it (TinyStories' valid.txt, a folder's valid.txt).
    pub valid: Option<PathBuf>,
    /// Which files will be used, for the form.
    pub note: String,
}

/// A corpus choice made concrete. A folder with `train.txt` and `valid.txt`
/// trains on the one and validates on the other; any other folder trains on
/// all its `.txt` files, listed, with validation held out from them.
pub fn resolve_corpus(c: &Corpus) -> ResolvedCorpus {
    match c {
        Corpus::BuiltIn => ResolvedCorpus { train: None, valid: None, note: "the built-in stories; validation held out from them".into() },
        Corpus::TinyStories { train, valid } => ResolvedCorpus {
            train: Some(train.clone()),
            valid: Some(valid.clone()),
            note: format!("TinyStories: trains on {}, validates on {}", file_name(train), file_name(valid)),
        },
        Corpus::File(p) if p.is_dir() => {
            let files = crate::data::corpus::txt_files(p).unwrap_or_default();
            let named =
                |n: &str| files.iter().find(|f| f.file_name().is_some_and(|x| x.to_string_lossy().eq_ignore_ascii_case(n))).cloned();
            if let (Some(t), Some(v)) = (named("train.txt"), named("valid.txt")) {
                let note = format!("folder: trains on {}, validates on {}", file_name(&t), file_name(&v));
                return ResolvedCorpus { train: Some(t), valid: Some(v), note };
            }
            let names: Vec<String> = files.iter().map(|f| file_name(f)).collect();
            let note = match names.len() {
                0 => "folder without .txt files: training cannot start".into(),
                n => format!("folder: trains on all {n} .txt files ({}); validation held out from them", names.join(", ")),
            };
            ResolvedCorpus { train: Some(p.clone()), valid: None, note }
        }
        Corpus::File(p) => {
            ResolvedCorpus { train: Some(p.clone()), valid: None, note: format!("{}; validation held out from it", file_name(p)) }
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

/// Tab completion of a path: the text with the unambiguous part of the name
/// after its last `/` completed (a folder gets its `/`), and the names that
/// match when several do. A complete name is left as it is: nothing is
/// appended to a path that already names a file.
pub fn complete_path(text: &str) -> (String, Vec<String>) {
    let (dir, prefix) = match text.rfind('/') {
        Some(i) => (&text[..=i], &text[i + 1..]),
        None => ("", text),
    };
    let Ok(rd) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else {
        return (text.to_string(), Vec::new());
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let is_dir = e.path().is_dir();
            Some(if is_dir { format!("{name}/") } else { name })
        })
        .collect();
    names.sort();
    match names.len() {
        0 => (text.to_string(), names),
        1 => (format!("{dir}{}", names[0]), Vec::new()),
        _ => {
            let first = &names[0];
            let common =
                names.iter().skip(1).fold(first.len(), |n, s| first.bytes().zip(s.bytes()).take(n).take_while(|(a, b)| a == b).count());
            // never cut inside a character
            let mut end = common.max(prefix.len());
            while !first.is_char_boundary(end) {
                end -= 1;
            }
            (format!("{dir}{}", &first[..end.max(prefix.len())]), names)
        }
    }
}
