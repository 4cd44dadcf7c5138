//! The log pane's lines: what happened, when (seconds since the UI opened) and
//! how much it matters, bounded in length, and how far the pane is scrolled back.

use std::collections::VecDeque;
use std::time::Instant;

/// Lines kept; older ones are dropped.
const MAX_LOG: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Save,
    Warn,
    Error,
}

impl From<crate::engine::Level> for Level {
    fn from(l: crate::engine::Level) -> Self {
        match l {
            crate::engine::Level::Info => Level::Info,
            crate::engine::Level::Warn => Level::Warn,
            crate::engine::Level::Error => Level::Error,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub secs: f64,
    pub level: Level,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Log {
    pub lines: VecDeque<LogLine>,
    /// Lines scrolled up from the newest (0 = follow).
    pub scroll: usize,
    t0: Instant,
}

impl Default for Log {
    fn default() -> Self {
        Log { lines: VecDeque::new(), scroll: 0, t0: Instant::now() }
    }
}

impl Log {
    pub fn push(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        self.lines.push_back(LogLine { secs: self.t0.elapsed().as_secs_f64(), level, text });
        while self.lines.len() > MAX_LOG {
            self.lines.pop_front();
        }
        if self.scroll > 0 {
            // stay on the same lines while new ones arrive below
            self.scroll = (self.scroll + 1).min(self.lines.len().saturating_sub(1));
        }
    }
}
