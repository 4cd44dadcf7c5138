//! Checkpoints: a self-contained folder (weights, AdamW moments, tokenizer,
//! preset text, training state) with `meta.json` listing every file's size and
//! SHA-256. Written into a temporary folder and renamed into place, so a crash
//! never leaves a half-written checkpoint under a real name; every load verifies
//! the hashes before reading anything.

use crate::data::tok::Tok;
use crate::data::tokens::SamplerState;
use crate::model::{Layout, Model};
use crate::preset::{Budget, Preset};
use crate::rng::Rng;
use crate::util::sha256_hex;
use crate::weights::{params_from_named, read_f32_tensors, to_safetensors, NamedTensors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FORMAT_VERSION: u32 = 1;
pub const WEIGHTS: &str = "model.safetensors";
pub const OPTIMIZER: &str = "optimizer.safetensors";
pub const TOKENIZER: &str = "tokenizer.json";
pub const PRESET: &str = "preset.ron";
pub const STATE: &str = "state.json";
pub const META: &str = "meta.json";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "{0}: not a checkpoint folder (no meta.json); expected a folder written by `flashlm-tui train` such as checkpoints/<run>/last"
    )]
    NotACheckpoint(String),
    #[error("{0}: checkpoint folder not found")]
    NotFound(String),
    #[error("{path}: {msg}")]
    Corrupt { path: String, msg: String },
    #[error("{path}: checkpoint format version {found}, this build reads version {expected}")]
    Version { path: String, found: u32, expected: u32 },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: cannot read it: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    #[error(transparent)]
    Preset(#[from] crate::preset::PresetError),
    #[error(transparent)]
    Tokenizer(#[from] crate::data::DataError),
    #[error("{0}")]
    Other(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |e| CheckpointError::Io { path: path.display().to_string(), source: e }
}

/// Everything besides tensors that a resumed run needs to continue exactly.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Optimiser steps taken.
    pub step: u64,
    pub tokens_seen: u64,
    /// Wall time spent training and evaluating so far (seconds).
    pub elapsed_secs: f64,
    pub budget: Budget,
    /// The LR horizon N in steps (fixed after the first steps for a minutes budget).
    pub horizon: Option<u64>,
    pub sampler: SamplerState,
    /// RNG for sampling during training.
    pub rng: Rng,
    pub best_val: Option<f64>,
    pub seed: u64,
    pub threads: usize,
    /// How the corpus was given ("built-in story corpus (…)" or a path) and its hash.
    pub corpus: String,
    pub corpus_hash: String,
    pub valid: Option<String>,
    pub tokenizer_sha256: String,
    /// Precision of the products the run last trained with (`--precision`;
    /// checkpoints from before it existed were fp32).
    #[serde(default)]
    pub precision: crate::precision::Precision,
    /// Seconds spent in optimiser steps, and the tokens of those steps: the
    /// run's mean tok/s (`engine::mean_tok_per_sec`). Checkpoints from
    /// before they were kept start both at 0.
    #[serde(default)]
    pub train_secs: f64,
    #[serde(default)]
    pub timed_tokens: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub size: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub format_version: u32,
    pub created_by: String,
    pub kind: String,
    pub files: BTreeMap<String, FileEntry>,
}

pub struct SaveRequest<'a> {
    pub layout: &'a Layout,
    pub aliases: &'a [(&'a str, &'a str)],
    pub params: &'a [f32],
    pub adam: Option<(&'a [f32], &'a [f32])>,
    pub tokenizer_json: &'a str,
    pub preset_text: &'a str,
    pub state: &'a TrainState,
    pub kind: &'a str,
}

