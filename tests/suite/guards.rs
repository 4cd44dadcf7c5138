//! Input that must be refused by name: preset names that would lead outside
//! the runs folder, checkpoint entries outside their folder or not regular
//! files, NaN/Inf weights, NaN evaluations, contradictory flags, unreadable
//! checkpoints, semantic preset errors, and preset names defined twice.

use super::cli::{bin, run};
use super::common::*;
use flashlm_tui::preset::{discover, resolve, Preset, PresetError};
use flashlm_tui::train::{checkpoint, start};
use flashlm_tui::util::sha256_hex;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One short tiny run (12 steps), trained once for the whole file.
fn tiny_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let ev = collect(start(run_config(tiny_preset(&[("budget: Steps(60)", "budget: Steps(12)")]), &root)));
        assert!(errors(&ev).is_empty(), "{:?}", errors(&ev));
        run_dir(&ev)
    })
}

/// A copy of the tiny run's `last/` as `<tmp>/<name>/last` (a run folder of its own).
fn copy_last(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(name).join("last");
    std::fs::create_dir_all(&dst).unwrap();
    for f in std::fs::read_dir(tiny_run().join("last")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
    }
    (tmp, dst)
}

/// Sets `meta.json`'s entry `name` to `bytes`' size and SHA-256.
fn list_in_meta(ck: &Path, name: &str, bytes: &[u8]) {
    let mp = ck.join("meta.json");
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&mp).unwrap()).unwrap();
    meta["files"][name] = serde_json::json!({ "size": bytes.len(), "sha256": sha256_hex(bytes) });
    std::fs::write(&mp, serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
}

/// Rewrites the checkpoint's weights through `f` (as a consistent checkpoint:
/// meta.json lists the new size and hash), returning the changed tensor's name.
fn rewrite_weights(ck: &Path, f: impl Fn(&mut [f32]), tensor: &str) {
    let loaded = checkpoint::load_model(ck).unwrap();
    let mut params = loaded.params.clone();
    let t = loaded.model.layout().get(tensor).unwrap_or_else(|| panic!("no tensor {tensor}")).clone();
    f(&mut params[t.range()]);
    let bytes = flashlm_tui::weights::to_safetensors(loaded.model.layout(), &[("", &params)], &loaded.model.tied_aliases()).unwrap();
    std::fs::write(ck.join("model.safetensors"), &bytes).unwrap();
    list_in_meta(ck, "model.safetensors", &bytes);
}

fn valid_text(dir: &Path) -> PathBuf {
    let valid = dir.join("valid.txt");
    std::fs::write(&valid, flashlm_tui::data::stories::stories(99, 20).join("\n<|endoftext|>\n")).unwrap();
    valid
}

/// Runs as root read every file whatever its mode: permission tests cannot fail there.
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

// ------------------------------------------------------------ preset names

#[test]
fn preset_names_must_be_slugs_and_errors_give_their_position() {
    let (_, text) = tiny_preset(&[]);
    let long = "x".repeat(65);
    for bad in ["../../../tmp/x", "/tmp/abs", "", ".", "..", ".hidden", "-flag", "a b", "a/b", "a\\\\b", "ünï", long.as_str()] {
        let t = text.replace("name: \"tiny\"", &format!("name: \"{bad}\""));
        let e = Preset::parse(&t, "named.ron").expect_err(bad);
        let msg = e.to_string();
        match &e {
            PresetError::Invalid { file, line, col, field, .. } => {
                assert_eq!((file.as_str(), field.as_str(), *line, *col), ("named.ron", "name", 3, 5), "{bad:?}: {msg}");
            }
            other => panic!("{bad:?}: expected a validation error, got {other}"),
        }
        assert!(msg.starts_with("named.ron:3:5: invalid value for `name`"), "{msg}");
    }
    for good in ["v7.2-cortex-vi", "tiny_2", "A.b-c", &"y".repeat(64)] {
        let t = text.replace("name: \"tiny\"", &format!("name: \"{good}\""));
        assert_eq!(Preset::parse(&t, "named.ron").unwrap().name, good);
    }
}

