//! The token store (a u16 stream, memory-mapped from the cache or held in
//! memory), the train/valid split, the seeded window sampler whose cursor
//! checkpoints save, and the fixed validation windows (spec §3.4, D20).

use std::path::{Path, PathBuf};

use super::tok::Tok;
use serde::{Deserialize, Serialize};

use super::token_cache::{self, CacheKey, Miss, Part};
use super::{short, DataError};
use crate::kernels::mmap::MappedU16;
use crate::rng::Rng;
use crate::util::sha256_hex;

/// A stream of u16 token ids.
pub struct TokenStore {
    inner: Inner,
}

enum Inner {
    Memory(Vec<u16>),
    /// Little-endian u16s, page-aligned by the OS, from the given u16 on (past
    /// a cache file's header); the file is only ever replaced by rename, so
    /// the mapped inode never changes under us.
    Mapped(MappedU16, usize),
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Memory(_) => "memory",
            Inner::Mapped(..) => "mapped",
        };
        f.debug_struct("TokenStore").field("kind", &kind).field("len", &self.len()).finish()
    }
}

impl TokenStore {
    pub fn from_vec(v: Vec<u16>) -> Self {
        TokenStore { inner: Inner::Memory(v) }
    }

    /// The tokens of a mapped file from its `skip`-th u16 on.
    pub(crate) fn mapped(map: MappedU16, skip: usize) -> Self {
        TokenStore { inner: Inner::Mapped(map, skip) }
    }

    /// Open a token file (little-endian u16) by memory-mapping it.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file = std::fs::File::open(path).map_err(|e| DataError::io("open token file", path, e))?;
        let len = file.metadata().map_err(|e| DataError::io("read token file", path, e))?.len();
        if len % 2 != 0 {
            return Err(DataError::OddTokenFile { path: path.to_path_buf(), len });
        }
        let mapped = if len == 0 { None } else { MappedU16::map(&file).map_err(|e| DataError::io("memory-map token file", path, e))? };
        match mapped {
            Some(map) => Ok(TokenStore::mapped(map, 0)),
            None => {
                let bytes = std::fs::read(path).map_err(|e| DataError::io("read token file", path, e))?;
                Ok(TokenStore::from_vec(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()))
            }
        }
    }

    /// Write tokens as little-endian u16 (temp file, then rename).
    pub fn write(path: &Path, tokens: &[u16]) -> Result<(), DataError> {
        let mut bytes = Vec::with_capacity(tokens.len() * 2);
        for t in tokens {
            bytes.extend_from_slice(&t.to_le_bytes());
        }
        super::write_atomic(path, &bytes)
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_slice(&self) -> &[u16] {
        match &self.inner {
            Inner::Memory(v) => v,
            Inner::Mapped(m, skip) => m.as_slice().get(*skip..).unwrap_or(&[]),
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped(..))
    }
}

/// Where the cached token file for (corpus, vocab, tokenizer) lives under `dir`.
pub fn tokens_cache_path(dir: &Path, corpus_hash: &str, vocab: usize, tok_json: &str) -> PathBuf {
    let tok_hash = sha256_hex(tok_json.as_bytes());
    dir.join("tokens").join(format!("{}-v{vocab}-{}.u16", short(corpus_hash), short(&tok_hash)))
}

/// [`cached_tokens_in`] under [`super::cache_dir`].
pub fn cached_tokens(tok: &Tok, tok_json: &str, stories: &[String], corpus_hash: &str, vocab: usize) -> Result<TokenStore, DataError> {
    cached_tokens_in(&super::cache_dir(), tok, tok_json, stories, corpus_hash, vocab, &|_, _| {}, &|_| {})
}

