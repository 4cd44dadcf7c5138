//! The binary itself: exact CLI contract, exit codes, no panics on bad input.

use std::process::Command;

pub(super) fn bin() -> Command {
    super::common::isolated_cache();
    let mut c = Command::new(env!("CARGO_BIN_EXE_flashlm-tui"));
    c.env("FLASHLM_CACHE", std::env::var("FLASHLM_CACHE").unwrap());
    c
}

pub(super) fn run(c: &mut Command) -> (bool, String, String) {
    let o = c.output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn presets_lists_names_versions_and_counts() {
    let (ok, out, err) = run(bin().arg("presets"));
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with("v7.2-cortex-vi")).expect(&out);
    assert!(line.contains("v7.2") && line.contains("5,008,896") && line.contains("Hebbian"), "{line}");
    assert!(out.lines().any(|l| l.starts_with("v7.1-cortex-iii") && l.contains("4,614,144")), "{out}");
}

#[test]
fn train_sample_eval_and_resume_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("runs");
    let (ok, out, err) =
        run(bin().args(["train", "--preset", "tiny", "--headless", "--steps", "30", "--threads", "2", "--out"]).arg(&out_dir));
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("step     10") && out.contains("finished: 30 steps"), "{out}");
    let run_dir = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
    let best = run_dir.join("best");

    let (ok, out, err) = run(bin().arg("sample").arg("--checkpoint").arg(&best).args(["--prompt", "Once upon a time", "--tokens", "20"]));
    assert!(ok, "{err}");
    assert!(out.starts_with("Once upon a time"), "{out}");
    assert!(out.contains("words seen in the training text"), "{out}");

    let valid = dir.path().join("valid.txt");
    let text: Vec<String> = flashlm_tui::data::stories::stories(99, 20);
    std::fs::write(&valid, text.join("\n<|endoftext|>\n")).unwrap();
    let (ok, out, err) = run(bin().arg("eval").arg("--checkpoint").arg(&best).arg("--data").arg(&valid).args(["--baseline", "bigram"]));
    assert!(ok, "{err}");
    assert!(out.contains("bigram baseline (") && out.contains("bpc"), "{out}");

    let (ok, out, err) = run(bin().args(["train", "--headless", "--steps", "40", "--resume"]).arg(run_dir.join("last")));
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("resumed tiny at step 30") && out.contains("finished: 40 steps"), "{out}");
}

#[test]
fn bigram_baseline_needs_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let valid = dir.path().join("valid.txt");
    std::fs::write(&valid, flashlm_tui::data::stories::stories(77, 10).join("\n<|endoftext|>\n")).unwrap();
    let (ok, out, err) = run(bin().args(["eval", "--baseline", "bigram", "--preset", "tiny", "--data"]).arg(&valid));
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with("bigram baseline")).expect(&out);
    let loss: f64 = line.split("loss ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(loss > 0.5 && loss < (512f64).ln(), "{line}");
}

#[test]
fn bad_input_gets_a_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["train".into(), "--preset".into(), "no-such-preset".into(), "--headless".into()],
        vec!["train".into(), "--preset".into(), dir.path().join("missing.ron").display().to_string()],
        vec!["sample".into(), "--checkpoint".into(), dir.path().display().to_string()],
        vec!["eval".into(), "--checkpoint".into(), dir.path().join("nope").display().to_string(), "--data".into(), "x.txt".into()],
        vec!["train".into(), "--preset".into(), "tiny".into(), "--corpus".into(), dir.path().join("none.txt").display().to_string()],
        vec!["train".into(), "--steps".into(), "5".into(), "--minutes".into(), "3".into()],
    ];
    for args in cases {
        let (ok, _out, err) = run(bin().args(&args));
        assert!(!ok, "{args:?} should fail");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{args:?}: {err}");
        assert!(!err.trim().is_empty(), "{args:?}: no message");
    }
}

/// `bench` output contract (not its speed): the first line and the JSON record.
#[test]
fn bench_prints_its_contract_lines() {
    let (ok, out, err) = run(bin().args(["bench", "--preset", "tiny", "--steps", "3", "--threads", "2", "--json"]));
    assert!(ok, "{err}");
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("train: ") && first.ends_with("tok/s (fp32, 2 threads)"), "{first}");
    assert!(out.contains("FLOP/token = ") && out.contains("MFU") && out.contains("sgemm peak"), "{out}");
    // the generation bound: the weights' size over a measured read bandwidth
    let bound = out.lines().find(|l| l.starts_with("generation bound: ")).unwrap_or_else(|| panic!("{out}"));
    assert!(bound.contains("MB of fp32 weights per token") && bound.contains("GB/s → at most about"), "{bound}");
    let gbs: f64 =
        bound.split(" read that buffer at ").nth(1).and_then(|r| r.split(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    assert!(gbs > 0.0 && gbs.is_finite(), "{bound}");
    let json = out.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["preset"], "tiny");
    assert!(v["tok_per_sec"].as_f64().unwrap() > 0.0 && v["gen_at_4096"].as_f64().unwrap() > 0.0);
    // the FMA ceiling and the one-thread yardstick are measured (how they
    // compare is a benchmark's business: under load either reads low)
    if flashlm_tui::kernels::simd::available() {
        assert!(out.contains("bare FMA peak") && v["fma_peak"].as_f64().unwrap() > 0.0 && v["sgemm_peak"].as_f64().unwrap() > 0.0, "{out}");
        assert!(v["fma_single"].as_f64().unwrap() > 0.0 && v["fma_low"].as_f64().unwrap() > 0.0, "{json}");
    }
}

