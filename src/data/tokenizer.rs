//! Byte-level BPE tokenizer, trained with the Hugging Face `tokenizers` crate
//! (the same engine the FlashLM scripts use, spec §3.3), with our fixes: a
//! ByteLevel decoder (D14), no prefix space so prompts encode like story
//! starts (D15), and the full 256-byte initial alphabet so any text encodes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::utils::SysRegex;
use tokenizers::{AddedToken, Model, ModelWrapper, Tokenizer, TokenizerBuilder, TokenizerImpl};

use super::{short, DataError};

/// Special tokens, in id order: `<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3.
pub const SPECIALS: [&str; 4] = ["<pad>", "<unk>", "<bos>", "<eos>"];
pub const PAD: u32 = 0;
pub const UNK: u32 = 1;
pub const BOS: u32 = 2;
pub const EOS: u32 = 3;
/// Whether the tokenizer's ByteLevel pre-tokenizer adds a prefix space (TOK-BL-C).
pub fn adds_prefix_space(tok: &Tokenizer) -> bool {
    matches!(tok.get_pre_tokenizer(), Some(PreTokenizerWrapper::ByteLevel(bl)) if bl.add_prefix_space)
}

/// Ids below this are specials: never shown when decoding.
pub const FIRST_ORDINARY_ID: u32 = SPECIALS.len() as u32;

/// Stories per rayon task when encoding: big enough to amortise scheduling,
/// small enough for smooth progress and load balance.
const ENCODE_CHUNK: usize = 64;

/// Train a byte-level BPE tokenizer with at most `vocab` ids on `stories`.
///
/// BPE model without unk token or byte fallback; pre-tokenizer ByteLevel
/// (add_prefix_space = false, trim_offsets = true, GPT-2 regex); ByteLevel
/// decoder; trainer min frequency 2, the four [`SPECIALS`] first (ids 0..3),
/// then the 256 byte symbols (ids 4..259, code-point order), then merges.
/// `progress` shows the `tokenizers` progress bars on stderr.
pub fn train_tokenizer(stories: &[String], vocab: usize, progress: bool) -> Result<Tokenizer, DataError> {
    train_tokenizer_with(stories, vocab, progress, 2, false)
}

/// TOK-BL-C (spec §11½, the later models' tokenizer): as [`train_tokenizer`]
/// but min frequency 3 and ByteLevel with add_prefix_space = true, so every
/// story (and every prompt) starts with a `Ġ`-prefixed token, as each line of
/// the reference's stream does. Our fixes stay: ByteLevel decoder (D14) and
/// the full byte alphabet.
pub fn train_tokenizer_prefix_space(stories: &[String], vocab: usize, progress: bool) -> Result<Tokenizer, DataError> {
    train_tokenizer_with(stories, vocab, progress, 3, true)
}

fn train_tokenizer_with(
    stories: &[String],
    vocab: usize,
    progress: bool,
    min_frequency: u64,
    prefix_space: bool,
) -> Result<Tokenizer, DataError> {
    let fail = |reason: String| DataError::TokenizerTrain { vocab, stories: stories.len(), reason };
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(min_frequency)
        .show_progress(progress)
        .special_tokens(SPECIALS.iter().map(|s| AddedToken::from(*s, true)).collect())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let byte_level = ByteLevel::new(prefix_space, true, true);
    let mut imp: TokenizerImpl<BPE, NormalizerWrapper, ByteLevel, PostProcessorWrapper, ByteLevel> = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None)
        .with_pre_tokenizer(Some(byte_level))
        .with_post_processor(None)
        .with_decoder(Some(byte_level))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    imp.train(&mut trainer, stories.iter()).map_err(|e| fail(e.to_string()))?;
    let mut tok: Tokenizer = imp.into();
    // Corpus text that happens to spell "<eos>" stays ordinary text; only
    // the data pipeline itself inserts special ids.
    tok.set_encode_special_tokens(true);
    Ok(tok)
}

/// The tokenizer's JSON (`tokenizer.json`, loadable by Python `tokenizers`).
pub fn tokenizer_json(tok: &Tokenizer) -> Result<String, DataError> {
    tok.to_string(false).map_err(|e| DataError::TokenizerSave { reason: e.to_string() })
}

