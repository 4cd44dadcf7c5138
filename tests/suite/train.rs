//! The trainer end to end on the tiny preset: a run learns, writes its folder,
//! resumes bit-exactly, and survives bad input.

use super::common::*;
use flashlm_tui::engine::{Event, Level, LogKind};
use flashlm_tui::preset::Budget;
use flashlm_tui::train::checkpoint;
use flashlm_tui::train::start;

fn load_params(dir: &std::path::Path) -> Vec<f32> {
    checkpoint::load_model(dir).unwrap().params
}

#[test]
fn tiny_run_learns_and_writes_its_run_folder() {
    let root = tempfile::tempdir().unwrap();
    let ev = collect(start(run_config(tiny_preset(&[]), root.path())));
    assert!(errors(&ev).is_empty(), "{:?}", errors(&ev));
    let losses = step_losses(&ev);
    assert_eq!(losses.last().unwrap().0, 60, "the step budget is honoured");
    let first: f64 = losses[..5].iter().map(|l| l.1).sum::<f64>() / 5.0;
    let last: f64 = losses[losses.len() - 5..].iter().map(|l| l.1).sum::<f64>() / 5.0;
    assert!(last < first - 0.5, "loss should fall: first {first:.3}, last {last:.3}");
    let evals: Vec<_> = ev.iter().filter_map(|e| if let Event::Eval(m) = e { Some(m.clone()) } else { None }).collect();
    assert!(evals.len() >= 3, "evals at 20, 40 and the final one");
    assert!(evals.iter().all(|e| e.loss.is_finite() && e.bpc > 0.0 && (e.ppl - e.loss.exp()).abs() < 1e-6));
    assert!(ev.iter().any(|e| matches!(e, Event::Sample { .. })));
    assert!(ev.iter().any(|e| matches!(e, Event::MemoryUpdated { .. })));
    let dir = run_dir(&ev);
    assert!(dir.file_name().unwrap().to_string_lossy().starts_with("tiny-"));
    for sub in ["last", "best", "step-30", "metrics.jsonl"] {
        assert!(dir.join(sub).exists(), "{sub} missing");
    }
    for f in ["model.safetensors", "optimizer.safetensors", "tokenizer.json", "preset.ron", "state.json", "meta.json"] {
        assert!(dir.join("last").join(f).exists(), "last/{f} missing");
    }
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    for line in metrics.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        assert!(v["type"].is_string());
    }
    assert!(metrics.lines().any(|l| l.contains("\"summary\"")));
    let fin = ev.iter().find_map(|e| if let Event::Finished(s) = e { Some(s.clone()) } else { None }).unwrap();
    assert_eq!(fin.steps, 60);
    assert!(!fin.stopped_early);
}

/// N steps + save + resume + N steps == 2N steps straight, bit for bit, at a
/// fixed thread count; with one micro-batch per step and with three (two lanes
/// and a single, train/lanes.rs). (Constant LR after warm-up so both schedules
/// coincide although the first half's budget is N.)
#[test]
fn resume_is_bit_identical() {
    resume_is_bit_identical_with(&[]);
    resume_is_bit_identical_with(&[("seq_len: 32,", "seq_len: 32, accum: 3,")]);
}

fn resume_is_bit_identical_with(edits: &[(&str, &str)]) {
    let preset = || {
        let mut e = vec![("min_lr: 1e-4", "min_lr: 3e-3")];
        e.extend_from_slice(edits);
        let p = tiny_preset(&e);
        let tr = &p.0.train;
        assert_eq!(tr.accum, if edits.is_empty() { 1 } else { 3 });
        let lanes = flashlm_tui::train::lanes::Lanes::for_run(1, tr.accum, tr.batch, tr.seq_len, 2).unwrap();
        assert_eq!(lanes.is_some(), tr.accum == 3, "accum 3 runs on two lanes");
        p
    };
    let root = tempfile::tempdir().unwrap();
    let mut straight = run_config(preset(), root.path());
    straight.budget = Some(Budget::Steps(40));
    let a = collect(start(straight));
    assert!(errors(&a).is_empty(), "{:?}", errors(&a));

    let mut first = run_config(preset(), root.path());
    first.budget = Some(Budget::Steps(20));
    let b1 = collect(start(first));
    let mut second = run_config(preset(), root.path());
    second.resume = Some(run_dir(&b1).join("last"));
    second.budget = Some(Budget::Steps(40));
    let b2 = collect(start(second));
    assert!(errors(&b2).is_empty(), "{:?}", errors(&b2));
    assert!(
        b2.iter().any(|e| matches!(e, Event::Log { level: Level::Info, kind: LogKind::NewBudget, .. })),
        "a new budget on resume is logged"
    );
    assert_eq!(run_dir(&b2), run_dir(&b1), "resume continues in the same run folder");

    let la = step_losses(&a);
    let lb: Vec<_> = step_losses(&b1).into_iter().chain(step_losses(&b2)).collect();
    assert_eq!(la.len(), 40);
    assert_eq!(la, lb, "losses must be bit-identical");
    assert_eq!(load_params(&run_dir(&a).join("last")), load_params(&run_dir(&b2).join("last")), "final weights identical");
}