/// The encoded stories, from the cache under `dir` when a file there matches
/// (corpus, tokenizer, vocab, checksum, ids: [`token_cache::open`]), else
/// encoded (reporting `progress(done, total)` stories) and written there,
/// then memory-mapped. A file that is there but does not match is rebuilt and
/// `notice` gets one line saying why.
#[allow(clippy::too_many_arguments)]
pub fn cached_tokens_in(
    dir: &Path,
    tok: &Tok,
    tok_json: &str,
    stories: &[String],
    corpus_hash: &str,
    vocab: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
    notice: &dyn Fn(&str),
) -> Result<TokenStore, DataError> {
    let path = tokens_cache_path(dir, corpus_hash, vocab, tok_json);
    let key = CacheKey::new(corpus_hash, tok_json, vocab, Part::Train);
    match token_cache::open(&path, &key) {
        Ok(store) => return Ok(store),
        Err(Miss::Absent) => {}
        Err(why) => notice(&miss_notice(&path, &why)),
    }
    let tokens = tok.encode_stories_with(stories, progress)?;
    if let Err((id, vocab)) = token_cache::check_ids(&tokens, vocab) {
        return Err(DataError::IdOutOfVocab { id, vocab, what: "the encoded corpus".into() });
    }
    token_cache::write(&path, &key, &tokens)?;
    // Map the file rather than keep the Vec: big corpora then live in the
    // page cache instead of the heap, the same as on a cache hit.
    drop(tokens);
    token_cache::open(&path, &key).map_err(|why| DataError::CacheUnusable { path: path.clone(), why: why.to_string() })
}

/// The one line said when a cache file is there but not used.
pub fn miss_notice(path: &Path, why: &Miss) -> String {
    format!("token cache {} not used ({why}); encoding the corpus again", path.display())
}

/// Hold out the last `ceil(valid_fraction · n)` stories (at least 1) for
/// validation, when no validation file is given. Splitting stories, not
/// tokens, keeps every story whole on one side.
pub fn split_stories(mut stories: Vec<String>, valid_fraction: f64) -> Result<(Vec<String>, Vec<String>), DataError> {
    if !(valid_fraction > 0.0 && valid_fraction < 1.0) {
        return Err(DataError::BadValue {
            what: "validation fraction",
            value: valid_fraction.to_string(),
            expected: "a number strictly between 0 and 1",
        });
    }
    let total = stories.len();
    let valid = ((valid_fraction * total as f64).ceil() as usize).max(1);
    if valid >= total {
        return Err(DataError::NoTrainStories { valid, total, fraction: valid_fraction });
    }
    let held_out = stories.split_off(total - valid);
    Ok((stories, held_out))
}

/// Windows of T+1 tokens with stride T in a stream of `n_tokens`:
/// ⌊(N−1)/T⌋ (spec §3.4). Window i covers tokens [i·T, i·T+T+1).
pub fn window_count(n_tokens: usize, t: usize) -> usize {
    if t == 0 {
        return 0;
    }
    n_tokens.saturating_sub(1) / t
}

/// Copy window `start..start+T+1` into x (first T) and y (last T), widening to u32.
pub fn fill_window(tokens: &[u16], start: usize, t: usize, x: &mut [u32], y: &mut [u32]) {
    let w = &tokens[start..start + t + 1];
    for (dst, &src) in x[..t].iter_mut().zip(&w[..t]) {
        *dst = src as u32;
    }
    for (dst, &src) in y[..t].iter_mut().zip(&w[1..]) {
        *dst = src as u32;
    }
}

/// Fill B×T inputs and targets from the windows starting at `starts`.
pub fn fill_windows(store: &TokenStore, starts: &[usize], t: usize, x: &mut [u32], y: &mut [u32]) {
    assert_eq!(x.len(), starts.len() * t, "x must hold {} × {t} tokens", starts.len());
    assert_eq!(y.len(), starts.len() * t, "y must hold {} × {t} tokens", starts.len());
    let tokens = store.as_slice();
    for (b, &start) in starts.iter().enumerate() {
        fill_window(tokens, start, t, &mut x[b * t..(b + 1) * t], &mut y[b * t..(b + 1) * t]);
    }
}

/// Everything a checkpoint needs to continue the sampler exactly: the run's
/// sampler seed, the epoch, and the position in that epoch's permutation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    pub seed: u64,
    pub epoch: u64,
    pub pos: usize,
}

/// Random window sampler: a fresh seeded permutation of the window indices
/// per epoch, batches of B windows, the incomplete last batch of an epoch
/// dropped. The permutation is a pure function of (seed, epoch), so the
/// state stays three numbers.
#[derive(Clone)]
pub struct WindowSampler {
    n_windows: usize,
    batch: usize,
    seed: u64,
    epoch: u64,
    pos: usize,
    perm: Vec<usize>,
}

