//! `bench --all`: every full-size preset in its own process, one Markdown table.

use super::{BenchArgs, BenchResult};
use crate::kernels::default_threads;
use crate::kernels::peak::cores_available;
use crate::preset::thousands;
use anyhow::{Context, Result};
use std::time::Instant;

/// `bench --all`: every full-size preset in a child process (peak RSS is then
/// that preset's own), at the default thread count and at 1 thread.
pub(super) fn run_all(a: &BenchArgs) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let parsed: Vec<crate::preset::Preset> =
        crate::preset::discover(a.presets.as_deref()).into_iter().filter_map(|e| e.parsed.ok()).filter(|p| p.name != "tiny").collect();
    let presets: Vec<String> = parsed.iter().map(|p| p.name.clone()).collect();
    // micro-batches above 16×256 tokens (v5's 64×256) are timed at 8 × 256, so that
    // the whole table stays within a few minutes (v5's tok/s hardly depends on it)
    let batches: Vec<(String, Option<usize>)> = parsed
        .iter()
        .map(|p| (p.name.clone(), (p.train.batch * p.train.seq_len > 4096).then_some(2048 / p.train.seq_len).or(a.batch)))
        .collect();
    let child = |name: &str, th: usize| -> Result<BenchResult> {
        eprintln!("bench: {name} at {th} thread(s)…");
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["bench", "--json", "--preset", name, "--threads", &th.to_string()]);
        if let Some(s) = a.steps {
            cmd.args(["--steps", &s.to_string()]);
        }
        if th != threads {
            // generation is timed once, at the default thread count
            cmd.arg("--no-gen");
        }
        if let Some(b) = batches.iter().find(|(n, _)| n == name).and_then(|(_, b)| *b) {
            cmd.args(["--batch", &b.to_string()]);
        }
        if let Some(d) = &a.presets {
            cmd.arg("--presets").arg(d);
        }
        cmd.args(["--precision", a.precision.label()]);
        let out = cmd.output().context("cannot run the benchmark child process")?;
        if !out.status.success() {
            anyhow::bail!("bench of {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().rev().find(|l| l.starts_with('{')).context("no JSON line from the benchmark child")?;
        Ok(serde_json::from_str(line)?)
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut reruns = Vec::new();
    for name in &presets {
        let mut full = child(name, threads)?;
        if !cores_available(full.fma_low, full.fma_single, threads) {
            // a core was taken by another load on the host: measure once more
            eprintln!(
                "bench: {name}: not every core was available (bare FMA {:.0} GFLOP/s at {threads} threads vs {:.0} for one); once more",
                full.fma_low, full.fma_single
            );
            reruns.push(name.clone());
            full = child(name, threads)?;
        }
        let one = if threads > 1 { Some(child(name, 1)?) } else { None };
        rows.push((full, one));
    }
    print_table(&rows, a.precision, threads);
    let find = |n: &str| rows.iter().find(|(r, _)| r.preset == n).map(|(r, _)| r);
    if let (Some(a72), Some(a71)) = (find("v7.2-cortex-vi"), find("v7.1-cortex-iii")) {
        println!(
            "\nHebbian overhead: v7.2 {:.0} ms/step vs v7.1 {:.0} ms/step = {:+.1} % (medians); fastest steps {:.0} vs {:.0} = {:+.1} %",
            a72.ms_per_step,
            a71.ms_per_step,
            100.0 * (a72.ms_per_step / a71.ms_per_step - 1.0),
            a72.min_ms_per_step,
            a71.min_ms_per_step,
            100.0 * (a72.min_ms_per_step / a71.min_ms_per_step - 1.0)
        );
    }
    let busy: Vec<&str> =
        rows.iter().filter(|(r, _)| !cores_available(r.fma_low, r.fma_single, threads)).map(|(r, _)| r.preset.as_str()).collect();
    if !reruns.is_empty() {
        println!("\nre-run because another load had taken a core: {}", reruns.join(", "));
    }
    if !busy.is_empty() {
        println!("still short of cores in the figures above (they read low): {}", busy.join(", "));
    }
    let secs = started.elapsed().as_secs();
    println!(
        "\nbench --all: {} presets in {} min {:02} s; CPU: {}",
        rows.len(),
        secs / 60,
        secs % 60,
        crate::precision::cpu_vector_features()
    );
    Ok(())
}

/// The Markdown table of every preset's figures: the default thread count,
/// and 1 thread beside it where there is more than one.
fn print_table(rows: &[(BenchResult, Option<BenchResult>)], precision: crate::precision::Precision, threads: usize) {
    let (prec, peak_col) = match precision {
        crate::precision::Precision::Bf16 => ("bf16", "bf16 GEMM peak (fp32 FMA peak)"),
        _ => ("fp32", "sgemm peak (FMA peak)"),
    };
    println!("Training in {prec}; MFU against the {prec} GEMM peak measured in each child.");
    println!();
    println!("| preset | params | batch×seq | ms/step | tok/s ({threads} thr) | tok/s (1 thr) | scaling (fastest steps) | GFLOP/s | {peak_col} | MFU (fastest step) | gen tok/s (ctx 16–32 / 4,080–4,096) | gen bf16 / int8 | peak RSS (training) | PyTorch tok/s |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (r, one) in rows {
        let (one_s, scale) = match one {
            // medians, then fastest steps: the shared host's slow spells only add time,
            // and the two runs are minutes apart
            Some(o) => (
                format!("{:.0}", o.tok_per_sec),
                format!("{:.2}× ({:.2}×)", r.tok_per_sec / o.tok_per_sec, o.min_ms_per_step / r.min_ms_per_step),
            ),
            None => ("–".into(), "–".into()),
        };
        println!(
            "| {} | {} | {}×{}{} | {:.0} | {:.0} | {} | {} | {:.1} | {:.1} ({:.0}) | {:.1} % ({:.1} %) | {:.0} ({:.0} / {:.0}) | {} | {} | {} |",
            r.preset,
            thousands(r.params as u64),
            r.batch,
            r.seq_len,
            if r.accum > 1 { format!(" ×{} accum", r.accum) } else { String::new() },
            r.ms_per_step,
            r.tok_per_sec,
            one_s,
            scale,
            r.gflops,
            r.sgemm_peak,
            r.fma_peak,
            100.0 * r.mfu,
            100.0 * r.mfu_fastest,
            r.gen_tok_per_sec,
            r.gen_first16,
            r.gen_at_4096,
            match (r.gen_bf16_tok_per_sec, r.gen_int8_tok_per_sec) {
                (Some(b), Some(i)) => format!("{b:.0} / {i:.0}"),
                _ => "–".into(),
            },
            r.peak_rss_mb.map(|m| format!("{m:.0} MB")).unwrap_or_else(|| "–".into()),
            r.pytorch_tok_s.map(|t| format!("{t:.0}")).unwrap_or_else(|| "–".into()),
        );
    }
    // PyTorch figures hold for the machine they were measured on
    let mut machines: Vec<&str> = rows.iter().filter_map(|(r, _)| r.pytorch_machine.as_deref()).collect();
    machines.dedup();
    if !machines.is_empty() {
        println!();
        println!("PyTorch tok/s measured on {}.", machines.join("; "));
    }
}
