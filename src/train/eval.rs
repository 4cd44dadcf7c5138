//! Validation: mean next-token loss, PPL and bits per UTF-8 byte over fixed
//! windows of T+1 tokens with stride T (spec §11 fix), and a smoothed bigram
//! baseline on the same windows.

use crate::data::tokens::TokenStore;
use crate::model::{LanguageModel, Workspace};
use std::collections::HashMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvalResult {
    pub loss: f64,
    pub ppl: f64,
    /// bits per UTF-8 byte of the target text
    pub bpc: f64,
    pub tokens: u64,
    pub bytes: u64,
    pub nll: f64,
}

impl EvalResult {
    pub fn from_sums(nll: f64, tokens: u64, bytes: u64) -> Self {
        let loss = if tokens > 0 { nll / tokens as f64 } else { f64::NAN };
        EvalResult {
            loss,
            ppl: loss.exp(),
            bpc: if bytes > 0 { nll / (std::f64::consts::LN_2 * bytes as f64) } else { f64::NAN },
            tokens,
            bytes,
            nll,
        }
    }
}

/// Loss over `windows` (start offsets of T+1-token windows) in batches of `batch`.
/// `stop` is polled between batches so a long eval can be interrupted.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    model: &dyn LanguageModel,
    ws: &mut Workspace,
    params: &[f32],
    store: &TokenStore,
    windows: &[usize],
    t: usize,
    batch: usize,
    bytes_of: &[u32],
    stop: &dyn Fn() -> bool,
) -> Option<EvalResult> {
    let toks = store.as_slice();
    let (mut nll, mut n, mut bytes) = (0.0f64, 0u64, 0u64);
    let mut x = Vec::with_capacity(batch * t);
    let mut y = Vec::with_capacity(batch * t);
    for chunk in windows.chunks(batch) {
        if stop() {
            return None;
        }
        x.clear();
        y.clear();
        for &s in chunk {
            x.extend(toks[s..s + t].iter().map(|&v| v as u32));
            y.extend(toks[s + 1..s + t + 1].iter().map(|&v| v as u32));
        }
        let b = chunk.len();
        let mean = model.loss(ws, params, &x, &y, b, t);
        nll += mean * (b * t) as f64;
        n += (b * t) as u64;
        bytes += y.iter().map(|&id| bytes_of.get(id as usize).copied().unwrap_or(0) as u64).sum::<u64>();
    }
    Some(EvalResult::from_sums(nll, n, bytes))
}

/// The same measurement through an incremental decoder (teacher forcing, one
/// token at a time, a fresh decoder per window): what generation in a given
/// precision would score. Windows run in parallel on the current pool.
pub fn evaluate_decoder<'m>(
    make: &(dyn Fn() -> Box<dyn crate::model::Decode + 'm> + Sync),
    store: &TokenStore,
    windows: &[usize],
    t: usize,
    bytes_of: &[u32],
) -> EvalResult {
    use rayon::prelude::*;
    let toks = store.as_slice();
    let (nll, n, bytes) = windows
        .par_iter()
        .map(|&s| {
            let mut dec = make();
            let (mut nll, mut bytes) = (0.0f64, 0u64);
            for i in s..s + t {
                dec.step(toks[i] as u32);
                let z = dec.logits();
                let m = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let lse = m as f64 + z.iter().map(|&v| ((v - m) as f64).exp()).sum::<f64>().ln();
                let y = toks[i + 1] as usize;
                nll += lse - z[y] as f64;
                bytes += bytes_of.get(y).copied().unwrap_or(0) as u64;
            }
            (nll, t as u64, bytes)
        })
        .reduce(|| (0.0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    EvalResult::from_sums(nll, n, bytes)
}

/// An interpolated bigram model: p(b|a) = (c(a,b) + α·p(b)) / (c(a) + α), with
/// p(b) the add-one unigram distribution.
pub struct Bigram {
    pair: HashMap<(u16, u16), u32>,
    first: Vec<u32>,
    unigram: Vec<f64>,
    alpha: f64,
}

impl Bigram {
    pub fn fit(tokens: &[u16], vocab: usize, alpha: f64) -> Self {
        let mut pair = HashMap::new();
        let mut first = vec![0u32; vocab];
        let mut uni = vec![1.0f64; vocab];
        for w in tokens.windows(2) {
            *pair.entry((w[0], w[1])).or_insert(0) += 1;
            first[w[0] as usize] += 1;
        }
        for &t in tokens {
            uni[t as usize] += 1.0;
        }
        let z: f64 = uni.iter().sum();
        Bigram { pair, first, unigram: uni.into_iter().map(|c| c / z).collect(), alpha }
    }

    pub fn nll(&self, a: u16, b: u16) -> f64 {
        let c = self.pair.get(&(a, b)).copied().unwrap_or(0) as f64;
        let p = (c + self.alpha * self.unigram[b as usize]) / (self.first[a as usize] as f64 + self.alpha);
        -p.ln()
    }

    /// The same windows and targets as [`evaluate`].
    pub fn evaluate(&self, store: &TokenStore, windows: &[usize], t: usize, bytes_of: &[u32]) -> EvalResult {
        let toks = store.as_slice();
        let (mut nll, mut n, mut bytes) = (0.0f64, 0u64, 0u64);
        for &s in windows {
            for i in s..s + t {
                nll += self.nll(toks[i], toks[i + 1]);
                bytes += bytes_of.get(toks[i + 1] as usize).copied().unwrap_or(0) as u64;
                n += 1;
            }
        }
        EvalResult::from_sums(nll, n, bytes)
    }
}
