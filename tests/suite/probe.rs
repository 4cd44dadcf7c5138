//! The long-range recall probe: exact zero gap beyond a conv stack's receptive
//! field, a non-zero one for a model with Hebbian memory, and buckets that fill.

use crate::common::pool;
use flashlm_tui::data::stories::stories;
use flashlm_tui::data::tok::Tok;
use flashlm_tui::data::tokenizer::train_tokenizer;
use flashlm_tui::model::{Cortex, CortexConfig, LanguageModel, MemoryConfig};
use flashlm_tui::train::probe::{buckets_for, probe_stories, recall_probe};

fn model(memory: bool) -> Cortex {
    Cortex::new(CortexConfig {
        vocab: 600,
        d_model: 16,
        n_layers: 2,
        d_ff: 24,
        kernel_size: 15, // RF = 1 + 2·14 = 29
        memory: memory.then_some(MemoryConfig { d_mem: 8, decay: 0.99 }),
        seq_len: 128,
    })
}

#[test]
fn recall_probe_gap_is_exactly_zero_beyond_the_receptive_field_of_a_conv_stack() {
    let tok = Tok::Bpe(train_tokenizer(&stories(1, 300), 600, false).unwrap());
    let probe = probe_stories(1, 10_000, 12);
    let conv = model(false);
    let rf = conv.receptive_field().unwrap();
    assert_eq!(rf, 29);
    assert_eq!(buckets_for(Some(rf), 128), vec![(1, 29), (30, 128)]);
    let params = conv.init_params(3);
    let r = pool().install(|| recall_probe(&conv, &params, &tok, &probe, 128, &|| false)).unwrap();
    assert_eq!(r.stories, 12);
    assert_eq!(r.skipped_stories, 0, "byte-level BPE tokens always map back to byte offsets");
    let (near, far) = (&r.buckets[0], &r.buckets[1]);
    assert!(near.n > 10 && far.n > 10, "both buckets are populated: {:?}", r.buckets);
    assert!(near.loss.is_finite() && near.swapped_loss.is_finite());
    // beyond RF the conv model sees exactly the same tokens in both versions;
    // only the matmul tiling of rows that moved can change the last bits
    assert!(far.gap().abs() < 1e-4, "{far:?}");
    // within RF the swap changes what it sees
    assert!(near.gap().abs() > 1e-6, "{near:?}");

    let mem = model(true);
    let mut params = mem.init_params(3);
    // at init the memory read is scaled down (mem_out ~ N(0, 0.01²)); make it matter
    for t in &mem.layout().tensors {
        if t.name.ends_with("mem_out.weight") {
            params[t.range()].iter_mut().for_each(|w| *w *= 100.0);
        }
    }
    let r = pool().install(|| recall_probe(&mem, &params, &tok, &probe, 128, &|| false)).unwrap();
    let far = &r.buckets[1];
    assert!(far.n > 10);
    eprintln!("memory model: {:?}", r.buckets);
    assert!(far.gap().abs() > 1e-3, "the Hebbian memory reaches past the receptive field: {far:?}");
    let text = r.lines().join("\n");
    assert!(text.contains("receptive field 29") && text.contains("gap"), "{text}");
}

#[test]
fn recall_probe_stops_when_asked() {
    let tok = Tok::Bpe(train_tokenizer(&stories(1, 100), 400, false).unwrap());
    let m = model(false);
    let params = m.init_params(1);
    assert!(recall_probe(&m, &params, &tok, &probe_stories(1, 5000, 3), 64, &|| true).is_none());
}

/// A tokenizer with a fixed subset of ids (v4's GPT-2 remap) turns words it
/// never saw into UNK, whose bytes the ids cannot tell: the probe asks the
/// tokenizer where each token starts, and still scores the names it knows.
#[test]
fn recall_probe_maps_back_a_remap_tokenizer_with_unknown_words() {
    use flashlm_tui::data::tok::TokenizerKind;
    use flashlm_tui::data::tokenizer::UNK;
    // " the" never occurs in this training text, so it is UNK in every story
    let text: Vec<String> = stories(1, 200).iter().map(|s| s.replace(" the ", " a ").replace("The ", "A ")).collect();
    let tok = Tok::train(TokenizerKind::Gpt2Remap, &text, 50_000, false).unwrap();
    let probe = probe_stories(1, 10_000, 12);
    assert!(probe.iter().all(|s| tok.encode_prompt(&s.text).unwrap().contains(&UNK)), "the test needs UNKs");
    let conv = Cortex::new(CortexConfig { vocab: tok.vocab_size(), ..model(false).cfg });
    let params = conv.init_params(3);
    let r = pool().install(|| recall_probe(&conv, &params, &tok, &probe, 128, &|| false)).unwrap();
    assert_eq!(r.skipped_stories, 0, "{r:?}");
    assert!(r.buckets[0].n > 10 && r.buckets[1].n > 10, "{:?}", r.buckets);
}

/// TOK-BL-C (the CPUFlow presets, v10) adds a prefix space: its tokens spell
/// " " + the story, and the probe still maps them back to the story's bytes.
#[test]
fn recall_probe_maps_back_a_prefix_space_tokenizer() {
    use flashlm_tui::data::tok::TokenizerKind;
    let tok = Tok::train(TokenizerKind::BpePrefixSpace, &stories(1, 300), 600, false).unwrap();
    let probe = probe_stories(1, 10_000, 12);
    let conv = model(false);
    let params = conv.init_params(3);
    let r = pool().install(|| recall_probe(&conv, &params, &tok, &probe, 128, &|| false)).unwrap();
    assert_eq!(r.skipped_stories, 0, "{r:?}");
    assert!(r.buckets[0].n > 10 && r.buckets[1].n > 10, "{:?}", r.buckets);
}