/// Writes a checkpoint to `dir` so that a loadable copy of it (the old or the
/// new one) exists at every instant, whatever stops the process: the new copy
/// is written and flushed under a temporary name, then swapped with the old
/// one in one atomic step (`renameat2(RENAME_EXCHANGE)`; where the filesystem
/// cannot, two renames, and loading recovers from the moment between them).
/// Leftovers of an earlier save that was cut short are removed first.
pub fn save(dir: &Path, req: &SaveRequest) -> Result<(), CheckpointError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "ckpt".into());
    recover(dir);
    for stale in leftovers(dir) {
        let _ = std::fs::remove_dir_all(&stale);
    }
    let tmp = parent.join(format!(".tmp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;

    let ser = |e: safetensors::SafeTensorError| CheckpointError::Other(format!("cannot serialise tensors: {e}"));
    let mut files: Vec<(&str, Vec<u8>)> = vec![(WEIGHTS, to_safetensors(req.layout, &[("", req.params)], req.aliases).map_err(ser)?)];
    if let Some((m, v)) = req.adam {
        files.push((OPTIMIZER, to_safetensors(req.layout, &[("adam_m.", m), ("adam_v.", v)], &[]).map_err(ser)?));
    }
    files.push((TOKENIZER, req.tokenizer_json.as_bytes().to_vec()));
    files.push((PRESET, req.preset_text.as_bytes().to_vec()));
    let state = serde_json::to_vec_pretty(req.state).map_err(|e| CheckpointError::Other(e.to_string()))?;
    files.push((STATE, state));

    let mut meta = Meta {
        format_version: FORMAT_VERSION,
        created_by: format!("flashlm-tui {}", env!("CARGO_PKG_VERSION")),
        kind: req.kind.into(),
        files: BTreeMap::new(),
    };
    for (fname, bytes) in &files {
        let p = tmp.join(fname);
        write_synced(&p, bytes).map_err(io(&p))?;
        meta.files.insert(fname.to_string(), FileEntry { size: bytes.len() as u64, sha256: sha256_hex(bytes) });
    }
    let mp = tmp.join(META);
    write_synced(&mp, &serde_json::to_vec_pretty(&meta).map_err(|e| CheckpointError::Other(e.to_string()))?).map_err(io(&mp))?;
    sync_dir(&tmp).map_err(io(&tmp))?;

    // the old copy ends up under `retired`, to be removed once the new one is in place
    let retired = if !dir.exists() {
        fault_point().and_then(|()| std::fs::rename(&tmp, dir)).map_err(io(dir))?;
        None
    } else {
        match fault_point().and_then(|()| exchange(&tmp, dir)) {
            Ok(()) => Some(tmp),
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                let old = parent.join(format!(".old-{name}-{}", std::process::id()));
                fault_point().and_then(|()| std::fs::rename(dir, &old)).map_err(io(dir))?;
                fault_point().and_then(|()| std::fs::rename(&tmp, dir)).map_err(io(dir))?;
                Some(old)
            }
            Err(e) => return Err(io(dir)(e)),
        }
    };
    fault_point().and_then(|()| sync_dir(parent)).map_err(io(parent))?;
    if let Some(old) = retired {
        fault_point().map_err(io(&old))?;
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

/// Folders an interrupted save of `dir` can leave beside it: the new copy
/// not yet swapped in (`.tmp-NAME-PID`) and the old one not yet removed
/// (`.tmp-` after a swap, `.old-NAME-PID` after the two-rename fallback).
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().map(|s| s.to_string_lossy().into_owned())) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let (tmp, old) = (format!(".tmp-{name}-"), format!(".old-{name}-"));
    let mut found: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&tmp) || n.starts_with(&old)))
        .map(|e| e.path())
        .collect();
    // newest first: a complete new copy is worth more than the old one
    found.sort_by_key(|p| std::cmp::Reverse(p.metadata().and_then(|m| m.modified()).ok()));
    found
}

/// Where `dir` is missing because a save stopped between its two renames,
/// puts back the newest leftover copy that verifies. Runs before every save
/// and every load; a no-op when `dir` exists.
fn recover(dir: &Path) {
    if dir.exists() {
        return;
    }
    if let Some(good) = leftovers(dir).into_iter().find(|p| verify(p).is_ok()) {
        let _ = std::fs::rename(&good, dir);
    }
}

/// Flushes a folder's entries (new names, renames) to disk.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fault_point()?;
    std::fs::File::open(dir)?.sync_all()
}

thread_local! {
    /// (steps of the save so far, the step that fails): a test hook.
    static FAULT: std::cell::Cell<(usize, Option<usize>)> = const { std::cell::Cell::new((0, None)) };
    /// Saves on this thread take the two-rename path: a test hook.
    static NO_EXCHANGE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes this thread's saves replace folders with two renames, as on a
/// filesystem without an atomic exchange. For tests.
#[doc(hidden)]
pub fn force_rename_fallback(on: bool) {
    NO_EXCHANGE.with(|f| f.set(on));
}

/// The atomic swap, or `Unsupported` where a test forces the fallback.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    if NO_EXCHANGE.with(|f| f.get()) {
        return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "exchange disabled for a test"));
    }
    crate::kernels::os::rename_exchange(a, b)
}