#[test]
fn stop_command_saves_last_and_finishes() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = run_config(tiny_preset(&[]), root.path());
    cfg.budget = Some(Budget::Steps(100_000));
    let h = start(cfg);
    let cmd = h.commands.clone();
    let mut events = Vec::new();
    while let Ok(ev) = h.events.recv_timeout(std::time::Duration::from_secs(60)) {
        let stepped = matches!(&ev, Event::Step(m) if m.step == 5);
        events.push(ev);
        if stepped {
            cmd.send(flashlm_tui::engine::Command::Stop { save: true }).unwrap();
        }
        if matches!(events.last(), Some(Event::Finished(_))) {
            break;
        }
    }
    let fin = events.iter().find_map(|e| if let Event::Finished(s) = e { Some(s.clone()) } else { None }).expect("finished");
    assert!(fin.stopped_early);
    assert!(fin.steps >= 5 && fin.steps < 100);
    assert!(run_dir(&events).join("last/meta.json").exists());
}

#[test]
fn nan_weights_skip_steps_and_stop_with_an_error() {
    let root = tempfile::tempdir().unwrap();
    // reference-format weights so large that every loss overflows to NaN
    // (weights holding NaN themselves are refused on import)
    let (p, text) = tiny_preset(&[]);
    let model = p.build_model();
    let mut params = model.init_params(1);
    params[model.layout().get("blocks.1.Wo.weight").unwrap().range()].fill(3e38);
    let st = flashlm_tui::weights::to_safetensors(model.layout(), &[("", &params)], &model.tied_aliases()).unwrap();
    let wpath = root.path().join("nan.safetensors");
    std::fs::write(&wpath, st).unwrap();
    // a tokenizer from a normal tiny run
    let ok = collect(start(run_config((p.clone(), text.clone()), root.path())));
    let tok = run_dir(&ok).join("last/tokenizer.json");
    let mut cfg = run_config((p, text), root.path());
    cfg.import = Some(flashlm_tui::train::trainer::ImportWeights { weights: wpath, tokenizer: tok });
    let ev = collect(start(cfg));
    let skipped = ev.iter().filter(|e| matches!(e, Event::Log { level: Level::Warn, kind: LogKind::StepSkipped { step: 1 }, .. })).count();
    assert!(skipped >= 20, "non-finite steps are reported ({skipped})");
    assert!(errors(&ev).iter().any(|e| e.contains("non-finite")), "{:?}", errors(&ev));
    let fin = ev.iter().find_map(|e| if let Event::Finished(s) = e { Some(s.clone()) } else { None }).unwrap();
    assert_eq!(fin.steps, 0, "no update was applied");
}

