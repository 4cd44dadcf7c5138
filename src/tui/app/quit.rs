//! Leaving while a run trains: `q` asks (stop and save, stop without saving,
//! cancel); Ctrl-C, SIGINT, SIGTERM and SIGHUP stop and save at once. A
//! stop with save runs the final evaluation to its end, its progress on the
//! status line; only a second Ctrl-C (or signal) skips it, and a third
//! leaves at once. A run ended by Ctrl-C or a signal exits with 128 + the
//! signal's number; `q s` exits 0.

use super::log::Level;
use super::overlay::{Overlay, QuitChoice};
use super::{Action, App};
use crate::engine::Command;
use crossterm::event::KeyEvent;
use std::time::{Duration, Instant};

/// Before the first step there is nothing to save: leave this soon after a stop.
pub const LEAVE_UNSTARTED_AFTER: Duration = Duration::from_millis(1000);

/// SIGINT's number: Ctrl-C typed into the dashboard counts as one.
pub const SIGINT: i32 = 2;

/// A stop asked for and not yet finished.
#[derive(Clone, Debug)]
pub struct Quitting {
    /// Stop with a final evaluation and save (else without saving).
    pub save: bool,
    pub since: Instant,
    /// The second stop (skipping the final evaluation) has gone out.
    pub escalated: bool,
}

impl App {
    /// Timers: leaving a run stopped before its first step (nothing to wait for).
    /// A trainer that is evaluating or saving is waited for, however long.
    pub fn on_tick(&mut self, now: Instant) -> Action {
        let started = self.run.as_ref().is_some_and(|r| r.started);
        let Some(q) = self.quitting.as_ref() else {
            return Action::None;
        };
        if !started && now.saturating_duration_since(q.since) >= LEAVE_UNSTARTED_AFTER {
            self.should_quit = true;
            self.exit_note = Some("stopped before the first training step; nothing was saved".into());
            return Action::Quit;
        }
        Action::None
    }

    /// Ctrl-C: as SIGINT, except that with no run training it just leaves.
    pub(super) fn interrupt(&mut self) -> Action {
        self.stop_by(SIGINT, true)
    }

    /// A signal (`sig`: SIGINT, SIGTERM, SIGHUP) received by the process.
    pub fn on_signal(&mut self, sig: i32) -> Action {
        self.stop_by(sig, false)
    }

    /// Ctrl-C or a signal: stop and save; a second one skips the final
    /// evaluation; a third leaves at once. With no run training it leaves.
    fn stop_by(&mut self, sig: i32, key: bool) -> Action {
        if !self.run_active() {
            if !key {
                self.exit_signal.get_or_insert(sig);
            }
            self.should_quit = true;
            return Action::Quit;
        }
        self.exit_signal.get_or_insert(sig);
        self.overlay = Overlay::None;
        match self.quitting.as_mut() {
            None => self.begin_quit(true),
            Some(q) if q.save && !q.escalated => {
                q.escalated = true;
                self.push_log(Level::Warn, "skipping the final evaluation: saving last/ (once more quits at once)");
                self.status = Some("skipping the final evaluation: saving last/…".into());
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
            self.push_log(Level::Info, "stopping: final evaluation, then saving last/ (Ctrl-C skips the evaluation)");
            self.status = Some("stopping: final evaluation, then saving last/ · Ctrl-C skips the evaluation".into());
        } else {
            self.push_log(Level::Warn, "stopping without saving");
        }
        Action::Engine(Command::Stop { save })
    }

    /// What the status line says while a stop with save is under way: the
    /// trainer's progress (`detail`) and the key that skips the evaluation.
    pub(super) fn stopping_status(&mut self, detail: &str) {
        if let Some(q) = &self.quitting {
            if q.save {
                let skip = if q.escalated || !detail.contains("evaluation") { "" } else { " · Ctrl-C skips it" };
                self.status = Some(format!("stopping: {detail}{skip}"));
            }
        }
    }

    pub(super) fn request_quit(&mut self) -> Action {
        if self.run_active() {
            if self.quitting.is_some() {
                self.status = Some("stopping… (Ctrl-C skips the final evaluation)".into());
            } else {
                self.overlay = Overlay::Confirm;
            }
            Action::None
        } else {
            self.should_quit = true;
            Action::Quit
        }
    }

    /// A key in the quit confirmation.
    pub(super) fn confirm_key(&mut self, key: KeyEvent) -> Action {
        match QuitChoice::from_key(key) {
            Some(QuitChoice::Save) => self.begin_quit(true),
            Some(QuitChoice::Discard) => self.begin_quit(false),
            Some(QuitChoice::Cancel) => {
                self.overlay = Overlay::None;
                Action::None
            }
            None => Action::None,
        }
    }
}
