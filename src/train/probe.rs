//! Long-range recall probe.
//!
//! The built-in stories record every place a character or object is named
//! again ([`Mention`]). For each such re-mention we score the model's loss on
//! the name's first token, in a window that starts at the story's start, and
//! bucket it by the distance in tokens back to the *nearest earlier
//! occurrence* of the same name (the introduction or an earlier re-mention).
//! Then we swap every earlier occurrence for a different name of the same kind
//! and score the same token again: the loss rises by as much as the model used
//! the earlier occurrences to predict the name. That gap is what the model
//! learned to recall.
//!
//! A model that only sees its receptive field RF = 1 + L·(k−1) (v7.1's gated
//! conv stack) cannot see an occurrence more than RF tokens back, so its gap
//! beyond RF is exactly zero (the tokens it does see are identical); v7.2's
//! Hebbian memory can. Models without a finite receptive field use fixed
//! buckets ≤ 85 and 86–255 tokens.

pub use crate::engine::{RecallBucket, RecallReport};

use crate::data::stories::{Mention, Story};
use crate::data::tok::Tok;
use crate::data::tokenizer::{EOS, UNK};
use crate::model::{LanguageModel, Workspace};

/// Distance buckets: ≤ RF and beyond it (up to the window), or fixed.
pub fn buckets_for(rf: Option<usize>, window: usize) -> Vec<(usize, usize)> {
    match rf {
        Some(rf) if rf < window => vec![(1, rf), (rf + 1, window)],
        Some(rf) => vec![(1, rf)],
        None => vec![(1, 85), (86, 255)],
    }
}

/// One scored name token: the story variant it lives in and its index there.
struct Target {
    distance: usize,
    /// token index of the name token in the original / swapped encoding
    orig_pos: usize,
    swap_pos: usize,
    swapped: Vec<u32>,
}

/// Byte offset in `text` where each token starts, if the tokens spell exactly
/// `text`, or `text` after one space (a tokenizer that adds a prefix space,
/// TOK-BL-C: its first token's start is then 0 as well). `known` starts (the
/// GPT-2 remap's, which has UNKs) are taken as they are.
fn token_starts(tok: &Tok, text: &str, ids: &[u32], known: Option<Vec<usize>>) -> Option<Vec<usize>> {
    if let Some(starts) = known {
        return (starts.len() == ids.len()).then_some(starts);
    }
    let mut starts = Vec::with_capacity(ids.len());
    let mut at = 0;
    for &id in ids {
        starts.push(at);
        at += tok.decode_bytes(&[id]).len();
    }
    let shift = match at.checked_sub(text.len())? {
        0 => 0,
        1 if !text.starts_with(' ') && ids.first().is_some_and(|&f| tok.decode_bytes(&[f]).first() == Some(&b' ')) => 1,
        _ => return None,
    };
    Some(starts.into_iter().map(|s| s.saturating_sub(shift)).collect())
}

/// Index of the token whose bytes contain `byte`.
fn token_at(starts: &[usize], byte: usize) -> usize {
    starts.partition_point(|&s| s <= byte).saturating_sub(1)
}

/// Every occurrence of each entity: the introduction and the re-mentions, by byte.
fn occurrences(mentions: &[Mention]) -> Vec<(usize, usize)> {
    // (entity, byte), sorted by byte
    let mut occ: Vec<(usize, usize)> = Vec::new();
    for m in mentions {
        if !occ.contains(&(m.entity, m.intro_byte)) {
            occ.push((m.entity, m.intro_byte));
        }
        occ.push((m.entity, m.mention_byte));
    }
    occ.sort_by_key(|&(_, b)| b);
    occ.dedup();
    occ
}

/// `text` with the name at each byte offset in `at` replaced by `rep`
/// (first letter's case kept); returns the new text and the shift in bytes
/// of any offset after the last replacement.
fn swap_names(text: &str, at: &[usize], name_len: usize, rep: &str) -> (String, isize) {
    let mut out = String::with_capacity(text.len() + at.len() * rep.len());
    let mut last = 0;
    for &b in at {
        out.push_str(&text[last..b]);
        let upper = text[b..].chars().next().is_some_and(char::is_uppercase);
        let mut r = rep.chars();
        if let Some(first) = r.next() {
            if upper {
                out.extend(first.to_uppercase());
            } else {
                out.extend(first.to_lowercase());
            }
            out.push_str(r.as_str());
        }
        last = b + name_len;
    }
    out.push_str(&text[last..]);
    (out, at.len() as isize * (rep.len() as isize - name_len as isize))
}

