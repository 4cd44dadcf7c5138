//! TOK-G (spec §3.1): GPT-2 BPE re-indexed to a small vocabulary.

use std::sync::OnceLock;
use std::time::Instant;

use flashlm_tui::data::corpus::load_file;
use flashlm_tui::data::gpt2::{gpt2_encode, Gpt2Remap};
use flashlm_tui::data::DataError;

use crate::common::pool;

const UNK: u32 = 1;
const EOS: u16 = 3;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// tiktoken's own GPT-2 encoder (the reference for the fast split).
fn reference(text: &str) -> Vec<u32> {
    tiktoken_rs::r50k_base_singleton().encode_ordinary(text)
}

/// The single GPT-2 id of `piece` (asserting it is one token).
fn one(piece: &str) -> u32 {
    let ids = reference(piece);
    assert_eq!(ids.len(), 1, "{piece:?} is one GPT-2 token");
    ids[0]
}

fn tinystories_path() -> std::path::PathBuf {
    std::path::PathBuf::from("/work/shared/data/tinystories/train.txt")
}

/// The first 300 stories of the TinyStories sample (None when the file is absent).
fn some_tinystories() -> Option<&'static Vec<String>> {
    static S: OnceLock<Option<Vec<String>>> = OnceLock::new();
    S.get_or_init(|| {
        load_file(&tinystories_path()).ok().map(|mut s| {
            s.truncate(300);
            s
        })
    })
    .as_ref()
}

#[test]
fn gpt2_base_is_gpt2() {
    assert_eq!(gpt2_encode("Hello world"), vec![15496, 995]);
    assert_eq!(one("Hello"), 15496);
    assert_eq!(one(" world"), 995);
    // `<|endoftext|>` is plain text, never the special 50256.
    assert!(!gpt2_encode("a <|endoftext|> b").contains(&50256));
    let remap = Gpt2Remap::train(&strings(&["Hello world", "Hello"]), 10).unwrap();
    assert_eq!(remap.gpt2_ids(), &[15496, 995]);
    assert_eq!(remap.encode("Hello world"), vec![4, 5]);
}

#[test]
fn gpt2_tiny_corpus_frequency_order_ties_and_unk() {
    // Pieces: "the" ×2, " cat" ×2, " the" ×1, " dog" ×1, " sat" ×3.
    let stories = strings(&["the cat the dog", "the cat sat sat sat"]);
    let expected = [one(" sat"), one("the"), one(" cat"), one(" the"), one(" dog")];

    let full = pool().install(|| Gpt2Remap::train(&stories, 100)).unwrap();
    assert_eq!(full.gpt2_ids(), &expected, "descending count, ties in first-seen order");
    assert_eq!(full.vocab_size(), 9, "fewer distinct ids than asked: 4 + 5");

    let small = Gpt2Remap::train(&stories, 7).unwrap();
    assert_eq!(small.vocab_size(), 7);
    assert_eq!(small.gpt2_ids(), &expected[..3]);
    // " sat" = 4, "the" = 5, " cat" = 6; " dog" is unmapped → UNK; "zebra" never seen.
    assert_eq!(small.encode("the dog sat"), vec![5, UNK, 4]);
    let zebra = small.encode(" cat zebra");
    assert_eq!(zebra.len(), 1 + reference(" zebra").len());
    assert_eq!(zebra[0], 6);
    assert!(zebra[1..].iter().all(|&id| id == UNK));
    assert_eq!(small.decode(&[5, UNK, 4, 0, 2, 3, 6, 999]), "the sat cat");

    assert!(matches!(Gpt2Remap::train(&stories, 4), Err(DataError::BadValue { .. })));
    assert!(matches!(Gpt2Remap::train(&[], 10), Err(DataError::EmptyCorpus { .. })));
    assert!(matches!(Gpt2Remap::train(&strings(&["", ""]), 10), Err(DataError::EmptyCorpus { .. })));
}

