//! Corpora too big to hold in memory (TinyStories V2 train is 2.2 GB): read in
//! blocks of whole stories, never all at once.
//!
//! Two passes over the files, each holding one block (a few MB of text, its
//! stories and their tokens) at a time, so peak memory does not grow with the
//! corpus:
//! 1. [`scan`]: the content hash of the training stories (the cache key), the
//!    first `sample_bytes` of stories for training the tokenizer (BPE merges
//!    settle long before 8 MB of story text; training on gigabytes would cost
//!    minutes and gigabytes for no measurable gain), and the sizes.
//! 2. [`encode_to_files`]: each block's stories encoded in parallel (rayon over
//!    stories) and appended to the token file, which is renamed into the cache
//!    when complete; held-out validation blocks go to a second file.
//!
//! Blocks end at a story boundary: a `<|endoftext|>` line when the file's first
//! block (≥ 64 KB) has one, else a blank line; a "story" longer than [`MAX_PENDING`] with
//! neither is cut at a line break (a corpus with no separators is then just a
//! stream of windows). Without `--valid`, the blocks starting in the last
//! `valid_fraction` of the bytes are held out (at most [`VALID_CAP_TOKENS`] of
//! them are kept; the rest is neither trained nor validated on).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::corpus::{split_stories_mode, txt_files, CorpusHasher, STORY_SEPARATOR};
use super::tok::Tok;
use super::token_cache::{self, CacheKey, Part};
use super::DataError;

/// Corpora at least this large take the streaming path.
pub const STREAM_MIN_BYTES: u64 = 256 << 20;
/// Text read per block.
pub const BLOCK_BYTES: usize = 8 << 20;
/// A pending story longer than this without a boundary is cut at a line break.
pub const MAX_PENDING: usize = 64 << 20;
/// A file's first block (at least this many bytes) decides its mode
/// (separator lines or blank lines).
pub const DETECT_BYTES: usize = 64 << 10;
/// Held-out validation tokens kept at most (the validation windows need far fewer).
pub const VALID_CAP_TOKENS: usize = 4 << 20;

/// The files of a corpus path (a file, or a folder's `*.txt` in name order).
pub fn corpus_files(path: &Path) -> Result<Vec<PathBuf>, DataError> {
    let meta = super::corpus::corpus_metadata(path)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let files = txt_files(path)?;
    if files.is_empty() {
        return Err(DataError::NoTxtFiles { path: path.to_path_buf() });
    }
    Ok(files)
}

pub fn total_bytes(files: &[PathBuf]) -> u64 {
    files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum()
}

/// Whether a corpus path is big enough to stream.
pub fn should_stream(path: &Path) -> bool {
    corpus_files(path).map(|f| total_bytes(&f) >= STREAM_MIN_BYTES).unwrap_or(false)
}

/// One block of whole stories and where it started in the concatenated files.
struct Block {
    stories: Vec<String>,
    start: u64,
}