/// `bench --hebbian`: alternating pairs with and without the memory, a median
/// overhead line; a preset without a memory is refused with the reason.
#[test]
fn bench_hebbian_pairs_and_refusal() {
    let (ok, out, err) = run(bin().args(["bench", "--preset", "tiny", "--hebbian", "--steps", "3", "--threads", "2"]));
    assert!(ok, "{err}");
    assert_eq!(out.lines().filter(|l| l.trim_start().starts_with("pair ")).count(), 3, "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("Hebbian overhead: median ") && last.ends_with("over 3 pairs"), "{last}");
    let (ok, _, err) = run(bin().args(["bench", "--preset", "v4-bolt", "--hebbian"]));
    assert!(!ok && err.contains("needs a preset with a Hebbian memory") && !err.contains("panicked"), "{err}");
}

/// `bench --lanes`: alternating two-lane and one-lane steps, a median line; a
/// preset with one micro-batch per step is refused with the reason.
#[test]
fn bench_lanes_pairs_and_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let ron = dir.path().join("tiny-accum.ron");
    std::fs::write(&ron, super::common::tiny_preset(&[("seq_len: 32,", "seq_len: 32, accum: 4,")]).1).unwrap();
    let (ok, out, err) = run(bin().args(["bench", "--preset", ron.to_str().unwrap(), "--lanes", "--steps", "3", "--threads", "2"]));
    assert!(ok, "{err}");
    assert!(out.starts_with("tiny: steps of 4 micro-batches"), "{out}");
    assert_eq!(out.lines().filter(|l| l.trim_start().starts_with("pair ")).count(), 3, "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("two lanes: step time median ") && last.ends_with("over 3 pairs"), "{last}");
    let (ok, _, err) = run(bin().args(["bench", "--preset", "v7.2-cortex-vi", "--lanes"]));
    assert!(!ok && err.contains("keeps one lane") && err.contains("accum ≥ 2 (it has 1)") && !err.contains("panicked"), "{err}");
}

/// `bench --tiles`: alternating steps on the two AVX-512 tiles and a median
/// line where the CPU has AVX-512; elsewhere (or with FLASHLM_SIMD=avx2) a
/// refusal that names the kernel in use.
#[test]
fn bench_tiles_pairs_or_refusal() {
    use flashlm_tui::kernels::dispatch::{products, Level};
    let avx512 = products() == Level::Avx512 && flashlm_tui::kernels::simd::available();
    let clean = || {
        let mut c = bin();
        c.env_remove("FLASHLM_SGEMM").env_remove("FLASHLM_SIMD").env_remove("FLASHLM_TILE");
        c
    };
    let (ok, out, err) = run(clean().args(["bench", "--preset", "tiny", "--tiles", "--steps", "3", "--threads", "2"]));
    if avx512 {
        assert!(ok, "{err}");
        assert!(out.contains("AVX-512 tile "), "{out}");
        assert_eq!(out.lines().filter(|l| l.trim_start().starts_with("pair ")).count(), 3, "{out}");
        let last = out.lines().last().unwrap();
        assert!(last.starts_with("6 × 64 tile: step time median ") && last.ends_with("over 3 pairs"), "{last}");
        // FLASHLM_TILE forces a tile (any case, x or ×); another value is named as ignored
        for (v, want) in [
            ("6X64", "AVX-512 tile 6 × 64 (set by FLASHLM_TILE)"),
            ("8×32", "AVX-512 tile 8 × 32 (set by FLASHLM_TILE)"),
            ("7x7", "(FLASHLM_TILE=\"7x7\" ignored: 8x32 or 6x64)"),
        ] {
            let (ok, out, err) =
                run(clean().env("FLASHLM_TILE", v).args(["bench", "--preset", "tiny", "--tiles", "--steps", "1", "--threads", "1"]));
            assert!(ok && out.contains(want), "FLASHLM_TILE={v}: {out}{err}");
        }
    } else {
        assert!(!ok && err.contains("--tiles compares the AVX-512 kernel's two tiles"), "{err}");
    }
    let (ok, _, err) = run(clean().env("FLASHLM_SIMD", "avx2").args(["bench", "--preset", "tiny", "--tiles"]));
    assert!(!ok && err.contains("this process runs the AVX2 kernel") && !err.contains("panicked"), "{err}");
}

/// `--corpus -`: the corpus is piped in, spooled into the cache, and trained on;
/// an empty pipe is a clear error. Also `--accum` and `eval --probe recall`.
#[test]
fn corpus_from_stdin_accum_flag_and_recall_probe() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("runs");
    let text = flashlm_tui::data::stories::stories(5, 300).join("\n<|endoftext|>\n");
    let mut child = bin()
        .args([
            "train",
            "--preset",
            "tiny",
            "--headless",
            "--steps",
            "4",
            "--warmup",
            "2",
            "--accum",
            "2",
            "--threads",
            "2",
            "--corpus",
            "-",
            "--out",
        ])
        .arg(&out_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains(&format!("read {} bytes from standard input", thousands(text.len()))), "{err}");
    assert!(out.contains("256 tokens per step") && out.contains("finished: 4 steps"), "accum 2 × 4 × 32 tokens per step:\n{out}");
    let run_dir = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();

    let mut empty = bin().args(["train", "--preset", "tiny", "--headless", "--corpus", "-"]).stdin(Stdio::null()).output().unwrap();
    empty.stderr.extend_from_slice(&empty.stdout);
    let msg = String::from_utf8_lossy(&empty.stderr);
    assert!(!empty.status.success() && msg.contains("standard input") && !msg.contains("panicked"), "{msg}");

    let (ok, out, err) =
        run(bin().arg("eval").arg("--checkpoint").arg(run_dir.join("last")).args(["--probe", "recall", "--probe-stories", "6"]));
    assert!(ok, "{err}");
    assert!(out.contains("recall probe on 6 built-in stories (receptive field 7 tokens)") && out.contains("distance   8–32"), "{out}");
}