/// A checkpoint's own preset names no folder: one saved with a name that is
/// not a slug (before names were checked) still loads, samples and resumes.
#[test]
fn checkpoints_saved_with_names_that_are_not_slugs_still_load() {
    let (_tmp, ck) = copy_last("old-name");
    let text = std::fs::read_to_string(ck.join("preset.ron")).unwrap().replace("name: \"tiny\"", "name: \"my tiny run\"");
    std::fs::write(ck.join("preset.ron"), &text).unwrap();
    list_in_meta(&ck, "preset.ron", text.as_bytes());
    assert_eq!(checkpoint::load_model(&ck).unwrap().preset.name, "my tiny run");
    let (ok, out, err) = run(bin().arg("sample").arg("--checkpoint").arg(&ck).args(["--tokens", "3"]));
    assert!(ok && out.starts_with("Once upon a time"), "{out}\n{err}");
    let (ok, out, err) = run(bin().args(["train", "--headless", "--threads", "1", "--steps", "13", "--warmup", "2", "--resume"]).arg(&ck));
    assert!(ok && out.contains("resumed my tiny run at step 12"), "{out}\n{err}");
}

/// A name that is a path, absolute or empty never becomes a folder: the run
/// is refused before anything is written, inside `--out` or outside it.
#[test]
fn preset_names_never_write_outside_the_runs_folder() {
    let base = tempfile::tempdir().unwrap();
    let abs = base.path().join("abs").display().to_string();
    for name in ["../escaped", abs.as_str(), ""] {
        let (_, text) = tiny_preset(&[]);
        let file = base.path().join("p.ron");
        std::fs::write(&file, text.replace("name: \"tiny\"", &format!("name: \"{name}\""))).unwrap();
        let (ok, out, err) = run(bin()
            .args(["train", "--headless", "--steps", "1", "--threads", "1", "--preset"])
            .arg(&file)
            .arg("--out")
            .arg(base.path().join("runs")));
        assert!(!ok, "{name:?} was accepted:\n{out}\n{err}");
        assert!(err.contains(&format!("{}:3:5: invalid value for `name`", file.display())), "{name:?}: {err}");
        let left: Vec<String> = std::fs::read_dir(base.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(left, ["p.ron"], "{name:?}: folders were created");
    }
}

/// `vocab: 6` parses but cannot hold the tokenizer's ids: the error names
/// the preset's file, line and column, before any run starts.
#[test]
fn a_vocab_too_small_for_the_tokenizer_names_the_preset_line() {
    let (_, text) = tiny_preset(&[]);
    let bad = text.replace("vocab: 512", "vocab: 6");
    let e = Preset::parse(&bad, "small.ron").unwrap_err();
    match &e {
        PresetError::Invalid { field, line, col, .. } => assert_eq!((field.as_str(), *line, *col), ("vocab", 7, 9), "{e}"),
        other => panic!("expected a validation error, got {other}"),
    }
    assert!(e.to_string().contains("at least 260"), "{e}");
    // the smallest vocab the byte-level tokenizer fits is accepted
    Preset::parse(&text.replace("vocab: 512", "vocab: 260"), "ok.ron").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.ron");
    std::fs::write(&file, &bad).unwrap();
    let (ok, _, err) = run(bin().args(["train", "--headless", "--steps", "1", "--preset"]).arg(&file).arg("--out").arg(dir.path()));
    assert!(!ok && err.contains(&format!("{}:7:9: invalid value for `vocab`", file.display())), "{err}");
}

// ------------------------------------------------------ checkpoint entries

#[test]
fn checkpoint_entries_outside_the_folder_are_refused() {
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    for (entry, bytes) in [("../../etc/passwd", passwd.as_slice()), ("/etc/passwd", passwd.as_slice()), ("/dev/zero", &[][..])] {
        let (tmp, ck) = copy_last("escape");
        // `<tmp>/escape/last/../../etc/passwd` exists too
        std::fs::create_dir_all(tmp.path().join("etc")).unwrap();
        std::fs::write(tmp.path().join("etc/passwd"), bytes).unwrap();
        // listed with the right size and hash: only the path gives it away
        list_in_meta(&ck, entry, bytes);
        let e = checkpoint::load_model(&ck).err().unwrap_or_else(|| panic!("{entry} was accepted")).to_string();
        assert!(e.contains("outside the checkpoint folder") && e.contains(entry), "{entry}: {e}");
        let (ok, _, err) = run(bin().arg("sample").arg("--checkpoint").arg(&ck));
        assert!(!ok && err.contains("outside the checkpoint folder"), "{entry}: {err}");
    }
}

#[test]
fn checkpoint_entries_must_be_regular_files_of_their_listed_size() {
    use std::os::unix::fs::symlink;
    // a device or a FIFO inside the folder
    let (_tmp, ck) = copy_last("special");
    symlink("/dev/zero", ck.join("extra.bin")).unwrap();
    list_in_meta(&ck, "extra.bin", &[]);
    let e = checkpoint::load_model(&ck).err().expect("a link to /dev/zero was accepted").to_string();
    assert!(e.contains("extra.bin") && e.contains("not a regular file"), "{e}");
    let (_tmp, ck) = copy_last("fifo");
    let fifo = std::ffi::CString::new(ck.join("state.json").display().to_string()).unwrap();
    std::fs::remove_file(ck.join("state.json")).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let e = checkpoint::load_model(&ck).err().expect("a FIFO was accepted").to_string();
    assert!(e.contains("state.json") && e.contains("not a regular file"), "{e}");
    // a weights file that is a link to a copy elsewhere, contents intact
    let (tmp, ck) = copy_last("linked");
    let elsewhere = tmp.path().join("model.safetensors");
    std::fs::rename(ck.join("model.safetensors"), &elsewhere).unwrap();
    symlink(&elsewhere, ck.join("model.safetensors")).unwrap();
    let e = checkpoint::load_model(&ck).err().expect("a symbolic link was accepted").to_string();
    assert!(e.contains("model.safetensors") && e.contains("not a regular file"), "{e}");
    // a weights file far larger than the model (sparse: nothing is really
    // written), listed with that size: refused before it is read
    let (_tmp, ck) = copy_last("huge");
    let f = std::fs::OpenOptions::new().write(true).open(ck.join("model.safetensors")).unwrap();
    f.set_len(8 << 30).unwrap();
    let mp = ck.join("meta.json");
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&mp).unwrap()).unwrap();
    meta["files"]["model.safetensors"]["size"] = serde_json::json!(8u64 << 30);
    std::fs::write(&mp, serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
    let t0 = std::time::Instant::now();
    let e = checkpoint::load_model(&ck).err().expect("an 8 GiB weights file was accepted").to_string();
    assert!(e.contains("model.safetensors") && e.contains("more than this checkpoint's model can need"), "{e}");
    assert!(t0.elapsed().as_secs() < 5, "the file was read: {:?}", t0.elapsed());
}

