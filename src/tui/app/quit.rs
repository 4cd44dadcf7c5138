//! Leaving while a run trains: `q` asks (stop and save, stop without saving,
//! cancel), Ctrl-C stops and saves at once and hurries on a second press, and
//! timers escalate or give up when the trainer is slow to stop.

use super::log::Level;
use super::overlay::{Overlay, QuitChoice};
use super::{Action, App};
use crate::engine::Command;
use crossterm::event::KeyEvent;
use std::time::{Duration, Instant};

/// After `q` `s`, a second stop (which skips the final evaluation) goes out this late.
pub const ESCALATE_AFTER: Duration = Duration::from_millis(2500);
/// Before the first step there is nothing to save: leave this soon after a stop.
pub const LEAVE_UNSTARTED_AFTER: Duration = Duration::from_millis(1000);
/// A trainer that has not stopped by then is left behind (with a message).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(20);

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

    /// Ctrl-C: stop and save; a second one skips the final evaluation; a third leaves at once.
    pub(super) fn interrupt(&mut self) -> Action {
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

    pub(super) fn request_quit(&mut self) -> Action {
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
