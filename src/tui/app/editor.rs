//! A one-line text editor (the sampling prompt, the corpus path).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A one-line text editor with a cursor (in characters).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineEditor {
    pub chars: Vec<char>,
    pub cursor: usize,
}

impl LineEditor {
    pub fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        LineEditor { cursor: chars.len(), chars }
    }
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }
    pub fn set(&mut self, text: &str) {
        *self = LineEditor::new(text);
    }
    pub fn insert(&mut self, c: char) {
        self.chars.insert(self.cursor.min(self.chars.len()), c);
        self.cursor = (self.cursor + 1).min(self.chars.len());
    }
    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars() {
            self.insert(if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c });
        }
    }
    pub fn backspace(&mut self) {
        if self.cursor > 0 && self.cursor <= self.chars.len() {
            self.chars.remove(self.cursor - 1);
            self.cursor -= 1;
        }
    }
    pub fn delete(&mut self) {
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
    }
    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }
    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.chars.len());
    }
    pub fn home(&mut self) {
        self.cursor = 0;
    }
    pub fn end(&mut self) {
        self.cursor = self.chars.len();
    }
    /// Common editing keys; returns false if the key is not an editing key.
    pub fn edit(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('a') if ctrl => self.home(),
            KeyCode::Char('e') if ctrl => self.end(),
            KeyCode::Char('u') if ctrl => {
                self.chars.drain(..self.cursor.min(self.chars.len()));
                self.cursor = 0;
            }
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => self.insert(c),
            KeyCode::Backspace => self.backspace(),
            KeyCode::Delete => self.delete(),
            KeyCode::Left => self.left(),
            KeyCode::Right => self.right(),
            KeyCode::Home => self.home(),
            KeyCode::End => self.end(),
            _ => return false,
        }
        true
    }
}