#[test]
fn corrupt_truncated_and_wrong_version_checkpoints_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let ev = collect(start(run_config(tiny_preset(&[]), root.path())));
    let run = run_dir(&ev);
    let load = |dir: &std::path::Path| checkpoint::load_model(dir).map(|_| ());
    let copy = |name: &str| {
        let dst = root.path().join(name);
        std::fs::create_dir_all(&dst).unwrap();
        for f in std::fs::read_dir(run.join("last")).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
        }
        dst
    };
    // a flipped byte
    let c = copy("corrupt");
    let mut w = std::fs::read(c.join("model.safetensors")).unwrap();
    let n = w.len();
    w[n - 3] ^= 0x40;
    std::fs::write(c.join("model.safetensors"), w).unwrap();
    let e = load(&c).err().unwrap().to_string();
    assert!(e.contains("model.safetensors") && e.contains("SHA-256"), "{e}");
    // truncated
    let c = copy("truncated");
    let w = std::fs::read(c.join("optimizer.safetensors")).unwrap();
    std::fs::write(c.join("optimizer.safetensors"), &w[..w.len() / 2]).unwrap();
    let e = load(&c).err().unwrap().to_string();
    assert!(e.contains("optimizer.safetensors") && e.contains("truncated"), "{e}");
    // wrong version
    let c = copy("version");
    let meta = std::fs::read_to_string(c.join("meta.json")).unwrap().replace("\"format_version\": 1", "\"format_version\": 99");
    std::fs::write(c.join("meta.json"), meta).unwrap();
    let e = load(&c).err().unwrap().to_string();
    assert!(e.contains("version 99"), "{e}");
    // not a checkpoint at all
    let e = load(root.path()).err().unwrap().to_string();
    assert!(e.contains("not a checkpoint"), "{e}");
    // wrong shape: the same files read against a bigger model
    let e = checkpoint::load_as(&run.join("last"), |_| tiny_preset(&[("d_model: 32", "d_model: 48")]).0.build_model())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("wrong shape") && e.contains("embed.weight"), "{e}");
    // the run's own checkpoints are untouched by all this
    assert!(load(&run.join("last")).is_ok());
    // the cheap looks read the same preset and state
    let full = checkpoint::load_model(&run.join("last")).unwrap();
    assert_eq!(checkpoint::read_preset(&run.join("last")).unwrap().name, full.preset.name);
    assert_eq!(checkpoint::read_state(&run.join("last")).unwrap(), full.state);
}

#[test]
fn empty_and_too_small_corpora_are_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let empty = root.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let mut cfg = run_config(tiny_preset(&[]), root.path());
    cfg.corpus = Some(empty);
    let ev = collect(start(cfg));
    let e = errors(&ev);
    assert!(e.iter().any(|m| m.contains("empty.txt")), "{e:?}");

    let small = root.path().join("small.txt");
    std::fs::write(&small, "One tiny story.\n<|endoftext|>\nAnother one.\n<|endoftext|>\nA third.\n").unwrap();
    let mut cfg = run_config(tiny_preset(&[]), root.path());
    cfg.corpus = Some(small);
    let ev = collect(start(cfg));
    let e = errors(&ev);
    assert!(e.iter().any(|m| m.contains("too small")), "{e:?}");
    assert!(!ev.iter().any(|e| matches!(e, Event::Step(_))));
}

/// Reference-format weights (the golden v7.2 state_dict, tied keys duplicated,
/// decay_mask buffers present) load into a matching model, and a mismatched
/// model gets a list of what is missing, unexpected or mis-shaped.
#[test]
fn reference_state_dicts_import_or_explain_the_mismatch() {
    use flashlm_tui::model::{Cortex, CortexConfig, LanguageModel, MemoryConfig};
    use flashlm_tui::weights::import_reference;
    let path = fixtures().join("v7.2/weights.safetensors");
    let cfg = CortexConfig {
        vocab: 64,
        d_model: 32,
        n_layers: 2,
        d_ff: 40,
        kernel_size: 4,
        memory: Some(MemoryConfig { d_mem: 8, decay: 0.9 }),
        seq_len: 16,
    };
    let ok = Cortex::new(cfg.clone());
    assert_eq!(import_reference(&ok, &path).unwrap().len(), ok.num_params());

    let no_mem = Cortex::new(CortexConfig { memory: None, ..cfg.clone() });
    let e = import_reference(&no_mem, &path).unwrap_err();
    assert!(e.contains("unexpected: blocks.0.key_proj.weight"), "{e}");

    let wider = Cortex::new(CortexConfig { d_ff: 48, n_layers: 3, ..cfg });
    let e = import_reference(&wider, &path).unwrap_err();
    assert!(e.contains("wrong shape: blocks.0.Wg.weight is [40, 32], expected [48, 32]"), "{e}");
    assert!(e.contains("missing: blocks.2.ln1.weight"), "{e}");
}

/// Resuming the straight run's own `step-30/` checkpoint with the cosine
/// schedule and the same 60-step budget replays steps 31–60 bit for bit
/// (the schedule, horizon and data cursor all come from the checkpoint).
#[test]
fn resume_from_a_periodic_checkpoint_replays_the_schedule() {
    let root = tempfile::tempdir().unwrap();
    let straight = collect(start(run_config(tiny_preset(&[]), root.path())));
    assert!(errors(&straight).is_empty(), "{:?}", errors(&straight));
    let mut cfg = run_config(tiny_preset(&[]), root.path());
    cfg.resume = Some(run_dir(&straight).join("step-30"));
    let resumed = collect(start(cfg));
    assert!(errors(&resumed).is_empty(), "{:?}", errors(&resumed));
    let tail: Vec<_> = step_losses(&straight).into_iter().filter(|(s, _)| *s > 30).collect();
    assert_eq!(tail.len(), 30);
    assert_eq!(step_losses(&resumed), tail);
    let lrs = |ev: &[Event]| -> Vec<f32> { ev.iter().filter_map(|e| if let Event::Step(m) = e { Some(m.lr) } else { None }).collect() };
    assert_eq!(lrs(&resumed), lrs(&straight)[30..].to_vec());
    assert!(lrs(&straight)[59] < lrs(&straight)[20], "the cosine decays");
}

