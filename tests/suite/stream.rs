//! The streaming corpus path (data/stream.rs) on small files with tiny blocks:
//! same stories, hash and tokens as reading the file whole; held-out tail;
//! BOM/CRLF; invalid UTF-8 reported at its absolute byte offset.

use flashlm_tui::data::corpus::{corpus_hash, load_stories, CorpusSource};
use flashlm_tui::data::stories::stories;
use flashlm_tui::data::stream::{encode_to_files, scan};
use flashlm_tui::data::tok::Tok;
use flashlm_tui::data::token_cache::{self, CacheKey, Miss, Part};
use flashlm_tui::data::tokenizer::train_tokenizer;
use flashlm_tui::data::DataError;

fn tok() -> Tok {
    Tok::Bpe(train_tokenizer(&stories(3, 200), 500, false).unwrap())
}

/// The cache key the tests write under (the hash need not be the corpus's here).
fn key(tok: &Tok) -> CacheKey {
    CacheKey::new("c0ffee", &tok.to_json().unwrap(), 500, Part::Train)
}

#[test]
fn streamed_blocks_equal_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = stories(11, 150).join("\n<|endoftext|>\n");
    let mut raw = b"\xEF\xBB\xBF".to_vec();
    raw.extend_from_slice(text.replace('\n', "\r\n").as_bytes()); // BOM + CRLF
    let f = dir.path().join("corpus.txt");
    std::fs::write(&f, &raw).unwrap();
    let whole = load_stories(&CorpusSource::Path(f.clone())).unwrap();
    assert_eq!(whole.len(), 150);
    let files = vec![f.clone()];
    let tok = tok();
    for block in [1 << 10, 4 << 10, 1 << 20] {
        let sc = scan(&files, block, 1 << 30, None, &|_, _| {}).unwrap();
        assert_eq!(sc.train_stories, 150, "block {block}");
        assert_eq!(sc.hash, corpus_hash(&whole), "block {block}: the cache key matches the in-memory path");
        assert_eq!(sc.sample, whole);
        let (tp, vp) = (dir.path().join(format!("t{block}.u16")), dir.path().join(format!("v{block}.u16")));
        let st = encode_to_files(&files, block, &tok, &key(&tok), None, &tp, &vp, &|_, _| {}).unwrap();
        let expected = tok.encode_stories(&whole).unwrap();
        assert_eq!(token_cache::open(&tp, &key(&tok)).unwrap().as_slice(), &expected[..], "block {block}");
        assert_eq!(st.train_tokens as usize, expected.len());
        assert_eq!(st.bytes, raw.len() as u64);
        assert!(!vp.exists());
    }
}

#[test]
fn streamed_corpus_holds_out_the_tail_and_splits_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = stories(12, 120).join("\n\n"); // no separator lines: blank-line mode
    let f = dir.path().join("c.txt");
    std::fs::write(&f, &text).unwrap();
    let whole = load_stories(&CorpusSource::Path(f.clone())).unwrap();
    let tok = tok();
    let files = vec![f];
    let from = (text.len() as f64 * 0.9) as u64;
    let sc = scan(&files, 2 << 10, 100, Some(from), &|_, _| {}).unwrap();
    assert!(sc.train_stories < whole.len() && sc.train_stories > whole.len() * 8 / 10, "{}", sc.train_stories);
    assert_eq!(sc.sample.len(), 1, "the sample stops once it holds sample_bytes");
    let (tp, vp) = (dir.path().join("t.u16"), dir.path().join("v.u16"));
    let k = key(&tok);
    let st = encode_to_files(&files, 2 << 10, &tok, &k, Some(from), &tp, &vp, &|_, _| {}).unwrap();
    let all = tok.encode_stories(&whole).unwrap();
    let (train, valid) = (token_cache::open(&tp, &k).unwrap(), token_cache::open(&vp, &k.with_part(Part::HeldOut)).unwrap());
    assert_eq!(token_cache::open(&vp, &k).unwrap_err(), Miss::Key("part of the corpus"), "the held-out file is not training text");
    assert!(!valid.is_empty() && st.valid_tokens as usize == valid.len());
    assert_eq!(train.len() + valid.len(), all.len(), "every story lands on exactly one side");
    assert_eq!(train.as_slice(), &all[..train.len()]);
}

#[test]
fn streamed_invalid_utf8_names_the_absolute_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = stories(13, 60).join("\n<|endoftext|>\n").into_bytes();
    let bad = raw.len() - 100;
    raw[bad] = 0xFF;
    let f = dir.path().join("bad.txt");
    std::fs::write(&f, &raw).unwrap();
    let e = scan(&[f], 1 << 10, 1 << 20, None, &|_, _| {}).err().expect("invalid UTF-8 is an error");
    match e {
        DataError::NotUtf8 { offset, .. } => assert_eq!(offset, bad),
        other => panic!("{other}"),
    }
}
