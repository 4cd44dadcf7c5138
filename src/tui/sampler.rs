//! Background work for the TUI that needs a model: generating from a
//! checkpoint when nothing trains, and reading a checkpoint's conv taps for
//! the heatmap of presets without memory.

use crate::engine::Event;
use crate::generate::{stream_sample, SampleParams};
use crate::inference::{load_model, Loaded, ModelSource};
use anyhow::Result;
use crossbeam_channel::Sender;
use ndarray::Array2;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The last model loaded for sampling, keyed by its source.
type CachedModel = (ModelSource, Arc<Loaded>);

/// Generates from checkpoints (when nothing is training) on background
/// threads; a newer request cancels an older one. The loaded model is kept.
pub struct CheckpointSampler {
    current: Arc<AtomicU64>,
    cache: Arc<Mutex<Option<CachedModel>>>,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl CheckpointSampler {
    /// Generation runs inside a pool of `threads` (its large products use it).
    pub fn new(threads: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().ok().map(Arc::new);
        CheckpointSampler { current: Arc::new(AtomicU64::new(0)), cache: Arc::new(Mutex::new(None)), pool }
    }

    /// A model the caller already loaded (so nothing loads, or prints, later).
    pub fn preload(&self, source: &ModelSource, m: Loaded) {
        if let Ok(mut g) = self.cache.lock() {
            *g = Some((source.clone(), Arc::new(m)));
        }
    }

    pub fn start(&self, source: ModelSource, id: u64, prompt: String, params: SampleParams, tx: Sender<Event>) {
        self.current.store(id, Ordering::SeqCst);
        let current = self.current.clone();
        let cache = self.cache.clone();
        let pool = self.pool.clone();
        let tx_err = tx.clone();
        let spawned = std::thread::Builder::new().name("sampler".into()).spawn(move || {
            let cached = cache.lock().ok().and_then(|g| g.as_ref().filter(|(k, _)| *k == source).map(|(_, m)| m.clone()));
            let m = match cached {
                Some(m) => m,
                None => match load_model(&source) {
                    Ok(m) => {
                        for w in &m.warnings {
                            let _ = tx.send(Event::warn(crate::engine::LogKind::ReferenceWeights, w.clone()));
                        }
                        let m = Arc::new(m);
                        if let Ok(mut g) = cache.lock() {
                            *g = Some((source.clone(), m.clone()));
                        }
                        m
                    }
                    Err(e) => {
                        let _ = tx.send(Event::warn(crate::engine::LogKind::Note, format!("cannot load the model to sample from: {e:#}")));
                        let _ = tx.send(Event::Generated { id, text: format!("[cannot load the model: {e:#}]"), done: true });
                        return;
                    }
                },
            };
            let banned = m.banned_ids();
            let run = || {
                stream_sample(&*m.model, &m.params, &m.tokenizer, &banned, &prompt, &params, |text, done| {
                    if done {
                        let _ = tx.send(Event::Generated { id, text, done });
                        return true;
                    }
                    current.load(Ordering::SeqCst) == id && tx.send(Event::Generated { id, text, done }).is_ok()
                })
            };
            let sent = match &pool {
                Some(p) => p.install(run),
                None => run(),
            };
            if let Err(e) = sent {
                let _ = tx.send(Event::Generated { id, text: format!("[{e}]"), done: true });
            }
        });
        if let Err(e) = spawned {
            let _ = tx_err.send(Event::Generated { id, text: format!("[cannot start a sampling thread: {e}]"), done: true });
        }
    }
}

/// Each layer's depthwise conv taps (k × d_model) from a checkpoint: the
/// nearest picture of "what a layer looks at" for presets without memory.
pub fn conv_taps(checkpoint: &Path) -> Result<(u64, Vec<Array2<f32>>)> {
    let ck = crate::train::checkpoint::load_model(checkpoint)?;
    let (model, params) = (ck.model, ck.params);
    let layers = model
        .conv_taps(&params)
        .into_iter()
        .map(|(d, k, conv)| {
            // stored [channel × tap]; shown taps down, channels across
            Array2::from_shape_fn((k, d), |(tap, ch)| conv.get(ch * k + tap).copied().unwrap_or(0.0))
        })
        .collect();
    Ok((ck.state.step, layers))
}