impl std::fmt::Debug for WindowSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowSampler")
            .field("n_windows", &self.n_windows)
            .field("batch", &self.batch)
            .field("state", &self.state())
            .finish()
    }
}

impl WindowSampler {
    /// A sampler over `n_windows` windows; error if they do not fill one batch.
    pub fn new(n_windows: usize, batch: usize, seed: u64) -> Result<Self, DataError> {
        if batch == 0 {
            return Err(DataError::BadValue { what: "batch size", value: "0".into(), expected: "at least 1" });
        }
        if n_windows < batch {
            return Err(DataError::TooFewWindows { windows: n_windows, batch });
        }
        Ok(Self::restore(SamplerState { seed, epoch: 0, pos: 0 }, n_windows, batch))
    }

    /// A sampler over the windows of T+1 tokens in a stream of `n_tokens`;
    /// the too-small error states the token and window counts.
    pub fn for_tokens(n_tokens: usize, t: usize, batch: usize, seed: u64) -> Result<Self, DataError> {
        if t == 0 {
            return Err(DataError::BadValue { what: "sequence length", value: "0".into(), expected: "at least 1" });
        }
        let windows = window_count(n_tokens, t);
        if batch > 0 && windows < batch {
            return Err(DataError::TooSmall { n_tokens, seq_len: t, window: t + 1, windows, batch });
        }
        Self::new(windows, batch, seed)
    }

    /// Continue from a saved state. `n_windows` and `batch` must be those of
    /// the run that saved it (same corpus, seq_len and batch).
    pub fn restore(st: SamplerState, n_windows: usize, batch: usize) -> Self {
        let perm = permutation(n_windows, st.seed, st.epoch);
        WindowSampler { n_windows, batch, seed: st.seed, epoch: st.epoch, pos: st.pos, perm }
    }

    pub fn state(&self) -> SamplerState {
        SamplerState { seed: self.seed, epoch: self.epoch, pos: self.pos }
    }

    /// Epochs completed so far (the current epoch's number).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn n_windows(&self) -> usize {
        self.n_windows
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Full batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.n_windows / self.batch.max(1)
    }

    /// The window indices of the next batch (advancing the cursor).
    pub fn next_indices(&mut self) -> &[usize] {
        if self.pos + self.batch > self.n_windows {
            self.epoch += 1;
            self.pos = 0;
            self.perm = permutation(self.n_windows, self.seed, self.epoch);
        }
        let start = self.pos;
        self.pos += self.batch;
        &self.perm[start..start + self.batch]
    }

    /// Fill x and y (B×T each, row-major) with the next batch of windows of
    /// `store`; T must be the one the window count was computed with.
    pub fn next_batch(&mut self, store: &TokenStore, t: usize, x: &mut [u32], y: &mut [u32]) {
        let b = self.batch;
        assert_eq!(x.len(), b * t, "x must hold batch {b} × seq_len {t} tokens");
        assert_eq!(y.len(), b * t, "y must hold batch {b} × seq_len {t} tokens");
        let tokens = store.as_slice();
        assert!(
            self.n_windows == 0 || (self.n_windows - 1) * t + t < tokens.len(),
            "sampler has {} windows of {} tokens but the store holds only {} tokens",
            self.n_windows,
            t + 1,
            tokens.len()
        );
        for (row, &w) in self.next_indices().iter().enumerate() {
            fill_window(tokens, w * t, t, &mut x[row * t..(row + 1) * t], &mut y[row * t..(row + 1) * t]);
        }
    }
}

/// The window order of one epoch: Fisher–Yates with an RNG seeded from
/// (seed, epoch), so any epoch can be regenerated on its own.
fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut mix = Rng::new(seed);
    let epoch_seed = mix.next_u64() ^ epoch.wrapping_mul(0xA24B_AED4_963E_E407);
    let mut rng = Rng::new(epoch_seed);
    let mut perm: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut perm);
    perm
}

/// Fixed validation windows (spec D20): the start offsets of the first
/// min(max_windows, ⌊(N−1)/T⌋) windows, in order. The same every call, so
/// eval losses are comparable across steps and runs.
pub fn validation_windows(n_tokens: usize, t: usize, max_windows: usize) -> Vec<usize> {
    let count = window_count(n_tokens, t).min(max_windows);
    (0..count).map(|i| i * t).collect()
}
