//! `data`: download TinyStories into the Hugging Face cache, or write built-in stories to a file.

use super::*;
use anyhow::{Context, Result};
use std::path::Path;

/// `data download tinystories`: fetch, then say where the files are and how to train on them.
pub(super) fn data(cmd: DataCmd) -> Result<()> {
    use crate::data::download::{tinystories_files, HubConfig, ProgressLine, Split, Verified, TINYSTORIES_REPO};
    let (version, split) = match cmd {
        DataCmd::Download { dataset: Dataset::Tinystories { version, split } } => (version, split),
        DataCmd::Generate { out, megabytes, seed } => return generate_corpus(&out, megabytes, seed),
    };
    let cfg = HubConfig::from_env();
    if cfg.offline {
        eprintln!("HF_HUB_OFFLINE is set: no network, only the cache {}", cfg.hub_cache.display());
    }
    let mut paths = Vec::new();
    for file in tinystories_files(version, split) {
        let bar = ProgressLine::new(file);
        let got = cfg.fetch(TINYSTORIES_REPO, file, &|done, total| bar.update(done, total));
        bar.finish();
        let got = got?;
        if got.verified == Verified::Unverified {
            eprintln!(
                "warning: {file} is unverified: the Hub sent neither its size nor its SHA-256, so a cut or altered download \
                 cannot be told from a good one"
            );
        }
        paths.push(got.path);
    }
    println!(
        "{} of {TINYSTORIES_REPO} in the Hugging Face cache {}:",
        tinystories_files(version, split).join(" and "),
        cfg.hub_cache.display()
    );
    for p in &paths {
        println!("  {}", p.display());
    }
    let q = |p: &Path| {
        let s = p.display().to_string();
        if s.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            format!("'{}'", s.replace('\'', r"'\''"))
        } else {
            s
        }
    };
    match (split, paths.as_slice()) {
        (Split::Both, [train, valid]) => {
            println!("train on them with:\n  flashlm-tui train --preset v7.2-cortex-vi --corpus {} --valid {}", q(train), q(valid))
        }
        (Split::Train, [train]) => println!(
            "train on it with (the last stories are held out for validation):\n  flashlm-tui train --preset v7.2-cortex-vi --corpus {}",
            q(train)
        ),
        _ => println!("pass it as --valid FILE to `flashlm-tui train`, or as --data FILE to `flashlm-tui eval`"),
    }
    Ok(())
}

/// `data generate`: built-in stories, generated in parallel batches, streamed to `out`.
fn generate_corpus(out: &Path, megabytes: u64, seed: u64) -> Result<()> {
    use rayon::prelude::*;
    use std::io::Write;
    let limit = megabytes * 1_000_000;
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let (mut written, mut next) = (0u64, 0u64);
    let t0 = std::time::Instant::now();
    while written < limit {
        let batch: Vec<String> = (next..next + 4096).into_par_iter().map(|i| crate::data::stories::story(seed, i).text).collect();
        next += 4096;
        for s in batch {
            if written >= limit {
                break;
            }
            let piece = format!("{s}\n<|endoftext|>\n");
            w.write_all(piece.as_bytes()).with_context(|| format!("cannot write {}", out.display()))?;
            written += piece.len() as u64;
        }
    }
    w.flush().with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {} MB of built-in stories to {} in {:.1} s", written / 1_000_000, out.display(), t0.elapsed().as_secs_f64());
    Ok(())
}