// ------------------------------------------------------- non-finite values

#[test]
fn non_finite_weights_are_refused_on_load_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_text(dir.path());
    for (value, label) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (f32::NEG_INFINITY, "-inf")] {
        let (_tmp, ck) = copy_last("nonfinite");
        rewrite_weights(&ck, |t| t[7] = value, "blocks.1.Wo.weight");
        let e = checkpoint::load_model(&ck).err().unwrap_or_else(|| panic!("{label} weights were accepted")).to_string();
        assert!(e.contains("non-finite") && e.contains("`blocks.1.Wo.weight`") && e.contains("index 7"), "{label}: {e}");
        let (ok, out, err) = run(bin().arg("sample").arg("--checkpoint").arg(&ck).args(["--tokens", "5"]));
        assert!(!ok && err.contains("non-finite") && out.is_empty(), "sample, {label}: {out}\n{err}");
        let (ok, out, err) = run(bin().arg("eval").arg("--checkpoint").arg(&ck).arg("--data").arg(&valid));
        assert!(!ok && err.contains("non-finite") && !out.contains("loss"), "eval, {label}: {out}\n{err}");
        let mut cfg = run_config(tiny_preset(&[]), dir.path());
        cfg.resume = Some(ck.clone());
        let ev = collect(start(cfg));
        assert!(
            errors(&ev).iter().any(|e| e.contains("non-finite") && e.contains("blocks.1.Wo.weight")),
            "resume, {label}: {:?}",
            errors(&ev)
        );
    }
    // reference weights imported with `--weights` are checked the same way
    let (p, _) = tiny_preset(&[]);
    let model = p.build_model();
    let mut params = model.init_params(1);
    params[model.layout().get("embed.weight").unwrap().range().start + 3] = f32::NAN;
    let w = dir.path().join("nan.safetensors");
    std::fs::write(&w, flashlm_tui::weights::to_safetensors(model.layout(), &[("", &params)], &model.tied_aliases()).unwrap()).unwrap();
    let e = flashlm_tui::weights::import_reference(&*model, &w).unwrap_err();
    assert!(e.contains("non-finite") && e.contains("`embed.weight`"), "{e}");
}

