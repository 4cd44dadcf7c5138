//! `watch`: the dashboard following a run from its metrics.jsonl (written by
//! a real headless run), tailed as it grows, and the folders it refuses.

use super::tui::{key, memory_run, new_app, render, runs_root, screen};
use flashlm_tui::engine::Event;
use flashlm_tui::follow::{run_preset, Follow};
use flashlm_tui::tui::app::*;
use std::io::Write;

#[test]
fn watch_follows_a_run_as_its_metrics_file_grows() {
    let rec = memory_run();
    let text = std::fs::read_to_string(rec.run_dir.join("metrics.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let last_step = lines.iter().rev().find(|l| l.contains("\"type\":\"step\"")).unwrap();
    let last_step: serde_json::Value = serde_json::from_str(last_step).unwrap();
    // a copy named like a run folder, written in two parts, the first ending mid-line
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("tiny-20260101-000000");
    std::fs::create_dir(&dir).unwrap();
    let cut = text.len() / 2;
    let cut = (cut..text.len()).find(|&i| text.is_char_boundary(i) && text.as_bytes()[i - 1] != b'\n').unwrap();
    std::fs::write(dir.join("metrics.jsonl"), &text[..cut]).unwrap();
    let complete = text[..cut].matches('\n').count();

    let mut follow = Follow::open(&dir).unwrap();
    let first = follow.poll().unwrap();
    let records = |s: &str| s.lines().filter(|l| flashlm_tui::follow::event_of_line(l).is_some()).count();
    assert_eq!(first.len(), records(&text[..text[..cut].rfind('\n').unwrap() + 1]), "the partial last line waits");
    assert!(complete > 0 && follow.poll().unwrap().is_empty(), "nothing new, nothing read");

    let mut app = new_app(runs_root());
    let preset = run_preset(&dir);
    assert_eq!(preset.as_ref().map(|p| p.name.as_str()), Some("tiny"), "the folder name says which preset");
    app.watch(&dir, preset.as_ref());
    app.on_watched(first);
    assert_eq!(app.screen, Screen::Dashboard);
    let s = screen(&render(&app, 120, 40));
    assert!(s.contains("watching (read-only)") && s.contains("tiny-20260101-000000"), "{s}");
    assert!(app.run.as_ref().unwrap().summary.is_none(), "half the record: still running");
    // read-only: no commands to a trainer this process does not run
    for c in ['p', 's', 'v'] {
        assert!(matches!(app.on_key(key(c)), Action::None), "{c}");
    }
    // q leaves at once: there is nothing to stop
    let mut quit = new_app(runs_root());
    quit.watch(&dir, preset.as_ref());
    assert!(matches!(quit.on_key(key('q')), Action::Quit));

    // the rest arrives; only it is read
    std::fs::OpenOptions::new().append(true).open(dir.join("metrics.jsonl")).unwrap().write_all(&text.as_bytes()[cut..]).unwrap();
    let rest = follow.poll().unwrap();
    assert!(rest.iter().any(|e| matches!(e, Event::Finished(_))));
    app.on_watched(rest);
    let run = app.run.as_ref().unwrap();
    assert_eq!(run.last.as_ref().unwrap().step, last_step["step"].as_u64().unwrap());
    assert!((run.last.as_ref().unwrap().tok_per_sec - last_step["tok_per_sec"].as_f64().unwrap()).abs() < 1e-6);
    let steps_recorded = lines.iter().filter(|l| l.contains("\"type\":\"step\"")).count();
    assert_eq!(run.points.len(), steps_recorded, "each step record charted once");
    assert_eq!(run.evals.len(), lines.iter().filter(|l| l.contains("\"type\":\"eval\"")).count());
    assert!(!run.samples.is_empty(), "samples recorded by the run are shown");
    let s = screen(&render(&app, 120, 40));
    assert!(s.contains("summary") && s.contains(&format!("{:.4}", last_step["loss"].as_f64().unwrap())), "{s}");
}

#[test]
fn the_runs_screen_opens_a_run_in_watch_mode() {
    let rec = memory_run();
    let mut app = new_app(runs_root());
    app.set_runs(flashlm_tui::runs::scan(runs_root()));
    app.on_key(key('3'));
    let i = app.runs.records.iter().position(|r| r.dir == rec.run_dir).unwrap();
    app.runs.selected = i;
    match app.on_key(key('w')) {
        Action::Follow(d) => assert_eq!(d, rec.run_dir),
        other => panic!("w should follow the run: {other:?}"),
    }
    assert_eq!(app.screen, Screen::Dashboard);
    assert!(app.run.as_ref().unwrap().watched);
}

#[test]
fn watch_refuses_a_folder_that_is_not_a_run() {
    let d = tempfile::tempdir().unwrap();
    let watch = |p: &std::path::Path| std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui")).arg("watch").arg(p).output().unwrap();
    let out = watch(d.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not a run folder (it has no metrics.jsonl)") && err.contains(&d.path().display().to_string()), "{err}");
    let out = watch(&d.path().join("missing"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such folder"));
}
