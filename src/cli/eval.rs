//! `eval`: validation loss, PPL and bits per byte of a model (or a baseline)
//! on a text file, and the recall probe.

use super::*;
use crate::data::corpus::{load_stories, CorpusSource};
use crate::data::tok::Tok;
use crate::data::tokens::{validation_windows, TokenStore};
use crate::precision::Precision;
use crate::preset::{resolve, thousands, Preset};
use crate::train::eval::{evaluate, Bigram};
use anyhow::{anyhow, bail, Result};

pub(super) fn eval(mut a: EvalArgs) -> Result<()> {
    a.precision = crate::precision::for_generation(a.precision);
    let has_model = a.src.checkpoint.is_some() || a.src.weights.is_some();
    let (preset, model, tokenizer, corpus) = if has_model {
        let m = load(&a.src)?;
        (m.preset, Some((m.model, m.params)), m.tokenizer, m.corpus)
    } else if a.baseline.is_some() {
        // baseline only: the preset's tokenizer on the training corpus (cached)
        let (preset, _) = resolve(a.src.preset.as_deref().unwrap_or("v7.2-cortex-vi"), None)?;
        let corpus = a
            .corpus
            .clone()
            .map(CorpusSource::Path)
            .unwrap_or(CorpusSource::BuiltIn { seed: preset.data.builtin_seed, stories: preset.data.builtin_stories });
        let (tok, _, _) = crate::train::trainer::tokenizer_for(&preset, &load_stories(&corpus)?, true)?;
        (preset, None, tok, Some(corpus))
    } else {
        bail!("give a model (--checkpoint DIR, or --weights FILE --preset P --tokenizer FILE) or --baseline bigram");
    };
    let pool = pool(a.src.threads)?;
    let t = preset.train.seq_len;
    let b = preset.train.batch;
    let vocab = preset.vocab();
    let Some(data) = a.data.clone() else {
        // probe only
        let (model, params) = model.as_ref().ok_or_else(|| anyhow!("--probe needs a model: --checkpoint DIR"))?;
        return run_probe(&a, &preset, &**model, params, &tokenizer, &pool);
    };
    let stories = load_stories(&CorpusSource::Path(data.clone()))?;
    let store = TokenStore::from_vec(pool.install(|| tokenizer.encode_stories(&stories))?);
    if store.len() < t + 1 {
        bail!("{}: {} tokens, fewer than one window of {} tokens", data.display(), store.len(), t + 1);
    }
    let windows = validation_windows(store.len(), t, a.max_windows.unwrap_or(usize::MAX));
    let bytes = tokenizer.token_bytes(vocab);
    println!(
        "{}: {} windows of {} tokens (stride {t}), {} target tokens",
        data.display(),
        windows.len(),
        t + 1,
        thousands((windows.len() * t) as u64)
    );
    if let Some(bl) = &a.baseline {
        if bl != "bigram" {
            bail!("unknown baseline `{bl}`; expected `bigram`");
        }
        let src =
            a.corpus.clone().map(CorpusSource::Path).or(corpus).ok_or_else(|| anyhow!("the bigram needs training text: --corpus FILE"))?;
        let train = pool.install(|| tokenizer.encode_stories(&load_stories(&src)?).map_err(anyhow::Error::from))?;
        let bg = Bigram::fit(&train, vocab, 1.0);
        let r = bg.evaluate(&store, &windows, t, &bytes);
        println!("bigram baseline ({}): loss {:.4}  ppl {:.2}  bpc {:.4}", src.describe(), r.loss, r.ppl, r.bpc);
    }
    if let Some((model, params)) = model {
        let mut ws = crate::model::Workspace::new();
        let r = pool
            .install(|| evaluate(&*model, &mut ws, &params, &store, &windows, t, b, &bytes, &|| false))
            .ok_or_else(|| anyhow!("evaluation interrupted"))?;
        finite(r.loss, &preset.name)?;
        println!(
            "model ({}): loss {:.4}  ppl {:.2}  bpc {:.4}  ({} tokens, {} bytes)",
            preset.name, r.loss, r.ppl, r.bpc, r.tokens, r.bytes
        );
        if a.precision != Precision::Fp32 {
            // the same windows through the decoder, fp32 and low precision
            if model.decoder_lowp(&params, a.precision).is_none() {
                bail!("--precision {}: {} decodes in fp32 only", a.precision.label(), preset.name);
            }
            let fp32 = || model.decoder(&params);
            let low = || model.decoder_lowp(&params, a.precision).expect("checked above");
            let r32 = pool.install(|| crate::train::eval::evaluate_decoder(&fp32, &store, &windows, t, &bytes));
            let rlo = pool.install(|| crate::train::eval::evaluate_decoder(&low, &store, &windows, t, &bytes));
            finite(r32.loss, &format!("{} (decoder, fp32 weights)", preset.name))?;
            finite(rlo.loss, &format!("{} (decoder, {} weights)", preset.name, a.precision.label()))?;
            println!("decoder, fp32 weights: loss {:.4}  ppl {:.2}  bpc {:.4}", r32.loss, r32.ppl, r32.bpc);
            println!(
                "decoder, {} weights: loss {:.4}  ppl {:.2}  bpc {:.4}  (Δ loss vs fp32 {:+.4} nats)",
                a.precision.label(),
                rlo.loss,
                rlo.ppl,
                rlo.bpc,
                rlo.loss - r32.loss
            );
        }
        if a.probe.is_some() {
            run_probe(&a, &preset, &*model, &params, &tokenizer, &pool)?;
        }
    }
    Ok(())
}

/// A loss that is NaN or infinite is an error, not a result to print.
fn finite(loss: f64, what: &str) -> Result<()> {
    if !loss.is_finite() {
        bail!("evaluating {what} gave a non-finite loss ({loss}): its weights overflow on this text, so there is no loss, PPL or bpc to report");
    }
    Ok(())
}

/// `eval --probe recall`: held-out built-in stories (numbered after the
/// preset's training stories), windows of the preset's seq_len from each story's start.
fn run_probe(
    a: &EvalArgs,
    preset: &Preset,
    model: &dyn crate::model::LanguageModel,
    params: &[f32],
    tok: &Tok,
    pool: &rayon::ThreadPool,
) -> Result<()> {
    let first = preset.data.builtin_stories as u64;
    let stories = crate::train::probe::probe_stories(preset.data.builtin_seed, first, a.probe_stories);
    let report = pool
        .install(|| crate::train::probe::recall_probe(model, params, tok, &stories, preset.train.seq_len, &|| false))
        .ok_or_else(|| anyhow!("probe interrupted"))?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(())
}
