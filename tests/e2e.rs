//! The binary in a real terminal (tmux): pick a preset, train, save, sample,
//! quit. Its own test binary, so it runs after the suite, alone on the CPU,
//! and its timings measure the TUI rather than a gradient check next door.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Tmux {
    sock: PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux").arg("-S").arg(&self.sock).args(args).output().expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "e2e"];
        a.extend_from_slice(keys);
        self.run(&a);
    }
    fn text(&self, text: &str) {
        self.run(&["send-keys", "-t", "e2e", "-l", text]);
    }
    fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "e2e"])
    }
    fn wait(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.capture();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // only the server on our own socket (and with it the TUI, if a check failed)
        let _ = std::process::Command::new("tmux").arg("-S").arg(&self.sock).arg("kill-server").output();
    }
}

fn screen_step(s: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with(" step "))?;
    line[6..].chars().take_while(|c| c.is_ascii_digit() || *c == ',').filter(|c| c.is_ascii_digit()).collect::<String>().parse().ok()
}

/// The binary in a real terminal: pick a preset, train, save, sample, quit with `q s`.
#[test]
fn end_to_end_in_a_real_terminal() {
    let tmux_ok = std::process::Command::new("tmux").arg("-V").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(tmux_ok, "tmux is required for the end-to-end TUI test (apt-get install tmux; .ci/run installs it)");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::create_dir_all(work.join("presets")).unwrap();
    let (_, tiny) = flashlm_tui::preset::resolve("tiny", None).unwrap();
    let long = tiny
        .replace("name: \"tiny\"", "name: \"tiny-long\"")
        .replace("budget: Steps(60)", "budget: Minutes(3.0)")
        .replace("eval_every: 20", "eval_every: 1000")
        .replace("sample_every: 30", "sample_every: 300")
        .replace("checkpoint_every: 30", "checkpoint_every: 1000000");
    assert!(long.contains("tiny-long") && long.contains("Minutes(3.0)"));
    std::fs::write(work.join("presets/tiny-long.ron"), long).unwrap();
    std::fs::write(work.join("presets/broken.ron"), "(\n  name: \"broken\",\n  bogus: 1,\n)\n").unwrap();
    let t = Tmux { sock: work.join("tmux.sock") };
    t.run(&["-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", "-s", "e2e", "env PS1='e2e$ ' bash --norc --noprofile"]);
    t.wait("the shell", 10, |s| s.contains("e2e$"));
    // the first validation, sample and heatmap 3 s after training starts (60 s by default)
    let cmd = format!(
        "cd '{}' && FLASHLM_FIRST_VIEW_SECS=3 FLASHLM_CACHE='{}' '{}'; echo EXIT=$?",
        work.display(),
        work.join("cache").display(),
        env!("CARGO_BIN_EXE_flashlm-tui")
    );
    t.text(&cmd);
    t.keys(&["Enter"]);
    t.wait("the preset picker", 20, |s| s.contains("1 Presets") && s.contains("tiny-long") && s.contains("broken"));
    // select tiny-long (the ▶ marker moves with ↓)
    let mut found = false;
    for _ in 0..24 {
        let s = t.capture();
        if s.lines().any(|l| l.contains("▶ tiny-long")) {
            found = true;
            break;
        }
        t.keys(&["Down"]);
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(found, "could not select tiny-long:\n{}", t.capture());
    t.keys(&["Enter"]);
    let began = Instant::now();
    let s = t.wait("the step counter to pass 20", 60, |s| screen_step(s).is_some_and(|n| n > 20));
    assert!(s.contains("tiny-long") && s.contains("running"), "{s}");
    // on the clock, not at the preset's 1000-step interval: a validation value,
    // a sample with the standard prompt and the heatmap after the first look
    let s = t.wait("the first look", 30, |s| s.contains("val loss ") && !s.contains("Samples (0)") && !s.contains("Waiting for"));
    assert!(began.elapsed() >= Duration::from_secs(3), "not before the first look's time:\n{s}");
    assert!(s.lines().any(|l| l.contains("val loss ") && l.contains("(PPL ") && l.contains("BPC ")), "{s}");
    assert!(s.contains("Once upon a time"), "the first sample:\n{s}");
    // v: a full evaluation now (the first look was a quick one, not compared): best/ is written
    t.keys(&["v"]);
    t.wait("the evaluation v asked for", 30, |s| s.contains("/best (step"));
    let step_a = screen_step(&s).unwrap();
    let s = t.wait("the step counter to advance", 20, |s| screen_step(s).is_some_and(|n| n > step_a));
    let run_dir = {
        let runs: Vec<PathBuf> = std::fs::read_dir(work.join("checkpoints")).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(runs.len(), 1, "{runs:?}\n{s}");
        runs[0].clone()
    };
    // s saves now
    t.keys(&["s"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let saved = loop {
        let found = std::fs::read_dir(&run_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("step-")) && p.join("meta.json").is_file());
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no step-N checkpoint after s:\n{}", t.capture());
        std::thread::sleep(Duration::from_millis(100));
    };
    let name = saved.file_name().unwrap().to_string_lossy().to_string();
    t.wait("the save on screen", 10, |s| s.contains(&format!("{name} (step")));
    // the sampling pane: type a prompt, see generated text
    t.keys(&["4"]);
    t.wait("the sampling pane", 10, |s| s.contains("Prompt (typing)"));
    t.keys(&["C-u"]);
    t.text("Once upon a time q");
    t.keys(&["Enter"]);
    let s = t.wait("generated text", 30, |s| s.contains("tokens in") && s.contains("Once upon a time q"));
    let out_line = s.lines().find(|l| l.contains("Once upon a time q") && !l.contains("> ")).unwrap_or("");
    assert!(out_line.split("Once upon a time q").nth(1).is_some_and(|rest| rest.trim().len() > 3), "generated text after the prompt:\n{s}");
    // the dashboard, for the record
    // (Esc directly followed by a key reads as Alt+key, as in any terminal)
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(700));
    t.keys(&["2"]);
    std::thread::sleep(Duration::from_millis(1500));
    let dash = t.wait("the dashboard", 10, |s| s.contains("Loss ·") && s.contains("Memory"));
    let cpu: Option<f64> =
        dash.lines().next().unwrap_or("").split("UI ").nth(1).and_then(|r| r.split('%').next()).and_then(|v| v.trim().parse().ok());
    let shot = std::env::temp_dir().join("flashlm-tui-e2e-dashboard.txt");
    let _ = std::fs::write(&shot, &dash);
    println!("dashboard (also in {}):\n{dash}\nUI thread CPU: {cpu:?} %", shot.display());
    assert!(cpu.is_some_and(|c| c < 5.0), "the UI thread stays under 5 % of a core: {cpu:?}\n{dash}");
    // q s: stop, save, leave with status 0 within 5 s; the shell prompt is back
    t.keys(&["q"]);
    t.wait("the quit dialog", 10, |s| s.contains("Quit?"));
    let t0 = Instant::now();
    t.keys(&["s"]);
    // (the command line itself also says "EXIT=$?")
    let exited = |s: &str| s.lines().any(|l| l.starts_with("EXIT="));
    let s = t.wait("the TUI to exit", 10, exited);
    let took = t0.elapsed();
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(took < Duration::from_secs(5), "q s took {took:?}");
    let after = s.split("EXIT=0").nth(1).unwrap_or("");
    assert!(after.contains("e2e$"), "the shell prompt is back after the TUI:\n{s}");
    assert!(!s.contains("Loss ·"), "the alternate screen is gone:\n{s}");
    assert!(s.contains(&format!("run checkpoints/{}", run_dir.file_name().unwrap().to_string_lossy())), "summary printed:\n{s}");
    // (the terminal wraps the exit line at 100 columns)
    let joined: String = s.lines().collect();
    let exit_line = joined.split("run checkpoints/").nth(1).unwrap_or("");
    let fin = exit_line.split("final val loss ").nth(1).unwrap_or("");
    assert!(fin.starts_with(|c: char| c.is_ascii_digit()) && fin.contains(" (best "), "a final validation loss:\n{exit_line}");
    assert!(run_dir.join("last/meta.json").is_file(), "q s saved last/");
    assert!(saved.join("model.safetensors").is_file());

    // again: r resumes the latest checkpoint of tiny-long, Ctrl-C stops and saves
    let state = |d: &Path| -> u64 {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("last/state.json")).unwrap()).unwrap();
        v["step"].as_u64().unwrap()
    };
    let stopped_at = state(&run_dir);
    t.keys(&["C-l"]);
    t.text(&cmd);
    t.keys(&["Enter"]);
    t.wait("the preset picker again", 20, |s| s.contains("1 Presets") && s.contains("tiny-long"));
    for _ in 0..24 {
        if t.capture().lines().any(|l| l.contains("▶ tiny-long")) {
            break;
        }
        t.keys(&["Down"]);
        std::thread::sleep(Duration::from_millis(150));
    }
    t.keys(&["r"]);
    let s = t.wait("the resumed run to step on", 60, |s| screen_step(s).is_some_and(|n| n > stopped_at + 20));
    assert!(s.contains(&run_dir.file_name().unwrap().to_string_lossy().to_string()), "same run folder:\n{s}");
    let t0 = Instant::now();
    t.keys(&["C-c"]);
    let s = t.wait("the TUI to exit after Ctrl-C", 10, exited);
    let took = t0.elapsed();
    assert!(s.trim_end().ends_with("e2e$") && s.contains("EXIT=130"), "Ctrl-C ends the run as SIGINT does:\n{s}");
    let joined: String = s.lines().collect();
    assert!(joined.contains("final val loss ") && joined.contains("interrupted by SIGINT"), "{s}");
    assert!(took < Duration::from_secs(5), "Ctrl-C took {took:?}");
    let after_ctrl_c = state(&run_dir);
    assert!(after_ctrl_c > stopped_at + 20, "Ctrl-C saved last/ further on");

    // SIGTERM to the TUI: the final evaluation, last/ saved, status 143
    t.keys(&["C-l"]);
    t.text(&cmd);
    t.keys(&["Enter"]);
    t.wait("the preset picker a third time", 20, |s| s.contains("1 Presets") && s.contains("tiny-long"));
    for _ in 0..12 {
        if t.capture().lines().any(|l| l.contains("▶ tiny-long")) {
            break;
        }
        t.keys(&["Down"]);
        std::thread::sleep(Duration::from_millis(150));
    }
    t.keys(&["r"]);
    t.wait("the run resumed again", 60, |s| screen_step(s).is_some_and(|n| n > after_ctrl_c + 10));
    let shell = t.run(&["list-panes", "-t", "e2e", "-F", "#{pane_pid}"]);
    let children = std::process::Command::new("pgrep").args(["-P", shell.trim()]).output().unwrap();
    let pid = String::from_utf8_lossy(&children.stdout).lines().next().unwrap_or("").trim().to_string();
    assert!(!pid.is_empty(), "the TUI's process id");
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let s = t.wait("the TUI to exit after SIGTERM", 15, exited);
    let joined: String = s.lines().collect();
    assert!(s.contains("EXIT=143") && joined.contains("interrupted by SIGTERM"), "{s}");
    assert!(state(&run_dir) > after_ctrl_c + 10, "SIGTERM saved last/ further on");
}
