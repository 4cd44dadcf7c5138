//! `sample`: text from a checkpoint, printed or in the interactive pane.

use super::*;
use crate::data::corpus::{load_stories, CorpusSource};
use crate::data::tokenizer::EOS;
use crate::generate::{generate, SampleParams};
use crate::kernels::default_threads;
use crate::launch::{Launch, Options};
use crate::precision::Precision;
use anyhow::{bail, Result};

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic() && c != '\'').filter(|w| !w.is_empty()).map(|w| w.to_lowercase())
}

pub(super) fn sample(mut a: SampleArgs) -> Result<Dispatch> {
    a.precision = crate::precision::for_generation(a.precision);
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        bail!("--temperature must be ≥ 0, got {}", a.temperature);
    }
    if !(a.repetition_penalty > 0.0 && a.repetition_penalty.is_finite()) {
        bail!("--repetition-penalty must be > 0 (1 = off), got {}", a.repetition_penalty);
    }
    if !(a.top_p > 0.0 && a.top_p <= 1.0) {
        bail!("--top-p must be in (0, 1], got {}", a.top_p);
    }
    if a.interactive {
        if !stdout_is_terminal() {
            bail!("--interactive needs a terminal (stdout is not one); drop it to print samples");
        }
        if a.src.checkpoint.is_none() && a.src.weights.is_none() {
            bail!("give a model: --checkpoint DIR, or --weights FILE --preset P --tokenizer tokenizer.json");
        }
        // fail here, with a plain message, rather than inside the UI (and
        // print any loading warning before the UI owns the terminal)
        let loaded = load(&a.src)?;
        let params = SampleParams {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            repetition_penalty: a.repetition_penalty,
            penalty_window: 64,
            max_tokens: a.tokens,
            seed: a.seed,
            precision: a.precision,
        };
        return Ok(Dispatch::Tui(Box::new(Options {
            launch: Launch::Sample { source: a.src.source(), loaded: Some(Box::new(loaded)), prompt: a.prompt.clone(), params },
            presets_dir: None,
            runs_root: "checkpoints".into(),
            threads: a.src.threads.unwrap_or_else(default_threads),
        })));
    }
    let m = load(&a.src)?;
    if a.precision != Precision::Fp32 && m.model.decoder_lowp(&m.params, a.precision).is_none() {
        bail!(
            "--precision {}: generation with {} weights is implemented for v7.1 and v7.2 only; {} decodes in fp32 (drop the flag)",
            a.precision.label(),
            a.precision.label(),
            m.preset.name
        );
    }
    let pool = pool(a.src.threads)?;
    let prompt_ids = m.tokenizer.encode_prompt(&a.prompt)?;
    let banned = m.banned_ids();
    let known: Option<std::collections::HashSet<String>> = {
        let src = a.corpus.clone().map(CorpusSource::Path).or(m.corpus.clone());
        src.and_then(|s| load_stories(&s).ok()).map(|st| st.iter().flat_map(|s| words(s).collect::<Vec<_>>()).collect())
    };
    let (mut total, mut seen) = (0usize, 0usize);
    for i in 0..a.n.max(1) {
        let p = SampleParams {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            repetition_penalty: a.repetition_penalty,
            penalty_window: 64,
            max_tokens: a.tokens,
            seed: a.seed + i as u64,
            precision: a.precision,
        };
        let t0 = std::time::Instant::now();
        let out = pool.install(|| generate(&*m.model, &m.params, &prompt_ids, &banned, EOS, &p, |_| true));
        let dt = t0.elapsed().as_secs_f64();
        let text = m.tokenizer.decode(&out);
        println!("{}{}", a.prompt, text);
        eprintln!("[{} tokens in {:.2} s, {:.0} tok/s]", out.len(), dt, out.len() as f64 / dt.max(1e-9));
        if let Some(k) = &known {
            for w in words(&text) {
                total += 1;
                seen += k.contains(&w) as usize;
            }
        }
    }
    if known.is_some() && total > 0 {
        println!("words seen in the training text: {seen}/{total} ({:.1} %)", 100.0 * seen as f64 / total as f64);
    }
    Ok(Dispatch::Done)
}
