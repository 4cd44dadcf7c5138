//! What can be drawn over a screen (help, a preset's RON text, the corpus
//! chooser, the quit confirmation) and the keys of the simple ones.

use super::corpus::CorpusDialog;
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    None,
    Help { scroll: u16 },
    Confirm,
    Ron { scroll: u16 },
    Corpus(CorpusDialog),
}

impl Overlay {
    /// A key in the help or RON overlay: scrolls it; false when the key closes it.
    pub fn scroll_key(&mut self, key: KeyEvent) -> bool {
        let close = matches!(
            (&*self, key.code),
            (_, KeyCode::Esc | KeyCode::Char('q')) | (Overlay::Help { .. }, KeyCode::Char('?')) | (Overlay::Ron { .. }, KeyCode::Char('e'))
        );
        if close {
            return false;
        }
        if let Overlay::Help { scroll } | Overlay::Ron { scroll } = self {
            match key.code {
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                KeyCode::PageDown => *scroll = scroll.saturating_add(10),
                KeyCode::Home => *scroll = 0,
                _ => {}
            }
        }
        true
    }
}

/// The quit confirmation's answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuitChoice {
    /// Stop, evaluate, save last/.
    Save,
    /// Stop without saving.
    Discard,
    /// Keep training.
    Cancel,
}

impl QuitChoice {
    /// The answer a key in the confirmation gives, if any.
    pub fn from_key(key: KeyEvent) -> Option<Self> {
        match key.code {
            KeyCode::Char('s') | KeyCode::Char('S') => Some(QuitChoice::Save),
            KeyCode::Char('d') | KeyCode::Char('D') => Some(QuitChoice::Discard),
            KeyCode::Char('c') | KeyCode::Char('C') | KeyCode::Esc => Some(QuitChoice::Cancel),
            _ => None,
        }
    }
}