/// Finite weights so large that the forward pass overflows: the evaluation
/// is an error with a non-zero exit, not "loss NaN".
#[test]
fn an_evaluation_with_a_non_finite_loss_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_text(dir.path());
    let (_tmp, ck) = copy_last("overflow");
    rewrite_weights(&ck, |t| t.fill(3e38), "blocks.1.Wo.weight");
    assert!(checkpoint::load_model(&ck).is_ok(), "finite weights load");
    let (ok, out, err) = run(bin().arg("eval").arg("--checkpoint").arg(&ck).arg("--data").arg(&valid));
    assert!(!ok, "a NaN evaluation exited 0:\n{out}\n{err}");
    assert!(err.contains("non-finite loss") && !out.contains("loss NaN") && !err.contains("panicked"), "{out}\n{err}");
}

// --------------------------------------------------------------- flags

#[test]
fn resume_refuses_a_preset_of_another_model_and_imported_weights() {
    let (_tmp, ck) = copy_last("resumed");
    let (ok, out, err) = run(bin().args(["train", "--headless", "--preset", "v7.1-cortex-iii", "--steps", "14", "--resume"]).arg(&ck));
    assert!(!ok, "{out}\n{err}");
    assert!(err.contains("--preset v7.1-cortex-iii") && err.contains("tiny") && err.contains("drop --preset"), "{err}");
    let (ok, out, err) =
        run(bin().args(["train", "--headless", "--weights", "w.safetensors", "--tokenizer", "t.json", "--resume"]).arg(&ck));
    assert!(!ok && err.contains("--weights") && err.contains("--resume") && err.contains("cannot be used with"), "{out}\n{err}");
    // the checkpoint's own preset (by name, and with other training settings) resumes
    let (ok, out, err) =
        run(bin().args(["train", "--headless", "--threads", "1", "--preset", "tiny", "--steps", "14", "--resume"]).arg(&ck));
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("resumed tiny at step 12") && out.contains("finished: 14 steps"), "{out}");
    assert!(err.contains("warning: --preset tiny: its training settings differ"), "budget 60 here, 12 in the checkpoint: {err}");
}

// --------------------------------------------------- misleading messages

#[test]
fn an_unreadable_checkpoint_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    for file in ["meta.json", "model.safetensors"] {
        let (tmp, ck) = copy_last("unreadable");
        mode(&ck.join(file), 0o000);
        let Some(mut cmd) = unprivileged_bin(tmp.path()) else {
            eprintln!("skipped: running as root (which reads files whatever their mode) without setpriv to drop to nobody");
            return;
        };
        let (ok, _, err) = run(cmd.arg("sample").arg("--checkpoint").arg(&ck));
        assert!(!ok && err.contains(file) && err.contains("permission denied") && !err.contains("not a checkpoint"), "{file}: {err}");
        if !running_as_root() {
            let e = checkpoint::load_model(&ck).err().expect("an unreadable checkpoint loaded").to_string();
            assert!(e.contains(file) && e.contains("permission denied") && !e.contains("not a checkpoint"), "{file}: {e}");
        }
    }
}

