//! The data layer: corpus → stories → byte-level BPE tokenizer → u16 token
//! stream → training batches and fixed validation windows.
//!
//! Everything here is deterministic for a given corpus and seed, and every
//! cache (tokenizers, token files) lives under [`cache_dir`], keyed by the
//! content hash of the stories, so a cache hit can never serve stale data.

pub mod corpus;
pub mod download;
pub mod gpt2;
pub mod stories;
pub mod stream;
pub mod tok;
pub mod token_cache;
pub mod tokenizer;
pub mod tokens;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Everything that can go wrong between a corpus path and a batch. Each
/// message names the file or value at fault and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("corpus path {} does not exist (expected a UTF-8 text file or a folder of .txt files)", path.display())]
    Missing { path: PathBuf },

    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: not a regular file: it is {kind}; to read a pipe, pass `--corpus -` and pipe the text into standard input", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },

    #[error("{}: line {line} is longer than {} MiB with no line break (expected text with line breaks: stories separated by `<|endoftext|>` lines or blank lines)", path.display(), limit >> 20)]
    LineTooLong { path: PathBuf, line: u64, limit: usize },

    #[error("{} is not valid UTF-8: invalid byte at offset {offset} (expected UTF-8 text)", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },

    #[error("{what} holds no stories (expected non-empty text; stories are separated by `<|endoftext|>` lines or blank lines)")]
    EmptyCorpus { what: String },

    #[error("folder {} holds no .txt files (expected at least one *.txt corpus file directly inside it)", path.display())]
    NoTxtFiles { path: PathBuf },

    #[error("training a tokenizer (vocab {vocab}) on {stories} stories failed: {reason}")]
    TokenizerTrain { vocab: usize, stories: usize, reason: String },

    #[error("cannot load tokenizer {}: {reason} (expected a Hugging Face tokenizer.json)", path.display())]
    TokenizerLoad { path: PathBuf, reason: String },

    #[error("cannot serialise the tokenizer to JSON: {reason}")]
    TokenizerSave { reason: String },

    #[error("tokenizer {what}: {reason}")]
    TokenizerSpecials { what: String, reason: String },

    #[error("cannot encode {what}: {reason}")]
    Encode { what: String, reason: String },

    #[error("the tokenizer has {actual} ids but the model's vocab is {vocab} (expected at most {vocab} ids; raise the preset's vocab or use a smaller tokenizer)")]
    VocabTooLarge { actual: usize, vocab: usize },

    #[error("token id {id} in {what} does not fit in a u16 token file (expected ids below 65,536)")]
    IdOverflow { id: u32, what: String },

    #[error("token file {} has {len} bytes, an odd number (expected whole little-endian u16 tokens)", path.display())]
    OddTokenFile { path: PathBuf, len: u64 },

    #[error("token id {id} in {what} is outside the vocab of {vocab} (expected ids below {vocab})")]
    IdOutOfVocab { id: u16, vocab: usize, what: String },

    #[error("token cache {} cannot be used right after writing it: {why}", path.display())]
    CacheUnusable { path: PathBuf, why: String },

    #[error("corpus too small: {n_tokens} tokens give {windows} windows of {window} tokens (seq_len {seq_len} + 1), fewer than one batch of {batch}")]
    TooSmall { n_tokens: usize, seq_len: usize, window: usize, windows: usize, batch: usize },

    #[error("corpus too small: {windows} windows, fewer than one batch of {batch}")]
    TooFewWindows { windows: usize, batch: usize },

    #[error("invalid {what} {value} (expected {expected})")]
    BadValue { what: &'static str, value: String, expected: &'static str },

    #[error("holding out {valid} of {total} stories for validation (fraction {fraction}) leaves no training story (expected a corpus of at least 2 stories, a smaller fraction, or a separate validation file)")]
    NoTrainStories { valid: usize, total: usize, fraction: f64 },
}

impl DataError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        DataError::Io { action, path: path.to_path_buf(), source }
    }
}

/// The cache folder: `$FLASHLM_CACHE`, else `$XDG_CACHE_HOME/flashlm-tui`,
/// else `$HOME/.cache/flashlm-tui` (else the system temp folder). Nothing is
/// created here; the cache writers create what they need.
pub fn cache_dir() -> PathBuf {
    cache_dir_from(std::env::var_os("FLASHLM_CACHE"), std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// [`cache_dir`] as a pure function of the three variables (empty values
/// count as unset), so it can be tested without touching the process
/// environment.
pub fn cache_dir_from(flashlm_cache: Option<OsString>, xdg_cache_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
    let set = |v: Option<OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(flashlm_cache) {
        return dir;
    }
    if let Some(dir) = set(xdg_cache_home) {
        return dir.join("flashlm-tui");
    }
    if let Some(dir) = set(home) {
        return dir.join(".cache").join("flashlm-tui");
    }
    std::env::temp_dir().join("flashlm-tui")
}

/// Write `bytes` to `path` atomically: a temp file next to it, then a rename,
/// so a reader (or a crash) never sees a half-written file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io("create folder", &dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), unique_suffix()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| DataError::io("create", &tmp, e))?;
        f.write_all(bytes).map_err(|e| DataError::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| DataError::io("sync", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| DataError::io("rename into place", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Distinguishes temp files of concurrent writers inside one process.
fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// The first 16 hex digits of a hash: enough to tell cache entries apart.
pub(crate) fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}
