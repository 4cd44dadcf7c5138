//! Data layer: story splitting, tokenizer, caches, token store, sampler,
//! validation windows.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use flashlm_tui::data::corpus::{corpus_hash, load_stories, split_stories_text, CorpusSource};
use flashlm_tui::data::token_cache::HEADER_BYTES;
use flashlm_tui::data::tokenizer::{
    cached_tokenizer_in, check_specials, check_vocab, decode, decode_bytes, encode_prompt, encode_stories, load_tokenizer,
    tokenizer_from_json, tokenizer_json, train_tokenizer, vocab_size, EOS, SPECIALS,
};
use flashlm_tui::data::tokens::{
    cached_tokens_in, split_stories, tokens_cache_path, validation_windows, window_count, SamplerState, TokenStore, WindowSampler,
};
use flashlm_tui::data::{cache_dir_from, stories, DataError};
use tokenizers::Tokenizer;

const VOCAB: usize = 512;

fn tiny_stories() -> &'static Vec<String> {
    static S: OnceLock<Vec<String>> = OnceLock::new();
    S.get_or_init(|| stories::stories(1, 2000))
}

/// One tokenizer shared by the tests that only read it (training takes a while).
fn tok() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| train_tokenizer(tiny_stories(), VOCAB, false).expect("train tokenizer"))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn load(path: &Path) -> Result<Vec<String>, DataError> {
    load_stories(&CorpusSource::Path(path.to_path_buf()))
}

// ---------------------------------------------------------------- corpus

#[test]
fn endoftext_file_with_bom_and_crlf_splits_into_stories() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\u{feff}Once upon a time.\r\nThe end.\r\n<|endoftext|>\r\n  \r\nSecond story.\r\n\r\nIt has a blank line inside.\r\n  <|endoftext|>  \r\n<|endoftext|>\r\nThird, unterminated.";
    let p = write(dir.path(), "c.txt", text.as_bytes());
    let s = load(&p).unwrap();
    assert_eq!(
        s,
        vec![
            "Once upon a time.\nThe end.".to_string(),
            "Second story.\n\nIt has a blank line inside.".to_string(),
            "Third, unterminated.".to_string(),
        ]
    );
}

#[test]
fn file_without_separators_splits_on_blank_lines() {
    let text = "First story,\nline two.\n\n\n   \nSecond story.\n\t\nThird\nstory.\n";
    assert_eq!(split_stories_text(text), vec!["First story,\nline two.", "Second story.", "Third\nstory."]);
    // A separator anywhere switches the rule: blank lines then stay inside stories.
    assert_eq!(split_stories_text("a\n\nb\n<|endoftext|>\nc"), vec!["a\n\nb", "c"]);
    // Text that merely contains the marker inside a line does not split.
    assert_eq!(split_stories_text("x <|endoftext|> y\n\nz"), vec!["x <|endoftext|> y", "z"]);
}

#[test]
fn folder_reads_txt_files_in_name_order_and_ignores_others() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.txt", b"B one\n<|endoftext|>\nB two\n<|endoftext|>\n");
    write(dir.path(), "a.txt", b"A one\n\nA two\n");
    write(dir.path(), "notes.md", b"not a story\n");
    std::fs::create_dir(dir.path().join("sub.txt")).unwrap();
    let s = load(dir.path()).unwrap();
    assert_eq!(s, vec!["A one", "A two", "B one", "B two"]);
}

#[test]
fn folder_without_txt_files_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "readme.md", b"hello\n");
    let e = load(dir.path()).unwrap_err();
    assert!(matches!(e, DataError::NoTxtFiles { .. }), "{e}");
    assert!(e.to_string().contains(&dir.path().display().to_string()), "{e}");
}

#[test]
fn invalid_utf8_reports_the_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"Hello there, caf".to_vec(); // 16 valid bytes
    bytes.extend_from_slice(&[0xC3, 0x28, b'!']);
    let p = write(dir.path(), "bad.txt", &bytes);
    let e = load(&p).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DataError::NotUtf8 { offset: 16, .. }), "{msg}");
    assert!(msg.contains("offset 16"), "{msg}");
    assert!(msg.contains("bad.txt"), "{msg}");
}