/// The binary as a user that file modes apply to: this one, or as root,
/// `nobody` through setpriv (with `tmp` opened up so that it can reach the
/// checkpoint and keep a cache); `None` when root has no way to drop.
fn unprivileged_bin(tmp: &Path) -> Option<std::process::Command> {
    use std::os::unix::fs::PermissionsExt;
    if !running_as_root() {
        return Some(bin());
    }
    let drop = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let works = std::process::Command::new("setpriv")
        .args(drop)
        .arg(env!("CARGO_BIN_EXE_flashlm-tui"))
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        return None;
    }
    let cache = tmp.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    for dir in [tmp.to_path_buf(), cache.clone()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let mut c = std::process::Command::new("setpriv");
    c.args(drop).arg("env").arg(format!("FLASHLM_CACHE={}", cache.display())).arg(env!("CARGO_BIN_EXE_flashlm-tui"));
    Some(c)
}

// ------------------------------------------------------- preset sources

/// Two files of one name in a folder are both listed and the name is refused
/// naming both; a user preset of a built-in's name overrides it and says so.
#[test]
fn duplicate_preset_names_are_listed_and_refused_and_overrides_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text) = tiny_preset(&[]);
    let twin = text.replace("name: \"tiny\"", "name: \"twin\"");
    std::fs::write(dir.path().join("a.ron"), &twin).unwrap();
    std::fs::write(dir.path().join("b.ron"), twin.replace("seed: 42", "seed: 43")).unwrap();
    std::fs::write(dir.path().join("mine.ron"), text.replace("seed: 42", "seed: 7")).unwrap();
    let (a, b, mine) = (dir.path().join("a.ron"), dir.path().join("b.ron"), dir.path().join("mine.ron"));
    let (a, b, mine) = (a.display().to_string(), b.display().to_string(), mine.display().to_string());

    let entries = discover(Some(dir.path()));
    let twins: Vec<_> = entries.iter().filter(|e| e.name() == "twin").collect();
    assert_eq!(twins.len(), 2, "both files are listed");
    assert_eq!((twins[0].file.as_str(), twins[0].duplicates.clone()), (a.as_str(), vec![b.clone()]));
    assert_eq!((twins[1].file.as_str(), twins[1].duplicates.clone()), (b.as_str(), vec![a.clone()]));
    let tiny: Vec<_> = entries.iter().filter(|e| e.name() == "tiny").collect();
    assert_eq!(tiny.len(), 1, "the user's tiny replaces the built-in one");
    assert_eq!(tiny[0].file, mine);
    assert_eq!(tiny[0].overrides.as_deref(), Some("<built-in>/tiny.ron"));
    assert_eq!(tiny[0].parsed.as_ref().unwrap().train.seed, 7);

    match resolve("twin", Some(dir.path())) {
        Err(e @ PresetError::Ambiguous { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&a) && msg.contains(&b) && msg.contains("ambiguous"), "{msg}");
        }
        other => panic!("expected an ambiguity, got {:?}", other.map(|(p, _)| p.name)),
    }
    assert_eq!(resolve("tiny", Some(dir.path())).unwrap().0.train.seed, 7);

    let (ok, out, err) = run(bin().args(["presets", "--presets"]).arg(dir.path()));
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("twin ")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains(&a) && lines[0].contains(&format!("ambiguous: {b} also defines it")), "{}", lines[0]);
    assert!(lines[1].contains(&b) && lines[1].contains(&format!("ambiguous: {a} also defines it")), "{}", lines[1]);
    let tiny_line = out.lines().find(|l| l.starts_with("tiny ")).expect(&out);
    assert!(tiny_line.contains(&mine) && tiny_line.contains("overrides <built-in>/tiny.ron"), "{tiny_line}");

    let (ok, _, err) = run(bin().args(["train", "--headless", "--preset", "twin", "--presets"]).arg(dir.path()));
    assert!(!ok && err.contains("ambiguous") && err.contains(&a) && err.contains(&b), "{err}");
}
