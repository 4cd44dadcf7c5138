//! TOK-G, v4's tokenizer (spec §3.1): GPT-2 byte-level BPE (tiktoken `gpt2`,
//! the `r50k_base` ranks embedded in `tiktoken-rs`, so it works offline),
//! re-indexed to a small vocabulary. Ids 0..3 are the usual specials
//! (PAD, UNK, BOS, EOS); ids 4, 5, … are the most frequent GPT-2 ids of the
//! training stories in descending frequency (ties in first-seen order); every
//! other GPT-2 id encodes as UNK.
//!
//! Encoding does not go through tiktoken's fancy-regex splitter for every
//! story: `for_each_piece` is a hand-written equivalent of the GPT-2 split
//! regex (exact; non-ASCII characters are classified by the regex engine
//! itself, once per character and thread) and a per-thread cache maps each
//! distinct piece to its GPT-2 ids, so tiktoken's BPE runs once per distinct
//! piece. [`gpt2_encode`] exposes the result so tests can compare it with
//! tiktoken's own `encode_ordinary`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;
use tokenizers::utils::SysRegex;

use super::tokenizer::{EOS, FIRST_ORDINARY_ID, UNK};
use super::DataError;

/// Number of GPT-2 ids (50 256 ordinary ids and `<|endoftext|>` = 50 256).
pub const GPT2_VOCAB: usize = 50_257;
/// The `type` tag of the remap JSON.
pub const REMAP_TYPE: &str = "flashlm-gpt2-remap";
const REMAP_VERSION: u32 = 1;
const REMAP_BASE: &str = "gpt2";
const REMAP_SHAPE: &str = r#"{"type":"flashlm-gpt2-remap","version":1,"base":"gpt2","ids":[<distinct GPT-2 ids below 50257>]}"#;

/// GPT-2 → local ids and back (spec §3.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Gpt2Remap {
    /// GPT-2 id of local id `4 + i`.
    gpt2_of: Vec<u32>,
    /// Local id of every GPT-2 id (UNK when unmapped); `GPT2_VOCAB` entries.
    local_of: Vec<u32>,
}

impl std::fmt::Debug for Gpt2Remap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head: Vec<u32> = self.gpt2_of.iter().copied().take(8).collect();
        f.debug_struct("Gpt2Remap").field("vocab", &self.vocab_size()).field("first_gpt2_ids", &head).finish()
    }
}

#[derive(Serialize, Deserialize)]
struct RemapJson {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    base: String,
    ids: Vec<u64>,
}