#[test]
fn empty_or_blank_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [("empty.txt", ""), ("blank.txt", "\n  \n<|endoftext|>\n\n")] {
        let p = write(dir.path(), name, body.as_bytes());
        let e = load(&p).unwrap_err();
        assert!(matches!(e, DataError::EmptyCorpus { .. }), "{name}: {e}");
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn missing_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("no-such-corpus.txt");
    let e = load(&p).unwrap_err();
    assert!(matches!(e, DataError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("no-such-corpus.txt"), "{e}");
}

#[test]
fn built_in_source_and_corpus_hash() {
    let a = load_stories(&CorpusSource::BuiltIn { seed: 7, stories: 20 }).unwrap();
    let b = load_stories(&CorpusSource::BuiltIn { seed: 7, stories: 20 }).unwrap();
    assert_eq!(a.len(), 20);
    assert_eq!(a, b);
    assert_eq!(corpus_hash(&a), corpus_hash(&b));
    assert_eq!(corpus_hash(&a).len(), 64);
    assert_ne!(corpus_hash(&a), corpus_hash(&a[..19]));
    // Moving text across a story boundary changes the hash.
    assert_ne!(corpus_hash(&["ab".into(), "c".into()]), corpus_hash(&["a".into(), "bc".into()]));
    assert!(load_stories(&CorpusSource::BuiltIn { seed: 7, stories: 0 }).is_err());
}

// ---------------------------------------------------------------- tokenizer

#[test]
fn tokenizer_specials_size_and_round_trip() {
    let tok = tok();
    for (id, name) in SPECIALS.iter().enumerate() {
        assert_eq!(tok.id_to_token(id as u32).as_deref(), Some(*name));
        assert_eq!(tok.token_to_id(name), Some(id as u32));
    }
    check_specials(tok, "test").unwrap();
    let size = vocab_size(tok);
    assert!(size <= VOCAB && size > 260, "vocab size {size}");
    assert_eq!(check_vocab(tok, VOCAB).unwrap(), VOCAB - size);

    let mut texts: Vec<String> = tiny_stories()[..5].to_vec();
    texts.extend(awkward_texts());
    for text in &texts {
        let ids = encode_prompt(tok, text).unwrap();
        assert!(ids.iter().all(|&id| id >= 4 && (id as usize) < size), "special or out-of-range id in {ids:?}");
        assert_eq!(&decode(tok, &ids), text);
        assert_eq!(decode_bytes(tok, &ids), text.as_bytes());
    }
    // Merges were learned: a story takes far fewer tokens than bytes.
    let s = &tiny_stories()[0];
    assert!(encode_prompt(tok, s).unwrap().len() * 2 < s.len());
}

#[test]
fn prompts_encode_like_story_starts() {
    let tok = tok();
    let story = &tiny_stories()[3];
    let stream = encode_stories(tok, std::slice::from_ref(story)).unwrap();
    let prompt: String = story.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    let p = encode_prompt(tok, &prompt).unwrap();
    let head: Vec<u32> = stream[..p.len()].iter().map(|&t| t as u32).collect();
    assert_eq!(head, p, "prompt {prompt:?}");
}

#[test]
fn encode_stories_appends_eos_after_each_story() {
    let tok = tok();
    let stories = &tiny_stories()[..50];
    let stream = encode_stories(tok, stories).unwrap();
    assert_eq!(stream.iter().filter(|&&t| t as u32 == EOS).count(), stories.len());
    assert_eq!(*stream.last().unwrap() as u32, EOS);
    let mut start = 0;
    for story in stories {
        let ids = encode_prompt(tok, story).unwrap();
        let got: Vec<u32> = stream[start..start + ids.len()].iter().map(|&t| t as u32).collect();
        assert_eq!(got, ids);
        assert_eq!(stream[start + ids.len()] as u32, EOS);
        start += ids.len() + 1;
    }
    assert_eq!(start, stream.len());
    // Decoding skips the specials.
    let ids: Vec<u32> = stream.iter().map(|&t| t as u32).collect();
    assert_eq!(decode(tok, &ids), stories.concat());
}

/// Texts that stress the pre-tokenizer: contractions, digits, whitespace runs,
/// punctuation clusters, non-Latin scripts, emoji, control characters.
fn awkward_texts() -> Vec<String> {
    vec![
        "Zoë's café ☕ — naïve 日本語 text\twith\ttabs\n\nand  double  spaces ".into(),
        "I'm sure you'll see they've 12,345.67 apples; we'd've   gone...!!?\n\n\n  x".into(),
        " leading space, emoji 🦀🦀, and \"<eos>\" <pad> <|endoftext|> spelled out".into(),
        "\u{0}\u{1}\u{7f} control \r\n crlf \u{a0}nbsp\u{2009}thin ﬁ ligature Ελληνικά Русский".into(),
        "a".into(),
        " ".into(),
        "\n".into(),
    ]
}

/// The corpus encoder (with its own word cache) must give exactly what
/// `Tokenizer::encode` gives, story by story, followed by `<eos>`.
fn assert_stream_matches_encode(tok: &Tokenizer, stories: &[String]) {
    let stream = encode_stories(tok, stories).unwrap();
    let mut start = 0;
    for story in stories {
        let ids: Vec<u32> = tok.encode(story.as_str(), false).unwrap().get_ids().to_vec();
        let got: Vec<u32> = stream[start..start + ids.len()].iter().map(|&t| t as u32).collect();
        assert_eq!(got, ids, "story {story:?}");
        assert_eq!(stream[start + ids.len()] as u32, EOS);
        start += ids.len() + 1;
    }
    assert_eq!(start, stream.len());
}

#[test]
fn corpus_encoder_matches_the_tokenizers_pipeline() {
    let mut texts = awkward_texts();
    texts.extend(tiny_stories()[100..140].iter().cloned());
    assert_stream_matches_encode(tok(), &texts);

    // A reference-style tokenizer (prefix space on) and one with a normaliser
    // (which takes the library's own path) must agree too.
    let json = tokenizer_json(tok()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["pre_tokenizer"]["add_prefix_space"] = serde_json::Value::Bool(true);
    let prefixed = tokenizer_from_json(&v.to_string(), Path::new("prefixed")).unwrap();
    assert_stream_matches_encode(&prefixed, &texts);
    assert_eq!(encode_prompt(&prefixed, "Tom").unwrap(), encode_prompt(&prefixed, " Tom").unwrap());
    v["normalizer"] = serde_json::json!({"type": "Lowercase"});
    let lower = tokenizer_from_json(&v.to_string(), Path::new("lower")).unwrap();
    assert_stream_matches_encode(&lower, &texts);
}

#[test]
fn tokenizer_json_parses_back_and_training_is_deterministic() {
    let tok = tok();
    let json = tokenizer_json(tok).unwrap();
    assert!(json.contains("\"add_prefix_space\":false"));
    assert!(json.contains("\"decoder\":{\"type\":\"ByteLevel\""), "decoder missing");
    let back = Tokenizer::from_str(&json).unwrap();
    assert_eq!(back.get_vocab(true), tok.get_vocab(true));
    let via_ours = tokenizer_from_json(&json, Path::new("mem")).unwrap();
    assert_eq!(tokenizer_json(&via_ours).unwrap(), json, "re-serialising changes the JSON");
    let small = &tiny_stories()[..300];
    let once = tokenizer_json(&train_tokenizer(small, 400, false).unwrap()).unwrap();
    let twice = tokenizer_json(&train_tokenizer(small, 400, false).unwrap()).unwrap();
    assert_eq!(once, twice, "training is not deterministic");
}

#[test]
fn reference_style_tokenizer_without_decoder_gets_a_byte_level_one() {
    let json = tokenizer_json(tok()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut v = v;
    v["decoder"] = serde_json::Value::Null;
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "tokenizer.json", v.to_string().as_bytes());
    let loaded = load_tokenizer(&p).unwrap();
    let text = "Tom saw a dog.\nThe dog ran.";
    assert_eq!(decode(&loaded, &encode_prompt(&loaded, text).unwrap()), text);
}

#[test]
fn check_vocab_rejects_a_tokenizer_larger_than_the_model() {
    let e = check_vocab(tok(), 300).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&vocab_size(tok()).to_string()) && msg.contains("300"), "{msg}");
    // A vocab smaller than specials + 256 bytes cannot be honoured by training either.
    let small = train_tokenizer(&tiny_stories()[..50], 100, false).unwrap();
    assert!(check_vocab(&small, 100).is_err());
}

