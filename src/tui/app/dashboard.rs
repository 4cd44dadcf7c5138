//! The training dashboard's view state (focused pane, chart options, heatmap
//! layer, scroll positions) and its keys, including pause and save-now for
//! the run it shows.

use super::log::Log;
use super::run::RunView;
use super::{Action, Effect};
use crate::engine::{Command, RunState};
use crossterm::event::{KeyCode, KeyEvent};

/// Focusable panes of the dashboard, in `Tab` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Chart,
    Heatmap,
    Samples,
    Log,
}

const PANES: [Pane; 4] = [Pane::Chart, Pane::Heatmap, Pane::Samples, Pane::Log];

/// What a loss chart's x axis counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    Steps,
    Tokens,
    Time,
}

impl XAxis {
    pub fn label(self) -> &'static str {
        match self {
            XAxis::Steps => "steps",
            XAxis::Tokens => "tokens",
            XAxis::Time => "wall time",
        }
    }
}

/// The EMA spans (in steps, β = 1 − 2/(span + 1)) `e` cycles through; None: raw.
pub const EMA_SPANS: [Option<u32>; 5] = [Some(10), Some(40), Some(100), Some(300), None];

/// What the footer says while `s` saves (cleared when the save is reported).
pub const SAVING: &str = "saving a checkpoint…";

#[derive(Clone, Debug)]
pub struct Dashboard {
    pub focus: Pane,
    /// Index into [`EMA_SPANS`].
    pub smoothing: usize,
    pub log_y: bool,
    pub x_axis: XAxis,
    /// Only the last steps instead of the full history.
    pub recent: bool,
    /// The heatmap's layer.
    pub layer: usize,
    pub all_layers: bool,
    /// Samples scrolled down from the newest (0 = follow).
    pub samples_scroll: usize,
    /// The heatmap cursor (matrix row, column), moved by the arrows while the heatmap has focus.
    pub cursor: (usize, usize),
    /// The heatmap shows the change since the previous snapshot.
    pub diff: bool,
}

impl Default for Dashboard {
    fn default() -> Self {
        Dashboard {
            focus: Pane::Chart,
            smoothing: 1,
            log_y: false,
            x_axis: XAxis::Steps,
            recent: false,
            layer: 0,
            all_layers: false,
            samples_scroll: 0,
            cursor: (0, 0),
            diff: false,
        }
    }
}

impl Dashboard {
    /// A new run: its first layer, its newest samples.
    pub fn reset_for_run(&mut self) {
        self.layer = 0;
        self.samples_scroll = 0;
        self.cursor = (0, 0);
    }

    /// The EMA span in steps, or None for the raw curve.
    pub fn ema_span(&self) -> Option<u32> {
        EMA_SPANS[self.smoothing % EMA_SPANS.len()]
    }