impl Gpt2Remap {
    /// Count every GPT-2 id over `stories` (each story encoded whole, no
    /// specials) and keep the `vocab − 4` most frequent, ties in first-seen
    /// order. Parallel over stories; the result does not depend on the thread
    /// count. When the stories hold fewer distinct GPT-2 ids than `vocab − 4`,
    /// all of them are kept and [`vocab_size`](Self::vocab_size) is smaller
    /// than `vocab`.
    pub fn train(stories: &[String], vocab: usize) -> Result<Self, DataError> {
        if vocab <= FIRST_ORDINARY_ID as usize {
            return Err(DataError::BadValue {
                what: "GPT-2 remap vocab",
                value: vocab.to_string(),
                expected: "at least 5 (4 specials and one GPT-2 id)",
            });
        }
        if stories.iter().all(|s| s.is_empty()) {
            return Err(DataError::EmptyCorpus { what: format!("the {} training stories of the GPT-2 remap", stories.len()) });
        }

        // 1. Distinct pieces with their count and first position (story, piece).
        type Pos = (usize, usize);
        let chunk = chunk_len(stories.len());
        let partial: Vec<FxMap<&str, (u64, Pos)>> = stories
            .par_chunks(chunk)
            .enumerate()
            .map(|(ci, ch)| {
                with_scratch(|scratch| {
                    let mut m: FxMap<&str, (u64, Pos)> = FxMap::default();
                    for (j, story) in ch.iter().enumerate() {
                        let mut k = 0usize;
                        for_each_piece(story, &mut scratch.chars, |p| {
                            m.entry(p).and_modify(|e| e.0 += 1).or_insert((1, (ci * chunk + j, k)));
                            k += 1;
                        });
                    }
                    m
                })
            })
            .collect();
        let mut pieces: FxMap<&str, (u64, Pos)> = FxMap::default();
        for m in partial {
            for (p, (c, pos)) in m {
                let e = pieces.entry(p).or_insert((0, pos));
                e.0 += c;
                e.1 = e.1.min(pos);
            }
        }

        // 2. GPT-2 ids of each distinct piece; count ids, first position (story, piece, index in piece).
        let pieces: Vec<(&str, u64, Pos)> = pieces.into_iter().map(|(p, (c, pos))| (p, c, pos)).collect();
        let bpe = &base().bpe;
        let ranks: Vec<Vec<u32>> = pieces.par_iter().map(|(p, _, _)| bpe.encode_ordinary(p)).collect();
        let mut count = vec![0u64; GPT2_VOCAB];
        let mut first = vec![(usize::MAX, usize::MAX, usize::MAX); GPT2_VOCAB];
        for ((_, c, (s, k)), ids) in pieces.iter().zip(&ranks) {
            for (i, &id) in ids.iter().enumerate() {
                count[id as usize] += c;
                first[id as usize] = first[id as usize].min((*s, *k, i));
            }
        }

        // 3. Most frequent first, ties in first-seen order.
        let mut seen: Vec<u32> = (0..GPT2_VOCAB as u32).filter(|&id| count[id as usize] > 0).collect();
        seen.sort_by_key(|&id| (std::cmp::Reverse(count[id as usize]), first[id as usize]));
        seen.truncate(vocab - FIRST_ORDINARY_ID as usize);
        Ok(Self::from_gpt2_ids(seen))
    }

    /// `gpt2_of` must hold distinct ids below [`GPT2_VOCAB`].
    fn from_gpt2_ids(gpt2_of: Vec<u32>) -> Self {
        let mut local_of = vec![UNK; GPT2_VOCAB];
        for (i, &g) in gpt2_of.iter().enumerate() {
            local_of[g as usize] = FIRST_ORDINARY_ID + i as u32;
        }
        Gpt2Remap { gpt2_of, local_of }
    }

    /// 4 + the number of mapped GPT-2 ids (at most the `vocab` asked for).
    pub fn vocab_size(&self) -> usize {
        FIRST_ORDINARY_ID as usize + self.gpt2_of.len()
    }

    /// The GPT-2 ids of local ids 4, 5, … in order.
    pub fn gpt2_ids(&self) -> &[u32] {
        &self.gpt2_of
    }

