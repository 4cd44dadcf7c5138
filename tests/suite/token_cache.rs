//! Token cache files are used only when they prove to be what the run
//! needs: the right corpus, tokenizer, vocab and part, the tokens the header
//! hashes to, every id inside the vocab. Anything else (a file of the right
//! size with other contents, a headerless file of an older format, a forged
//! header) is a cache miss: the corpus is encoded again, with one line saying why.

use std::cell::RefCell;
use std::path::Path;

use flashlm_tui::data::corpus::corpus_hash;
use flashlm_tui::data::stories::stories;
use flashlm_tui::data::tok::Tok;
use flashlm_tui::data::token_cache::{self, CacheKey, Miss, Part, HEADER_BYTES};
use flashlm_tui::data::tokenizer::train_tokenizer;
use flashlm_tui::data::tokens::{cached_tokens_in, tokens_cache_path};
use sha2::{Digest, Sha256};

const VOCAB: usize = 400;

fn le(tokens: &[u16]) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
}

/// Puts the SHA-256 of the file's payload into its header, as a forger would.
fn reseal(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let sha = Sha256::digest(&bytes[HEADER_BYTES..]);
    bytes[160..192].copy_from_slice(&sha);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_token_cache_that_does_not_match_is_rebuilt_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let text = stories(5, 200);
    let hash = corpus_hash(&text);
    let tok = Tok::Bpe(train_tokenizer(&text, VOCAB, false).unwrap());
    let json = tok.to_json().unwrap();
    let expected = tok.encode_stories(&text).unwrap();
    let path = tokens_cache_path(dir.path(), &hash, VOCAB, &json);
    let key = CacheKey::new(&hash, &json, VOCAB, Part::Train);
    let notices = RefCell::new(Vec::<String>::new());
    let load = || {
        notices.borrow_mut().clear();
        let store =
            cached_tokens_in(dir.path(), &tok, &json, &text, &hash, VOCAB, &|_, _| {}, &|l| notices.borrow_mut().push(l.into())).unwrap();
        assert_eq!(store.as_slice(), &expected[..], "the tokens are the corpus's, whatever the cache held");
        notices.borrow().clone()
    };
    assert!(load().is_empty(), "a missing cache is built without a notice");
    assert!(load().is_empty(), "a good cache is used without a notice");
    let good = std::fs::read(&path).unwrap();
    assert_eq!(&good[..8], b"FLMTOKS\n");

    let other: Vec<u16> = expected.iter().map(|t| (t + 1) % VOCAB as u16).collect();
    type Tamper<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(&str, Tamper)> = vec![
        // the old format: the very same tokens, no header
        ("no header", Box::new(|| std::fs::write(&path, le(&expected)).unwrap())),
        // the right size and header, other tokens
        (
            "do not match the header's checksum",
            Box::new(|| {
                let mut b = good.clone();
                b[HEADER_BYTES..].copy_from_slice(&le(&other));
                std::fs::write(&path, b).unwrap();
            }),
        ),
        // a consistent file whose ids the embedding has no row for
        (
            "token id 65535 is outside the vocab of 400",
            Box::new(|| {
                let mut bad = expected.clone();
                bad[7] = u16::MAX;
                token_cache::write(&path, &key, &bad).unwrap();
            }),
        ),
        (
            "built for another tokenizer",
            Box::new(|| token_cache::write(&path, &CacheKey::new(&hash, "{}", VOCAB, Part::Train), &expected).unwrap()),
        ),
        (
            "built for another corpus",
            Box::new(|| token_cache::write(&path, &CacheKey::new("ab", &json, VOCAB, Part::Train), &expected).unwrap()),
        ),
        (
            "built for another vocab",
            Box::new(|| token_cache::write(&path, &CacheKey::new(&hash, &json, 512, Part::Train), &expected).unwrap()),
        ),
        ("built for another part of the corpus", Box::new(|| token_cache::write(&path, &key.with_part(Part::HeldOut), &expected).unwrap())),
        (
            "format version 7",
            Box::new(|| {
                let mut b = good.clone();
                b[8] = 7;
                std::fs::write(&path, b).unwrap();
            }),
        ),
        (
            "where its header promises",
            Box::new(|| {
                let mut b = good.clone();
                b[16..24].copy_from_slice(&(u64::MAX / 2).to_le_bytes()); // a huge declared count
                std::fs::write(&path, b).unwrap();
                reseal(&path);
            }),
        ),
        (
            "where its header promises",
            Box::new(|| {
                let mut b = good.clone();
                b.truncate(b.len() - 2);
                std::fs::write(&path, b).unwrap();
            }),
        ),
        ("no header", Box::new(|| std::fs::write(&path, b"FLMTOK").unwrap())),
    ];
    for (why, tamper) in &cases {
        tamper();
        let said = load();
        assert_eq!(said.len(), 1, "{why}: {said:?}");
        assert!(
            said[0].contains(why) && said[0].contains(&path.display().to_string()) && said[0].contains("encoding the corpus again"),
            "{why}: {said:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), good, "{why}: the cache was rewritten");
        assert!(load().is_empty(), "{why}: the rebuilt cache is used");
    }
}

#[test]
fn token_cache_open_says_why_it_misses() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.u16");
    let key = CacheKey::new("c0ffee", "{\"model\":1}", 300, Part::Train);
    assert_eq!(token_cache::open(&p, &key).unwrap_err(), Miss::Absent);
    std::fs::create_dir(&p).unwrap();
    assert!(matches!(token_cache::open(&p, &key).unwrap_err(), Miss::Unreadable(_)));
    std::fs::remove_dir(&p).unwrap();
    let tokens: Vec<u16> = (0..1000u16).map(|i| i % 300).collect();
    token_cache::write(&p, &key, &tokens).unwrap();
    let store = token_cache::open(&p, &key).unwrap();
    assert_eq!(store.as_slice(), &tokens[..]);
    assert!(store.is_mapped());
    assert_eq!(token_cache::open(&p, &CacheKey { vocab: 299, ..key.clone() }).unwrap_err(), Miss::Key("vocab"));
    // an empty corpus part is a valid (empty) file
    token_cache::write(&p, &key, &[]).unwrap();
    assert!(token_cache::open(&p, &key).unwrap().is_empty());
    // a forged id is caught even when the forger reseals the checksum
    let mut bad = tokens.clone();
    bad[999] = 300;
    std::fs::write(&p, [&token_cache::header(&key, 1000, &[0; 32])[..], &le(&bad)].concat()).unwrap();
    assert_eq!(token_cache::open(&p, &key).unwrap_err(), Miss::Checksum);
    reseal(&p);
    assert_eq!(token_cache::open(&p, &key).unwrap_err(), Miss::IdOutOfRange { id: 300, vocab: 300 });
}

