//! Limits checked before anything is allocated or opened: the memory a preset
//! needs against what is available, listings that never build a model, and
//! special files (FIFOs, sockets, devices, folders, symlink loops) refused
//! with what they are. Every spawned process is killed after a deadline, so a
//! regression fails instead of hanging.

use flashlm_tui::kernels::os::try_reap_with_peak_rss;
use flashlm_tui::limits::{check, human, parse_size, Available};
use flashlm_tui::model::footprint::{estimate, Purpose};
use flashlm_tui::model::{LanguageModel, Thunderbolt, ThunderboltConfig};
use flashlm_tui::preset::{Preset, BUILTIN};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished (or killed) process left.
struct Outcome {
    ok: bool,
    killed: bool,
    out: String,
    err: String,
    secs: f64,
}

/// Runs `c` with its output piped, killing it after `limit`; reaps it with
/// `wait4` to read its own peak RSS.
#[allow(clippy::zombie_processes)] // reaped by try_reap_with_peak_rss
fn run_for(c: &mut Command, limit: Duration) -> Outcome {
    let t0 = Instant::now();
    let mut child = c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let mut killed = false;
    let (status, _) = loop {
        if let Some(done) = try_reap_with_peak_rss(child.id()).unwrap() {
            break done;
        }
        if t0.elapsed() > limit && !killed {
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Outcome { ok, killed, out: out.join().unwrap(), err: err.join().unwrap(), secs: t0.elapsed().as_secs_f64() }
}

fn bin() -> Command {
    super::cli::bin()
}

/// The binary under an address-space limit of `mib` MiB (`ulimit -v`): an
/// allocation beyond it fails instead of succeeding. (The child's peak RSS
/// can't bound memory here: a spawned child inherits the test process's
/// high-water mark at exec.)
fn bin_within(mib: u64) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", mib << 10)).arg(env!("CARGO_BIN_EXE_flashlm-tui"));
    c
}

/// The tiny preset with its model fields replaced, written to `dir/<name>.ron`.
fn tiny_with(dir: &Path, name: &str, replace: &[(&str, &str)]) -> PathBuf {
    let (_, mut text) = flashlm_tui::preset::resolve("tiny", None).unwrap();
    for (a, b) in replace {
        assert!(text.contains(a), "tiny.ron has no `{a}`");
        text = text.replace(a, b);
    }
    text = text.replace("name: \"tiny\"", &format!("name: \"{name}\""));
    let path = dir.join(format!("{name}.ron"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The sizes that made training panic with "capacity overflow" or abort in
/// the allocator after most of a minute.
fn huge_presets(dir: &Path) -> Vec<PathBuf> {
    vec![
        tiny_with(dir, "wide", &[("d_model: 32", "d_model: 1000000000")]),
        tiny_with(dir, "deep", &[("n_layers: 2", "n_layers: 100000000")]),
        tiny_with(dir, "fat-ffn", &[("d_ff: 64", "d_ff: 3000000")]),
        tiny_with(dir, "uncountable", &[("d_model: 32", "d_model: 18446744073709551615")]),
    ]
}

/// A refusal that names both the estimate and the memory available.
fn assert_refused_with_numbers(o: &Outcome, what: &str) {
    assert!(!o.killed, "{what}: still running after {:.0} s (killed)\n{}", o.secs, o.err);
    assert!(!o.ok, "{what}: accepted\n{}", o.out);
    assert!(o.err.contains("needs about") || o.err.contains("needs more memory than"), "{what}: {}", o.err);
    assert!(o.err.contains("but only") && o.err.contains("is available ("), "{what}: {}", o.err);
    assert!(!o.err.contains("panicked") && !o.err.contains("capacity overflow"), "{what}: {}", o.err);
    assert!(o.secs < 10.0, "{what}: refused only after {:.1} s", o.secs);
}

#[test]
fn config_parameter_counts_equal_the_built_models() {
    let mut texts: Vec<String> = BUILTIN.iter().map(|(_, t)| t.to_string()).collect();
    let tiny = BUILTIN.iter().find(|(f, _)| *f == "tiny.ron").unwrap().1;
    texts.push(tiny.replace("memory: Some((d_mem: 8, decay: 0.9)),", ""));
    texts.push(tiny.replace("d_mem: 8", "d_mem: 24").replace("kernel_size: 4", "kernel_size: 7"));
    for text in texts {
        let p = Preset::parse(&text, "test.ron").unwrap();
        let built = p.build_model();
        assert_eq!(p.param_count(), Some(built.num_params() as u64), "{}", p.name);
        assert_eq!(p.architecture(), built.describe(), "{}", p.name);
    }
}

/// The v5 estimate is the formula the model documents (and tests against
/// what `ensure` allocates), plus the per-position losses.
#[test]
fn workspace_estimate_matches_the_allocated_floats() {
    let cfg = ThunderboltConfig::full_size();
    let model = Thunderbolt::new(cfg.clone());
    let f = flashlm_tui::model::ModelConfig::footprint(&cfg, 64, 256);
    assert_eq!(f.workspace.get(), Some((model.workspace_floats(64, 256) + 64 * 256) as u128));
    assert_eq!(f.params.get(), Some(model.num_params() as u128));
}

#[test]
fn estimates_count_with_checked_arithmetic() {
    let dir = tempfile::tempdir().unwrap();
    let huge = huge_presets(dir.path());
    let parse = |p: &Path| Preset::parse(&std::fs::read_to_string(p).unwrap(), "x.ron").unwrap();
    let avail = Some(Available { bytes: 22 << 30, source: "MemAvailable".into() });
    for p in &huge {
        let preset = parse(p);
        let est = estimate(preset.model.config(), preset.train.batch, preset.train.seq_len, Purpose::Train);
        let e = check("preset", &est, 4, 32, avail.clone()).unwrap_err().to_string();
        assert!(e.contains("but only 22.0 GiB is available (MemAvailable)"), "{e}");
        assert!(e.contains("params ") && e.contains("activations ") && e.contains("AdamW moments "), "{e}");
    }
    let wide = parse(&huge[0]);
    let est = estimate(wide.model.config(), 4, 32, Purpose::Train);
    // 2 layers × (3·10¹⁸ + …) parameters, 4 bytes each, 7 copies for training
    assert!(est.total().unwrap() > 1.68e20 as u128, "{est:?}");
    let e = check("preset `wide`", &est, 4, 32, avail.clone()).unwrap_err().to_string();
    assert!(e.starts_with("preset `wide` needs about ") && e.contains(" EiB"), "{e}");
    let uncountable = parse(&huge[3]);
    assert_eq!(uncountable.param_count(), None);
    let est = estimate(uncountable.model.config(), 4, 32, Purpose::Train);
    assert_eq!(est.total(), None);
    let e = check("preset", &est, 4, 32, avail).unwrap_err().to_string();
    assert!(e.contains("needs more memory than a 128-bit size can count") && e.contains("params overflow"), "{e}");
    // the tiny preset fits in a few MB
    let tiny = flashlm_tui::preset::resolve("tiny", None).unwrap().0;
    let est = estimate(tiny.model.config(), 4, 32, Purpose::Train);
    assert!(est.total().unwrap() < 8 << 20, "{est:?}");
    assert!(check("tiny", &est, 4, 32, Some(Available { bytes: 8 << 20, source: "x".into() })).is_ok());
}

#[test]
fn memory_sizes_parse_with_binary_suffixes() {
    assert_eq!(parse_size("2G"), Ok(2 << 30));
    assert_eq!(parse_size("512M"), Ok(512 << 20));
    assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
    assert_eq!(parse_size("64k"), Ok(64 << 10));
    assert_eq!(parse_size("1000"), Ok(1000));
    for bad in ["", "G", "-1G", "lots", "0", "1e30T"] {
        assert!(parse_size(bad).is_err(), "{bad}");
    }
    assert_eq!(human(41 << 30), "41.0 GiB");
    assert_eq!(human(100), "100 bytes");
}

#[test]
fn oversized_presets_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    for p in huge_presets(dir.path()) {
        let mut c = bin();
        c.args(["train", "--headless", "--steps", "5", "--warmup", "1", "--threads", "1", "--preset"]).arg(&p).arg("--out").arg(dir.path());
        // d_ff 3,000,000 needs about 27 GiB: more than this machine, but
        // perhaps not than another; the others exceed any machine
        if p.ends_with("fat-ffn.ron") {
            c.args(["--max-memory", "16G"]);
        }
        let o = run_for(&mut c, Duration::from_secs(20));
        assert_refused_with_numbers(&o, &p.display().to_string());
    }
}

#[test]
fn max_memory_caps_what_a_preset_may_use() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_for(
        bin().args(["train", "--preset", "tiny", "--headless", "--steps", "5", "--max-memory", "1M", "--out"]).arg(dir.path()),
        Duration::from_secs(20),
    );
    assert_refused_with_numbers(&o, "tiny with --max-memory 1M");
    assert!(o.err.contains("(--max-memory 1.0 MiB)"), "{}", o.err);
    let o = run_for(bin().args(["bench", "--preset", "tiny", "--max-memory", "1M"]), Duration::from_secs(20));
    assert_refused_with_numbers(&o, "bench with --max-memory 1M");
    let o = run_for(bin().args(["presets", "--max-memory", "lots"]), Duration::from_secs(20));
    assert!(!o.ok && o.err.contains("expected a size such as 512M"), "{}", o.err);
}

#[test]
fn bench_batch_is_checked_against_memory() {
    let o = run_for(bin().args(["bench", "--preset", "tiny", "--batch", "1000000000", "--no-gen"]), Duration::from_secs(20));
    assert_refused_with_numbers(&o, "bench --batch 1000000000");
    assert!(o.err.contains("at batch 1000000000 × seq 32"), "{}", o.err);
}

#[test]
fn probe_story_counts_have_a_limit() {
    let o =
        run_for(bin().args(["eval", "--checkpoint", "x", "--probe", "recall", "--probe-stories", "1000000000"]), Duration::from_secs(20));
    assert!(!o.ok && o.err.contains("more than the limit of 100000 stories"), "{}", o.err);
}

/// Listing presets and opening the picker count parameters from the config:
/// a preset folder holding absurd sizes lists quickly, in little memory.
#[test]
fn listing_presets_never_builds_a_model() {
    let dir = tempfile::tempdir().unwrap();
    huge_presets(dir.path());
    // 1 GiB of address space: building any of these models would fail
    let o = run_for(bin_within(1024).arg("presets").arg("--presets").arg(dir.path()), Duration::from_secs(20));
    assert!(o.ok && !o.killed, "{}\n{}", o.out, o.err);
    assert!(o.secs < 5.0, "listing took {:.1} s", o.secs);
    let line = |name: &str| o.out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} not in\n{}", o.out)).to_string();
    assert!(line("deep ").contains("params") && line("deep ").contains("gated conv"), "{}", line("deep "));
    assert!(line("uncountable ").contains("overflow params"), "{}", line("uncountable "));
    // the picker's rows, likewise
    let entries = flashlm_tui::preset::discover(Some(dir.path()));
    let rows: Vec<_> = entries.into_iter().map(flashlm_tui::tui::app::PresetRow::from_entry).collect();
    let fat = rows.iter().find(|r| r.name == "fat-ffn").unwrap();
    // 2 layers × 3 matrices of 3,000,000 × 32
    assert!(fat.params > 576_000_000, "{}", fat.params);
}

/// A tiny run's folder (two saved steps), for the checkpoint cases.
fn tiny_run(dir: &Path) -> PathBuf {
    let out = dir.join("runs");
    let o = run_for(
        bin().args(["train", "--preset", "tiny", "--headless", "--steps", "2", "--warmup", "1", "--threads", "1", "--out"]).arg(&out),
        Duration::from_secs(120),
    );
    assert!(o.ok, "{}\n{}", o.out, o.err);
    std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path()
}

/// Replaces `file` in checkpoint `ck` and updates meta.json to match, as a
/// forged checkpoint would.
fn forge(ck: &Path, file: &str, bytes: &[u8]) {
    std::fs::write(ck.join(file), bytes).unwrap();
    let meta_path = ck.join("meta.json");
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["files"][file]["size"] = bytes.len().into();
    meta["files"][file]["sha256"] = flashlm_tui::util::sha256_hex(bytes).into();
    std::fs::write(meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

#[test]
fn checkpoints_are_checked_for_size_and_special_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path());
    let last = run.join("last");

    // a checkpoint whose preset asks for more than the machine has
    let big = dir.path().join("big");
    copy_dir(&last, &big);
    let text = std::fs::read_to_string(big.join("preset.ron")).unwrap();
    forge(&big, "preset.ron", text.replace("d_ff: 64", "d_ff: 3000000000").as_bytes());
    let o = run_for(bin().arg("sample").arg("--checkpoint").arg(&big), Duration::from_secs(20));
    assert_refused_with_numbers(&o, "sample from a checkpoint with d_ff 3000000000");
    let o = run_for(bin().args(["train", "--headless", "--resume"]).arg(&big), Duration::from_secs(20));
    assert_refused_with_numbers(&o, "resume a checkpoint with d_ff 3000000000");

    // an entry of meta.json that is a FIFO: opening it would block
    let fifo_ck = dir.path().join("fifo");
    copy_dir(&last, &fifo_ck);
    std::fs::remove_file(fifo_ck.join("tokenizer.json")).unwrap();
    mkfifo(&fifo_ck.join("tokenizer.json"));
    let o = run_for(bin().arg("sample").arg("--checkpoint").arg(&fifo_ck), Duration::from_secs(20));
    assert!(!o.killed && !o.ok, "{}", o.err);
    assert!(o.err.contains("tokenizer.json") && o.err.contains("not a regular file: it is a FIFO"), "{}", o.err);

    // metrics.jsonl as a FIFO: resuming must not block opening it
    std::fs::remove_file(run.join("metrics.jsonl")).unwrap();
    mkfifo(&run.join("metrics.jsonl"));
    let o = run_for(bin().args(["train", "--headless", "--steps", "3", "--resume"]).arg(&last), Duration::from_secs(20));
    assert!(!o.killed && !o.ok, "{}", o.err);
    assert!(o.err.contains("metrics.jsonl") && o.err.contains("not a regular file"), "{}", o.err);
    // and `runs` lists around it
    let o = run_for(bin().arg("runs").arg("--dir").arg(dir.path().join("runs")), Duration::from_secs(20));
    assert!(!o.killed, "runs blocked on a FIFO");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn train_on(corpus: &Path, valid: Option<&Path>, out: &Path) -> Outcome {
    // 1 GiB of address space: reading a 300 MB line whole would not fit
    let mut c = bin_within(1024);
    c.args(["train", "--preset", "tiny", "--headless", "--steps", "2", "--threads", "1", "--corpus"]).arg(corpus);
    if let Some(v) = valid {
        c.arg("--valid").arg(v);
    }
    run_for(c.arg("--out").arg(out), Duration::from_secs(20))
}

#[test]
fn special_files_are_refused_as_corpus_or_validation_text() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("pipe.txt");
    mkfifo(&fifo);
    let sock = d.join("sock.txt");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let good = d.join("good.txt");
    std::fs::write(&good, flashlm_tui::data::stories::stories(5, 40).join("\n<|endoftext|>\n")).unwrap();
    for (corpus, kind) in [(&fifo, "a FIFO"), (&sock, "a socket"), (&PathBuf::from("/dev/null"), "a character device")] {
        let o = train_on(corpus, None, d);
        assert!(!o.killed && !o.ok, "{}: {}", corpus.display(), o.err);
        assert!(o.err.contains(&format!("not a regular file: it is {kind}")) && o.err.contains("--corpus -"), "{}", o.err);
    }
    let o = train_on(&good, Some(&fifo), d);
    assert!(!o.killed && !o.ok && o.err.contains("--valid") && o.err.contains("not a regular file: it is a FIFO"), "{}", o.err);
    let o = train_on(&good, Some(d), d);
    assert!(!o.ok && o.err.contains("is a folder"), "{}", o.err);
    assert!(!o.err.contains("no such file"), "{}", o.err);

    // a symlink loop is a loop, not a missing file
    let (a, b) = (d.join("loop-a.txt"), d.join("loop-b.txt"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let o = train_on(&a, None, d);
    assert!(!o.ok && o.err.to_lowercase().contains("too many levels of symbolic links"), "{}", o.err);
    assert!(!o.err.contains("no such file"), "{}", o.err);
    let o = train_on(&good, Some(&a), d);
    assert!(!o.ok && o.err.to_lowercase().contains("too many levels of symbolic links"), "{}", o.err);

    // eval's text and a preset path are checked the same way
    let o = run_for(bin().args(["eval", "--baseline", "bigram", "--preset", "tiny", "--data"]).arg(&fifo), Duration::from_secs(20));
    assert!(!o.killed && !o.ok && o.err.contains("not a regular file"), "{}", o.err);
    let ron = d.join("pipe.ron");
    mkfifo(&ron);
    let o = run_for(bin().args(["train", "--headless", "--preset"]).arg(&ron), Duration::from_secs(20));
    assert!(!o.killed && !o.ok && o.err.contains("not a regular file"), "{}", o.err);
    let o = run_for(bin().arg("presets").arg("--presets").arg(d), Duration::from_secs(20));
    assert!(!o.killed && o.ok && o.out.contains("not a regular file"), "{}\n{}", o.out, o.err);
}

/// A 300 MB corpus with no line break is refused while it is read, in a
/// bounded amount of memory (it took 6 GB before).
#[test]
fn a_corpus_line_without_end_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one-line.txt");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let piece = "Once upon a time there was a cat who liked the sun. ".repeat(20_000);
        let mut written = 0;
        while written < 300 << 20 {
            f.write_all(piece.as_bytes()).unwrap();
            written += piece.len();
        }
    }
    let o = train_on(&path, None, dir.path());
    assert!(!o.killed && !o.ok, "{}", o.err);
    assert!(o.err.contains("line 1 is longer than 1 MiB"), "{}", o.err);
    // the same under the whole-file path (a smaller file)
    let small = dir.path().join("small.txt");
    std::fs::write(&small, "word ".repeat(1 << 20)).unwrap();
    let o = train_on(&small, None, dir.path());
    assert!(!o.ok && o.err.contains("line 1 is longer than 1 MiB"), "{}", o.err);
}