    /// Local ids of `text` (no specials added, no prefix space: a prompt
    /// encodes like a story start, D15). Unmapped GPT-2 ids become UNK.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        with_scratch(|scratch| gpt2_pieces(text, scratch, |ids| out.extend(ids.iter().map(|&g| self.local_of[g as usize]))));
        out
    }

    /// [`encode`](Self::encode) with the byte offset in `text` where each id
    /// starts; an UNK still spans the bytes of the GPT-2 id behind it.
    pub fn encode_with_starts(&self, text: &str) -> (Vec<u32>, Vec<usize>) {
        let bytes = &base().bytes;
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        let mut starts = Vec::with_capacity(ids.capacity());
        let mut at = 0;
        with_scratch(|scratch| {
            gpt2_pieces(text, scratch, |piece| {
                for &g in piece {
                    ids.push(self.local_of[g as usize]);
                    starts.push(at);
                    at += bytes[g as usize].len();
                }
            })
        });
        (ids, starts)
    }

    /// Every story encoded whole and followed by EOS (D15), concatenated in
    /// story order into one u16 stream (parallel over stories).
    pub fn encode_stories(&self, stories: &[String]) -> Vec<u16> {
        let chunk = chunk_len(stories.len());
        let parts: Vec<Vec<u16>> = stories
            .par_chunks(chunk)
            .map(|ch| {
                let mut out = Vec::with_capacity(ch.iter().map(|s| s.len() / 4 + 1).sum());
                with_scratch(|scratch| {
                    for story in ch {
                        gpt2_pieces(story, scratch, |ids| out.extend(ids.iter().map(|&g| self.local_of[g as usize] as u16)));
                        out.push(EOS as u16);
                    }
                });
                out
            })
            .collect();
        parts.concat()
    }

    /// Text of `ids`: specials, UNK and ids outside the vocabulary are
    /// dropped; invalid UTF-8 (e.g. a character cut in half) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }

    /// The raw bytes behind the ordinary ids of `ids` (others skipped).
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let bytes = &base().bytes;
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            if let Some(g) = self.gpt2_of_local(id) {
                out.extend_from_slice(&bytes[g as usize]);
            }
        }
        out
    }

    /// Number of bytes behind one id (0 for specials, UNK and ids outside the
    /// vocabulary), for bits per byte.
    pub fn token_bytes(&self, id: u32) -> usize {
        self.gpt2_of_local(id).map_or(0, |g| base().bytes[g as usize].len())
    }

    fn gpt2_of_local(&self, id: u32) -> Option<u32> {
        id.checked_sub(FIRST_ORDINARY_ID).and_then(|i| self.gpt2_of.get(i as usize)).copied()
    }

    /// `{"type":"flashlm-gpt2-remap","version":1,"base":"gpt2","ids":[…]}`,
    /// `ids` = the GPT-2 ids of local ids 4, 5, ….
    pub fn to_json(&self) -> String {
        let json = RemapJson {
            kind: REMAP_TYPE.to_string(),
            version: REMAP_VERSION,
            base: REMAP_BASE.to_string(),
            ids: self.gpt2_of.iter().map(|&g| g as u64).collect(),
        };
        serde_json::to_string(&json).expect("a remap always serialises")
    }

    /// Parse [`to_json`](Self::to_json)'s format, checking the type tag,
    /// version, base, and that the ids are distinct GPT-2 ids (at least one).
    pub fn from_json(json: &str) -> Result<Self, DataError> {
        let bad = |what: &'static str, value: String, expected: &'static str| DataError::BadValue { what, value, expected };
        let parsed: RemapJson = serde_json::from_str(json).map_err(|e| bad("GPT-2 remap JSON", format!("({e})"), REMAP_SHAPE))?;
        if parsed.kind != REMAP_TYPE {
            return Err(bad("GPT-2 remap JSON type", format!("{:?}", parsed.kind), "\"flashlm-gpt2-remap\""));
        }
        if parsed.version != REMAP_VERSION {
            return Err(bad("GPT-2 remap JSON version", parsed.version.to_string(), "1"));
        }
        if parsed.base != REMAP_BASE {
            return Err(bad("GPT-2 remap JSON base", format!("{:?}", parsed.base), "\"gpt2\""));
        }
        if parsed.ids.is_empty() {
            return Err(bad("GPT-2 remap JSON ids", "[] (empty)".to_string(), "at least one GPT-2 id"));
        }
        let mut owner = vec![usize::MAX; GPT2_VOCAB];
        for (i, &g) in parsed.ids.iter().enumerate() {
            let local = i + FIRST_ORDINARY_ID as usize;
            if g >= GPT2_VOCAB as u64 {
                return Err(bad("GPT-2 remap JSON id", format!("{g} (for local id {local})"), "GPT-2 ids below 50257"));
            }
            if owner[g as usize] != usize::MAX {
                let other = owner[g as usize];
                return Err(bad("GPT-2 remap JSON id", format!("{g} (for local ids {other} and {local})"), "each GPT-2 id at most once"));
            }
            owner[g as usize] = local;
        }
        Ok(Self::from_gpt2_ids(parsed.ids.into_iter().map(|g| g as u32).collect()))
    }

    /// Whether `json` is a remap file (top-level `"type": "flashlm-gpt2-remap"`)
    /// rather than, say, a Hugging Face tokenizer.json. A text scan, no parse:
    /// a corrupted remap file still answers true, so it gets
    /// [`from_json`](Self::from_json)'s error rather than a tokenizer.json one.
    pub fn is_remap_json(json: &str) -> bool {
        let tag = format!("\"{REMAP_TYPE}\"");
        json.match_indices(&tag).any(|(at, _)| {
            let before = json[..at].trim_end();
            before.strip_suffix(':').is_some_and(|b| b.trim_end().ends_with("\"type\""))
        })
    }
}

