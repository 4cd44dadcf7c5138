//! Every built-in preset of the lineup (v4 … v7.2, CPUFlow v5-LN and v9.7, v10), shrunk to a tiny model of
//! the same architecture and tokenizer kind, trains a few steps through the
//! engine, then samples and evaluates from its checkpoint through the CLI.

use crate::common::{collect, errors, isolated_cache, run_config, run_dir, step_losses};
use flashlm_tui::engine::Event;
use flashlm_tui::model::MemoryConfig;
use flashlm_tui::preset::{resolve, Budget, ModelSpec, Preset};
use flashlm_tui::train::start;
use std::process::Command;

pub const LINEUP: [&str; 10] = [
    "v4-bolt",
    "v5-thunderbolt",
    "v5.2-nova-ignition",
    "v6-supernova",
    "v7-cortex",
    "v7.1-cortex-iii",
    "v7.2-cortex-vi",
    "cpuflow-v5-ln",
    "cpuflow-v9.7",
    "v10-fsp",
];

/// The preset with tiny sizes; the architecture, tokenizer kind, schedule and
/// accumulation stay the preset's own.
fn shrink(p: Preset) -> Preset {
    shrink_to(p, 16, 24, 8)
}

/// [`shrink`] to width `d`, FFN width `h` and inner widths `s` (k, d_mem,
/// d_reason, d_val: the memories' and scans' own).
pub fn shrink_to(mut p: Preset, d: usize, h: usize, s: usize) -> Preset {
    match &mut p.model {
        ModelSpec::Cortex(c) => {
            (c.vocab, c.d_model, c.n_layers, c.d_ff, c.kernel_size) = (512, d, 2, h, 4);
            if let Some(m) = &mut c.memory {
                *m = MemoryConfig { d_mem: s, decay: m.decay };
            }
        }
        ModelSpec::Bolt(c) => (c.vocab, c.d_model, c.n_layers, c.d_ff, c.kernel_size) = (512, d, 2, h, 4),
        ModelSpec::Thunderbolt(c) => (c.vocab, c.d_model, c.n_layers, c.groups, c.d_ff) = (512, d, 2, 4, h),
        ModelSpec::Nova(c) => (c.vocab, c.d_model, c.n_layers, c.n_heads, c.d_ff) = (512, d, 2, 2, h),
        ModelSpec::Supernova(c) => (c.vocab, c.d_model, c.n_layers, c.d_ff, c.d_reason, c.n_slots, c.d_planner) = (512, d, 2, h, s, 4, 4),
        ModelSpec::CpuFlow(c) => {
            (c.vocab, c.d_model, c.k, c.d_ff, c.n_layers) = (512, d, s, h, 2);
            if let Some(m) = &mut c.memory {
                (m.d_sub, m.d_val, m.top_k) = (2, s, 4);
            }
        }
        ModelSpec::GptFsp(c) => (c.vocab, c.d_model, c.n_layers, c.n_heads, c.d_ff) = (512, d, 2, 2, h),
        ModelSpec::CortexV7(c) => {
            (c.vocab, c.d_model, c.n_layers, c.d_ff) = (512, d, 3, h);
            c.exits = vec![(1, 0.1, 0.55), (2, 0.3, 0.35)];
        }
    }
    let t = &mut p.train;
    t.batch = 2;
    t.seq_len = 32;
    t.accum = t.accum.min(2);
    t.warmup = 1;
    t.budget = Budget::Steps(4);
    (t.log_every, t.eval_every, t.sample_every, t.checkpoint_every, t.eval_windows) = (1, 2, 2, 100, 4);
    p.data.builtin_stories = 200;
    p.data.tokenizer_sample_bytes = 1 << 20;
    p
}

fn cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flashlm-tui")).args(args).env("NO_COLOR", "1").output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn every_version_trains_samples_and_evaluates() {
    isolated_cache();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("valid.txt");
    std::fs::write(&data, flashlm_tui::data::stories::stories(7, 40).join("\n<|endoftext|>\n")).unwrap();
    for name in LINEUP {
        let (full, _) = resolve(name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ternary =
            matches!(full.model, ModelSpec::Bolt(_) | ModelSpec::Thunderbolt(_) | ModelSpec::Supernova(_) | ModelSpec::CortexV7(_));
        let p = shrink(full);
        let text = p.to_ron().unwrap();
        let p = Preset::parse(&text, name).unwrap_or_else(|e| panic!("{name}: shrunk preset invalid: {e}"));
        let ev = collect(start(run_config((p, text), root.path())));
        assert!(errors(&ev).is_empty(), "{name}: {:?}", errors(&ev));
        let losses = step_losses(&ev);
        assert_eq!(losses.len(), 4, "{name}: 4 logged steps");
        assert!(losses.iter().all(|l| l.1.is_finite() && l.1 > 0.0), "{name}: {losses:?}");
        assert!(ev.iter().any(|e| matches!(e, Event::Eval(m) if m.loss.is_finite() && m.bpc > 0.0)), "{name}: an eval with BPC");
        assert!(ev.iter().any(|e| matches!(e, Event::Sample { .. })), "{name}: a sample");
        assert_eq!(ev.iter().any(|e| matches!(e, Event::Ternary { .. })), ternary, "{name}: ternary shares iff ternary");
        let last = run_dir(&ev).join("last");
        let last = last.to_str().unwrap();
        let (ok, out) = cli(&["sample", "--checkpoint", last, "--prompt", "Once upon a time", "--tokens", "8", "--seed", "1"]);
        assert!(ok && out.contains("Once upon a time"), "{name}: sample failed:\n{out}");
        let (ok, out) = cli(&["eval", "--checkpoint", last, "--data", data.to_str().unwrap(), "--max-windows", "4"]);
        assert!(ok && out.contains("bpc"), "{name}: eval failed:\n{out}");
    }
}
