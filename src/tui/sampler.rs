//! Background work for the TUI that needs a model: generating from a
//! checkpoint when nothing trains, and reading a checkpoint's conv taps for
//! the heatmap of presets without memory.

use crate::cli::{load_model, ModelSource};
use crate::data::tokenizer::EOS;
use crate::engine::Event;
use crate::generate::{generate, SampleParams};
use anyhow::Result;
use crossbeam_channel::Sender;
use ndarray::Array2;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The last model loaded for sampling, keyed by its source.
type CachedModel = (String, Arc<crate::cli::Loaded>);

/// Generates from checkpoints (when nothing is training) on background
/// threads; a newer request cancels an older one. The loaded model is kept.
pub struct CheckpointSampler {
    current: Arc<AtomicU64>,
    cache: Arc<Mutex<Option<CachedModel>>>,
    pool: Option<Arc<rayon::ThreadPool>>,
}

fn source_key(s: &ModelSource) -> String {
    format!("{:?}|{:?}|{:?}|{:?}", s.checkpoint, s.weights, s.preset, s.tokenizer)
}

impl CheckpointSampler {
    /// Generation runs inside a pool of `threads` (its large products use it).
    pub fn new(threads: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().ok().map(Arc::new);
        CheckpointSampler { current: Arc::new(AtomicU64::new(0)), cache: Arc::new(Mutex::new(None)), pool }
    }

    /// A model the caller already loaded (so nothing loads, or prints, later).
    pub fn preload(&self, source: &ModelSource, m: crate::cli::Loaded) {
        if let Ok(mut g) = self.cache.lock() {
            *g = Some((source_key(source), Arc::new(m)));
        }
    }

    pub fn start(&self, source: ModelSource, id: u64, prompt: String, params: SampleParams, tx: Sender<Event>) {
        self.current.store(id, Ordering::SeqCst);
        let current = self.current.clone();
        let cache = self.cache.clone();
        let pool = self.pool.clone();
        let tx_err = tx.clone();
        let spawned = std::thread::Builder::new().name("sampler".into()).spawn(move || {
            let key = source_key(&source);
            let cached = cache.lock().ok().and_then(|g| g.as_ref().filter(|(k, _)| *k == key).map(|(_, m)| m.clone()));
            let m = match cached {
                Some(m) => m,
                None => match load_model(&source) {
                    Ok(m) => {
                        let m = Arc::new(m);
                        if let Ok(mut g) = cache.lock() {
                            *g = Some((key, m.clone()));
                        }
                        m
                    }
                    Err(e) => {
                        let _ = tx.send(Event::Warning(format!("cannot load the model to sample from: {e:#}")));
                        let _ = tx.send(Event::Generated { id, text: format!("[cannot load the model: {e:#}]"), done: true });
                        return;
                    }
                },
            };
            let ids = match m.tokenizer.encode_prompt(&prompt) {
                Ok(ids) => ids,
                Err(e) => {
                    let _ = tx.send(Event::Generated { id, text: format!("[{e}]"), done: true });
                    return;
                }
            };
            let banned = crate::cli::banned_ids(&m.tokenizer, m.model.vocab());
            let mut out: Vec<u32> = Vec::new();
            let mut run = || {
                generate(&*m.model, &m.params, &ids, &banned, EOS, &params, |t| {
                    out.push(t);
                    current.load(Ordering::SeqCst) == id
                        && tx.send(Event::Generated { id, text: m.tokenizer.decode(&out), done: false }).is_ok()
                })
            };
            match &pool {
                Some(p) => p.install(run),
                None => run(),
            };
            let _ = tx.send(Event::Generated { id, text: m.tokenizer.decode(&out), done: true });
        });
        if let Err(e) = spawned {
            let _ = tx_err.send(Event::Generated { id, text: format!("[cannot start a sampling thread: {e}]"), done: true });
        }
    }
}

/// Each layer's depthwise conv taps (k × d_model) from a checkpoint: the
/// nearest picture of "what a layer looks at" for presets without memory.
pub fn conv_taps(checkpoint: &Path) -> Result<(u64, Vec<Array2<f32>>)> {
    let (ck, _) = crate::train::checkpoint::load(checkpoint, |text| {
        let p = crate::preset::Preset::parse(text, "preset.ron").map_err(|e| e.to_string())?;
        let m = p.build_model();
        Ok((m.layout().clone(), m.tied_aliases()))
    })?;
    let preset = crate::preset::Preset::parse(&ck.preset_text, "preset.ron")?;
    let model = preset.build_model();
    let layers = model
        .conv_taps(&ck.params)
        .into_iter()
        .map(|(d, k, conv)| {
            // stored [channel × tap]; shown taps down, channels across
            Array2::from_shape_fn((k, d), |(tap, ch)| conv.get(ch * k + tap).copied().unwrap_or(0.0))
        })
        .collect();
    Ok((ck.state.step, layers))
}