/// Replacements of the same kind (entity slot) that the story does not use,
/// in the order to try them.
fn replacements<'a>(pool: &'a [Vec<String>], entity: usize, story: &'a Story, name: &'a str, salt: usize) -> impl Iterator<Item = &'a str> {
    let cands: &[String] = pool.get(entity).map_or(&[], |c| c.as_slice());
    let lower = story.text.to_lowercase();
    (0..cands.len())
        .map(move |i| cands[(i + salt) % cands.len()].as_str())
        .filter(move |c| !c.is_empty() && !c.eq_ignore_ascii_case(name) && !lower.contains(&c.to_lowercase()))
}

/// Windows per forward pass of `recall_probe` (its own workspace stays small).
pub const PROBE_ROWS: usize = 8;

/// Runs the probe over `stories` with windows of at most `window` tokens.
pub fn recall_probe(
    model: &dyn LanguageModel,
    params: &[f32],
    tok: &Tok,
    stories: &[Story],
    window: usize,
    stop: &dyn Fn() -> bool,
) -> Option<RecallReport> {
    recall_probe_in(model, params, tok, stories, window, &mut Workspace::new(), PROBE_ROWS, stop)
}

/// The probe in a given workspace, at most `max_rows` windows per forward pass
/// (the trainer passes its own workspace and batch, so the probe adds no memory).
#[allow(clippy::too_many_arguments)]
pub fn recall_probe_in(
    model: &dyn LanguageModel,
    params: &[f32],
    tok: &Tok,
    stories: &[Story],
    window: usize,
    ws: &mut Workspace,
    max_rows: usize,
    stop: &dyn Fn() -> bool,
) -> Option<RecallReport> {
    let ranges = buckets_for(model.receptive_field(), window);
    recall_probe_ranges(model, params, tok, stories, window, &ranges, ws, max_rows, stop)
}