/// Calls `f` with each block of stories, in order; `f` returns false to stop.
fn for_each_block(
    files: &[PathBuf],
    block_bytes: usize,
    mut f: impl FnMut(Block, u64) -> Result<bool, DataError>,
) -> Result<(), DataError> {
    let mut base = 0u64; // bytes of earlier files
    let mut chunk = vec![0u8; block_bytes.max(1)];
    for path in files {
        super::corpus::corpus_metadata(path)?;
        let mut file = std::fs::File::open(path).map_err(|e| DataError::io("open", path, e))?;
        let mut lines = super::corpus::LineGuard::default();
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_at = 0u64; // file offset of pending[0]
        let mut mode: Option<bool> = None;
        let mut first = true;
        loop {
            let n = read_full(&mut file, &mut chunk).map_err(|e| DataError::io("read", path, e))?;
            let eof = n == 0;
            lines.feed(&chunk[..n], path)?;
            pending.extend_from_slice(&chunk[..n]);
            if first && !pending.is_empty() {
                if pending.starts_with(b"\xEF\xBB\xBF") {
                    pending.drain(..3);
                    pending_at = 3;
                }
                first = false;
            }
            // the file's mode: separator lines if its first MB (or first block) has one
            if mode.is_none() {
                if contains_separator_line(&pending) {
                    mode = Some(true);
                } else if eof || pending.len() >= block_bytes.max(DETECT_BYTES) {
                    mode = Some(false);
                } else {
                    continue;
                }
            }
            let has_sep = mode == Some(true);
            let cut = if eof { pending.len() } else { boundary(&pending, has_sep) };
            if cut > 0 {
                let text = std::str::from_utf8(&pending[..cut])
                    .map_err(|e| DataError::NotUtf8 { path: path.clone(), offset: pending_at as usize + e.valid_up_to() })?;
                let text = if text.contains('\r') { text.replace("\r\n", "\n") } else { text.to_string() };
                let block = Block { stories: split_stories_mode(&text, has_sep), start: base + pending_at };
                drop(text);
                pending.drain(..cut);
                pending_at += cut as u64;
                if !f(block, base + pending_at)? {
                    return Ok(());
                }
            }
            if eof {
                break;
            }
        }
        base += pending_at;
    }
    Ok(())
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn contains_separator_line(buf: &[u8]) -> bool {
    buf.split(|&b| b == b'\n').any(|line| line.trim_ascii() == STORY_SEPARATOR.as_bytes())
}

/// End (exclusive) of the last complete story in `buf`, 0 if none yet.
fn boundary(buf: &[u8], has_sep: bool) -> usize {
    let mut end = buf.len();
    // walk complete lines backwards (the bytes after the last '\n' are an unfinished line)
    while let Some(nl) = buf[..end].iter().rposition(|&b| b == b'\n') {
        let start = buf[..nl].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let line = buf[start..nl].trim_ascii();
        if (has_sep && line == STORY_SEPARATOR.as_bytes()) || (!has_sep && line.is_empty()) {
            return nl + 1;
        }
        if start == 0 {
            break;
        }
        end = start;
    }
    if buf.len() >= MAX_PENDING {
        // no boundary in a huge pending story: cut at its last line break, else
        // at the last character boundary
        return match buf.iter().rposition(|&b| b == b'\n') {
            Some(p) => p + 1,
            None => buf.iter().rposition(|&b| (b & 0xC0) != 0x80).unwrap_or(buf.len()).max(1),
        };
    }
    0
}

/// What the first pass learns about a corpus.
pub struct Scan {
    /// [`super::corpus::corpus_hash`] of the training stories, block by block.
    pub hash: String,
    /// The first stories, up to the sample size, for the tokenizer.
    pub sample: Vec<String>,
    pub total_bytes: u64,
    pub train_stories: usize,
}

/// Pass 1 (see the module doc). `valid_from`: blocks starting at or after this
/// byte are held out. `progress(bytes_done, bytes_total)`.
pub fn scan(
    files: &[PathBuf],
    block_bytes: usize,
    sample_bytes: usize,
    valid_from: Option<u64>,
    progress: &dyn Fn(u64, u64),
) -> Result<Scan, DataError> {
    let total = total_bytes(files);
    let mut h = CorpusHasher::new();
    let (mut sample, mut sampled) = (Vec::new(), 0usize);
    let mut count = 0;
    for_each_block(files, block_bytes, |block, done| {
        if valid_from.is_some_and(|v| block.start >= v) {
            progress(total, total);
            return Ok(false);
        }
        for s in block.stories {
            h.add(&s);
            count += 1;
            if sampled < sample_bytes {
                sampled += s.len();
                sample.push(s);
            }
        }
        progress(done, total);
        Ok(true)
    })?;
    if count == 0 {
        return Err(DataError::EmptyCorpus { what: files.first().map_or("corpus".into(), |f| f.display().to_string()) });
    }
    Ok(Scan { hash: h.finish(), sample, total_bytes: total, train_stories: count })
}

/// Throughput of pass 2.
#[derive(Clone, Debug)]
pub struct EncodeStats {
    pub bytes: u64,
    pub train_tokens: u64,
    pub valid_tokens: u64,
    pub secs: f64,
}

impl EncodeStats {
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs.max(1e-9)
    }
}

/// Pass 2: training tokens into `train_path`, held-out ones (when `valid_from`)
/// into `valid_path`, as token cache files under `key` (the held-out file
/// with [`Part::HeldOut`]); both written to temporary files and renamed when complete.
#[allow(clippy::too_many_arguments)]
pub fn encode_to_files(
    files: &[PathBuf],
    block_bytes: usize,
    tok: &Tok,
    key: &CacheKey,
    valid_from: Option<u64>,
    train_path: &Path,
    valid_path: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<EncodeStats, DataError> {
    let t0 = Instant::now();
    let total = total_bytes(files);
    let dir = train_path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DataError::io("create folder", dir, e))?;
    let tmp = |p: &Path| p.with_extension(format!("partial-{}", std::process::id()));
    let (train_tmp, valid_tmp) = (tmp(train_path), tmp(valid_path));
    let mut train = token_cache::Writer::create(&train_tmp)?;
    let mut valid: Vec<u16> = Vec::new();
    let mut bytes = 0u64;
    let result = for_each_block(files, block_bytes, |block, done| {
        let held_out = valid_from.is_some_and(|v| block.start >= v);
        if held_out && valid.len() >= VALID_CAP_TOKENS {
            return Ok(false);
        }
        let ids = tok.encode_stories(&block.stories)?;
        if let Err((id, vocab)) = token_cache::check_ids(&ids, key.vocab) {
            return Err(DataError::IdOutOfVocab { id, vocab, what: "the encoded corpus".into() });
        }
        if held_out {
            valid.extend_from_slice(&ids[..ids.len().min(VALID_CAP_TOKENS - valid.len())]);
        } else {
            train.push(&ids, &train_tmp)?;
        }
        bytes = done;
        progress(done, total);
        Ok(true)
    });
    let n_train = train.tokens();
    let finish = result.and_then(|()| {
        if n_train == 0 {
            return Err(DataError::EmptyCorpus { what: "the training part of the corpus".into() });
        }
        train.finish(key, &train_tmp)?;
        if valid_from.is_some() {
            token_cache::write(&valid_tmp, &key.with_part(Part::HeldOut), &valid)?;
            std::fs::rename(&valid_tmp, valid_path).map_err(|e| DataError::io("rename", &valid_tmp, e))?;
        }
        std::fs::rename(&train_tmp, train_path).map_err(|e| DataError::io("rename", &train_tmp, e))
    });
    if let Err(e) = finish {
        let _ = std::fs::remove_file(&train_tmp);
        let _ = std::fs::remove_file(&valid_tmp);
        return Err(e);
    }
    Ok(EncodeStats { bytes, train_tokens: n_train, valid_tokens: valid.len() as u64, secs: t0.elapsed().as_secs_f64() })
}