/// Makes step `n` (counted from 1) of this thread's saves fail with an I/O
/// error, leaving the folders as a crash at that moment would; `None` clears
/// it. Returns how many steps the saves took since the last call. For tests.
#[doc(hidden)]
pub fn inject_save_fault(n: Option<usize>) -> usize {
    FAULT.with(|f| f.replace((0, n)).0)
}

/// One step of a save (a write, a flush, a rename): where a test's injected fault strikes.
fn fault_point() -> std::io::Result<()> {
    FAULT.with(|f| {
        let (done, at) = f.get();
        f.set((done + 1, at));
        if at == Some(done + 1) {
            return Err(std::io::Error::other("injected fault"));
        }
        Ok(())
    })
}

/// Writes and flushes to disk before the folder is renamed into place, so a
/// power cut cannot leave a renamed checkpoint with empty files.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    fault_point()?;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Largest text file (meta.json, preset, tokenizer, state) a checkpoint may
/// hold: far above what any preset writes, far below what would exhaust memory.
const TEXT_LIMIT: u64 = 256 << 20;

/// Reads `meta.json` and verifies every listed file's size and SHA-256.
pub fn verify(dir: &Path) -> Result<(Meta, BTreeMap<String, Vec<u8>>), CheckpointError> {
    let meta = read_meta(dir)?;
    let mut out = BTreeMap::new();
    for fname in meta.files.keys() {
        let limit = if fname.ends_with(".safetensors") { u64::MAX } else { TEXT_LIMIT };
        out.insert(fname.clone(), read_entry(dir, &meta, fname, limit)?);
    }
    Ok((meta, out))
}

/// Reads and checks `meta.json`: its format version, that the required
/// files are listed, and that every listed file is a regular file of the
/// listed size inside `dir` (before any of them is opened).
fn read_meta(dir: &Path) -> Result<Meta, CheckpointError> {
    let dp = dir.display().to_string();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(CheckpointError::Corrupt { path: dp, msg: "not a folder; a checkpoint is a folder holding meta.json".into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CheckpointError::NotFound(dp)),
        Err(e) => return Err(unreadable(dir, &e)),
    }
    let mp = dir.join(META);
    let md = match std::fs::symlink_metadata(&mp) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CheckpointError::NotACheckpoint(dp)),
        Err(e) => return Err(unreadable(&mp, &e)),
    };
    check_regular(&mp, &md)?;
    if md.len() > TEXT_LIMIT {
        return Err(CheckpointError::Corrupt { path: mp.display().to_string(), msg: format!("{} bytes; not a meta.json", md.len()) });
    }
    let mbytes = std::fs::read(&mp).map_err(|e| unreadable(&mp, &e))?;
    let meta: Meta = serde_json::from_slice(&mbytes)
        .map_err(|e| CheckpointError::Corrupt { path: mp.display().to_string(), msg: format!("unreadable meta.json: {e}") })?;
    if meta.format_version != FORMAT_VERSION {
        return Err(CheckpointError::Version { path: dp, found: meta.format_version, expected: FORMAT_VERSION });
    }
    for (fname, entry) in &meta.files {
        if !is_plain_name(fname) {
            return Err(CheckpointError::Corrupt {
                path: mp.display().to_string(),
                msg: format!("lists {fname:?}, which is outside the checkpoint folder; entries must be plain file names inside it"),
            });
        }
        let p = dir.join(fname);
        let md = std::fs::symlink_metadata(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                CheckpointError::Corrupt { path: p.display().to_string(), msg: "listed in meta.json but missing".into() }
            }
            _ => unreadable(&p, &e),
        })?;
        check_regular(&p, &md)?;
        if md.len() != entry.size {
            return Err(CheckpointError::Corrupt {
                path: p.display().to_string(),
                msg: format!("size {} bytes, meta.json says {} (truncated or replaced)", md.len(), entry.size),
            });
        }
    }
    for required in [WEIGHTS, TOKENIZER, PRESET, STATE] {
        if !meta.files.contains_key(required) {
            return Err(CheckpointError::Corrupt { path: dp.clone(), msg: format!("{required} is missing from meta.json") });
        }
    }
    Ok(meta)
}

/// A file name with no folder part: not empty, `.`, `..`, absolute, or holding a separator.
fn is_plain_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!((parts.next(), parts.next()), (Some(std::path::Component::Normal(_)), None)) && !name.contains(['/', '\\'])
}