#[test]
fn a_spent_budget_is_refused_before_training() {
    let root = tempfile::tempdir().unwrap();
    let ok = collect(start(run_config(tiny_preset(&[]), root.path())));
    let mut cfg = run_config(tiny_preset(&[]), root.path());
    cfg.resume = Some(run_dir(&ok).join("last"));
    cfg.budget = Some(Budget::Steps(60));
    let e = errors(&collect(start(cfg)));
    assert!(e.iter().any(|m| m.contains("already spent")), "{e:?}");
}

/// BPC on a hand-computable case: ΣNLL / (ln 2 · UTF-8 bytes of the targets),
/// with byte counts taken from the byte-level vocabulary (multi-byte characters
/// count all their bytes, `<eos>` counts none).
#[test]
fn bits_per_byte_is_hand_computable() {
    use flashlm_tui::data::tokenizer::token_bytes;
    use flashlm_tui::data::tokenizer::{decode, encode_prompt, train_tokenizer, EOS};
    use flashlm_tui::train::eval::EvalResult;
    let r = EvalResult::from_sums(10.0 * std::f64::consts::LN_2, 5, 10);
    assert!((r.bpc - 1.0).abs() < 1e-12 && (r.loss - 2.0 * std::f64::consts::LN_2).abs() < 1e-12);
    assert!((r.ppl - 4.0).abs() < 1e-9);

    let stories: Vec<String> = ["Zoë ate crème brûlée.", "Zoë saw a café.", "A café, a crème."].iter().map(|s| s.to_string()).collect();
    let tok = train_tokenizer(&stories, 300, false).unwrap();
    let bytes = token_bytes(&tok, 300);
    let text = "Zoë ate a café crème.";
    let ids = encode_prompt(&tok, text).unwrap();
    assert_eq!(decode(&tok, &ids), text);
    let total: u32 = ids.iter().map(|&i| bytes[i as usize]).sum();
    assert_eq!(total as usize, text.len(), "byte counts of the pieces add up to the UTF-8 length");
    assert_eq!(bytes[EOS as usize], 0);
}

/// BB-OPT accumulation: 2 micro-batches of 2 windows give the same optimiser
/// steps as 1 batch of 4 (same windows in the same order; gradients summed then
/// averaged), up to float summation order.
#[test]
fn gradient_accumulation_equals_the_larger_batch() {
    let root = tempfile::tempdir().unwrap();
    let run = |batch: &str, accum: &str| {
        let p = tiny_preset(&[
            ("batch: 4,", batch),
            ("seq_len: 32,", accum),
            ("budget: Steps(60)", "budget: Steps(8)"),
            ("warmup: 10,", "warmup: 2,"),
        ]);
        collect(start(run_config(p, root.path())))
    };
    let big = run("batch: 4,", "seq_len: 32,");
    let acc = run("batch: 2,", "seq_len: 32, accum: 2,");
    assert!(errors(&big).is_empty() && errors(&acc).is_empty(), "{:?} {:?}", errors(&big), errors(&acc));
    let (lb, la) = (step_losses(&big), step_losses(&acc));
    assert_eq!(lb.len(), 8);
    assert_eq!(lb.len(), la.len());
    for ((s1, l1), (s2, l2)) in lb.iter().zip(&la) {
        assert_eq!(s1, s2);
        assert!((l1 - l2).abs() < 1e-4, "step {s1}: batch 4 loss {l1} vs 2×2 accumulated {l2}");
    }
    let started =
        |ev: &[Event]| ev.iter().find_map(|e| if let Event::Started { tokens_per_step, .. } = e { Some(*tokens_per_step) } else { None });
    assert_eq!(started(&acc), Some(128), "tokens per optimiser step count every micro-batch");
    let (pb, pa) = (load_params(&run_dir(&big).join("last")), load_params(&run_dir(&acc).join("last")));
    let worst = pb.iter().zip(&pa).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "weights after 8 steps differ by {worst}");
}