/// The GPT-2 ids of `text` (no specials, `<|endoftext|>` is plain text), as
/// tiktoken's `encode_ordinary` gives them, through the fast path.
pub fn gpt2_encode(text: &str) -> Vec<u32> {
    let mut out = Vec::with_capacity(text.len() / 3 + 1);
    with_scratch(|scratch| gpt2_pieces(text, scratch, |ids| out.extend_from_slice(ids)));
    out
}

/// The bytes of one GPT-2 id (`None` from 50 257 on).
pub fn gpt2_token_bytes(id: u32) -> Option<&'static [u8]> {
    base().bytes.get(id as usize).map(|b| &b[..])
}

// ---------------------------------------------------------------------------
// The GPT-2 base, created once.

struct Base {
    bpe: CoreBPE,
    /// Bytes of every GPT-2 id.
    bytes: Vec<Box<[u8]>>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let bpe = tiktoken_rs::r50k_base().expect("the embedded r50k_base ranks parse");
        let bytes = (0..GPT2_VOCAB as u32)
            .map(|id| bpe.decode_bytes(&[id]).expect("every GPT-2 id below 50257 has bytes").into_boxed_slice())
            .collect();
        Base { bpe, bytes }
    })
}

// ---------------------------------------------------------------------------
// Per-thread scratch: piece → GPT-2 ids cache and non-ASCII character classes.