#[test]
fn gpt2_round_trip_of_mapped_text_incl_multibyte() {
    let texts = ["café ☕", "Once upon a time, Lily's dog said: \"Hi!\"\n\nThe end.  ", "naïve 😀 — “quoted” 123"];
    let remap = Gpt2Remap::train(&strings(&texts), 1000).unwrap();
    for t in texts {
        let ids = remap.encode(t);
        assert!(ids.iter().all(|&id| id >= 4 && (id as usize) < remap.vocab_size()), "{t:?} fully mapped: {ids:?}");
        assert_eq!(remap.decode(&ids), t);
        assert_eq!(remap.decode_bytes(&ids), t.as_bytes());
        assert_eq!(ids.iter().map(|&id| remap.token_bytes(id)).sum::<usize>(), t.len(), "token_bytes of {t:?}");
    }
    for id in [0, 1, 2, 3, remap.vocab_size() as u32, u32::MAX] {
        assert_eq!(remap.token_bytes(id), 0);
    }
    // " ☕" is several byte-level tokens; cutting inside it gives invalid UTF-8 → U+FFFD.
    let ids = remap.encode(" ☕");
    assert!(ids.iter().all(|&id| id >= 4));
    assert!(ids.len() > 1, "☕ is more than one GPT-2 token: {ids:?}");
    assert!(std::str::from_utf8(&remap.decode_bytes(&ids[..1])).is_err());
    assert!(remap.decode(&ids[..1]).contains('\u{FFFD}'));
}

#[test]
fn gpt2_fast_split_matches_tiktoken() {
    let mut texts: Vec<String> = strings(&[
        "",
        " ",
        "   ",
        "a",
        "Hello, world! It's 2024: don't, won't, they'll, we've, you're, I'm, he'd.",
        "'s 'S 't 'll 'LL 've 're 'm 'd ' '' ''s x's x'S 'x",
        "  leading and trailing  ",
        "multiple   spaces\there\n\nnewlines\n \n  \r\n\u{0b}\u{0c}end\n",
        "x  \n y\t\tz \t",
        "12345 678 9.5 1,000 ٣٤٥ ½ Ⅻ ① x²",
        "café naïve résumé — “quotes” ‘single’ … «guillemets» ¡hola! mañana",
        "e\u{301} combining, नमस्ते देवनागरी, Ⓐ circled, ǅ titlecase, ʰ modifier",
        "中文字符 日本語のテキスト 한국어",
        "emoji 😀👍🏽 ☕ flag 🇫🇷 zwj 👩\u{200d}💻",
        "nbsp\u{a0}here, nel\u{85}there, ideographic\u{3000}space, em\u{2003}space\u{2003}",
        "<|endoftext|> stays text",
        "!!!??? ...--- ### $$$ %%% @@ ~~ ``` \"\"\" ((())) [[]] {{}}",
        "\u{0}\u{1}\u{1f}\u{7f} controls",
        "tab\tafter\t",
        " \u{a0}x \u{3000}y",
    ]);
    // Random strings over a tricky alphabet (fixed LCG seed).
    let alphabet: Vec<char> = "ab Z9 '\n\t.,!sltvremd\u{a0}\u{3000}é☕٣\u{301}न्".chars().collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..400 {
        let mut s = String::new();
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let len = (state >> 59) as usize + 1;
        for _ in 0..len {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push(alphabet[(state >> 33) as usize % alphabet.len()]);
        }
        texts.push(s);
    }
    if let Some(stories) = some_tinystories() {
        texts.extend(stories.iter().cloned());
    }
    for t in &texts {
        assert_eq!(gpt2_encode(t), reference(t), "split of {t:?}");
    }
}

#[test]
fn gpt2_encode_stories_appends_eos_in_order_and_training_is_deterministic() {
    let owned;
    let stories: &[String] = match some_tinystories() {
        Some(s) => s,
        None => {
            owned = strings(&["One day, a cat sat.", "The dog ran.\nIt was fun!", "Lily's ☕ café."]);
            &owned
        }
    };
    let remap = pool().install(|| Gpt2Remap::train(stories, 300)).unwrap();
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    assert_eq!(one_thread.install(|| Gpt2Remap::train(stories, 300)).unwrap(), remap, "same result on 1 and 2 threads");
    assert!(remap.vocab_size() <= 300);

    let stream = pool().install(|| remap.encode_stories(stories));
    let mut expected = Vec::new();
    for s in stories {
        expected.extend(remap.encode(s).iter().map(|&id| id as u16));
        expected.push(EOS);
    }
    assert_eq!(stream, expected);
    assert_eq!(stream.iter().filter(|&&id| id == EOS).count(), stories.len());
    assert!(stream.iter().all(|&id| (id as usize) < remap.vocab_size()));
}

