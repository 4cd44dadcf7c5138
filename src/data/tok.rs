//! The tokenizer a preset uses, behind one type: byte-level BPE trained with
//! the Hugging Face `tokenizers` crate (TOK-BL-A/B, spec §3.2–3.3, every
//! version but v4), or v4's TOK-G (GPT-2 ids re-indexed by frequency, §3.1).
//! Both are stored as `tokenizer.json` in checkpoints; the JSON tells them apart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::gpt2::Gpt2Remap;
use super::tokenizer::{self as bpe, FIRST_ORDINARY_ID, SPECIALS};
use super::DataError;

/// Which tokenizer a preset trains (preset `data.tokenizer`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenizerKind {
    /// Byte-level BPE trained on the corpus (TOK-BL-A/B with fixes D14, D15).
    #[default]
    Bpe,
    /// TOK-G: GPT-2 BPE, its ids re-indexed by frequency on the corpus.
    Gpt2Remap,
    /// TOK-BL-C (the later models, spec §11½): byte-level BPE with a prefix
    /// space and min frequency 3 (with fix D14).
    BpePrefixSpace,
}

impl TokenizerKind {
    /// The fewest ids a model needs with this tokenizer: the specials and,
    /// for byte-level BPE, all 256 byte symbols (ids 4..259).
    pub fn min_vocab(self) -> usize {
        match self {
            TokenizerKind::Bpe | TokenizerKind::BpePrefixSpace => SPECIALS.len() + 256,
            TokenizerKind::Gpt2Remap => FIRST_ORDINARY_ID as usize + 1,
        }
    }

    /// How the tokenizer is named in messages.
    pub fn label(self) -> &'static str {
        match self {
            TokenizerKind::Bpe => "byte-level BPE tokenizer (4 specials and 256 byte symbols)",
            TokenizerKind::Gpt2Remap => "GPT-2 remap tokenizer (4 specials and one GPT-2 id)",
            TokenizerKind::BpePrefixSpace => "byte-level BPE tokenizer with a prefix space (4 specials and 256 byte symbols)",
        }
    }
}

#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per model, moved rarely
pub enum Tok {
    Bpe(Tokenizer),
    Gpt2(Arc<Gpt2Remap>),
}

impl Tok {
    pub fn kind(&self) -> TokenizerKind {
        match self {
            Tok::Bpe(t) if bpe::adds_prefix_space(t) => TokenizerKind::BpePrefixSpace,
            Tok::Bpe(_) => TokenizerKind::Bpe,
            Tok::Gpt2(_) => TokenizerKind::Gpt2Remap,
        }
    }

    /// Trains the kind's tokenizer on `stories` with at most `vocab` ids.
    pub fn train(kind: TokenizerKind, stories: &[String], vocab: usize, progress: bool) -> Result<Tok, DataError> {
        Ok(match kind {
            TokenizerKind::Bpe => Tok::Bpe(bpe::train_tokenizer(stories, vocab, progress)?),
            TokenizerKind::Gpt2Remap => Tok::Gpt2(Arc::new(Gpt2Remap::train(stories, vocab)?)),
            TokenizerKind::BpePrefixSpace => Tok::Bpe(bpe::train_tokenizer_prefix_space(stories, vocab, progress)?),
        })
    }

    /// Parses a `tokenizer.json` of either kind; `origin` names it in errors.
    pub fn from_json(json: &str, origin: &Path) -> Result<Tok, DataError> {
        if Gpt2Remap::is_remap_json(json) {
            return Gpt2Remap::from_json(json)
                .map(|g| Tok::Gpt2(Arc::new(g)))
                .map_err(|e| DataError::TokenizerLoad { path: origin.to_path_buf(), reason: e.to_string() });
        }
        bpe::tokenizer_from_json(json, origin).map(Tok::Bpe)
    }

    pub fn load(path: &Path) -> Result<Tok, DataError> {
        let json = std::fs::read_to_string(path).map_err(|e| DataError::TokenizerLoad {
            path: path.to_path_buf(),
            reason: if e.kind() == std::io::ErrorKind::NotFound { "file not found".into() } else { e.to_string() },
        })?;
        Tok::from_json(&json, path)
    }

    pub fn to_json(&self) -> Result<String, DataError> {
        match self {
            Tok::Bpe(t) => bpe::tokenizer_json(t),
            Tok::Gpt2(g) => Ok(g.to_json()),
        }
    }

    /// Number of ids the tokenizer can produce (specials included).
    pub fn vocab_size(&self) -> usize {
        match self {
            Tok::Bpe(t) => bpe::vocab_size(t),
            Tok::Gpt2(g) => g.vocab_size(),
        }
    }

    /// The tokenizer must fit the model's vocab; returns how many ids it never produces.
    pub fn check_vocab(&self, vocab: usize) -> Result<usize, DataError> {
        let actual = self.vocab_size();
        if actual > vocab {
            return Err(DataError::VocabTooLarge { actual, vocab });
        }
        Ok(vocab - actual)
    }

