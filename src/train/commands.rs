//! The consumer's commands: read between steps without blocking, and
//! carried out (pause, stop, save now, evaluate now, sample from the
//! current weights).

use super::session::{status, Session};
use crate::engine::{Command, Emitter, Event, LogKind, RunState};
use crate::generate::{stream_sample, SampleParams};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) struct Control {
    rx: Receiver<Command>,
    pub(super) paused: bool,
    /// Some(save) once a stop was requested
    pub(super) stop: Option<bool>,
    /// a second stop: give up the final evaluation too
    pub(super) abort: bool,
    pending: Vec<Command>,
}

impl Control {
    pub(super) fn new(rx: Receiver<Command>) -> Self {
        Control { rx, paused: false, stop: None, abort: false, pending: Vec::new() }
    }

    /// Reads commands without blocking; returns true if a stop is pending.
    pub(super) fn poll(&mut self) -> bool {
        while let Ok(c) = self.rx.try_recv() {
            self.take(c);
        }
        self.stop.is_some()
    }

    fn take(&mut self, c: Command) {
        match c {
            Command::Pause => self.paused = true,
            Command::Resume => self.paused = false,
            Command::Stop { save } => self.request_stop(save),
            other => self.pending.push(other),
        }
    }

    fn request_stop(&mut self, save: bool) {
        if self.stop.is_some() || !save {
            self.abort = true;
        }
        self.stop = Some(self.stop.unwrap_or(save) && save);
    }

    /// Waits up to `d` for a command (while paused).
    fn wait(&mut self, d: Duration) {
        match self.rx.recv_timeout(d) {
            Ok(c) => self.take(c),
            Err(RecvTimeoutError::Timeout) => {}
            // the consumer is gone: behave as Ctrl-C (stop and save)
            Err(RecvTimeoutError::Disconnected) => {
                if self.paused {
                    self.stop = Some(true)
                }
            }
        }
    }
}

/// What the loop does after reading the commands.
pub(super) enum Flow {
    Step,
    /// Paused: read commands again.
    Wait,
    Stop,
}

impl Session {
    /// Reads the commands, carries out the pending ones, and shows the state
    /// (paused or training) when it changes.
    pub(super) fn obey(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, shown: &mut RunState) -> Flow {
        let stop = ctl.borrow_mut().poll();
        self.handle_pending(em, ctl, shown);
        if stop {
            return Flow::Stop;
        }
        if ctl.borrow().paused {
            if *shown != RunState::Paused {
                status(em, RunState::Paused, "paused");
                *shown = RunState::Paused;
            }
            // a pause does not count as the run's time (nor towards a minutes budget)
            let t0 = Instant::now();
            ctl.borrow_mut().wait(Duration::from_millis(100));
            self.clock.paused_for(t0.elapsed().as_secs_f64());
            return Flow::Wait;
        }
        if *shown != RunState::Running {
            status(em, RunState::Running, "training");
            *shown = RunState::Running;
        }
        Flow::Step
    }

    fn handle_pending(&mut self, em: &mut Emitter, ctl: &RefCell<Control>, shown: &mut RunState) {
        let pending = std::mem::take(&mut ctl.borrow_mut().pending);
        for c in pending {
            match c {
                Command::EvaluateNow => {
                    self.look_now(em, ctl);
                    // shown again (training or paused) once it is over
                    *shown = RunState::Evaluating;
                }
                Command::SaveNow => {
                    let dir = self.run_dir.join(format!("step-{}", self.state.step));
                    match self.save(&dir, "manual") {
                        Ok(()) => em.important(Event::CheckpointSaved { step: self.state.step, path: dir }),
                        Err(e) => em.important(Event::warn(LogKind::SaveFailed, e.message())),
                    }
                }
                Command::Sample { id, prompt, params } => self.spawn_sample(em, id, prompt, params),
                _ => {}
            }
        }
    }

    /// Samples from a snapshot of the weights on its own thread, so training never waits.
    fn spawn_sample(&self, em: &mut Emitter, id: u64, prompt: String, params: SampleParams) {
        let snapshot = Arc::new(self.params.clone());
        let model = self.model.clone();
        let tok = self.tokenizer.clone();
        let banned = self.banned.clone();
        let tx = em.sender();
        std::thread::spawn(move || {
            let sent = stream_sample(&*model, &snapshot, &tok, &banned, &prompt, &params, |text, done| {
                let wait = Duration::from_millis(if done { 1000 } else { 200 });
                tx.send_timeout(Event::Generated { id, text, done }, wait).is_ok()
            });
            if let Err(e) = sent {
                let _ = tx.send(Event::Generated { id, text: format!("error: {e}"), done: true });
            }
        });
    }
}