/// [`recall_probe_in`] with the distance buckets given (inclusive ranges):
/// the same buckets for every model, so models can be compared on them.
pub fn recall_probe_ranges(
    model: &dyn LanguageModel,
    params: &[f32],
    tok: &Tok,
    stories: &[Story],
    window: usize,
    ranges: &[(usize, usize)],
    ws: &mut Workspace,
    max_rows: usize,
    stop: &dyn Fn() -> bool,
) -> Option<RecallReport> {
    let rf = model.receptive_field();
    let mut sums = vec![(0usize, 0.0f64, 0.0f64); ranges.len()];
    // names of each entity slot across the probe stories, for swaps
    let mut pool: Vec<Vec<String>> = vec![Vec::new(); 5];
    for s in stories {
        for m in &s.mentions {
            if m.entity < pool.len() && !pool[m.entity].contains(&m.name) {
                pool[m.entity].push(m.name.clone());
            }
        }
    }
    let mut skipped = 0;
    let mut row_losses: Vec<f32> = Vec::new();
    for (si, story) in stories.iter().enumerate() {
        if stop() {
            return None;
        }
        let Ok((ids, known)) = tok.encode_prompt_with_starts(&story.text) else {
            skipped += 1;
            continue;
        };
        let Some(starts) = token_starts(tok, &story.text, &ids, known) else {
            skipped += 1;
            continue;
        };
        let t = window.min(ids.len().saturating_sub(1));
        if t < 2 {
            continue;
        }
        let unks = |x: &[u32]| x.iter().filter(|&&id| id == UNK).count();
        let occ = occurrences(&story.mentions);
        let mut targets: Vec<Target> = Vec::new();
        for (k, &(ent, byte)) in occ.iter().enumerate() {
            let earlier: Vec<usize> = occ[..k].iter().filter(|o| o.0 == ent).map(|o| o.1).collect();
            let Some(&prev) = earlier.last() else {
                continue; // the introduction itself
            };
            let pos = token_at(&starts, byte);
            if pos == 0 || pos > t || ids[pos] == UNK {
                continue; // outside the window (or nothing before it), or a name the tokenizer lacks
            }
            let distance = pos - token_at(&starts, prev);
            if distance == 0 {
                continue;
            }
            let name = &story.mentions.iter().find(|m| m.entity == ent).map(|m| m.name.clone()).unwrap_or_default();
            if name.is_empty() || !story.text[byte..].to_lowercase().starts_with(&name.to_lowercase()) {
                continue;
            }
            // the first replacement whose text maps back to byte offsets (a
            // tokenizer with a fixed subset of ids turns rarer names into UNK)
            // and leaves the name token itself the same token
            let swap = replacements(&pool, ent, story, name, si + k).find_map(|rep| {
                let (swapped_text, shift) = swap_names(&story.text, &earlier, name.len(), rep);
                let (sw, known) = tok.encode_prompt_with_starts(&swapped_text).ok()?;
                if unks(&sw) > unks(&ids) {
                    return None; // a name the tokenizer lacks
                }
                let sw_starts = token_starts(tok, &swapped_text, &sw, known)?;
                let swap_pos = token_at(&sw_starts, (byte as isize + shift) as usize);
                (swap_pos != 0 && swap_pos <= t && sw.get(swap_pos) == ids.get(pos)).then_some((sw, swap_pos))
            });
            let Some((sw, swap_pos)) = swap else {
                continue;
            };
            targets.push(Target { distance, orig_pos: pos, swap_pos, swapped: sw });
        }
        if targets.is_empty() {
            continue;
        }
        // rows: the original story, then one swapped variant per target, all
        // cut/padded to t + 1 tokens (padding after a target cannot reach it:
        // causal), scored max_rows windows at a time
        let rows: Vec<&[u32]> = std::iter::once(ids.as_slice()).chain(targets.iter().map(|tg| tg.swapped.as_slice())).collect();
        row_losses.resize(rows.len() * t, 0.0);
        for (ci, chunk) in rows.chunks(max_rows.max(1)).enumerate() {
            let b = chunk.len();
            let mut x = vec![EOS; b * t];
            let mut y = vec![EOS; b * t];
            for (r, toks) in chunk.iter().enumerate() {
                for i in 0..t {
                    x[r * t + i] = toks.get(i).copied().unwrap_or(EOS);
                    y[r * t + i] = toks.get(i + 1).copied().unwrap_or(EOS);
                }
            }
            model.loss(ws, params, &x, &y, b, t);
            let first = ci * max_rows.max(1) * t;
            row_losses[first..first + b * t].copy_from_slice(&ws.losses[..b * t]);
        }
        for (j, tg) in targets.iter().enumerate() {
            // the name token at index p is predicted at position p − 1
            let orig = row_losses[tg.orig_pos - 1] as f64;
            let swapped = row_losses[(1 + j) * t + tg.swap_pos - 1] as f64;
            if let Some(bi) = ranges.iter().position(|&(lo, hi)| tg.distance >= lo && tg.distance <= hi) {
                sums[bi].0 += 1;
                sums[bi].1 += orig;
                sums[bi].2 += swapped;
            }
        }
    }
    let buckets = ranges
        .iter()
        .zip(&sums)
        .map(|(&(lo, hi), &(n, a, s))| RecallBucket {
            lo,
            hi,
            n,
            loss: if n > 0 { a / n as f64 } else { f64::NAN },
            swapped_loss: if n > 0 { s / n as f64 } else { f64::NAN },
        })
        .collect();
    Some(RecallReport { stories: stories.len(), skipped_stories: skipped, receptive_field: rf, buckets })
}

/// The most stories `eval --probe-stories` reads (each is generated, encoded
/// and scored; a typo's extra zeros would run for hours).
pub const MAX_PROBE_STORIES: usize = 100_000;

/// The probe's stories: built-in stories the model did not train on when it
/// trained on the built-in corpus (the held-out tail of indices).
pub fn probe_stories(seed: u64, first_index: u64, n: usize) -> Vec<Story> {
    (0..n as u64).map(|i| crate::data::stories::story(seed, first_index + i)).collect()
}