#[test]
fn load_tokenizer_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "broken.json", b"{ not json");
    let e = load_tokenizer(&p).unwrap_err();
    assert!(e.to_string().contains("broken.json"), "{e}");
    let e = load_tokenizer(&dir.path().join("absent.json")).unwrap_err();
    assert!(e.to_string().contains("absent.json"), "{e}");
}

// ---------------------------------------------------------------- caches

#[test]
fn cache_dir_precedence() {
    let some = |s: &str| Some(std::ffi::OsString::from(s));
    assert_eq!(cache_dir_from(some("/c"), some("/x"), some("/h")), PathBuf::from("/c"));
    assert_eq!(cache_dir_from(None, some("/x"), some("/h")), PathBuf::from("/x/flashlm-tui"));
    assert_eq!(cache_dir_from(some(""), None, some("/h")), PathBuf::from("/h/.cache/flashlm-tui"));
}

#[test]
fn tokenizer_and_token_caches_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let stories = &tiny_stories()[..300];
    let hash = corpus_hash(stories);
    let (t1, p1, cached1) = cached_tokenizer_in(dir.path(), stories, &hash, 400, false).unwrap();
    assert!(!cached1);
    assert!(p1.starts_with(dir.path()) && p1.is_file());
    assert_eq!(p1.file_name().unwrap().to_str().unwrap(), format!("{}-v400.json", &hash[..16]));
    let (t2, p2, cached2) = cached_tokenizer_in(dir.path(), stories, &hash, 400, false).unwrap();
    assert!(cached2);
    assert_eq!(p1, p2);
    let json = tokenizer_json(&t1).unwrap();
    assert_eq!(tokenizer_json(&t2).unwrap(), json);

    // A corrupted cache entry is retrained, not trusted.
    std::fs::write(&p1, b"garbage").unwrap();
    let (_, _, cached3) = cached_tokenizer_in(dir.path(), stories, &hash, 400, false).unwrap();
    assert!(!cached3);

    let expected = encode_stories(&t1, stories).unwrap();
    let t1 = flashlm_tui::data::tok::Tok::Bpe(t1);
    let quiet = |line: &str| panic!("unexpected notice: {line}");
    let store = cached_tokens_in(dir.path(), &t1, &json, stories, &hash, 400, &|_, _| {}, &quiet).unwrap();
    assert_eq!(store.as_slice(), &expected[..]);
    let path = tokens_cache_path(dir.path(), &hash, 400, &json);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER_BYTES as u64 + 2 * expected.len() as u64);
    let again = cached_tokens_in(dir.path(), &t1, &json, stories, &hash, 400, &|_, _| panic!("should be cached"), &quiet).unwrap();
    assert!(again.is_mapped());
    assert_eq!(again.as_slice(), &expected[..]);

    // An odd-length (truncated) token file is re-encoded.
    std::fs::write(&path, [1u8, 2, 3]).unwrap();
    let progress = std::sync::atomic::AtomicUsize::new(0);
    let fixed = cached_tokens_in(
        dir.path(),
        &t1,
        &json,
        stories,
        &hash,
        400,
        &|done, total| {
            assert!(done <= total);
            progress.fetch_max(done, std::sync::atomic::Ordering::Relaxed);
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(fixed.as_slice(), &expected[..]);
    assert_eq!(progress.into_inner(), stories.len());
    // Nothing but the two cache folders was written.
    let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["tokenizers", "tokens"]);
}