/// FxHash (rustc's hasher): fast for the short keys here; not DoS-resistant,
/// which does not matter for a local corpus.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, mut bytes: &[u8]) {
        while bytes.len() >= 8 {
            self.add(u64::from_le_bytes(bytes[..8].try_into().unwrap()));
            bytes = &bytes[8..];
        }
        if bytes.len() >= 4 {
            self.add(u32::from_le_bytes(bytes[..4].try_into().unwrap()) as u64);
            bytes = &bytes[4..];
        }
        for &b in bytes {
            self.add(b as u64);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Bound on a thread's piece cache (natural-language corpora stay far below).
const PIECE_CACHE_MAX: usize = 1 << 18;

#[derive(Default)]
struct Scratch {
    pieces: FxMap<Box<[u8]>, Box<[u32]>>,
    chars: FxMap<char, Class>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

/// Stories per rayon task: a few tasks per thread for load balance.
fn chunk_len(n: usize) -> usize {
    (n / (rayon::current_num_threads() * 8)).clamp(1, 4096)
}

/// Call `emit` with the GPT-2 ids of each piece of `text`, in order.
fn gpt2_pieces(text: &str, scratch: &mut Scratch, mut emit: impl FnMut(&[u32])) {
    let Scratch { pieces, chars } = scratch;
    for_each_piece(text, chars, |p| {
        if let Some(ids) = pieces.get(p.as_bytes()) {
            emit(ids);
        } else {
            let ids = base().bpe.encode_ordinary(p).into_boxed_slice();
            emit(&ids);
            if pieces.len() >= PIECE_CACHE_MAX {
                pieces.clear();
            }
            pieces.insert(p.as_bytes().into(), ids);
        }
    });
}

// ---------------------------------------------------------------------------
// The GPT-2 split, by hand. tiktoken's pattern for gpt2 is
//   '(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s
// tried left to right at each position.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

const ASCII_CLASS: [Class; 128] = {
    let mut t = [Class::Other; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = if b.is_ascii_alphabetic() {
            Class::Letter
        } else if b.is_ascii_digit() {
            Class::Number
        } else if matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ') {
            Class::Space
        } else {
            Class::Other
        };
        i += 1;
    }
    t
};

/// Class of a non-ASCII character as the regex engine sees it (the same
/// `regex-syntax` Unicode tables tiktoken's fancy-regex uses).
fn classify_by_regex(c: char) -> Class {
    static RES: OnceLock<[SysRegex; 3]> = OnceLock::new();
    let [l, n, s] = RES.get_or_init(|| [r"\p{L}", r"\p{N}", r"\s"].map(|p| SysRegex::new(p).expect("a valid Unicode class regex")));
    let mut buf = [0u8; 4];
    let text = c.encode_utf8(&mut buf);
    let hit = |re: &SysRegex| re.find_iter(text).next().is_some();
    if hit(l) {
        Class::Letter
    } else if hit(n) {
        Class::Number
    } else if hit(s) {
        Class::Space
    } else {
        Class::Other
    }
}

/// Class and byte length of the character starting at byte `i`.
#[inline]
fn class_at(text: &str, i: usize, chars: &mut FxMap<char, Class>) -> (Class, usize) {
    let b = text.as_bytes()[i];
    if b < 0x80 {
        return (ASCII_CLASS[b as usize], 1);
    }
    let c = text[i..].chars().next().expect("i is a character boundary");
    (*chars.entry(c).or_insert_with(|| classify_by_regex(c)), c.len_utf8())
}

/// End of the run of class `class` starting at byte `j`.
#[inline]
fn run_end(text: &str, mut j: usize, class: Class, chars: &mut FxMap<char, Class>) -> usize {
    let bytes = text.as_bytes();
    while j < bytes.len() {
        if bytes[j] < 0x80 {
            if ASCII_CLASS[bytes[j] as usize] != class {
                break;
            }
            j += 1;
        } else {
            let (c, len) = class_at(text, j, chars);
            if c != class {
                break;
            }
            j += len;
        }
    }
    j
}

/// Call `f` with each piece of the GPT-2 split of `text`, in order.
fn for_each_piece<'t>(text: &'t str, chars: &mut FxMap<char, Class>, mut f: impl FnMut(&'t str)) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        let end = if bytes[i] == b'\'' && contraction_len(&bytes[i + 1..]) > 0 {
            // '(?:[sdmt]|ll|ve|re)
            i + 1 + contraction_len(&bytes[i + 1..])
        } else {
            let (class, len) = class_at(text, i, chars);
            if bytes[i] == b' ' && i + 1 < n && class_at(text, i + 1, chars).0 != Class::Space {
                // ' ?\p{L}++', ' ?\p{N}++', ' ?[^\s\p{L}\p{N}]++' with the space
                let (next, next_len) = class_at(text, i + 1, chars);
                run_end(text, i + 1 + next_len, next, chars)
            } else if class != Class::Space {
                // the same three without the space
                run_end(text, i + len, class, chars)
            } else {
                // '\s++$', else '\s+(?!\S)' (the run minus its last character), else '\s'
                let mut j = i;
                let mut last = i;
                while j < n {
                    let (c, l) = class_at(text, j, chars);
                    if c != Class::Space {
                        break;
                    }
                    last = j;
                    j += l;
                }
                if j == n {
                    n
                } else if last > i {
                    last
                } else {
                    i + len
                }
            }
        };
        f(&text[i..end]);
        i = end;
    }
}

/// Length of a contraction suffix (`s t m d ll ve re`) at the start of `rest`, or 0.
#[inline]
fn contraction_len(rest: &[u8]) -> usize {
    match rest {
        [b's' | b'd' | b'm' | b't', ..] => 1,
        [b'l', b'l', ..] | [b'v', b'e', ..] | [b'r', b'e', ..] => 2,
        _ => 0,
    }
}
