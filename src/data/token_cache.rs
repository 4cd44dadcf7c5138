//! Token cache files: what they were built from, and proof that their tokens
//! are still the ones written.
//!
//! A cache file is a [`HEADER_BYTES`]-byte header followed by the tokens as
//! little-endian u16. The header holds a magic, the format version, the
//! corpus hash, the SHA-256 of the tokenizer's JSON, the vocab, which part of
//! the corpus the tokens are (training text or the held-out tail), the token
//! count and the SHA-256 of the token bytes. Opening a cache file checks all
//! of them against what the caller expects, hashes the tokens and checks that
//! every id is below the vocab; any difference is a [`Miss`], and the caller
//! encodes the text again. The file name already carries the key, so a miss
//! means damage, a foreign file or an older format (headerless caches), never
//! a normal event.
//!
//! The whole payload is hashed at every open (once per run). SHA-256 runs at
//! about 1.5 GB/s where the CPU has SHA extensions (every x86 since Zen), so a
//! 100M-token cache (200 MB) costs about 0.15 s next to the minutes of
//! training it serves.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::tokens::TokenStore;
use super::DataError;
use crate::kernels::mmap::MappedU16;
use crate::util::sha256_hex;

/// The first bytes of every token cache file.
pub const MAGIC: [u8; 8] = *b"FLMTOKS\n";
/// Bumped whenever the header or the payload changes meaning.
pub const FORMAT_VERSION: u32 = 1;
/// Header size; even, so the u16 payload of a mapped file stays aligned.
pub const HEADER_BYTES: usize = 256;

/// Which tokens of a corpus a cache file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The training text.
    Train = 0,
    /// The held-out tail of a streamed corpus (its validation text).
    HeldOut = 1,
}

/// What a cache file must have been built from to be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    /// The content hash of the stories (`corpus::corpus_hash`).
    pub corpus_hash: String,
    /// SHA-256 (hex) of the tokenizer's JSON.
    pub tokenizer_sha256: String,
    pub vocab: usize,
    pub part: Part,
}

impl CacheKey {
    pub fn new(corpus_hash: &str, tokenizer_json: &str, vocab: usize, part: Part) -> CacheKey {
        CacheKey { corpus_hash: corpus_hash.into(), tokenizer_sha256: sha256_hex(tokenizer_json.as_bytes()), vocab, part }
    }

    /// The same key for another part of the corpus.
    pub fn with_part(&self, part: Part) -> CacheKey {
        CacheKey { part, ..self.clone() }
    }
}

/// Why a cache file was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No file there.
    Absent,
    /// Not a regular file, or unreadable.
    Unreadable(String),
    /// No header: a file of an older format or of something else.
    NoHeader,
    Version(u32),
    /// A header field differs from what the caller expects.
    Key(&'static str),
    /// The file is not header + count × 2 bytes.
    Size {
        expected: u64,
        got: u64,
    },
    /// The tokens do not hash to the header's checksum.
    Checksum,
    /// A token id at or above the vocab.
    IdOutOfRange {
        id: u16,
        vocab: usize,
    },
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::Absent => write!(f, "not there"),
            Miss::Unreadable(e) => write!(f, "unreadable: {e}"),
            Miss::NoHeader => write!(f, "no header (an older format or another kind of file)"),
            Miss::Version(v) => write!(f, "format version {v}, this build writes {FORMAT_VERSION}"),
            Miss::Key(what) => write!(f, "built for another {what}"),
            Miss::Size { expected, got } => write!(f, "{got} bytes where its header promises {expected} (truncated or appended to)"),
            Miss::Checksum => write!(f, "its tokens do not match the header's checksum (corrupted)"),
            Miss::IdOutOfRange { id, vocab } => write!(f, "token id {id} is outside the vocab of {vocab}"),
        }
    }
}

/// The header of a cache file holding `n_tokens` tokens whose bytes hash to `payload_sha256`.
pub fn header(key: &CacheKey, n_tokens: u64, payload_sha256: &[u8; 32]) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(key.vocab.min(u32::MAX as usize) as u32).to_le_bytes());
    h[16..24].copy_from_slice(&n_tokens.to_le_bytes());
    h[24..28].copy_from_slice(&(key.part as u32).to_le_bytes());
    h[32..96].copy_from_slice(&field64(&key.corpus_hash));
    h[96..160].copy_from_slice(&field64(&key.tokenizer_sha256));
    h[160..192].copy_from_slice(payload_sha256);
    h
}

/// A hash as a 64-byte field: hex digests as they are, anything longer by its SHA-256.
fn field64(s: &str) -> [u8; 64] {
    let digest;
    let bytes = if s.len() <= 64 {
        s.as_bytes()
    } else {
        digest = sha256_hex(s.as_bytes());
        digest.as_bytes()
    };
    let mut f = [0u8; 64];
    f[..bytes.len()].copy_from_slice(bytes);
    f
}