    /// `stopping`: the run is being stopped (after `q s`, `q d` or Ctrl-C).
    pub fn on_key(&mut self, key: KeyEvent, run: Option<&mut RunView>, log: &mut Log, stopping: bool) -> Effect {
        let heat = run.as_ref().and_then(|r| r.heat.as_ref());
        let n_layers = heat.map_or(0, |h| h.layers.len());
        let (rows, cols) = heat.and_then(|h| h.layers.first()).map_or((0, 0), |m| m.dim());
        if self.focus == Pane::Heatmap && rows > 0 && !self.all_layers {
            let (r, c) = &mut self.cursor;
            let moved = match key.code {
                KeyCode::Up | KeyCode::Char('k') => {
                    *r = r.saturating_sub(1);
                    true
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    *r = (*r + 1).min(rows - 1);
                    true
                }
                KeyCode::Left => {
                    *c = c.saturating_sub(1);
                    true
                }
                KeyCode::Right => {
                    *c = (*c + 1).min(cols - 1);
                    true
                }
                KeyCode::PageUp => {
                    *r = r.saturating_sub(8);
                    true
                }
                KeyCode::PageDown => {
                    *r = (*r + 8).min(rows - 1);
                    true
                }
                _ => false,
            };
            if moved {
                return Effect::None;
            }
        }
        match key.code {
            KeyCode::Char('p') => return pause_or_resume(run, stopping),
            KeyCode::Char('s') => return save_now(run.as_deref(), stopping),
            KeyCode::Char('v') => return evaluate_now(run.as_deref(), stopping),
            KeyCode::Tab => {
                let i = PANES.iter().position(|p| *p == self.focus).unwrap_or(0);
                self.focus = PANES[(i + 1) % PANES.len()];
            }
            KeyCode::BackTab => {
                let i = PANES.iter().position(|p| *p == self.focus).unwrap_or(0);
                self.focus = PANES[(i + PANES.len() - 1) % PANES.len()];
            }
            KeyCode::Char('e') => self.smoothing = (self.smoothing + 1) % EMA_SPANS.len(),
            KeyCode::Char('l') => self.log_y = !self.log_y,
            KeyCode::Char('x') => {
                self.x_axis = match self.x_axis {
                    XAxis::Steps => XAxis::Tokens,
                    XAxis::Tokens => XAxis::Time,
                    XAxis::Time => XAxis::Steps,
                }
            }
            KeyCode::Char('w') => self.recent = !self.recent,
            KeyCode::Char('a') => self.all_layers = !self.all_layers,
            KeyCode::Char('c') => self.diff = !self.diff,
            KeyCode::Left | KeyCode::Char('[') if n_layers > 0 => self.layer = (self.layer + n_layers - 1) % n_layers,
            KeyCode::Right | KeyCode::Char(']') if n_layers > 0 => self.layer = (self.layer + 1) % n_layers,
            KeyCode::Up | KeyCode::Char('k') => self.scroll_focused(1, run.as_deref(), log),
            KeyCode::Down | KeyCode::Char('j') => self.scroll_focused(-1, run.as_deref(), log),
            KeyCode::PageUp => self.scroll_focused(10, run.as_deref(), log),
            KeyCode::PageDown => self.scroll_focused(-10, run.as_deref(), log),
            KeyCode::Home => self.scroll_focused(i32::MAX, run.as_deref(), log),
            KeyCode::End => self.scroll_focused(i32::MIN, run.as_deref(), log),
            _ => {}
        }
        Effect::None
    }

    /// Scrolls the focused text pane: positive = back in time.
    fn scroll_focused(&mut self, by: i32, run: Option<&RunView>, log: &mut Log) {
        let (pos, len) = match self.focus {
            Pane::Log => (&mut log.scroll, log.lines.len()),
            Pane::Samples => (&mut self.samples_scroll, run.map_or(0, |r| r.samples.len())),
            _ => return,
        };
        let max = len.saturating_sub(1) as i64;
        *pos = (*pos as i64 + by as i64).clamp(0, max) as usize;
    }
}

/// `p`: pause a training run, or resume a paused one.
fn pause_or_resume(run: Option<&mut RunView>, stopping: bool) -> Effect {
    let Some(run) = run.filter(|r| r.active()) else {
        return Effect::Status("no run is training".into());
    };
    if stopping {
        return Effect::None;
    }
    let cmd = if run.state == RunState::Paused {
        run.detail = "resuming".into();
        Command::Resume
    } else {
        run.detail = "pausing".into();
        Command::Pause
    };
    Effect::Act(Action::Engine(cmd))
}

/// `v`: evaluate, sample and refresh the heatmaps now.
fn evaluate_now(run: Option<&RunView>, stopping: bool) -> Effect {
    match run {
        Some(r) if r.active() && r.started && !stopping => {
            Effect::ActWithStatus(Action::Engine(Command::EvaluateNow), "evaluating now (after the current step)…".into())
        }
        Some(r) if r.active() && !stopping => Effect::Status("nothing to evaluate before the first step".into()),
        _ => Effect::Status("no run is training".into()),
    }
}

/// `s`: save a checkpoint now.
fn save_now(run: Option<&RunView>, stopping: bool) -> Effect {
    match run {
        Some(r) if r.active() && r.started && !stopping => Effect::ActWithStatus(Action::Engine(Command::SaveNow), SAVING.into()),
        Some(r) if r.active() => Effect::Status("nothing to save before the first step".into()),
        _ => Effect::Status("no run is training".into()),
    }
}