#[test]
fn token_store_write_open_and_odd_files() {
    let dir = tempfile::tempdir().unwrap();
    let tokens: Vec<u16> = (0..1000u32).map(|i| (i * 37 % 65_536) as u16).chain([65_535, 0, 256]).collect();
    let p = dir.path().join("nested").join("t.u16");
    TokenStore::write(&p, &tokens).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(&bytes[..4], &[0, 0, 37, 0], "little-endian");
    let store = TokenStore::open(&p).unwrap();
    assert_eq!(store.len(), tokens.len());
    assert_eq!(store.as_slice(), &tokens[..]);
    let odd = write(dir.path(), "odd.u16", &[1, 2, 3]);
    let e = TokenStore::open(&odd).unwrap_err();
    assert!(e.to_string().contains("odd.u16") && e.to_string().contains('3'), "{e}");
    let empty = write(dir.path(), "empty.u16", &[]);
    assert!(TokenStore::open(&empty).unwrap().is_empty());
    assert!(TokenStore::open(&dir.path().join("missing.u16")).is_err());
}

// ---------------------------------------------------------------- split, sampler, validation

#[test]
fn split_holds_out_the_last_stories() {
    let s: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let (train, valid) = split_stories(s.clone(), 0.15).unwrap();
    assert_eq!(valid, vec!["8", "9"]);
    assert_eq!(train.len(), 8);
    let (train, valid) = split_stories(s.clone(), 0.001).unwrap();
    assert_eq!((train.len(), valid.len()), (9, 1));
    let e = split_stories(vec!["only".into()], 0.1).unwrap_err();
    assert!(matches!(e, DataError::NoTrainStories { .. }), "{e}");
    assert!(split_stories(s.clone(), 0.0).is_err());
    assert!(split_stories(s, 1.0).is_err());
}

fn batches(sampler: &mut WindowSampler, store: &TokenStore, t: usize, n: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
    let b = sampler.batch();
    (0..n)
        .map(|_| {
            let (mut x, mut y) = (vec![0u32; b * t], vec![0u32; b * t]);
            sampler.next_batch(store, t, &mut x, &mut y);
            (x, y)
        })
        .collect()
}