#[test]
fn gpt2_json_round_trip_and_rejections() {
    let remap = Gpt2Remap::train(&strings(&["the cat the dog", "the cat sat sat sat"]), 100).unwrap();
    let json = remap.to_json();
    let ids: Vec<String> = remap.gpt2_ids().iter().map(|g| g.to_string()).collect();
    assert_eq!(json, format!(r#"{{"type":"flashlm-gpt2-remap","version":1,"base":"gpt2","ids":[{}]}}"#, ids.join(",")));
    assert_eq!(Gpt2Remap::from_json(&json).unwrap(), remap);
    assert!(Gpt2Remap::is_remap_json(&json));
    let pretty = "{\n  \"ids\": [5],\n  \"type\" :  \"flashlm-gpt2-remap\",\n  \"base\": \"gpt2\",\n  \"version\": 1\n}";
    assert!(Gpt2Remap::is_remap_json(pretty));
    assert_eq!(Gpt2Remap::from_json(pretty).unwrap().gpt2_ids(), &[5]);

    let hf = r#"{"version":"1.0","model":{"type":"BPE","vocab":{"flashlm-gpt2-remap":4}}}"#;
    assert!(!Gpt2Remap::is_remap_json(hf));
    assert!(!Gpt2Remap::is_remap_json("not json"));

    let bad = |json: &str, needle: &str| {
        let err = Gpt2Remap::from_json(json).expect_err(json).to_string();
        assert!(err.contains(needle), "error for {json}: {err}");
    };
    bad(r#"{"type":"flashlm-gpt2-remapx","version":1,"base":"gpt2","ids":[5]}"#, "type");
    bad(r#"{"type":"flashlm-gpt2-remap","version":2,"base":"gpt2","ids":[5]}"#, "version");
    bad(r#"{"type":"flashlm-gpt2-remap","version":1,"base":"cl100k","ids":[5]}"#, "base");
    bad(r#"{"type":"flashlm-gpt2-remap","version":1,"base":"gpt2","ids":[5,7,5]}"#, "5 (for local ids 4 and 6)");
    bad(r#"{"type":"flashlm-gpt2-remap","version":1,"base":"gpt2","ids":[5,50257]}"#, "50257 (for local id 5)");
    bad(r#"{"type":"flashlm-gpt2-remap","version":1,"base":"gpt2","ids":[]}"#, "at least one");
    bad(r#"{"type":"flashlm-gpt2-remap","version":1,"base":"gpt2","ids":[5,-1]}"#, "GPT-2 remap JSON");
    bad(r#"{"type":"flashlm-gpt2-remap","version":1,"ids":[5]}"#, "base");
    bad(&json[..json.len() - 3], "GPT-2 remap JSON");
    // A corrupted remap file is still recognised as one (so it gets these errors).
    assert!(Gpt2Remap::is_remap_json(r#"{"type":"flashlm-gpt2-remap","version":1,"base":"gpt2","ids":[5,50257]}"#));
    assert_eq!(Gpt2Remap::from_json(r#"{"type":"flashlm-gpt2-remap","version":1,"base":"gpt2","ids":[50256]}"#).unwrap().vocab_size(), 5);
}

/// Throughput on the 4.9 MB TinyStories sample (prints MB/s, asserts only
/// equality with tiktoken). Run with
/// `cargo test --release --test suite -- gpt2_throughput --ignored --nocapture`.
#[test]
#[ignore]
fn gpt2_throughput_on_tinystories_train() {
    let stories = load_file(&tinystories_path()).expect("the TinyStories sample");
    let mb = stories.iter().map(|s| s.len()).sum::<usize>() as f64 / 1e6;
    let pool = pool();

    let t = Instant::now();
    let remap = pool.install(|| Gpt2Remap::train(&stories, 10_000)).unwrap();
    let train_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let stream = pool.install(|| remap.encode_stories(&stories));
    let encode_s = t.elapsed().as_secs_f64();
    // Second pass: piece caches warm.
    let t = Instant::now();
    let again = pool.install(|| remap.encode_stories(&stories));
    let warm_s = t.elapsed().as_secs_f64();
    assert_eq!(stream, again);

    let t = Instant::now();
    let bpe = tiktoken_rs::r50k_base_singleton();
    let reference: Vec<Vec<u32>> = stories.iter().map(|s| bpe.encode_ordinary(s)).collect();
    let ref_s = t.elapsed().as_secs_f64();
    for (s, r) in stories.iter().zip(&reference) {
        assert_eq!(&gpt2_encode(s), r, "story {s:?}");
    }
    let n_tokens = stream.len() - stories.len();
    let unk = stream.iter().filter(|&&id| id as u32 == UNK).count();
    println!(
        "gpt2 remap on {} stories, {mb:.2} MB, {n_tokens} tokens ({unk} UNK), vocab {}: train {:.1} MB/s, \
         encode_stories {:.1} MB/s (cold) {:.1} MB/s (warm) on 2 threads; tiktoken encode_ordinary 1 thread {:.1} MB/s",
        stories.len(),
        remap.vocab_size(),
        mb / train_s,
        mb / encode_s,
        mb / warm_s,
        mb / ref_s,
    );
}