/// Checkpoint files are regular files: a symbolic link could point outside
/// the folder, and a FIFO or device would block or never end.
fn check_regular(path: &Path, md: &std::fs::Metadata) -> Result<(), CheckpointError> {
    let what = if md.file_type().is_symlink() {
        "a symbolic link (it may point outside the checkpoint folder)"
    } else if md.is_dir() {
        "a folder"
    } else if md.is_file() {
        return Ok(());
    } else {
        crate::util::file_kind(md)
    };
    Err(CheckpointError::Corrupt { path: path.display().to_string(), msg: format!("not a regular file: it is {what}") })
}

/// Reading failed for a reason other than absence: said as it is (a
/// permission problem is not a missing checkpoint).
fn unreadable(path: &Path, e: &std::io::Error) -> CheckpointError {
    let reason = match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied (check the owner and mode of the checkpoint's files)".to_string(),
        _ => e.to_string(),
    };
    CheckpointError::Unreadable { path: path.display().to_string(), reason }
}

/// Reads one listed file of at most `limit` bytes and checks its size and SHA-256.
fn read_entry(dir: &Path, meta: &Meta, fname: &str, limit: u64) -> Result<Vec<u8>, CheckpointError> {
    let entry = &meta.files[fname];
    let p = dir.join(fname);
    if entry.size > limit {
        return Err(CheckpointError::Corrupt {
            path: p.display().to_string(),
            msg: format!("{} bytes, more than this checkpoint's model can need ({limit}); not read", entry.size),
        });
    }
    let bytes = read_at_most(&p, entry.size).map_err(|e| unreadable(&p, &e))?;
    if bytes.len() as u64 != entry.size {
        return Err(CheckpointError::Corrupt {
            path: p.display().to_string(),
            msg: format!("size {} bytes, meta.json says {} (truncated or replaced)", bytes.len(), entry.size),
        });
    }
    let h = sha256_hex(&bytes);
    if h != entry.sha256 {
        return Err(CheckpointError::Corrupt {
            path: p.display().to_string(),
            msg: format!("SHA-256 {h} does not match meta.json ({}): the file is corrupted", entry.sha256),
        });
    }
    Ok(bytes)
}