/// Where the cached tokenizer for a corpus hash and vocab lives under `dir`.
pub fn tokenizer_cache_path(dir: &Path, corpus_hash: &str, vocab: usize) -> PathBuf {
    dir.join("tokenizers").join(format!("{}-v{vocab}.json", short(corpus_hash)))
}

/// [`cached_tokenizer_in`] under [`super::cache_dir`].
pub fn cached_tokenizer(stories: &[String], hash: &str, vocab: usize, progress: bool) -> Result<(Tokenizer, PathBuf, bool), DataError> {
    cached_tokenizer_in(&super::cache_dir(), stories, hash, vocab, progress)
}

/// Load the tokenizer cached for (corpus hash, vocab) under `dir`, or train
/// and cache it. Returns (tokenizer, its file, whether it came from the
/// cache). A cache file that no longer parses is retrained and replaced.
pub fn cached_tokenizer_in(
    dir: &Path,
    stories: &[String],
    hash: &str,
    vocab: usize,
    progress: bool,
) -> Result<(Tokenizer, PathBuf, bool), DataError> {
    let path = tokenizer_cache_path(dir, hash, vocab);
    if path.is_file() {
        if let Ok(tok) = load_tokenizer(&path) {
            return Ok((tok, path, true));
        }
    }
    let tok = train_tokenizer(stories, vocab, progress)?;
    super::write_atomic(&path, tokenizer_json(&tok)?.as_bytes())?;
    Ok((tok, path, false))
}

/// Load a `tokenizer.json` file (ours or a Hugging Face one).
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer, DataError> {
    let json = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DataError::TokenizerLoad { path: path.to_path_buf(), reason: "file not found".into() })
        }
        Err(e) => return Err(DataError::TokenizerLoad { path: path.to_path_buf(), reason: e.to_string() }),
    };
    tokenizer_from_json(&json, path)
}

/// Parse tokenizer JSON held in memory (e.g. read from a checkpoint);
/// `origin` names it in errors.
///
/// Tokenizers built the reference way have no decoder (spec D14); a
/// ByteLevel one is added when the pre-tokenizer is ByteLevel, so decoding
/// gives text rather than `Ġ`/`Ċ` symbols.
pub fn tokenizer_from_json(json: &str, origin: &Path) -> Result<Tokenizer, DataError> {
    let mut tok = Tokenizer::from_str(json).map_err(|e| DataError::TokenizerLoad { path: origin.to_path_buf(), reason: e.to_string() })?;
    if tok.get_decoder().is_none() && matches!(tok.get_pre_tokenizer(), Some(PreTokenizerWrapper::ByteLevel(_))) {
        tok.with_decoder(Some(ByteLevel::default()));
    }
    tok.set_encode_special_tokens(true);
    Ok(tok)
}

/// Number of ids the tokenizer can produce: highest id + 1 (model vocab and
/// added tokens together).
pub fn vocab_size(tok: &Tokenizer) -> usize {
    tok.get_vocab(true).values().map(|&id| id as usize + 1).max().unwrap_or(0)
}

/// The tokenizer must fit the model's vocab V. Returns how many of the V ids
/// it never produces (their embedding rows stay; sampling masks them).
pub fn check_vocab(tok: &Tokenizer, vocab: usize) -> Result<usize, DataError> {
    let actual = vocab_size(tok);
    if actual > vocab {
        return Err(DataError::VocabTooLarge { actual, vocab });
    }
    Ok(vocab - actual)
}

/// Check that ids 0..3 are `<pad> <unk> <bos> <eos>`, as the data pipeline
/// and sampler assume. `what` names the tokenizer in the error.
pub fn check_specials(tok: &Tokenizer, what: &str) -> Result<(), DataError> {
    for (id, name) in SPECIALS.iter().enumerate() {
        let found = tok.id_to_token(id as u32);
        if found.as_deref() != Some(*name) {
            return Err(DataError::TokenizerSpecials {
                what: what.to_string(),
                reason: format!(
                    "id {id} is {} (expected {name}; the specials must be <pad> <unk> <bos> <eos> at ids 0..3)",
                    found.map_or("missing".to_string(), |t| format!("{t:?}"))
                ),
            });
        }
    }
    Ok(())
}

/// Encode stories in parallel: each story whole, then `<eos>` (spec D15),
/// concatenated into one u16 stream.
pub fn encode_stories(tok: &Tokenizer, stories: &[String]) -> Result<Vec<u16>, DataError> {
    encode_stories_with(tok, stories, &|_, _| {})
}

