//! The data a run trains on: which corpus, read whole or scanned in blocks
//! when it is big (data/stream.rs), the tokenizer, and the encoded token
//! stores (cached by content).

use super::checkpoint::{Loaded, TrainState};
use super::error::TrainError;
use super::session::status;
use super::trainer::RunConfig;
use crate::data::corpus::{corpus_hash, load_stories, CorpusSource};
use crate::data::stream;
use crate::data::tok::{cached_tok_in, Tok};
use crate::data::token_cache::{self, CacheKey, Miss, Part};
use crate::data::tokens::{cached_tokens_in, miss_notice, split_stories, tokens_cache_path, TokenStore};
use crate::data::DataError;
use crate::engine::{Emitter, Event, LogKind, RunState};
use crate::preset::Preset;
use crossbeam_channel::Sender;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Where the run's text comes from, as its state records it.
pub(super) struct CorpusInfo {
    /// "built-in story corpus (…)" or the corpus path.
    pub(super) label: String,
    /// Content hash of the training stories (of the whole text when streamed).
    pub(super) hash: String,
    pub(super) valid_path: Option<PathBuf>,
}

/// The text itself, until it is encoded.
pub(super) struct CorpusText {
    /// The corpus files of a corpus too big to hold, read in blocks.
    streamed: Option<Vec<PathBuf>>,
    /// The training stories (when streamed: the tokenizer's sample of them).
    train: Vec<String>,
    valid: Vec<String>,
    /// Streamed with no validation file: the byte offset where the held-out tail starts.
    valid_from: Option<u64>,
}

/// The preset's tokenizer for a corpus: trained on at most
/// `data.tokenizer_sample_bytes` of the first stories (BPE merges settle long
/// before that on story text), cached by that sample's hash and the vocab.
pub fn tokenizer_for(preset: &Preset, stories: &[String], progress: bool) -> Result<(Tok, PathBuf, bool), crate::data::DataError> {
    let mut n = 0;
    let mut bytes = 0;
    while n < stories.len() && bytes < preset.data.tokenizer_sample_bytes {
        bytes += stories[n].len();
        n += 1;
    }
    let sample = &stories[..n];
    cached_tok_in(&crate::data::cache_dir(), preset.data.tokenizer, sample, &corpus_hash(sample), preset.vocab(), progress)
}