/// The file's first `size` bytes and one more if there is one (so a file
/// that grew since it was measured is noticed, never read to its end).
fn read_at_most(path: &Path, size: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(size as usize);
    std::fs::File::open(path)?.take(size + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A checkpoint ready to train on, sample from or evaluate: verified, its
/// preset's model built, the weights laid out for that model.
pub struct Loaded {
    pub dir: PathBuf,
    /// The preset the run was trained with (the checkpoint's own `preset.ron`).
    pub preset: Preset,
    pub preset_text: String,
    pub model: Model,
    pub params: Vec<f32>,
    /// AdamW's first and second moments, if the checkpoint holds them.
    pub adam: Option<(Vec<f32>, Vec<f32>)>,
    /// Checked against the model's vocab.
    pub tokenizer: Tok,
    pub tokenizer_json: String,
    pub state: TrainState,
}

/// Opens the checkpoint in `dir`: verifies every file against `meta.json`,
/// parses the checkpoint's own preset, builds its model, reads the weights
/// (and optimizer moments) into the model's layout, and loads the tokenizer.
/// The one way to open a checkpoint; [`read_preset`] and [`read_state`] are
/// the cheap looks for callers that only want to know what a checkpoint is.
pub fn load_model(dir: &Path) -> Result<Loaded, CheckpointError> {
    load_as(dir, Preset::build_model)
}

/// [`load_model`] into the model `build` makes from the checkpoint's preset;
/// the weights must fit that model's layout exactly.
pub fn load_as(dir: &Path, build: impl FnOnce(&Preset) -> Model) -> Result<Loaded, CheckpointError> {
    let mut files = Files::read(dir)?;
    let preset = Preset::parse_stored(&files.preset_text, &dir.join(PRESET).display().to_string())?;
    crate::limits::check_preset(&preset, preset.train.batch, crate::model::footprint::Purpose::Infer)
        .map_err(|e| CheckpointError::Other(format!("{}: {e}", dir.display())))?;
    let model = build(&preset);
    files.read_tensors(model.layout(), &model.tied_aliases())?;
    let (params, adam) = files.tensors(model.layout(), &model.tied_aliases(), |n| model.is_buffer(n))?;
    let tokenizer = Tok::from_json(&files.tokenizer_json, &dir.join(TOKENIZER))?;
    tokenizer.check_vocab(model.vocab())?;
    let Files { preset_text, tokenizer_json, state, .. } = files;
    Ok(Loaded { dir: dir.to_path_buf(), preset, preset_text, model, params, adam, tokenizer, tokenizer_json, state })
}

/// The preset a checkpoint was trained with, read from its `preset.ron`
/// without verifying or loading anything else.
pub fn read_preset(dir: &Path) -> Result<Preset, CheckpointError> {
    let path = dir.join(PRESET);
    crate::util::regular_file(&path).map_err(io(&path))?;
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    Ok(Preset::parse_stored(&text, &path.display().to_string())?)
}

/// A checkpoint's training state (step, tokens, budget, …), read from its
/// `state.json` without verifying or loading anything else.
pub fn read_state(dir: &Path) -> Result<TrainState, CheckpointError> {
    let path = dir.join(STATE);
    crate::util::regular_file(&path).map_err(io(&path))?;
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    parse_state(&bytes, &path)
}

fn parse_state(bytes: &[u8], path: &Path) -> Result<TrainState, CheckpointError> {
    serde_json::from_slice(bytes)
        .map_err(|e| CheckpointError::Corrupt { path: path.display().to_string(), msg: format!("unreadable training state: {e}") })
}

/// A verified checkpoint's files: the text ones first (before any model is
/// involved), the tensors once the preset's model says how large they can be.
struct Files {
    dir: PathBuf,
    meta: Meta,
    bytes: BTreeMap<String, Vec<u8>>,
    preset_text: String,
    tokenizer_json: String,
    state: TrainState,
}

impl Files {
    fn read(dir: &Path) -> Result<Files, CheckpointError> {
        recover(dir);
        let meta = read_meta(dir)?;
        let text = |name: &str| -> Result<String, CheckpointError> {
            String::from_utf8(read_entry(dir, &meta, name, TEXT_LIMIT)?)
                .map_err(|_| CheckpointError::Corrupt { path: dir.join(name).display().to_string(), msg: "not UTF-8".into() })
        };
        let preset_text = text(PRESET)?;
        let tokenizer_json = text(TOKENIZER)?;
        let state = parse_state(&read_entry(dir, &meta, STATE, TEXT_LIMIT)?, &dir.join(STATE))?;
        Ok(Files { dir: dir.to_path_buf(), meta, bytes: BTreeMap::new(), preset_text, tokenizer_json, state })
    }

    /// Reads the weights and the optimizer moments, each refused unread if it
    /// is larger than the model's tensors (and their safetensors header) can be.
    fn read_tensors(&mut self, layout: &Layout, aliases: &[(&str, &str)]) -> Result<(), CheckpointError> {
        let alias_len: usize = aliases.iter().filter_map(|(_, canon)| layout.get(canon)).map(|t| t.len()).sum();
        let n_tensors = (layout.tensors.len() + aliases.len()) as u64;
        // 8 length bytes, a JSON header of well under 1 KiB per tensor, the f32 data
        let limit = |elems: u64, tensors: u64| 8 + (64 << 10) + 1024 * tensors + 4 * elems;
        let weights = read_entry(&self.dir, &self.meta, WEIGHTS, limit((layout.total + alias_len) as u64, n_tensors))?;
        self.bytes.insert(WEIGHTS.into(), weights);
        if self.meta.files.contains_key(OPTIMIZER) {
            let moments = read_entry(&self.dir, &self.meta, OPTIMIZER, limit(2 * layout.total as u64, 2 * n_tensors))?;
            self.bytes.insert(OPTIMIZER.into(), moments);
        }
        Ok(())
    }

    /// The weights, and the AdamW moments if present, in `layout`'s order.
    #[allow(clippy::type_complexity)]
    fn tensors(
        &self,
        layout: &Layout,
        aliases: &[(&str, &str)],
        is_buffer: impl Fn(&str) -> bool,
    ) -> Result<(Vec<f32>, Option<(Vec<f32>, Vec<f32>)>), CheckpointError> {
        let wpath = self.dir.join(WEIGHTS).display().to_string();
        let named = read_f32_tensors(&self.bytes[WEIGHTS], &wpath)?;
        let params = params_from_named(layout, &named, aliases, is_buffer, &wpath)?;
        let adam = match self.bytes.get(OPTIMIZER) {
            None => None,
            Some(bytes) => {
                let opath = self.dir.join(OPTIMIZER).display().to_string();
                let named = read_f32_tensors(bytes, &opath)?;
                let split = |prefix: &str| -> NamedTensors {
                    named.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), v.clone()))).collect()
                };
                let m = params_from_named(layout, &split("adam_m."), &[], |_| false, &opath)?;
                let v = params_from_named(layout, &split("adam_v."), &[], |_| false, &opath)?;
                Some((m, v))
            }
        };
        Ok((params, adam))
    }
}
