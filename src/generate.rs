//! Sampling (BB-SAMPLE with the D13 fix: CTRL repetition penalty on the raw
//! logits, then temperature, top-p, top-k, one multinomial draw) and the
//! generation loop over any model's incremental decoder.

use crate::data::tok::Tok;
use crate::data::tokenizer::EOS;
use crate::data::DataError;
use crate::model::LanguageModel;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleParams {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub repetition_penalty: f32,
    /// How many recent tokens the repetition penalty looks at.
    pub penalty_window: usize,
    pub max_tokens: usize,
    pub seed: u64,
    /// Weights for the decoder's products: bf16 / int8 copies where the model
    /// supports them (`LanguageModel::decoder_lowp`), else fp32.
    #[serde(default)]
    pub precision: crate::precision::Precision,
}

impl Default for SampleParams {
    fn default() -> Self {
        SampleParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 1.0,
            repetition_penalty: 1.0,
            penalty_window: 64,
            max_tokens: 120,
            seed: 0,
            precision: crate::precision::Precision::Fp32,
        }
    }
}

/// Picks the next token from raw logits (modified in place). `banned` ids get −∞
/// (special tokens, ids the tokenizer never produces).
pub fn sample_token(logits: &mut [f32], recent: &[u32], banned: &[bool], p: &SampleParams, rng: &mut Rng) -> u32 {
    // 1. CTRL repetition penalty on raw logits (D13)
    if p.repetition_penalty != 1.0 {
        let start = recent.len().saturating_sub(p.penalty_window);
        let mut seen = std::collections::HashSet::new();
        for &t in &recent[start..] {
            if seen.insert(t) {
                let l = &mut logits[t as usize];
                *l = if *l > 0.0 { *l / p.repetition_penalty } else { *l * p.repetition_penalty };
            }
        }
    }
    for (l, &b) in logits.iter_mut().zip(banned) {
        if b {
            *l = f32::NEG_INFINITY;
        }
    }
    // 2. temperature (0 → greedy)
    if p.temperature <= 1e-5 {
        return argmax(logits);
    }
    for l in logits.iter_mut() {
        *l /= p.temperature;
    }
    // 3. top-p over the sorted distribution, 4. top-k
    let mut order: Vec<u32> = (0..logits.len() as u32).filter(|&i| logits[i as usize].is_finite()).collect();
    if order.is_empty() {
        return argmax(logits);
    }
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
    let max = logits[order[0] as usize];
    let mut keep = order.len();
    if p.top_p < 1.0 {
        let z: f32 = order.iter().map(|&i| (logits[i as usize] - max).exp()).sum();
        let mut cum = 0.0;
        for (rank, &i) in order.iter().enumerate() {
            if rank > 0 && cum > p.top_p {
                keep = rank;
                break;
            }
            cum += (logits[i as usize] - max).exp() / z;
        }
    }
    if p.top_k > 0 && p.top_k < keep {
        let kth = logits[order[p.top_k - 1] as usize];
        keep = order.iter().take(keep).take_while(|&&i| logits[i as usize] >= kth).count();
    }
    let kept = &order[..keep.max(1)];
    let weights: Vec<f32> = kept.iter().map(|&i| (logits[i as usize] - max).exp()).collect();
    let total: f32 = weights.iter().sum();
    let mut x = rng.next_f32() * total;
    for (&i, &w) in kept.iter().zip(&weights) {
        if x < w {
            return i;
        }
        x -= w;
    }
    kept[kept.len() - 1]
}

fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for i in 1..x.len() {
        if x[i] > x[best] {
            best = i;
        }
    }
    best as u32
}

/// Feeds `prompt` and then samples up to `p.max_tokens` tokens, calling
/// `on_token` after each one (return false to stop). Stops at `eos`.
/// Large products use the rayon pool only when called from inside one (CLI,
/// trainer), whose other workers then stay awake until the stream ends; a
/// sampling thread beside training stays serial.
pub fn generate(
    model: &dyn LanguageModel,
    params: &[f32],
    prompt: &[u32],
    banned: &[bool],
    eos: u32,
    p: &SampleParams,
    mut on_token: impl FnMut(u32) -> bool,
) -> Vec<u32> {
    crate::kernels::awake::with_workers_awake(move || {
        let mut dec = model.decoder_lowp(params, p.precision).unwrap_or_else(|| model.decoder(params));
        dec.set_parallel(rayon::current_thread_index().is_some());
        let mut rng = Rng::new(p.seed);
        let mut history: Vec<u32> = prompt.to_vec();
        let start = if prompt.is_empty() { vec![eos] } else { prompt.to_vec() };
        for &t in &start {
            dec.step(t);
        }
        let mut out = Vec::new();
        let mut logits = vec![0.0f32; model.vocab()];
        for _ in 0..p.max_tokens {
            logits.copy_from_slice(dec.logits());
            let tok = sample_token(&mut logits, &history, banned, p, &mut rng);
            if tok == eos {
                break;
            }
            out.push(tok);
            history.push(tok);
            if !on_token(tok) {
                break;
            }
            dec.step(tok);
        }
        out
    })
}

/// Generates from a text prompt and reports the growing completion: `on_text(text, done)`
/// after every token (return false to stop early), then once more with `done`.
/// The one streaming sampler behind the trainer's live samples and the
/// terminal UI's checkpoint sampler.
pub fn stream_sample(
    model: &dyn LanguageModel,
    params: &[f32],
    tok: &Tok,
    banned: &[bool],
    prompt: &str,
    p: &SampleParams,
    mut on_text: impl FnMut(String, bool) -> bool,
) -> Result<Vec<u32>, DataError> {
    let ids = tok.encode_prompt(prompt)?;
    let mut out: Vec<u32> = Vec::new();
    generate(model, params, &ids, banned, EOS, p, |t| {
        out.push(t);
        on_text(tok.decode(&out), false)
    });
    on_text(tok.decode(&out), true);
    Ok(out)
}
