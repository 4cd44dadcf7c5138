//! The channels between the trainer and a consumer, and the trainer's
//! delivery policy: it never blocks on a consumer. Per-step metrics are
//! dropped when the channel is full (they are also in metrics.jsonl), rare
//! events wait in a backlog, and heavy payloads (memory heatmaps) go in a
//! latest-value slot.

use super::{Command, Event, MemorySnapshot};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A latest-value slot: writers replace, readers take the newest.
#[derive(Clone, Default)]
pub struct Slot<T>(Arc<Mutex<Option<T>>>);

impl<T> Slot<T> {
    pub fn new() -> Self {
        Slot(Arc::new(Mutex::new(None)))
    }
    pub fn put(&self, v: T) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(v);
        }
    }
    pub fn take(&self) -> Option<T> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

/// The trainer's side of the event channel.
pub struct Emitter {
    tx: Sender<Event>,
    backlog: VecDeque<Event>,
}

impl Emitter {
    pub fn new(tx: Sender<Event>) -> Self {
        Emitter { tx, backlog: VecDeque::new() }
    }

    /// Per-step metrics: dropped if the consumer is behind.
    pub fn metric(&mut self, ev: Event) {
        self.flush();
        if self.backlog.is_empty() {
            let _ = self.tx.try_send(ev);
        }
    }

    /// Rare events: never dropped, never blocking (kept in a backlog while the channel is full).
    pub fn important(&mut self, ev: Event) {
        self.backlog.push_back(ev);
        self.flush();
    }

    pub fn flush(&mut self) {
        while let Some(ev) = self.backlog.pop_front() {
            match self.tx.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(ev)) => {
                    self.backlog.push_front(ev);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    /// At the end of a run: wait (briefly) for the consumer to take the backlog.
    pub fn drain(&mut self, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while let Some(ev) = self.backlog.pop_front() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.tx.send_timeout(ev, left).is_err() {
                self.backlog.clear();
                return;
            }
        }
    }

    pub fn sender(&self) -> Sender<Event> {
        self.tx.clone()
    }
}

/// What a consumer holds: command sender, event receiver, the heatmap slot and the thread.
pub struct EngineHandle {
    pub commands: Sender<Command>,
    pub events: Receiver<Event>,
    pub memory: Slot<MemorySnapshot>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

pub const EVENT_CAPACITY: usize = 1024;
