//! The built-in story corpus: variety, rich vocabulary, long-range re-mentions
//! recorded at the right byte offsets, determinism, and speed.

use flashlm_tui::data::stories::{stories, story, words_between};
use std::collections::HashSet;

const N: usize = 10_000;

/// Whole-word, case-sensitive occurrences of `name` in `text` (byte offsets).
fn occurrences(text: &str, name: &str) -> Vec<usize> {
    let b = text.as_bytes();
    text.match_indices(name)
        .map(|(i, _)| i)
        .filter(|&i| {
            let e = i + name.len();
            (i == 0 || !b[i - 1].is_ascii_alphanumeric()) && (e == b.len() || !b[e].is_ascii_alphanumeric())
        })
        .collect()
}

#[test]
fn ten_thousand_stories_are_varied_rich_and_have_long_range_mentions() {
    let all: Vec<_> = (0..N as u64).map(|i| story(1, i)).collect();

    let distinct: HashSet<&str> = all.iter().map(|s| s.text.as_str()).collect();
    assert!(distinct.len() >= 9_900, "only {} distinct stories", distinct.len());

    let mut vocab = HashSet::new();
    for s in &all {
        for w in s.text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()) {
            vocab.insert(w.to_ascii_lowercase());
        }
    }
    assert!(vocab.len() >= 1_500, "only {} word types", vocab.len());

    let long = all.iter().filter(|s| s.mentions.iter().any(|m| words_between(&s.text, m.intro_byte, m.mention_byte) >= 100)).count();
    assert!(long * 100 >= N * 80, "only {long} of {N} stories have a re-mention 100+ words after the intro");

    for s in &all {
        assert!(!s.text.contains("<|endoftext|>"));
        assert!(!s.text.contains('{') && !s.text.contains('}'), "unrendered template: {}", s.text);
        assert!(s.text.ends_with(['.', '!', '"']), "bad ending: {}", s.text);
        let words = s.text.split_whitespace().count();
        assert!((120..=520).contains(&words), "{words} words: {}", s.text);
        for m in &s.mentions {
            assert!(m.intro_byte < m.mention_byte, "{m:?}");
            assert!(s.text[m.intro_byte..].starts_with(&m.name), "{m:?} in {}", s.text);
            assert!(s.text[m.mention_byte..].starts_with(&m.name), "{m:?} in {}", s.text);
        }
    }
}

#[test]
fn mentions_list_every_later_occurrence_of_each_name() {
    for i in 0..2_000 {
        let s = story(3, i);
        let names: HashSet<&str> = s.mentions.iter().map(|m| m.name.as_str()).collect();
        assert!(!names.is_empty());
        for name in names {
            let intro = s.mentions.iter().find(|m| m.name == name).unwrap().intro_byte;
            let mut tracked = vec![intro];
            tracked.extend(s.mentions.iter().filter(|m| m.name == name).map(|m| m.mention_byte));
            assert!(s.mentions.iter().filter(|m| m.name == name).all(|m| m.intro_byte == intro));
            assert_eq!(occurrences(&s.text, name), tracked, "{name:?} in story {i}:\n{}", s.text);
        }
    }
}

#[test]
fn stories_are_a_pure_function_of_seed_and_index() {
    assert_eq!(story(7, 3), story(7, 3));
    assert_ne!(story(7, 3), story(8, 3));
    assert_ne!(story(7, 3), story(7, 4));
    let texts = stories(7, 5);
    assert_eq!(texts.len(), 5);
    assert_eq!(texts[3], story(7, 3).text);
}

#[test]
fn words_between_counts_whitespace_words() {
    let t = "Mila had a kite.\nThe kite flew.";
    assert_eq!(words_between(t, 0, t.len()), 7);
    assert_eq!(words_between(t, 0, 4), 1);
    assert_eq!(words_between(t, 5, 5), 0);
    assert_eq!(words_between(t, 10, 3), 0);
    assert_eq!(words_between(t, 0, 10_000), 7);
}