/// S-D (v6, v7): warm-up, then cosine restarts every C steps at P·γ^c.
#[test]
fn cyclic_schedule_follows_the_spec() {
    use flashlm_tui::train::optim::cyclic_lr;
    let (p, m, w, c, g) = (4e-3f32, 1e-4f32, 100u64, 500u64, 0.85f32);
    assert!((cyclic_lr(0, p, m, w, c, g) - p / 100.0).abs() < 1e-9);
    assert!((cyclic_lr(100, p, m, w, c, g) - p).abs() < 1e-7, "first cycle starts at the peak");
    assert!((cyclic_lr(350, p, m, w, c, g) - (m + 0.5 * (p - m))).abs() < 1e-6, "half way down the first cycle");
    assert!((cyclic_lr(600, p, m, w, c, g) - p * g).abs() < 1e-7, "second cycle restarts at P·γ");
    assert!((cyclic_lr(1100, p, m, w, c, g) - p * g * g).abs() < 1e-7);
    // once P·γ^c < m the spec's formula oscillates between P·γ^c and m
    let deep = cyclic_lr(100 + 500 * 40, p, m, w, c, g);
    assert!(deep < m && deep > 0.0, "{deep}");
}

/// Two processes (here two trainers) never write one run folder: the second
/// resume of a run that is training is refused, naming the holder.
#[test]
fn a_run_folder_has_one_writer() {
    let root = tempfile::tempdir().unwrap();
    let ev = collect(start(run_config(tiny_preset(&[]), root.path())));
    let last = run_dir(&ev).join("last");
    let mut first = run_config(tiny_preset(&[]), root.path());
    first.resume = Some(last.clone());
    first.budget = Some(Budget::Steps(100_000));
    let h = start(first);
    // wait until the first trainer is stepping (it holds the lock by then)
    while let Ok(ev) = h.events.recv_timeout(std::time::Duration::from_secs(60)) {
        if matches!(ev, Event::Step(_)) {
            break;
        }
    }
    let mut second = run_config(tiny_preset(&[]), root.path());
    second.resume = Some(last.clone());
    second.budget = Some(Budget::Steps(100_000));
    let errs = errors(&collect(start(second)));
    assert!(errs.iter().any(|e| e.contains(&format!("locked by PID {}", std::process::id()))), "{errs:?}");
    h.commands.send(flashlm_tui::engine::Command::Stop { save: true }).unwrap();
    let rest = collect(h);
    assert!(rest.iter().any(|e| matches!(e, Event::Finished(_))), "the first run goes on and finishes");
    assert!(checkpoint::load_model(&last).is_ok());
}

/// A save cut short at any of its steps (each write, flush and rename; the
/// injected I/O error leaves the folders as a kill at that moment would)
/// never leaves `last/` unloadable: it holds the old weights or the new ones,
/// and the next save clears what the interrupted one left behind.
#[test]
fn an_interrupted_save_always_leaves_a_loadable_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let ev = collect(start(run_config(tiny_preset(&[]), root.path())));
    let run = run_dir(&ev);
    let last = run.join("last");
    let ck = checkpoint::load_model(&last).unwrap();
    let aliases = ck.model.tied_aliases();
    let mut n = 1;
    loop {
        let before = checkpoint::load_model(&last).unwrap().params;
        let new: Vec<f32> = before.iter().map(|x| x + 1.0).collect();
        let req = checkpoint::SaveRequest {
            layout: ck.model.layout(),
            aliases: &aliases,
            params: &new,
            adam: None,
            tokenizer_json: &ck.tokenizer_json,
            preset_text: &ck.preset_text,
            state: &ck.state,
            kind: "test",
        };
        checkpoint::inject_save_fault(Some(n));
        let saved = checkpoint::save(&last, &req);
        let steps = checkpoint::inject_save_fault(None);
        let now = checkpoint::load_model(&last).unwrap_or_else(|e| panic!("cut at step {n}: last/ does not load: {e}")).params;
        assert!(now == before || now == new, "cut at step {n}: neither the old nor the new weights");
        if saved.is_ok() && steps < n {
            break;
        }
        assert!(saved.is_err(), "step {n} of {steps} was cut, yet the save reported success");
        n += 1;
    }
    assert!(n > 8, "a save has more than {n} steps: writes, flushes, the swap, the removal");
    let left: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with(".tmp-") || n.starts_with(".old-"))
        .collect();
    assert!(left.is_empty(), "leftovers after a clean save: {left:?}");
}