/// Picks the corpus (the flag, else what the resumed run used, else the
/// built-in stories) and the validation text, and reads them.
pub(super) fn read_corpus(
    cfg: &RunConfig,
    preset: &Preset,
    resumed: Option<&TrainState>,
    em: &mut Emitter,
) -> Result<(CorpusInfo, CorpusText), TrainError> {
    let builtin = CorpusSource::BuiltIn { seed: preset.data.builtin_seed, stories: preset.data.builtin_stories };
    let source = match (&cfg.corpus, resumed) {
        // absolute, so `sample`/`eval` find it again from any folder
        (Some(p), _) => CorpusSource::Path(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        (None, Some(st)) if !st.corpus.starts_with("built-in") => CorpusSource::Path(PathBuf::from(&st.corpus)),
        _ => builtin,
    };
    let label = match &source {
        CorpusSource::BuiltIn { seed, stories } => format!("built-in story corpus (seed {seed}, {stories} stories)"),
        CorpusSource::Path(p) => p.display().to_string(),
    };
    let valid_path = cfg
        .valid
        .as_ref()
        .map(|v| std::fs::canonicalize(v).unwrap_or_else(|_| v.clone()))
        .or_else(|| resumed.and_then(|st| st.valid.as_ref().map(PathBuf::from)));
    status(em, RunState::Preparing, format!("reading {label}"));
    let read_valid = |v: &PathBuf| load_stories(&CorpusSource::Path(v.clone())).map_err(TrainError::Valid);
    // big corpora stream in blocks (data/stream.rs); the rest is read whole
    let streamed = match &source {
        CorpusSource::Path(p) if stream::should_stream(p) => Some(stream::corpus_files(p).map_err(TrainError::Corpus)?),
        _ => None,
    };
    let (train, valid, hash, valid_from) = match &streamed {
        Some(files) => {
            let total = stream::total_bytes(files);
            let valid_from = valid_path.is_none().then_some(((1.0 - preset.data.valid_fraction) * total as f64) as u64);
            let progress = bytes_progress(em.sender(), "scanning the corpus");
            let scan = stream::scan(files, stream::BLOCK_BYTES, preset.data.tokenizer_sample_bytes, valid_from, &progress)
                .map_err(TrainError::Corpus)?;
            let valid = match &valid_path {
                Some(v) => read_valid(v)?,
                None => Vec::new(),
            };
            (scan.sample, valid, scan.hash, valid_from)
        }
        None => {
            let stories = load_stories(&source).map_err(TrainError::Corpus)?;
            let (train, valid) = match &valid_path {
                Some(v) => (stories, read_valid(v)?),
                None => split_stories(stories, preset.data.valid_fraction).map_err(TrainError::HoldOut)?,
            };
            let hash = corpus_hash(&train);
            (train, valid, hash, None)
        }
    };
    Ok((CorpusInfo { label, hash, valid_path }, CorpusText { streamed, train, valid, valid_from }))
}

/// The run's tokenizer and the JSON its checkpoints store: the resumed
/// checkpoint's, the imported weights', else one trained (and cached) on a
/// sample of the corpus. Checked against the preset's vocab.
pub(super) fn tokenizer(
    cfg: &RunConfig,
    preset: &Preset,
    resumed: Option<&Loaded>,
    text: &CorpusText,
    em: &mut Emitter,
) -> Result<(Tok, String), TrainError> {
    let vocab = preset.vocab();
    let (tok, json) = match (resumed, &cfg.import) {
        (Some(ck), _) => (ck.tokenizer.clone(), ck.tokenizer_json.clone()),
        (None, Some(imp)) => {
            let path = &imp.tokenizer;
            let json = std::fs::read_to_string(path).map_err(|source| TrainError::TokenizerFile { path: path.clone(), source })?;
            let tok = Tok::from_json(&json, path).map_err(TrainError::Tokenizer)?;
            tok.check_specials(&path.display().to_string()).map_err(TrainError::Tokenizer)?;
            // stored as loaded (with the ByteLevel decoder, D14) in every checkpoint
            let json = tok.to_json().map_err(TrainError::Tokenizer)?;
            (tok, json)
        }
        (None, None) => {
            status(em, RunState::Preparing, format!("tokenizer: vocab {vocab}"));
            let (tok, path, cached) = tokenizer_for(preset, &text.train, cfg.progress).map_err(TrainError::Tokenizer)?;
            if !cached {
                em.important(Event::info(LogKind::TokenizerTrained, format!("trained a new tokenizer, cached at {}", path.display())));
            }
            let json = tok.to_json().map_err(TrainError::Tokenizer)?;
            (tok, json)
        }
    };
    let unused = tok.check_vocab(vocab).map_err(TrainError::Tokenizer)?;
    if unused > 0 {
        em.important(Event::warn(
            LogKind::UnusedIds { unused },
            format!(
                "the tokenizer has {} ids, the model {vocab}: {unused} ids are never produced; they keep their rows and are masked when sampling",
                vocab - unused
            ),
        ));
    }
    Ok((tok, json))
}

/// Encodes the training and validation text into token stores; the text is
/// dropped once encoded.
pub(super) fn encode(
    text: CorpusText,
    info: &CorpusInfo,
    tok: &Tok,
    tok_json: &str,
    vocab: usize,
    em: &mut Emitter,
) -> Result<(TokenStore, TokenStore), TrainError> {
    status(em, RunState::Preparing, "encoding the corpus");
    let encode_valid = || tok.encode_stories(&text.valid).map(TokenStore::from_vec).map_err(TrainError::Encode);
    // caches that are there but unusable are rebuilt, each with one line saying why
    let notices = std::cell::RefCell::new(Vec::new());
    let notice = |line: &str| notices.borrow_mut().push(line.to_string());
    let (train, valid) = match &text.streamed {
        Some(files) => {
            let path = tokens_cache_path(&crate::data::cache_dir(), &info.hash, vocab, tok_json);
            let vpath = path.with_extension("valid.u16");
            let key = CacheKey::new(&info.hash, tok_json, vocab, Part::Train);
            let vkey = key.with_part(Part::HeldOut);
            let held_out = text.valid_from.is_some();
            let verified = |p: &std::path::Path, k: &CacheKey| {
                token_cache::open(p, k).map_err(|why| {
                    if why != Miss::Absent {
                        notice(&miss_notice(p, &why));
                    }
                })
            };
            let hit =
                verified(&path, &key).and_then(|t| if held_out { verified(&vpath, &vkey).map(|v| (t, Some(v))) } else { Ok((t, None)) });
            let (train, valid) = match hit {
                Ok(hit) => hit,
                Err(()) => {
                    for line in notices.take() {
                        em.important(Event::warn(LogKind::Note, line));
                    }
                    let progress = bytes_progress(em.sender(), "encoding the corpus");
                    let st = stream::encode_to_files(files, stream::BLOCK_BYTES, tok, &key, text.valid_from, &path, &vpath, &progress)
                        .map_err(TrainError::Encode)?;
                    em.important(Event::info(
                        LogKind::CorpusEncoded,
                        format!(
                            "encoded {} MB into {} training tokens in {:.1} s ({:.1} MB/s, streamed in {} MB blocks)",
                            st.bytes / 1_000_000,
                            st.train_tokens,
                            st.secs,
                            st.mb_per_sec(),
                            stream::BLOCK_BYTES >> 20
                        ),
                    ));
                    let reopen = |p: &std::path::Path, k: &CacheKey| {
                        token_cache::open(p, k)
                            .map_err(|why| TrainError::Encode(DataError::CacheUnusable { path: p.to_path_buf(), why: why.to_string() }))
                    };
                    let train = reopen(&path, &key)?;
                    (train, if held_out { Some(reopen(&vpath, &vkey)?) } else { None })
                }
            };
            let valid = match valid {
                Some(v) => v,
                None => encode_valid()?,
            };
            (train, valid)
        }
        None => {
            let progress = stories_progress(em.sender());
            let train = cached_tokens_in(&crate::data::cache_dir(), tok, tok_json, &text.train, &info.hash, vocab, &progress, &notice)
                .map_err(TrainError::Encode)?;
            (train, encode_valid()?)
        }
    };
    for line in notices.take() {
        em.important(Event::warn(LogKind::Note, line));
    }
    // whatever made them, no id reaches past the embedding
    for (store, what) in [(&train, "the training tokens"), (&valid, "the validation tokens")] {
        if let Err((id, vocab)) = token_cache::check_ids(store.as_slice(), vocab) {
            return Err(TrainError::Encode(DataError::IdOutOfVocab { id, vocab, what: what.into() }));
        }
    }
    Ok((train, valid))
}

/// Reports each new percentage of a byte count as a preparing status
/// (skipped while the channel is full: progress is not worth waiting for).
fn bytes_progress(tx: Sender<Event>, what: &'static str) -> impl Fn(u64, u64) {
    let last = AtomicU64::new(u64::MAX);
    move |done: u64, total: u64| {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if pct != last.swap(pct, Ordering::Relaxed) {
            let _ =
                tx.try_send(Event::Status { state: RunState::Preparing, detail: format!("{what}: {pct} % of {} MB", total / 1_000_000) });
        }
    }
}

/// Reports every tenth percent of the stories encoded as a preparing status.
fn stories_progress(tx: Sender<Event>) -> impl Fn(usize, usize) + Sync {
    let last = AtomicUsize::new(usize::MAX);
    move |done: usize, total: usize| {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if pct / 10 != last.swap(pct, Ordering::Relaxed) / 10 {
            let _ = tx
                .try_send(Event::Status { state: RunState::Preparing, detail: format!("encoding the corpus: {pct} % of {total} stories") });
        }
    }
}
