//! The runs screen: past runs found under the runs folder, the selected one,
//! and the x axis of their validation curves; Enter samples from a run, `r`
//! resumes it.

use super::dashboard::XAxis;
use super::{Action, Effect};
use crate::runs::RunRecord;
use crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Runs {
    pub records: Vec<RunRecord>,
    pub selected: usize,
    /// Tokens or wall time.
    pub x_axis: XAxis,
}

impl Default for Runs {
    fn default() -> Self {
        Runs { records: Vec::new(), selected: 0, x_axis: XAxis::Tokens }
    }
}

impl Runs {
    /// A fresh scan of the runs folder; the selection stays where it can.
    pub fn set(&mut self, records: Vec<RunRecord>) {
        self.records = records;
        self.selected = self.selected.min(self.records.len().saturating_sub(1));
    }

    /// `training`: a run is training now, so none can be resumed.
    pub fn on_key(&mut self, key: KeyEvent, training: bool) -> Effect {
        let n = self.records.len();
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(n.saturating_sub(1)),
            KeyCode::Char('x') => self.x_axis = if self.x_axis == XAxis::Tokens { XAxis::Time } else { XAxis::Tokens },
            KeyCode::Char('u') => return Effect::Act(Action::ScanRuns),
            KeyCode::Enter => {
                let Some(r) = self.records.get(self.selected) else {
                    return Effect::None;
                };
                return match crate::runs::sampling_checkpoint(&r.dir) {
                    Some(ck) => Effect::Sample(ck),
                    None => Effect::Status(format!("{} has no checkpoint to sample from", r.name)),
                };
            }
            KeyCode::Char('r') => {
                let Some(r) = self.records.get(self.selected) else {
                    return Effect::None;
                };
                if training {
                    return Effect::Status("a run is already training: stop it first (q)".into());
                }
                return match resume_checkpoint(r) {
                    Some(checkpoint) => Effect::Resume { preset: r.preset.clone(), checkpoint },
                    None => Effect::Status(format!("{} has no checkpoint to resume", r.name)),
                };
            }
            _ => {}
        }
        Effect::None
    }
}

/// The run's `last/`, else its newest checkpoint.
fn resume_checkpoint(r: &RunRecord) -> Option<PathBuf> {
    let last = r.dir.join("last");
    if last.join(crate::train::checkpoint::META).is_file() {
        return Some(last);
    }
    crate::runs::checkpoints(&r.dir).into_iter().next().map(|c| c.path)
}