    /// Ids 0..3 must be `<pad> <unk> <bos> <eos>` (TOK-G has them by construction).
    pub fn check_specials(&self, what: &str) -> Result<(), DataError> {
        match self {
            Tok::Bpe(t) => bpe::check_specials(t, what),
            Tok::Gpt2(_) => Ok(()),
        }
    }

    /// [`encode_prompt`](Self::encode_prompt), with the byte offset in `text`
    /// where each id starts when the ids alone cannot say it (the GPT-2
    /// remap's UNK); None for tokenizers whose ids decode to their bytes.
    pub fn encode_prompt_with_starts(&self, text: &str) -> Result<(Vec<u32>, Option<Vec<usize>>), DataError> {
        match self {
            Tok::Bpe(_) => Ok((self.encode_prompt(text)?, None)),
            Tok::Gpt2(g) => {
                let (ids, starts) = g.encode_with_starts(text);
                Ok((ids, Some(starts)))
            }
        }
    }

    /// A prompt encoded exactly as a story start is encoded in the training stream.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, DataError> {
        match self {
            Tok::Bpe(t) => bpe::encode_prompt(t, text),
            Tok::Gpt2(g) => Ok(g.encode(text)),
        }
    }

    /// Each story whole, then `<eos>` (D15), concatenated; `progress(done, total)` stories.
    pub fn encode_stories_with(&self, stories: &[String], progress: &(dyn Fn(usize, usize) + Sync)) -> Result<Vec<u16>, DataError> {
        match self {
            Tok::Bpe(t) => bpe::encode_stories_with(t, stories, progress),
            Tok::Gpt2(g) => {
                let out = g.encode_stories(stories);
                progress(stories.len(), stories.len());
                Ok(out)
            }
        }
    }

    pub fn encode_stories(&self, stories: &[String]) -> Result<Vec<u16>, DataError> {
        self.encode_stories_with(stories, &|_, _| {})
    }

    /// Text of ordinary ids (specials skipped); invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            Tok::Bpe(t) => bpe::decode(t, ids),
            Tok::Gpt2(g) => g.decode(ids),
        }
    }

    /// Raw bytes of ordinary ids (for streaming output and byte counts).
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        match self {
            Tok::Bpe(t) => bpe::decode_bytes(t, ids),
            Tok::Gpt2(g) => g.decode_bytes(ids),
        }
    }

    /// UTF-8 byte length of each id below `vocab` (0 for specials), for bits per byte.
    pub fn token_bytes(&self, vocab: usize) -> Vec<u32> {
        match self {
            Tok::Bpe(t) => super::tokenizer::token_bytes(t, vocab),
            Tok::Gpt2(g) => (0..vocab as u32).map(|id| if id < FIRST_ORDINARY_ID { 0 } else { g.token_bytes(id) as u32 }).collect(),
        }
    }

    /// Ids sampling must never produce: specials other than `<eos>`, and ids
    /// the tokenizer never makes (TOK-G's `<unk>` included).
    pub fn banned_ids(&self, vocab: usize) -> Vec<bool> {
        let real = self.vocab_size();
        (0..vocab).map(|i| i >= real || (i < SPECIALS.len() && i as u32 != bpe::EOS)).collect()
    }
}

/// Where the cached tokenizer of a kind for (corpus hash, vocab) lives under `dir`.
pub fn tok_cache_path(dir: &Path, kind: TokenizerKind, corpus_hash: &str, vocab: usize) -> PathBuf {
    match kind {
        TokenizerKind::Bpe => bpe::tokenizer_cache_path(dir, corpus_hash, vocab),
        TokenizerKind::Gpt2Remap => dir.join("tokenizers").join(format!("{}-v{vocab}-gpt2remap.json", super::short(corpus_hash))),
        TokenizerKind::BpePrefixSpace => dir.join("tokenizers").join(format!("{}-v{vocab}-bpe-c.json", super::short(corpus_hash))),
    }
}

/// The kind's tokenizer for a corpus from the cache under `dir`, or trained
/// and cached. Returns (tokenizer, its file, whether it came from the cache).
pub fn cached_tok_in(
    dir: &Path,
    kind: TokenizerKind,
    stories: &[String],
    hash: &str,
    vocab: usize,
    progress: bool,
) -> Result<(Tok, PathBuf, bool), DataError> {
    if kind == TokenizerKind::Bpe {
        let (t, p, c) = bpe::cached_tokenizer_in(dir, stories, hash, vocab, progress)?;
        return Ok((Tok::Bpe(t), p, c));
    }
    let path = tok_cache_path(dir, kind, hash, vocab);
    if path.is_file() {
        if let Ok(t) = Tok::load(&path) {
            if t.kind() == kind {
                return Ok((t, path, true));
            }
        }
    }
    let tok = Tok::train(kind, stories, vocab, progress)?;
    super::write_atomic(&path, tok.to_json()?.as_bytes())?;
    Ok((tok, path, false))
}
