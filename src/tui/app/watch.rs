//! Watching a run: the dashboard, read-only, on a run followed from its
//! metrics.jsonl (`flashlm-tui watch RUN_DIR`, or `w` on the runs screen)
//! rather than trained here. The records arrive as the trainer's events
//! (crate::follow) and change the dashboard as the live ones do.

use super::run::RunView;
use super::{App, Screen};
use crate::engine::{Event, RunState};
use crate::preset::Preset;
use std::path::Path;

impl App {
    /// Opens the dashboard on the run in `dir`, of `preset` (its checkpoint's
    /// or its folder name's; `None`: unknown, the chart and rates still show).
    pub fn watch(&mut self, dir: &Path, preset: Option<&Preset>) {
        let known = preset.cloned().or_else(|| crate::preset::resolve("tiny", None).ok().map(|(p, _)| p));
        let Some(p) = known else {
            return;
        };
        let mut view = RunView::new(&p, "(see the run's state.json)".into());
        if preset.is_none() {
            // not this preset's numbers: say nothing rather than something wrong
            view.preset = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (view.params, view.flops_per_token, view.has_memory, view.has_conv) = (0, 0.0, false, false);
        }
        view.watched = true;
        view.started = true;
        view.state = RunState::Running;
        view.detail = format!("following {}", dir.join("metrics.jsonl").display());
        view.run_dir = Some(dir.to_path_buf());
        self.run = Some(view);
        self.quitting = None;
        self.dashboard.reset_for_run();
        self.log.scroll = 0;
        self.screen = Screen::Dashboard;
        self.status = Some("watching: read-only; the run's new records appear as they are written".into());
        self.dirty = true;
    }

    /// Records newly read from the watched run.
    pub fn on_watched(&mut self, events: Vec<Event>) {
        for ev in events {
            if let (Event::Step(_), Some(run)) = (&ev, self.run.as_mut()) {
                // a resumed run's record goes on after a session's summary
                if run.summary.take().is_some() {
                    run.state = RunState::Running;
                }
            }
            self.on_event(ev);
        }
    }
}