/// [`encode_stories`] reporting `progress(stories_done, stories_total)` from
/// the worker threads as chunks finish (for a progress line on big corpora).
pub fn encode_stories_with(tok: &Tokenizer, stories: &[String], progress: &(dyn Fn(usize, usize) + Sync)) -> Result<Vec<u16>, DataError> {
    let total = stories.len();
    let done = AtomicUsize::new(0);
    let fast = FastEncoder::new(tok);
    let chunks: Vec<Result<Vec<u16>, DataError>> = stories
        .par_chunks(ENCODE_CHUNK)
        .enumerate()
        .map_init(WordCache::default, |cache, (chunk_index, chunk)| {
            let mut out = Vec::with_capacity(chunk.iter().map(|s| s.len() / 3 + 1).sum());
            let mut ids = Vec::new();
            for (j, story) in chunk.iter().enumerate() {
                let what = || format!("story {}", chunk_index * ENCODE_CHUNK + j);
                ids.clear();
                match &fast {
                    Some(f) if !story.is_empty() => f.encode(story, cache, &mut ids),
                    _ => tok.encode_fast(story.as_str(), false).map(|enc| ids.extend_from_slice(enc.get_ids())),
                }
                .map_err(|e| DataError::Encode { what: what(), reason: e.to_string() })?;
                for &id in &ids {
                    out.push(u16::try_from(id).map_err(|_| DataError::IdOverflow { id, what: what() })?);
                }
                out.push(EOS as u16);
            }
            let now = done.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
            progress(now, total);
            Ok(out)
        })
        .collect();
    let mut tokens = Vec::with_capacity(chunks.iter().map(|c| c.as_ref().map_or(0, |v| v.len())).sum());
    for chunk in chunks {
        tokens.extend_from_slice(&chunk?);
    }
    Ok(tokens)
}

/// Ids of each pre-tokenized piece of raw text seen so far (one per rayon job).
type WordCache = HashMap<String, Vec<u32>>;
/// Bound on a word cache; natural-language corpora stay far below it.
const WORD_CACHE_MAX: usize = 1 << 20;

/// The same pipeline `Tokenizer::encode` runs for a plain byte-level BPE
/// tokenizer (GPT-2 regex split → byte-to-symbol map → BPE per piece), minus
/// the offset bookkeeping and with a cache keyed on the raw piece, which
/// makes corpus encoding several times faster. Only used when the tokenizer
/// has nothing else that could change the result (checked in `new`); the
/// tests compare it with `encode_fast`.
struct FastEncoder<'a> {
    model: &'a ModelWrapper,
    add_prefix_space: bool,
}

impl<'a> FastEncoder<'a> {
    fn new(tok: &'a Tokenizer) -> Option<Self> {
        let add_prefix_space = match tok.get_pre_tokenizer() {
            Some(PreTokenizerWrapper::ByteLevel(bl)) if bl.use_regex => bl.add_prefix_space,
            _ => return None,
        };
        let model = tok.get_model();
        let plain_bpe = matches!(model, ModelWrapper::BPE(bpe) if bpe.dropout.is_none());
        let plain_post = matches!(tok.get_post_processor(), None | Some(PostProcessorWrapper::ByteLevel(_)));
        // Added tokens are matched in the raw text before pre-tokenizing;
        // with only special ones, and those encoded as text, there is nothing to match.
        let no_added = tok.get_encode_special_tokens() && tok.get_added_tokens_decoder().values().all(|t| t.special);
        let ok = plain_bpe
            && plain_post
            && no_added
            && tok.get_normalizer().is_none()
            && tok.get_truncation().is_none()
            && tok.get_padding().is_none();
        ok.then_some(FastEncoder { model, add_prefix_space })
    }

    fn encode(&self, text: &str, cache: &mut WordCache, out: &mut Vec<u32>) -> tokenizers::Result<()> {
        let prefixed;
        let text = if self.add_prefix_space && !text.starts_with(' ') {
            prefixed = format!(" {text}");
            prefixed.as_str()
        } else {
            text
        };
        let mut prev = 0;
        for (start, end) in gpt2_split_regex().find_iter(text) {
            if prev != start {
                self.piece(&text[prev..start], cache, out)?;
            }
            self.piece(&text[start..end], cache, out)?;
            prev = end;
        }
        if prev != text.len() {
            self.piece(&text[prev..], cache, out)?;
        }
        Ok(())
    }