#[test]
fn sampler_windows_are_shifted_targets() {
    let t = 8;
    let store = TokenStore::from_vec((0..1001u16).collect());
    assert_eq!(window_count(store.len(), t), 125);
    let mut s = WindowSampler::for_tokens(store.len(), t, 4, 3).unwrap();
    for (x, y) in batches(&mut s, &store, t, 40) {
        for row in 0..4 {
            let (xr, yr) = (&x[row * t..(row + 1) * t], &y[row * t..(row + 1) * t]);
            assert_eq!(xr[0] % t as u32, 0, "window starts at a multiple of T");
            for i in 0..t {
                assert_eq!(xr[i], xr[0] + i as u32);
                assert_eq!(yr[i], xr[i] + 1);
            }
        }
    }
}

#[test]
fn sampler_is_deterministic_and_covers_each_window_once_per_epoch() {
    let t = 4;
    let store = TokenStore::from_vec((0..=(103 * t) as u16).collect()); // 103 windows
    let n = window_count(store.len(), t);
    assert_eq!(n, 103);
    let (batch, per_epoch) = (10, 10); // 3 windows dropped per epoch
    let mut a = WindowSampler::new(n, batch, 42).unwrap();
    let mut b = WindowSampler::new(n, batch, 42).unwrap();
    let mut c = WindowSampler::new(n, batch, 43).unwrap();
    let ba = batches(&mut a, &store, t, 3 * per_epoch);
    assert_eq!(ba, batches(&mut b, &store, t, 3 * per_epoch));
    assert_ne!(ba, batches(&mut c, &store, t, 3 * per_epoch));

    for epoch in ba.chunks(per_epoch) {
        let mut seen = HashSet::new();
        for (x, _) in epoch {
            for row in 0..batch {
                assert!(seen.insert(x[row * t] as usize / t), "window used twice in one epoch");
            }
        }
        assert_eq!(seen.len(), per_epoch * batch);
    }
    assert_eq!(a.epoch(), 2);
    // Epoch orders differ (a fresh permutation each pass).
    assert_ne!(ba[0], ba[per_epoch]);
}

#[test]
fn sampler_restore_continues_exactly() {
    let t = 5;
    let store = TokenStore::from_vec((0..2000u16).map(|i| i.wrapping_mul(7)).collect());
    let n = window_count(store.len(), t);
    let mut straight = WindowSampler::new(n, 8, 9).unwrap();
    let all = batches(&mut straight, &store, t, 130); // crosses two epoch boundaries (49 batches/epoch)

    for cut in [0, 1, 17, 48, 49, 50, 100] {
        let mut first = WindowSampler::new(n, 8, 9).unwrap();
        let mut got = batches(&mut first, &store, t, cut);
        let saved = first.state();
        let json = serde_json::to_string(&saved).unwrap();
        let back: SamplerState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, saved);
        drop(first);
        let mut resumed = WindowSampler::restore(back, n, 8);
        got.extend(batches(&mut resumed, &store, t, 130 - cut));
        assert_eq!(got, all, "resume after {cut} batches diverged");
        assert_eq!(resumed.state(), straight.state());
    }
}

#[test]
fn too_small_corpus_is_a_clear_error() {
    let e = WindowSampler::for_tokens(100, 32, 4, 0).err().unwrap();
    let msg = e.to_string();
    assert!(matches!(e, DataError::TooSmall { windows: 3, batch: 4, .. }), "{msg}");
    for part in ["100 tokens", "3 windows", "33 tokens", "batch of 4"] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
    assert!(WindowSampler::new(3, 4, 0).is_err());
    assert!(WindowSampler::new(4, 4, 0).is_ok());
    assert!(WindowSampler::for_tokens(129, 32, 4, 0).is_ok());
    assert!(WindowSampler::for_tokens(128, 32, 4, 0).is_err());
}

#[test]
fn validation_windows_are_fixed_and_in_bounds() {
    let (n, t) = (10_001, 100);
    let w = validation_windows(n, t, 20);
    assert_eq!(w, validation_windows(n, t, 20));
    assert_eq!(w.len(), 20);
    assert_eq!(w[..3], [0, 100, 200]);
    let all = validation_windows(n, t, usize::MAX);
    assert_eq!(all.len(), 100);
    assert!(all.iter().all(|&s| s + t < n), "a window of T+1 tokens runs past the end");
    assert_eq!(validation_windows(10_000, t, usize::MAX).len(), 99);
    assert!(validation_windows(50, t, 10).is_empty());
    assert!(validation_windows(50, 0, 10).is_empty());
}
