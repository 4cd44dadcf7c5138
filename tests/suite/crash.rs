//! Nothing saved is lost, whenever the process dies: a save cut at any of
//! its steps on the two-rename path (filesystems without an atomic exchange),
//! and the real binary killed with SIGKILL at random moments of a run that
//! saves `last/` at every step, then resumed from it.

use super::common::*;
use flashlm_tui::rng::Rng;
use flashlm_tui::train::checkpoint;
use flashlm_tui::train::start;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Cuts a save of `dir` at each of its steps in turn (with the atomic swap
/// disabled when `fallback`), loading after every cut: the old or the new
/// weights load each time. Returns how many steps a save has.
fn cut_every_step_of_a_save(dir: &Path, fallback: bool) -> usize {
    let ck = checkpoint::load_model(dir).unwrap();
    let aliases = ck.model.tied_aliases();
    checkpoint::force_rename_fallback(fallback);
    let mut n = 1;
    loop {
        let before = checkpoint::load_model(dir).unwrap().params;
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
        let saved = checkpoint::save(dir, &req);
        let steps = checkpoint::inject_save_fault(None);
        let now = checkpoint::load_model(dir).unwrap_or_else(|e| panic!("{}: cut at step {n}: does not load: {e}", dir.display())).params;
        assert!(now == before || now == new, "{}: cut at step {n}: neither the old nor the new weights", dir.display());
        if saved.is_ok() && steps < n {
            break;
        }
        assert!(saved.is_err(), "step {n} of {steps} was cut, yet the save reported success");
        n += 1;
    }
    checkpoint::force_rename_fallback(false);
    let parent = dir.parent().unwrap();
    let left: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with(".tmp-") || n.starts_with(".old-"))
        .collect();
    assert!(left.is_empty(), "leftovers after a clean save: {left:?}");
    n - 1
}

#[test]
fn an_interrupted_save_on_the_two_rename_path_always_leaves_a_loadable_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let ev = collect(start(run_config(tiny_preset(&[]), root.path())));
    let run = run_dir(&ev);
    let atomic = cut_every_step_of_a_save(&run.join("last"), false);
    let fallback = cut_every_step_of_a_save(&run.join("last"), true);
    assert_eq!(fallback, atomic + 2, "the fallback's two renames are steps of their own, after the refused swap");
    for other in ["best", "step-30"] {
        assert!(run.join(other).is_dir(), "the tiny run saves {other}/");
        cut_every_step_of_a_save(&run.join(other), true);
    }
}

/// Where the binary's `saved …/last (step N)` line says the run folder is.
fn saved_last(line: &str) -> Option<(std::path::PathBuf, u64)> {
    let rest = line.strip_prefix("saved ")?;
    let (path, step) = rest.rsplit_once(" (step ")?;
    let path = Path::new(path);
    (path.file_name()? == "last").then(|| (path.parent().unwrap().to_path_buf(), step.trim_end_matches(')').parse().unwrap()))
}

#[test]
fn sigkill_at_random_moments_of_frequent_saves_never_loses_last() {
    const KILLS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let train = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_flashlm-tui"))
            .args(["train", "--preset", "tiny", "--headless", "--threads", "1", "--save-every", "1", "--out"])
            .arg(dir.path().join("runs"))
            .args(extra)
            .env("FLASHLM_CACHE", &cache)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut rng = Rng::new(20_261_207);
    let t0 = Instant::now();
    let (mut run, mut last_step, mut saves, mut mid_save) = (None::<std::path::PathBuf>, 0u64, 0usize, 0usize);
    for kill in 0..KILLS {
        let resume = run.as_ref().map(|r| r.join("last").display().to_string());
        let mut child = match &resume {
            None => train(&["--steps", "1000000"]),
            Some(last) => train(&["--steps", "1000000", "--resume", last]),
        };
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // wait for this process's first save, then let it run 0-60 ms more
        let first = lines.by_ref().map_while(Result::ok).find_map(|l| saved_last(&l));
        let (folder, _) = first.unwrap_or_else(|| panic!("kill {kill}: the run never saved last/"));
        run.get_or_insert(folder);
        std::thread::sleep(Duration::from_micros(rng.next_u64() % 60_000));
        child.kill().unwrap();
        child.wait().unwrap();
        saves += lines.map_while(Result::ok).filter(|l| saved_last(l).is_some()).count() + 1;

        let folder = run.as_ref().unwrap();
        let cut = std::fs::read_dir(folder).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with(".tmp-last-"));
        mid_save += cut as usize;
        let last = folder.join("last");
        let ck = checkpoint::load_model(&last).unwrap_or_else(|e| panic!("kill {kill}: last/ does not load: {e}"));
        assert!(ck.state.step >= last_step, "kill {kill}: last/ went back from step {last_step} to {}", ck.state.step);
        last_step = ck.state.step;
    }
    // and the run goes on from where the last kill left it
    let last = run.as_ref().unwrap().join("last");
    let target = (last_step + 3).to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_flashlm-tui"))
        .args(["train", "--preset", "tiny", "--headless", "--threads", "1", "--steps", &target, "--resume"])
        .arg(&last)
        .env("FLASHLM_CACHE", &cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(checkpoint::load_model(&last).unwrap().state.step, last_step + 3);
    println!(
        "{KILLS} SIGKILLs ({mid_save} of them inside a save) over {saves} saves of last/ (steps 1 to {last_step}) in {:.1} s: \
         last/ loaded after every kill, and the run resumed from it",
        t0.elapsed().as_secs_f64()
    );
}