    fn piece(&self, raw: &str, cache: &mut WordCache, out: &mut Vec<u32>) -> tokenizers::Result<()> {
        if let Some(ids) = cache.get(raw) {
            out.extend_from_slice(ids);
            return Ok(());
        }
        let table = symbol_of_byte();
        let symbols: String = raw.bytes().map(|b| table[b as usize]).collect();
        let ids: Vec<u32> = self.model.tokenize(&symbols)?.into_iter().map(|t| t.id).collect();
        out.extend_from_slice(&ids);
        if cache.len() >= WORD_CACHE_MAX {
            cache.clear();
        }
        cache.insert(raw.to_string(), ids);
        Ok(())
    }
}

/// The ByteLevel pre-tokenizer's split regex (tokenizers 0.22, `byte_level.rs`).
fn gpt2_split_regex() -> &'static SysRegex {
    static RE: OnceLock<SysRegex> = OnceLock::new();
    RE.get_or_init(|| {
        SysRegex::new(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
            .expect("the GPT-2 split regex is valid")
    })
}

/// Encode a prompt exactly as a story start is encoded in the training
/// stream (no special tokens added; a prefix space only where the
/// tokenizer's pre-tokenizer adds one, as for every story).
pub fn encode_prompt(tok: &Tokenizer, text: &str) -> Result<Vec<u32>, DataError> {
    let enc = tok.encode_fast(text, false).map_err(|e| DataError::Encode { what: format!("prompt {text:?}"), reason: e.to_string() })?;
    Ok(enc.get_ids().to_vec())
}

/// Decode ids to text with the ByteLevel decoder, skipping the specials
/// (ids < 4) and ids the tokenizer does not know. Invalid UTF-8 (e.g. a
/// character cut in half) becomes U+FFFD.
pub fn decode(tok: &Tokenizer, ids: &[u32]) -> String {
    let ordinary: Vec<u32> = ids.iter().copied().filter(|&id| id >= FIRST_ORDINARY_ID).collect();
    match tok.decode(&ordinary, false) {
        Ok(s) => s,
        Err(_) => String::from_utf8_lossy(&decode_bytes(tok, &ordinary)).into_owned(),
    }
}

/// The raw bytes behind ids (specials and unknown ids skipped), for
/// streaming output that must not split a UTF-8 character and for counting
/// bytes (bits per byte).
pub fn decode_bytes(tok: &Tokenizer, ids: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    for &id in ids {
        if id < FIRST_ORDINARY_ID {
            continue;
        }
        if let Some(token) = tok.id_to_token(id) {
            for ch in token.chars() {
                match byte_of_symbol(ch) {
                    Some(b) => out.push(b),
                    None => out.extend_from_slice(ch.encode_utf8(&mut [0u8; 4]).as_bytes()),
                }
            }
        }
    }
    out
}

/// GPT-2's `bytes_to_unicode`: the printable symbol standing for each byte.
fn symbol_of_byte() -> &'static [char; 256] {
    static TABLE: OnceLock<[char; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        let mut table = ['\0'; 256];
        let mut next = 256u32;
        for b in 0..=255u8 {
            table[b as usize] = if printable(b) {
                char::from(b)
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap_or('\u{fffd}')
            };
        }
        table
    })
}

/// Inverse of [`symbol_of_byte`]: the byte a ByteLevel symbol stands for.
fn byte_of_symbol(ch: char) -> Option<u8> {
    static TABLE: OnceLock<Vec<(char, u8)>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t: Vec<(char, u8)> = symbol_of_byte().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        t.sort_unstable();
        t
    });
    table.binary_search_by_key(&ch, |&(c, _)| c).ok().map(|i| table[i].1)
}

/// UTF-8 byte length of each token id for a byte-level BPE vocabulary: every
/// character of a ByteLevel token string stands for exactly one byte. Special
/// tokens (`<eos>` …) count 0 bytes: they are story boundaries, not text.
pub fn token_bytes(tok: &tokenizers::Tokenizer, vocab: usize) -> Vec<u32> {
    let mut out = vec![0u32; vocab];
    for (piece, id) in tok.get_vocab(true) {
        let id = id as usize;
        if id < vocab && id >= SPECIALS.len() {
            out[id] = piece.chars().count() as u32;
        }
    }
    out
}