/// The binary, end to end: a forged cache with ids past the vocab (checksum
/// resealed, so only the id check can catch it) is re-encoded with a warning,
/// and the run trains instead of panicking in the embedding.
#[test]
fn training_on_a_forged_token_cache_reencodes_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let train = |steps: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui"))
            .args(["train", "--preset", "tiny", "--headless", "--steps", steps, "--threads", "1", "--out"])
            .arg(dir.path().join("runs"))
            .env("FLASHLM_CACHE", &cache)
            .output()
            .unwrap()
    };
    let out = train("12");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let files: Vec<_> = std::fs::read_dir(cache.join("tokens")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let good = std::fs::read(&files[0]).unwrap();
    let mut forged = good.clone();
    for b in &mut forged[HEADER_BYTES..] {
        *b = 0xFF;
    }
    std::fs::write(&files[0], &forged).unwrap();
    reseal(&files[0]);
    let out = train("12");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning: token cache") && err.contains("token id 65535 is outside the vocab of 512"), "{err}");
    assert_eq!(std::fs::read(&files[0]).unwrap(), good, "the cache was rebuilt");
}

/// How long verifying a 100M-token cache takes (200 MB hashed, ids checked).
/// A measurement, not a check: `cargo test --release --test suite -- --ignored token_cache_verification_time --nocapture`.
#[test]
#[ignore]
fn token_cache_verification_time_for_100m_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.u16");
    let key = CacheKey::new("c0ffee", "{}", 32_768, Part::Train);
    let tokens: Vec<u16> = (0..100_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 17) as u16).collect();
    token_cache::write(&p, &key, &tokens).unwrap();
    drop(tokens);
    for round in 0..3 {
        let t = std::time::Instant::now();
        let store = token_cache::open(&p, &key).unwrap();
        println!("round {round}: verified {} tokens in {:.3} s", store.len(), t.elapsed().as_secs_f64());
    }
}