/// Checks a header against `key` and the file length; returns the token count
/// and the payload checksum.
pub fn check_header(h: &[u8], key: &CacheKey, file_len: u64) -> Result<(u64, [u8; 32]), Miss> {
    if h.len() < HEADER_BYTES || h[0..8] != MAGIC {
        return Err(Miss::NoHeader);
    }
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(Miss::Version(version));
    }
    if u32_at(12) as usize != key.vocab {
        return Err(Miss::Key("vocab"));
    }
    if u32_at(24) != key.part as u32 {
        return Err(Miss::Key("part of the corpus"));
    }
    if h[32..96] != field64(&key.corpus_hash) {
        return Err(Miss::Key("corpus"));
    }
    if h[96..160] != field64(&key.tokenizer_sha256) {
        return Err(Miss::Key("tokenizer"));
    }
    let mut count = [0u8; 8];
    count.copy_from_slice(&h[16..24]);
    let n = u64::from_le_bytes(count);
    // checked: a forged count must not wrap into a plausible size
    let expected = n.checked_mul(2).and_then(|b| b.checked_add(HEADER_BYTES as u64));
    if expected != Some(file_len) {
        return Err(Miss::Size { expected: expected.unwrap_or(u64::MAX), got: file_len });
    }
    let mut sha = [0u8; 32];
    sha.copy_from_slice(&h[160..192]);
    Ok((n, sha))
}

/// Writes `tokens` as a cache file (a temporary file, then a rename).
pub fn write(path: &Path, key: &CacheKey, tokens: &[u16]) -> Result<(), DataError> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + tokens.len() * 2);
    bytes.extend_from_slice(&[0u8; HEADER_BYTES]);
    for t in tokens {
        bytes.extend_from_slice(&t.to_le_bytes());
    }
    let sha: [u8; 32] = Sha256::digest(&bytes[HEADER_BYTES..]).into();
    bytes[..HEADER_BYTES].copy_from_slice(&header(key, tokens.len() as u64, &sha));
    super::write_atomic(path, &bytes)
}

/// A cache file written piece by piece (a streamed corpus): a placeholder
/// header, the tokens, then the real header once the count and checksum are known.
pub struct Writer {
    file: std::io::BufWriter<File>,
    sha: Sha256,
    n: u64,
}

impl Writer {
    /// Starts the file at `path` (a temporary name: the caller renames it when [`Writer::finish`] returns).
    pub fn create(path: &Path) -> Result<Writer, DataError> {
        let f = File::create(path).map_err(|e| DataError::io("create", path, e))?;
        let mut file = std::io::BufWriter::with_capacity(1 << 20, f);
        file.write_all(&[0u8; HEADER_BYTES]).map_err(|e| DataError::io("write", path, e))?;
        Ok(Writer { file, sha: Sha256::new(), n: 0 })
    }

    pub fn push(&mut self, tokens: &[u16], path: &Path) -> Result<(), DataError> {
        let mut raw = Vec::with_capacity(tokens.len() * 2);
        for t in tokens {
            raw.extend_from_slice(&t.to_le_bytes());
        }
        self.sha.update(&raw);
        self.n += tokens.len() as u64;
        self.file.write_all(&raw).map_err(|e| DataError::io("write", path, e))
    }

    pub fn tokens(&self) -> u64 {
        self.n
    }

    /// Writes the header and flushes everything to disk.
    pub fn finish(self, key: &CacheKey, path: &Path) -> Result<(), DataError> {
        let io = |e| DataError::io("write", path, e);
        let sha: [u8; 32] = self.sha.finalize().into();
        let mut f = self.file.into_inner().map_err(|e| io(e.into_error()))?;
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        f.write_all(&header(key, self.n, &sha)).map_err(io)?;
        f.sync_all().map_err(|e| DataError::io("sync", path, e))
    }
}

/// Opens a cache file when it matches `key` in every respect (see the module
/// doc); otherwise says why not. Never fails otherwise: a cache that cannot
/// be used is rebuilt.
pub fn open(path: &Path, key: &CacheKey) -> Result<TokenStore, Miss> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
        Err(e) => return Err(Miss::Unreadable(e.to_string())),
    };
    if !meta.is_file() {
        return Err(Miss::Unreadable("not a regular file".into()));
    }
    let unreadable = |e: std::io::Error| Miss::Unreadable(e.to_string());
    let mut file = File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    let mut h = [0u8; HEADER_BYTES];
    if len < HEADER_BYTES as u64 {
        return Err(Miss::NoHeader);
    }
    file.read_exact(&mut h).map_err(unreadable)?;
    let (n, sha) = check_header(&h, key, len)?;
    // the size was checked against the file, so nothing below allocates more than the file holds
    let store = match MappedU16::map(&file).map_err(unreadable)? {
        Some(map) => {
            if map.as_bytes().len() as u64 != len {
                return Err(Miss::Size { expected: len, got: map.as_bytes().len() as u64 });
            }
            if Sha256::digest(&map.as_bytes()[HEADER_BYTES..]).as_slice() != sha {
                return Err(Miss::Checksum);
            }
            TokenStore::mapped(map, HEADER_BYTES / 2)
        }
        None => {
            let mut raw = Vec::with_capacity((n * 2) as usize);
            file.read_to_end(&mut raw).map_err(unreadable)?;
            if raw.len() as u64 != n * 2 {
                return Err(Miss::Size { expected: HEADER_BYTES as u64 + n * 2, got: HEADER_BYTES as u64 + raw.len() as u64 });
            }
            if Sha256::digest(&raw).as_slice() != sha {
                return Err(Miss::Checksum);
            }
            TokenStore::from_vec(raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
        }
    };
    check_ids(store.as_slice(), key.vocab).map_err(|(id, vocab)| Miss::IdOutOfRange { id, vocab })?;
    Ok(store)
}

/// The first id at or above `vocab`, as (id, vocab).
pub fn check_ids(tokens: &[u16], vocab: usize) -> Result<(), (u16, usize)> {
    let max = tokens.iter().copied().max().unwrap_or(0);
    if tokens.is_empty() || (max as usize) < vocab {
        Ok(())
    } else {
        Err((max, vocab))
    }
}
