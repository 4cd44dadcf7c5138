//! What new runs train on, and the dialog that chooses it (`c` in the picker):
//! the built-in corpus, the TinyStories pair (training and validation text
//! as one choice), or a typed path (Tab completes it).

use super::editor::LineEditor;
use crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq)]
pub enum Corpus {
    BuiltIn,
    File(PathBuf),
    TinyStories { train: PathBuf, valid: PathBuf },
}

impl Corpus {
    pub fn label(&self) -> String {
        match self {
            Corpus::BuiltIn => "built-in story corpus".into(),
            Corpus::File(p) => p.display().to_string(),
            Corpus::TinyStories { train, .. } => format!("TinyStories ({})", train.display()),
        }
    }

    /// Its row in the dialog.
    fn option(&self) -> usize {
        match self {
            Corpus::BuiltIn => 0,
            Corpus::TinyStories { .. } => 1,
            Corpus::File(_) => 2,
        }
    }
}

pub const CORPUS_OPTIONS: usize = 3;

/// A TinyStories copy (train, valid): the V2 files in the Hugging Face cache
/// (`flashlm-tui data download tinystories`), else train.txt + valid.txt in a
/// few usual folders.
pub fn find_tinystories() -> Option<(PathBuf, PathBuf)> {
    use crate::data::download::{find_cached_tinystories, TsVersion};
    if let Some((train, Some(valid))) = find_cached_tinystories(TsVersion::V2) {
        return Some((train, valid));
    }
    let candidates =
        [crate::data::cache_dir().join("tinystories"), PathBuf::from("data/tinystories"), PathBuf::from("../shared/data/tinystories")];
    candidates.iter().map(|d| (d.join("train.txt"), d.join("valid.txt"))).find(|(t, v)| t.is_file() && v.is_file())
}

/// The corpus chooser's state.
#[derive(Clone, Debug, PartialEq)]
pub struct CorpusDialog {
    pub selected: usize,
    /// Some while a path is being typed.
    pub editing: Option<LineEditor>,
    pub error: Option<String>,
    /// Names a Tab completion found, when several match.
    pub completions: Vec<String>,
}

/// How a key left the dialog.
#[derive(Clone, Debug, PartialEq)]
pub enum CorpusChoice {
    Cancelled,
    Chosen(Corpus),
}

impl CorpusDialog {
    /// Opens on the row of the corpus in use.
    pub fn new(current: &Corpus) -> Self {
        CorpusDialog { selected: current.option(), editing: None, error: None, completions: Vec::new() }
    }

    /// A key in the dialog; `Some` closes it.
    pub fn on_key(&mut self, key: KeyEvent, current: &Corpus, tinystories: Option<&(PathBuf, PathBuf)>) -> Option<CorpusChoice> {
        if let Some(ed) = self.editing.as_mut() {
            match key.code {
                KeyCode::Esc => self.editing = None,
                KeyCode::Enter => {
                    let text = ed.text();
                    let path = PathBuf::from(text.trim());
                    if text.trim().is_empty() {
                        self.error = Some("type the path of a UTF-8 text file or a folder of .txt files".into());
                    } else if !path.exists() {
                        self.error = Some(format!("{}: no such file or folder", path.display()));
                    } else {
                        return Some(CorpusChoice::Chosen(Corpus::File(path)));
                    }
                }
                KeyCode::Tab => {
                    let (text, names) = super::form::complete_path(&ed.text());
                    ed.set(&text);
                    self.completions = if names.len() > 1 { names } else { Vec::new() };
                }
                _ => {
                    ed.edit(&key);
                    self.error = None;
                    self.completions.clear();
                }
            }
            return None;
        }
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('c') => return Some(CorpusChoice::Cancelled),
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(CORPUS_OPTIONS - 1),
            KeyCode::Enter => match self.selected {
                0 => return Some(CorpusChoice::Chosen(Corpus::BuiltIn)),
                1 => match tinystories {
                    Some((train, valid)) => return Some(CorpusChoice::Chosen(Corpus::TinyStories { train: train.clone(), valid: valid.clone() })),
                    None => {
                        self.error = Some("TinyStories not found (looked in the cache folder, data/tinystories and ../shared/data/tinystories); run `flashlm-tui data download tinystories`".into())
                    }
                },
                _ => {
                    let start = if let Corpus::File(p) = current { p.display().to_string() } else { String::new() };
                    self.editing = Some(LineEditor::new(&start));
                    self.error = None;
                }
            },
            _ => {}
        }
        None
    }

    /// Bracketed paste: into the path being typed, if one is.
    pub fn paste(&mut self, text: &str) {
        if let Some(ed) = self.editing.as_mut() {
            ed.insert_str(text);
        }
    }
}