fn thousands(n: usize) -> String {
    flashlm_tui::util::thousands(n as u64)
}

/// Counts that make no sense are refused by name, never clamped or ignored.
#[test]
fn zero_counts_and_absurd_thread_counts_are_refused() {
    for args in [
        &["sample", "--checkpoint", "x", "--n", "0"][..],
        &["eval", "--checkpoint", "x", "--data", "x", "--max-windows", "0"],
        &["eval", "--checkpoint", "x", "--probe", "recall", "--probe-stories", "0"],
        &["bench", "--preset", "tiny", "--threads", "0"],
        &["bench", "--preset", "tiny", "--batch", "0"],
        &["bench", "--preset", "tiny", "--steps", "0"],
        &["train", "--preset", "tiny", "--headless", "--threads", "0"],
    ] {
        let (ok, _, err) = run(bin().args(args));
        assert!(!ok, "{args:?} was accepted");
        assert!(err.contains("must be at least 1"), "{args:?}: {err}");
    }
    let (ok, _, err) = run(bin().args(["bench", "--preset", "tiny", "--threads", "100000"]));
    assert!(!ok);
    assert!(err.contains("more than the limit of") && err.contains("per core"), "{err}");
}

/// The binary training the tiny preset headless for `steps`, its output piped.
fn spawn_tiny_training(out_dir: &std::path::Path, steps: &str) -> std::process::Child {
    bin()
        .args(["train", "--preset", "tiny", "--headless", "--steps", steps, "--threads", "1", "--out"])
        .arg(out_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// `kill`, a closed ssh session and Ctrl-C stop a headless run the same way:
/// last/ is saved, and the exit status says which signal ended it.
#[test]
fn signals_stop_a_headless_run_with_a_save_and_their_exit_status() {
    use std::io::BufRead;
    for (sig, code) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let dir = tempfile::tempdir().unwrap();
        let out_dir = dir.path().join("runs");
        let mut child = spawn_tiny_training(&out_dir, "1000000");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first_step = lines.by_ref().map_while(Result::ok).find(|l| l.starts_with("step"));
        assert!(first_step.is_some(), "SIG{sig}: no step line");
        let killed = Command::new("kill").args([&format!("-{sig}"), &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(code), "SIG{sig}: {err}");
        assert!(err.contains(&format!("interrupted by SIG{sig}")), "SIG{sig}: {err}");
        assert!(rest.iter().any(|l| l.starts_with("finished:")), "SIG{sig}: {rest:?}");
        let run = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
        assert!(run.join("last/meta.json").is_file(), "SIG{sig}: last/ was not saved");
    }
}

/// `train … | head -1`: a closed stdout stops the printing, not the run.
#[test]
fn a_closed_stdout_does_not_stop_training() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("runs");
    let mut child = spawn_tiny_training(&out_dir, "40");
    {
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(!first.is_empty());
    } // the reading end closes here, like `head -1` exiting
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
    let run = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
    let state = std::fs::read_to_string(run.join("last/state.json")).unwrap();
    assert!(state.contains("\"step\": 40"), "the run trained to its end: {state}");
}
