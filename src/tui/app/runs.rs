//! The runs screen: past runs found under the runs folder, the selected one,
//! and the x axis of their validation curves; Enter samples from a run, `r`
//! resumes it, `w` watches it (app/watch.rs), `t` shows the sweep it belongs
//! to as one table (app/sweep_table.rs).

use super::dashboard::XAxis;
use super::sweep_table::SweepView;
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
    /// The runs (by folder) marked with Space for the comparison chart.
    pub marked: Vec<PathBuf>,
    /// The sweep table shown instead of the runs, if open.
    pub sweep: Option<SweepView>,
}

impl Default for Runs {
    fn default() -> Self {
        Runs { records: Vec::new(), selected: 0, x_axis: XAxis::Tokens, marked: Vec::new(), sweep: None }
    }
}

impl Runs {
    /// A fresh scan of the runs folder; the selection stays where it can.
    pub fn set(&mut self, records: Vec<RunRecord>) {
        self.records = records;
        self.selected = self.selected.min(self.records.len().saturating_sub(1));
        self.marked.retain(|d| self.records.iter().any(|r| &r.dir == d));
    }

    /// The runs the comparison chart overlays (indices into `records`): the
    /// marked ones, else the selected one.
    pub fn compared(&self) -> Vec<usize> {
        let marked: Vec<usize> = (0..self.records.len()).filter(|&i| self.marked.contains(&self.records[i].dir)).collect();
        if marked.is_empty() && self.selected < self.records.len() {
            vec![self.selected]
        } else {
            marked
        }
    }

    /// The corpora of the compared runs when they differ (their losses are
    /// not comparable), else None.
    pub fn mixed_corpora(&self) -> Option<Vec<String>> {
        let mut seen: Vec<String> = Vec::new();
        for i in self.compared() {
            let c = self.records[i].corpus.clone().unwrap_or_else(|| "unknown".into());
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        (seen.len() > 1).then_some(seen)
    }

    /// `training`: a run is training now, so none can be resumed.
    pub fn on_key(&mut self, key: KeyEvent, training: bool) -> Effect {
        if let Some(view) = &mut self.sweep {
            match key.code {
                KeyCode::Char('s') => view.next_sort(),
                KeyCode::Char('d') => view.flip(),
                KeyCode::Char('t') | KeyCode::Esc => self.sweep = None,
                _ => {}
            }
            return Effect::None;
        }
        let n = self.records.len();
        match key.code {
            KeyCode::Char('t') => {
                let Some(r) = self.records.get(self.selected) else {
                    return Effect::None;
                };
                match SweepView::open(&r.dir) {
                    Some(Ok(view)) => self.sweep = Some(view),
                    Some(Err(e)) => return Effect::Status(format!("cannot read the sweep: {e}")),
                    None => return Effect::Status(format!("{} is not one of a sweep's runs", r.name)),
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(n.saturating_sub(1)),
            KeyCode::Char('x') => self.x_axis = if self.x_axis == XAxis::Tokens { XAxis::Time } else { XAxis::Tokens },
            KeyCode::Char('u') => return Effect::Act(Action::ScanRuns),
            KeyCode::Char(' ') => {
                if let Some(r) = self.records.get(self.selected) {
                    match self.marked.iter().position(|d| d == &r.dir) {
                        Some(i) => {
                            self.marked.remove(i);
                        }
                        None => self.marked.push(r.dir.clone()),
                    }
                }
            }
            KeyCode::Enter => {
                let Some(r) = self.records.get(self.selected) else {
                    return Effect::None;
                };
                return match crate::runs::sampling_checkpoint(&r.dir) {
                    Some(ck) => Effect::Sample(ck),
                    None => Effect::Status(format!("{} has no checkpoint to sample from", r.name)),
                };
            }
            KeyCode::Char('w') => {
                if let Some(r) = self.records.get(self.selected) {
                    return Effect::Watch(r.dir.clone());
                }
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
