//! The terminal UI: every screen and pane drawn on ratatui's TestBackend from
//! real trainer events (tiny preset runs), and every key binding. The binary
//! in a real terminal is tests/e2e.rs.

use super::common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flashlm_tui::engine::{Command, Event, MemorySnapshot, RunState};
use flashlm_tui::preset::discover;
use flashlm_tui::train::start;
use flashlm_tui::tui::app::*;
use flashlm_tui::tui::ui;
use flashlm_tui::tui::ui::heatmap::{diverging, num, Scale};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ helpers

/// Every event of one finished run, plus the memory slot's last value.
pub(super) struct Recorded {
    pub(super) events: Vec<Event>,
    pub(super) memory: Option<MemorySnapshot>,
    pub(super) run_dir: PathBuf,
}

pub(super) fn record(preset: (flashlm_tui::preset::Preset, String), root: &Path) -> Recorded {
    let h = start(run_config(preset, root));
    let slot = h.memory.clone();
    let events = collect(h);
    assert!(errors(&events).is_empty(), "{:?}", errors(&events));
    let run_dir = run_dir(&events);
    Recorded { events, memory: slot.take(), run_dir }
}

/// Both recorded runs live in one runs folder, so the runs screen has two to compare.
pub(super) fn runs_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| tempfile::tempdir().unwrap().keep())
}

/// The tiny preset (v7.2 with Hebbian memory), 60 steps.
pub(super) fn memory_run() -> &'static Recorded {
    static R: OnceLock<Recorded> = OnceLock::new();
    R.get_or_init(|| record(tiny_preset(&[]), runs_root()))
}

/// The tiny preset without memory (a v7.1-like gated conv), 60 steps.
pub(super) fn conv_run() -> &'static Recorded {
    static R: OnceLock<Recorded> = OnceLock::new();
    R.get_or_init(|| {
        record(
            tiny_preset(&[("name: \"tiny\"", "name: \"tiny-conv\""), ("memory: Some((d_mem: 8, decay: 0.9)),", "memory: None,")]),
            runs_root(),
        )
    })
}

pub(super) fn new_app(root: &Path) -> App {
    isolated_cache();
    App::new(discover(None), AppOptions { runs_root: root.to_path_buf(), threads: 2, tinystories: None })
}

pub(super) fn select(app: &mut App, name: &str) {
    let i = app.picker.presets.iter().position(|p| p.name == name).unwrap_or_else(|| panic!("no preset {name}"));
    app.picker.selected = i;
}

/// An app whose picker started `preset` (the Start action is not carried out:
/// the recorded events play the trainer's part).
pub(super) fn app_running(preset: &str) -> (App, flashlm_tui::train::RunConfig) {
    let mut app = new_app(runs_root());
    select(&mut app, preset);
    match app.on_key(code(KeyCode::Enter)) {
        Action::Start(cfg) => (app, *cfg),
        other => panic!("Enter should start {preset}: {other:?}"),
    }
}

/// An app that has seen a recorded run's first `n` events (all with `None`).
pub(super) fn app_fed(rec: &Recorded, preset: &str, n: Option<usize>) -> App {
    let (mut app, _) = app_running(preset);
    let n = n.unwrap_or(rec.events.len());
    for ev in rec.events[..n].iter().cloned() {
        app.on_event(ev);
    }
    if n == rec.events.len() {
        if let Some(m) = rec.memory.clone() {
            app.on_memory(m);
        }
    }
    app
}

pub(super) fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}
pub(super) fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}
pub(super) fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}
pub(super) fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        let a = app.on_key(key(c));
        assert!(matches!(a, Action::None), "typing {c:?} gave {a:?}");
    }
}

pub(super) fn render(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

pub(super) fn row(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect()
}

pub(super) fn screen(buf: &Buffer) -> String {
    (0..buf.area.height).map(|y| row(buf, y)).collect::<Vec<_>>().join("\n")
}

/// (x, y) of the first cell where `needle` starts.
pub(super) fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let n: Vec<char> = needle.chars().collect();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let mut ok = true;
            let mut cx = x;
            for &c in &n {
                // wide characters leave an empty cell after them
                while cx < buf.area.width && buf[(cx, y)].symbol().is_empty() {
                    cx += 1;
                }
                if cx >= buf.area.width || buf[(cx, y)].symbol() != c.to_string() {
                    ok = false;
                    break;
                }
                cx += 1;
            }
            if ok {
                return Some((x, y));
            }
        }
    }
    None
}

pub(super) fn has(buf: &Buffer, needle: &str) -> bool {
    find(buf, needle).is_some()
}

/// The number after "step " on the dashboard header.
pub(super) fn header_step(buf: &Buffer) -> u64 {
    let s = screen(buf);
    let line = s.lines().find(|l| l.starts_with(" step ")).unwrap_or_else(|| panic!("no step line:\n{s}"));
    line[6..].chars().take_while(|c| c.is_ascii_digit() || *c == ',').filter(|c| c.is_ascii_digit()).collect::<String>().parse().unwrap()
}

// ------------------------------------------------------------------- picker

#[test]
fn picker_lists_presets_with_marker_reference_and_parse_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.ron"), "(\n  name: \"broken\",\n  version: \"v0\",\n  bogus: 3,\n)\n").unwrap();
    let mut app = App::new(discover(Some(dir.path())), AppOptions { runs_root: dir.path().join("runs"), threads: 2, tinystories: None });
    let b = render(&app, 80, 24);
    let (x, y) = find(&b, "▶").expect("a ▶ marker");
    assert!(row(&b, y)[..].contains(&app.picker.presets[0].name), "the marker sits on the selected row: {}", row(&b, y));
    assert_eq!(x, 1, "marker in the first column");
    // the reference figures with their caveat
    select(&mut app, "v7.2-cortex-vi");
    let b = render(&app, 100, 30);
    let s = screen(&b);
    assert!(s.contains("▶ v7.2-cortex-vi") && s.contains("5,008,896") && s.contains("16×256"), "{s}");
    assert!(s.contains("15.58*") && s.contains("3,900"), "reported PPL and PyTorch tok/s in the row:\n{s}");
    assert!(s.contains("FlashLM reported PPL 15.58") && s.contains("caveat"), "{s}");
    // the broken preset is listed with file:line:col, and cannot start
    let broken = app.picker.presets.iter().position(|p| p.name == "broken").expect("broken preset listed");
    app.picker.selected = broken;
    let b = render(&app, 100, 30);
    let (_, y) = find(&b, "▶").unwrap();
    let r = row(&b, y);
    assert!(r.contains("broken") && r.contains("✗") && r.contains("broken.ron:4:"), "{r}");
    let (x, y) = find(&b, "✗ ").unwrap();
    assert_eq!(b[(x, y)].fg, Color::Red, "errors are red");
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::None));
    assert!(app.status.as_deref().unwrap_or("").contains("cannot start"), "{:?}", app.status);
    assert!(has(&render(&app, 100, 30), "cannot start"));
    assert!(app.run.is_none());
    // e shows the RON text with the error's line marked
    app.on_key(key('e'));
    assert!(matches!(app.overlay, Overlay::Ron { .. }));
    let b = render(&app, 100, 30);
    let (_, y) = find(&b, "bogus: 3").expect("the RON text");
    assert!(row(&b, y).contains("   4 "), "line numbers: {}", row(&b, y));
    let (x, y) = find(&b, "bogus: 3").unwrap();
    assert_eq!(b[(x, y)].bg, Color::Red, "the error line is marked");
    assert!(has(&b, "^ here"));
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.overlay, Overlay::Ron { scroll: 1 });
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
}

/// A preset overriding a built-in one is marked `~`, two of one name in a
/// folder `!`; the details say which files, and an ambiguous one cannot start.
#[test]
fn picker_marks_overriding_and_ambiguous_presets() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text) = tiny_preset(&[]);
    let twin = text.replace("name: \"tiny\"", "name: \"twin\"");
    std::fs::write(dir.path().join("a.ron"), &twin).unwrap();
    std::fs::write(dir.path().join("b.ron"), twin.replace("seed: 42", "seed: 43")).unwrap();
    std::fs::write(dir.path().join("mine.ron"), text.replace("seed: 42", "seed: 7")).unwrap();
    let mut app = App::new(discover(Some(dir.path())), AppOptions { runs_root: dir.path().join("runs"), threads: 2, tinystories: None });
    select(&mut app, "tiny");
    let b = render(&app, 120, 30);
    let (_, y) = find(&b, "▶").unwrap();
    assert!(row(&b, y).contains("tiny") && row(&b, y).contains(" ~ "), "{}", row(&b, y));
    assert!(has(&b, "~ overrides <built-in>/tiny.ron"), "{}", screen(&b));
    select(&mut app, "twin");
    let b = render(&app, 120, 30);
    let (_, y) = find(&b, "▶").unwrap();
    assert!(row(&b, y).contains("twin") && row(&b, y).contains(" ! "), "{}", row(&b, y));
    assert!(has(&b, "! ambiguous:") && has(&b, "b.ron also defines it"), "{}", screen(&b));
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::None));
    let status = app.status.clone().unwrap_or_default();
    assert!(status.contains("twin cannot start") && status.contains("a.ron") && status.contains("b.ron"), "{status}");
    assert!(app.run.is_none());
}

#[test]
fn picker_b_starts_runs_with_bf16_products_where_the_cpu_has_them() {
    use flashlm_tui::precision::Precision;
    let mut app = new_app(runs_root());
    select(&mut app, "tiny");
    let b = render(&app, 140, 30);
    assert!(has(&b, "precision auto → fp32") && has(&b, "(b to change)"), "{}", screen(&b));
    // auto → fp32 → bf16 (where the CPU has it) → auto
    app.on_key(key('b'));
    assert_eq!(app.picker.precision, Precision::Fp32);
    assert!(has(&render(&app, 140, 30), "precision fp32"));
    app.on_key(key('b'));
    if !flashlm_tui::kernels::matmul::bf16_supported() {
        eprintln!("SKIPPED: this CPU lacks AVX512-BF16; checking that b skips bf16 with the reason");
        assert_eq!(app.picker.precision, Precision::Auto);
        assert!(app.status.as_deref().unwrap_or("").contains("AVX512-BF16"), "{:?}", app.status);
        return;
    }
    assert_eq!(app.picker.precision, Precision::Bf16);
    let b = render(&app, 140, 30);
    assert!(has(&b, "precision bf16 products"), "{}", screen(&b));
    match app.on_key(code(KeyCode::Enter)) {
        Action::Start(cfg) => assert_eq!(cfg.precision, Precision::Bf16),
        other => panic!("Enter should start: {other:?}"),
    }
}

#[test]
fn picker_keys_move_start_resume_and_choose_the_corpus() {
    let rec = memory_run();
    let mut app = new_app(runs_root());
    let n = app.picker.presets.len();
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.picker.selected, 1.min(n - 1));
    app.on_key(key('k'));
    assert_eq!(app.picker.selected, 0);
    app.on_key(key('j'));
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.picker.selected, 0);
    app.on_key(code(KeyCode::End));
    assert_eq!(app.picker.selected, n - 1);
    app.on_key(code(KeyCode::Home));
    assert_eq!(app.picker.selected, 0);

    // r without a checkpoint of that preset
    select(&mut app, "v7.1-cortex-iii");
    assert!(matches!(app.on_key(key('r')), Action::None));
    assert!(app.status.as_deref().unwrap_or("").contains("no checkpoint of v7.1-cortex-iii"), "{:?}", app.status);

    // r resumes the newest checkpoint of tiny (the recorded run)
    select(&mut app, "tiny");
    let b = render(&app, 100, 30);
    assert!(has(&b, "latest checkpoint") && has(&b, "(r resumes)"), "{}", screen(&b));
    match app.on_key(key('r')) {
        Action::Start(cfg) => {
            let ck = cfg.resume.expect("a resume path");
            assert!(ck.starts_with(&rec.run_dir), "{} is in {}", ck.display(), rec.run_dir.display());
            assert!(ck.join("meta.json").is_file());
            assert!(!cfg.progress, "no progress bars under the TUI");
        }
        other => panic!("r should resume: {other:?}"),
    }
    assert_eq!(app.screen, Screen::Dashboard);

    // Enter starts the selected preset
    let (app2, cfg) = app_running("tiny");
    assert_eq!(cfg.preset.name, "tiny");
    assert!(cfg.resume.is_none() && cfg.corpus.is_none() && !cfg.progress);
    assert_eq!(cfg.precision, flashlm_tui::precision::Precision::Auto, "the picker starts auto runs unless b chose fp32 or bf16");
    assert_eq!(cfg.runs_root, runs_root());
    assert_eq!(app2.screen, Screen::Dashboard);
    assert_eq!(app2.run.as_ref().unwrap().state, RunState::Preparing);

    // c: the corpus chooser
    let corpus = tempfile::NamedTempFile::new().unwrap();
    let mut app = new_app(runs_root());
    select(&mut app, "tiny");
    app.on_key(key('c'));
    assert!(matches!(app.overlay, Overlay::Corpus(_)));
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains("built-in story corpus") && s.contains("TinyStories (not found") && s.contains("a file or folder path"), "{s}");
    app.on_key(code(KeyCode::Down));
    app.on_key(code(KeyCode::Enter));
    let Overlay::Corpus(d) = &app.overlay else { panic!("still open") };
    assert!(d.error.as_deref().unwrap_or("").contains("TinyStories not found"), "{:?}", d.error);
    app.on_key(key('j'));
    app.on_key(code(KeyCode::Enter));
    let Overlay::Corpus(d) = &app.overlay else { panic!("still open") };
    assert!(d.editing.is_some(), "typing a path");
    typed(&mut app, "/no/such/file.txt");
    app.on_key(code(KeyCode::Enter));
    assert!(has(&render(&app, 100, 30), "no such file or folder"));
    app.on_key(ctrl('u'));
    app.on_paste(&corpus.path().display().to_string());
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.picker.corpus, Corpus::File(corpus.path().to_path_buf()));
    match app.on_key(code(KeyCode::Enter)) {
        Action::Start(cfg) => assert_eq!(cfg.corpus.as_deref(), Some(corpus.path())),
        other => panic!("{other:?}"),
    }
    // TinyStories when a copy exists: train.txt with valid.txt as validation
    let mut app = new_app(runs_root());
    app.opts.tinystories = Some((PathBuf::from("ts/train.txt"), PathBuf::from("ts/valid.txt")));
    select(&mut app, "tiny");
    app.on_key(key('c'));
    app.on_key(key('j'));
    app.on_key(code(KeyCode::Enter));
    assert!(matches!(app.picker.corpus, Corpus::TinyStories { .. }));
    match app.on_key(code(KeyCode::Enter)) {
        Action::Start(cfg) => {
            assert_eq!(cfg.corpus, Some(PathBuf::from("ts/train.txt")));
            assert_eq!(cfg.valid, Some(PathBuf::from("ts/valid.txt")));
        }
        other => panic!("{other:?}"),
    }
    // c, Esc: back to built-in
    app.on_key(key('1'));
    app.on_key(key('c'));
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    app.on_key(key('c'));
    app.on_key(code(KeyCode::Home));
    app.on_key(key('k'));
    app.on_key(key('k'));
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.picker.corpus, Corpus::BuiltIn);
    // a second run while one trains is refused
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::None));
    assert!(app.status.as_deref().unwrap_or("").contains("already training"));
}

// --------------------------------------------------------------- dashboard

#[test]
fn dashboard_step_counter_and_header_advance_with_real_events() {
    let rec = memory_run();
    let (mut app, _) = app_running("tiny");
    let b = render(&app, 100, 30);
    assert!(has(&b, "preparing"), "{}", screen(&b));
    let mut seen = Vec::new();
    let mut states = std::collections::BTreeSet::new();
    for chunk in rec.events.chunks(7) {
        for ev in chunk.iter().cloned() {
            app.on_event(ev);
        }
        let b = render(&app, 100, 30);
        if app.run.as_ref().unwrap().last.is_some() {
            seen.push(header_step(&b));
        }
        for st in ["running", "evaluating", "saving", "finished"] {
            if screen(&b).lines().nth(1).unwrap_or("").contains(&format!(" {st} ")) {
                states.insert(st);
            }
        }
    }
    assert!(seen.len() > 5, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "the step counter never goes back: {seen:?}");
    assert!(seen.first() < seen.last(), "and it advances: {seen:?}");
    assert_eq!(*seen.last().unwrap(), 60);
    assert!(states.contains("running") && states.contains("finished"), "{states:?}");
    let s = screen(&render(&app, 100, 30));
    let dir = rec.run_dir.display().to_string();
    assert!(s.contains(&dir[..dir.len().min(40)]), "run folder in the header:\n{s}");
    for want in ["step 60 / 60", "tokens 7,680", "elapsed ", "ETA done", "LR ", "tok/s ", "MFU –", "val "] {
        assert!(s.contains(want), "{want:?} missing:\n{s}");
    }
    // far above any CPU's, so the tiny run's MFU is a small number (50 GFLOP/s had
    // been exceeded by the tiny preset itself on an AVX-512 host, showing ">100")
    app.peak_fp32 = Some(1e6);
    let s = screen(&render(&app, 100, 30));
    let mfu = s.split("MFU ").nth(1).unwrap().split('%').next().unwrap();
    assert!(mfu.trim().parse::<f64>().is_ok(), "MFU as a number once the peak is known: {mfu}");
    // a bf16 run is not measured against an fp32 peak, and says it is bf16
    assert!(!screen(&render(&app, 100, 30)).lines().nth(1).unwrap_or("").contains(" bf16 "));
    app.run_precision = flashlm_tui::precision::Precision::Bf16;
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains("MFU –"), "MFU against a peak of another precision");
    assert!(s.lines().nth(1).unwrap_or("").contains(" bf16 "), "the header names bf16:\n{s}");
    app.peak_bf16 = Some(2e6);
    assert!(!screen(&render(&app, 100, 30)).contains("MFU –"));
    app.run_precision = Default::default();
    app.peak_bf16 = None;

    // every step is shown, not only each log interval
    let (mut app, _) = app_running("tiny");
    let mut steps = Vec::new();
    for ev in rec.events.iter().cloned() {
        let is_step = matches!(ev, Event::Step(_));
        app.on_event(ev);
        if is_step && steps.len() < 15 {
            steps.push(header_step(&render(&app, 80, 24)));
        }
    }
    let want: Vec<u64> = step_losses(&rec.events).iter().map(|s| s.0).take(15).collect();
    assert_eq!(steps, want);
}

#[test]
fn finished_run_keeps_its_summary_until_the_user_leaves() {
    let rec = memory_run();
    let mut app = app_fed(rec, "tiny", None);
    let fin = rec.events.iter().find_map(|e| if let Event::Finished(s) = e { Some(s.clone()) } else { None }).unwrap();
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains("summary") && s.contains("finished"), "{s}");
    let best = format!("best val PPL {:.2}", fin.best_val_loss.unwrap().exp());
    let fin_ppl = format!("final val PPL {:.2}", fin.final_val_ppl.unwrap());
    for want in [best.as_str(), fin_ppl.as_str(), "7,680 tokens in", "tok/s mean"] {
        assert!(s.contains(want), "{want:?} missing:\n{s}");
    }
    // the header shows the last validation point with its bits per byte
    let last = rec.events.iter().rev().find_map(|e| if let Event::Eval(v) = e { Some(v.clone()) } else { None }).unwrap();
    let val = format!("val loss {:.3} (PPL {:.2}, BPC {:.3})", last.loss, last.ppl, last.bpc);
    assert!(s.contains(&val), "{val:?} missing:\n{s}");
    // it stays: nothing but the user ends it
    assert!(matches!(app.on_tick(Instant::now() + Duration::from_secs(60)), Action::None));
    assert!(!app.should_quit);
    assert!(has(&render(&app, 100, 30), "summary"));
    // q leaves directly (nothing to stop), and sampling now uses the run's checkpoint
    assert!(app.sampling.source.is_some() && app.sampling.source_label.contains("best"), "{}", app.sampling.source_label);
    assert!(matches!(app.on_key(key('q')), Action::Quit));
    assert!(app.should_quit);
}

#[test]
fn loss_chart_toggles_ema_log_axis_and_window() {
    let mut app = app_fed(memory_run(), "tiny", None);
    let b = render(&app, 100, 30);
    assert!(has(&b, "Loss · x steps · full history · EMA"), "{}", screen(&b));
    for legend in ["train", "EMA", "val"] {
        assert!(has(&b, legend), "legend {legend}");
    }
    let braille = (0..b.area.height)
        .flat_map(|y| (0..b.area.width).map(move |x| (x, y)))
        .filter(|&p| ('\u{2800}'..='\u{28ff}').contains(&b[p].symbol().chars().next().unwrap_or(' ')))
        .count();
    assert!(braille > 20, "the curves are drawn ({braille} braille cells)");
    // e steps through the EMA strengths, then the raw curve, then round again
    assert!(has(&b, "· EMA 40 steps"), "{}", screen(&b));
    app.on_key(key('e'));
    assert!(has(&render(&app, 100, 30), "· EMA 100 steps"));
    app.on_key(key('e'));
    assert!(has(&render(&app, 100, 30), "· EMA 300 steps"));
    app.on_key(key('e'));
    let b = render(&app, 100, 30);
    assert!(has(&b, "· raw") && has(&b, "│train") && !has(&b, "│EMA"), "no EMA curve in the legend:\n{}", screen(&b));
    app.on_key(key('e'));
    assert!(has(&render(&app, 100, 30), "· EMA 10 steps"));
    app.on_key(key('e'));
    assert!(has(&render(&app, 100, 30), "· EMA 40 steps"));
    app.on_key(key('l'));
    assert!(has(&render(&app, 100, 30), "· log-y"));
    app.on_key(key('x'));
    assert!(has(&render(&app, 100, 30), "x tokens"));
    app.on_key(key('x'));
    assert!(has(&render(&app, 100, 30), "x wall time"));
    app.on_key(key('x'));
    assert!(has(&render(&app, 100, 30), "x steps"));
    app.on_key(key('w'));
    assert!(has(&render(&app, 100, 30), "last 300 steps"));
    app.on_key(key('w'));
    assert!(has(&render(&app, 100, 30), "full history"));
    let b = render(&app, 100, 30);
    assert!(has(&b, "Throughput") && has(&b, "tok/s · mean"), "sparkline pane");
    let (x, y) = find(&b, "Throughput").unwrap();
    let spark_row = row(&b, y + 1);
    assert!(spark_row.chars().any(|c| "▁▂▃▄▅▆▇█".contains(c)), "sparkline bars: {spark_row} (at {x})");
}

// ---------------------------------------------------------------- heatmap

#[test]
fn memory_heatmap_uses_half_blocks_a_diverging_scale_and_a_legend() {
    let rec = memory_run();
    let mem = rec.memory.clone().expect("the tiny preset has memory");
    assert_eq!(mem.layers.len(), 2);
    assert_eq!(mem.layers[0].dim(), (8, 8));
    let mut app = app_fed(rec, "tiny", None);
    let b = render(&app, 100, 30);
    let s = screen(&b);
    assert!(s.contains(&format!("Memory L1/2 · step {}", mem.step)), "{s}");
    // legend: min / 0 / max with the layer's values and the scale's end colours
    let m = &mem.layers[0];
    let lo = m.iter().cloned().fold(f32::INFINITY, f32::min);
    let hi = m.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let (lx, ly) = find(&b, &format!("min {} ", num(lo))).unwrap_or_else(|| panic!("legend min {}:\n{s}", num(lo)));
    let legend = row(&b, ly);
    assert!(legend.contains(" 0 ") && legend.contains(&format!("max {}", num(hi))), "{legend}");
    let first_swatch = (lx..b.area.width).find(|&x| b[(x, ly)].symbol() == "█").unwrap();
    assert_eq!(b[(first_swatch, ly)].fg, diverging(-1.0));
    let last_swatch = (lx..b.area.width).rev().find(|&x| b[(x, ly)].symbol() == "█").unwrap();
    assert_eq!(b[(last_swatch, ly)].fg, diverging(1.0));
    assert_eq!(diverging(-1.0), Color::Rgb(40, 120, 255));
    assert_eq!(diverging(1.0), Color::Rgb(255, 80, 40));
    assert_eq!(diverging(0.0), Color::Rgb(24, 24, 24));
    // half blocks: the top-left cell shows M[0,0] above and row 1 below (or a repeat of row 0),
    // in the colours of the scale fitted to the cells shown (8×8 entries, none pooled here)
    let (tx, ty) = find(&b, "▀").expect("half-block cells");
    let cells = (0..b.area.height).flat_map(|y| (0..b.area.width).map(move |x| (x, y))).filter(|&p| b[p].symbol() == "▀").count();
    assert!(cells >= 8 * 4, "at least 8 columns × 4 rows of half blocks: {cells}");
    let scale = Scale::fit(m.iter().cloned());
    assert_eq!(b[(tx, ty)].fg, scale.colour(m[(0, 0)]), "upper half = matrix row 0");
    let bg = b[(tx, ty)].bg;
    assert!(bg == scale.colour(m[(1, 0)]) || bg == scale.colour(m[(0, 0)]), "lower half = the next matrix row");
    // the extreme entries get the extreme colours
    let (mr, mc) = m.indexed_iter().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map(|(i, _)| i).unwrap();
    let extreme = diverging(if m[(mr, mc)] < 0.0 { -1.0 } else { 1.0 });
    assert_eq!(scale.colour(m[(mr, mc)]), extreme);
    let found = (0..b.area.height)
        .flat_map(|y| (0..b.area.width).map(move |x| (x, y)))
        .any(|p| b[p].symbol() == "▀" && (b[p].fg == extreme || b[p].bg == extreme));
    assert!(found, "the largest |M| entry is drawn in a full-intensity colour");
    // ←/→ change layer (wrapping), a shows all layers
    app.on_key(code(KeyCode::Right));
    assert!(has(&render(&app, 100, 30), "Memory L2/2"));
    app.on_key(code(KeyCode::Right));
    assert!(has(&render(&app, 100, 30), "Memory L1/2"));
    app.on_key(code(KeyCode::Left));
    assert_eq!(app.dashboard.layer, 1);
    app.on_key(key('a'));
    let b = render(&app, 100, 30);
    assert!(has(&b, "all 2 layers") && has(&b, "L1") && has(&b, "L2") && has(&b, "shared scale"), "{}", screen(&b));
    app.on_key(key('a'));
    assert!(!has(&render(&app, 100, 30), "all 2 layers"));
    // at the minimum size the legend still fits, whole numbers first
    let b = render(&app, 80, 24);
    assert!(has(&b, "min ") && has(&b, "max "), "{}", screen(&b));
    for (lo, hi) in [(-0.0123f32, 0.0456f32), (-123.4, 5.0), (-1e-5, 2e4)] {
        let l = flashlm_tui::tui::ui::heatmap::legend(&Scale::fit([lo, hi, lo / 7.0, hi / 9.0]), lo, hi, 28);
        let text: String = l.spans.iter().map(|s| s.content.to_string()).collect();
        assert!(text.chars().count() <= 28 && text.ends_with(&num(hi)) && text.contains(&num(lo)), "{text}");
    }
}

#[test]
fn full_size_memories_are_averaged_to_fit_and_say_so() {
    // v7.2's d_mem is 64: more matrix rows than an 80×24 pane has half-rows
    let root = tempfile::tempdir().unwrap();
    let rec = record(
        tiny_preset(&[
            ("memory: Some((d_mem: 8, decay: 0.9)),", "memory: Some((d_mem: 64, decay: 0.99)),"),
            ("budget: Steps(60)", "budget: Steps(20)"),
        ]),
        root.path(),
    );
    let mem = rec.memory.clone().expect("a memory snapshot");
    assert_eq!(mem.layers[0].dim(), (64, 64));
    let mut app = app_fed(&rec, "tiny", None);
    let b = render(&app, 80, 24);
    let s = screen(&b);
    assert!(s.contains("64×64 · ≤") && s.contains("mean/cell"), "the pooling is stated:\n{s}");
    let cells = (0..b.area.height).flat_map(|y| (0..b.area.width).map(move |x| (x, y))).filter(|&p| b[p].symbol() == "▀").count();
    assert!(cells > 50, "{cells}");
    // a tall terminal shows every entry (2 half-rows per terminal row, one column each)
    let b = render(&app, 240, 140);
    let s = screen(&b);
    assert!(s.contains("64×64 · rows key · cols value"), "{s}");
    app.on_key(key('a'));
    let b = render(&app, 80, 24);
    assert!(has(&b, "L1") && has(&b, "L2") && has(&b, "all 2 layers"), "{}", screen(&b));
}

#[test]
fn presets_without_memory_say_so_and_show_their_conv_taps() {
    let rec = conv_run();
    // as `train --preset <a preset without memory>` opens it
    let mut app = new_app(runs_root());
    let preset = tiny_preset(&[("name: \"tiny\"", "name: \"tiny-conv\""), ("memory: Some((d_mem: 8, decay: 0.9)),", "memory: None,")]);
    assert!(matches!(app.start_configured(run_config(preset, runs_root())), Action::Start(_)));
    assert_eq!(app.screen, Screen::Dashboard);
    for ev in rec.events.iter().cloned() {
        app.on_event(ev);
    }
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains("has no Hebbian") && s.contains("conv taps"), "{s}");
    let best = rec.run_dir.join("best");
    let (step, layers) = flashlm_tui::tui::conv_taps(&best).unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0].dim(), (4, 32), "k taps × d_model channels");
    app.on_conv_taps(best.clone(), step, layers);
    let b = render(&app, 100, 30);
    let s = screen(&b);
    assert!(s.contains("Conv taps L1/2") && s.contains("no Hebbian memory: conv taps from"), "{s}");
    assert!(has(&b, "▀") && has(&b, "min "));
}

// ------------------------------------------------------ samples and the log

#[test]
fn samples_and_log_panes_show_real_output_and_scroll() {
    let rec = memory_run();
    let mut app = app_fed(rec, "tiny", None);
    let b = render(&app, 100, 30);
    let s = screen(&b);
    let (step, _) =
        rec.events.iter().find_map(|e| if let Event::Sample { step, text, .. } = e { Some((*step, text.clone())) } else { None }).unwrap();
    assert!(s.contains(&format!("@{step} Once upon a time")), "{s}");
    let (x, y) = find(&b, &format!("@{step}")).unwrap();
    assert_eq!(b[(x, y)].fg, Color::Yellow);
    // the log: saves in green, evals
    assert!(s.contains("Log (") && s.contains("finished:"), "{s}");
    let tall = render(&app, 120, 60);
    let (x, y) = find(&tall, "✔ saved").unwrap_or_else(|| panic!("a checkpoint save in the log:\n{}", screen(&tall)));
    let b = tall;
    assert_eq!(b[(x, y)].fg, Color::Green);
    let n = app.log.lines.len();
    assert!(n > 5);
    // Tab to the log, scroll back and forth
    for _ in 0..3 {
        app.on_key(code(KeyCode::Tab));
    }
    assert_eq!(app.dashboard.focus, Pane::Log);
    assert!(has(&render(&app, 100, 30), "▸ Log"));
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.log.scroll, 1);
    assert!(has(&render(&app, 100, 30), "1 newer below"));
    app.on_key(key('k'));
    app.on_key(key('j'));
    assert_eq!(app.log.scroll, 1);
    app.on_key(code(KeyCode::PageUp));
    assert_eq!(app.log.scroll, 11.min(n - 1));
    app.on_key(code(KeyCode::Home));
    assert_eq!(app.log.scroll, n - 1);
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains(&app.log.lines[0].text[..20.min(app.log.lines[0].text.len())]), "the oldest line is reachable:\n{s}");
    app.on_key(code(KeyCode::PageDown));
    app.on_key(code(KeyCode::End));
    assert_eq!(app.log.scroll, 0);
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.log.scroll, 0);
    // samples pane scroll
    app.on_key(code(KeyCode::BackTab));
    assert_eq!(app.dashboard.focus, Pane::Samples);
    let ns = app.run.as_ref().unwrap().samples.len();
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.dashboard.samples_scroll, 1.min(ns - 1));
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.dashboard.samples_scroll, 0);
}

#[test]
fn trainer_errors_show_in_the_header_and_the_log() {
    // a real failure: a corpus too small for one validation window
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("small.txt");
    let stories: Vec<String> = (0..12).map(|i| format!("Tom had {i} red balls.")).collect();
    std::fs::write(&corpus, stories.join("\n<|endoftext|>\n")).unwrap();
    let mut cfg = run_config(tiny_preset(&[]), &dir.path().join("runs"));
    cfg.corpus = Some(corpus);
    let events = collect(start(cfg));
    assert!(!errors(&events).is_empty(), "this corpus must fail: {events:?}");
    let (mut app, _) = app_running("tiny");
    for ev in events {
        app.on_event(ev);
    }
    app.on_engine_gone();
    let b = render(&app, 100, 30);
    let s = screen(&b);
    assert!(s.lines().nth(1).unwrap().contains(" error "), "{s}");
    let (x, y) = find(&b, "✗ ").expect("the error in the header");
    assert_eq!(b[(x, y)].fg, Color::Red);
    assert!(app.log.lines.iter().any(|l| l.level == Level::Error), "the error is in the log");
    assert!(!app.run_active(), "a failed run is over: q leaves without asking");
    assert!(matches!(app.on_key(key('q')), Action::Quit));

    // a trainer thread that ends without a Finished event (e.g. it crashed) is reported too
    let (mut app, _) = app_running("tiny");
    app.on_event(Event::Error("trainer thread crashed: index out of bounds".into()));
    app.on_engine_gone();
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains("trainer thread crashed"), "{s}");
}

// ---------------------------------------------------------------- sampling

/// Runs the trainer for real and samples from its live weights through the app.
#[test]
fn sampling_pane_streams_from_training_weights_and_q_d_stops() {
    let root = tempfile::tempdir().unwrap();
    let mut app = new_app(root.path());
    select(&mut app, "tiny");
    let Action::Start(mut cfg) = app.on_key(code(KeyCode::Enter)) else { panic!("start") };
    cfg.budget = Some(flashlm_tui::preset::Budget::Steps(1_000_000));
    // what the event loop does as it starts the run
    cfg.precision = flashlm_tui::auto_precision::for_run(cfg.precision, cfg.threads, None).0;
    let mut h = start(*cfg);
    let pump = |app: &mut App, h: &flashlm_tui::engine::EngineHandle, until: &dyn Fn(&App) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !until(app) && Instant::now() < deadline {
            match h.events.recv_timeout(Duration::from_millis(50)) {
                Ok(ev) => {
                    if matches!(ev, Event::MemoryUpdated { .. }) {
                        if let Some(m) = h.memory.take() {
                            app.on_memory(m);
                        }
                    }
                    app.on_event(ev)
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => app.on_engine_gone(),
                Err(_) => {}
            }
        }
        assert!(until(app), "timed out");
    };
    pump(&mut app, &h, &|a| a.run.as_ref().unwrap().last.as_ref().is_some_and(|m| m.step >= 5));
    assert!(matches!(app.on_key(key('4')), Action::None));
    assert_eq!(app.screen, Screen::Sampling);
    assert_eq!(app.sampling.focus, SampleFocus::Prompt);
    assert!(has(&render(&app, 80, 24), "training run's current weights"));
    app.on_key(ctrl('u'));
    typed(&mut app, "The dog");
    let a = app.on_key(code(KeyCode::Enter));
    let Action::Engine(Command::Sample { id, prompt, params }) = a else { panic!("{a:?}") };
    assert_eq!(prompt, "The dog");
    assert_eq!(params, app.sampling.params);
    h.commands.send(Command::Sample { id, prompt, params }).unwrap();
    pump(&mut app, &h, &|a| !a.sampling.running);
    let b = render(&app, 80, 24);
    let s = screen(&b);
    assert!(app.sampling.tokens > 0 && !app.sampling.output.is_empty(), "tokens streamed");
    assert!(s.contains("The dog") && s.contains("tokens in") && s.contains("training weights at step"), "{s}");
    let start_of_output = app.sampling.output.trim_start().chars().take(5).collect::<String>();
    assert!(s.contains(start_of_output.trim()), "the generated text is shown:\n{s}");
    // training went on while sampling
    let step_then = app.run.as_ref().unwrap().last.as_ref().unwrap().step;
    pump(&mut app, &h, &|a| a.run.as_ref().unwrap().last.as_ref().unwrap().step > step_then + 5);
    // q d: stop without saving
    app.on_key(code(KeyCode::Esc));
    assert!(matches!(app.on_key(key('q')), Action::None));
    assert_eq!(app.overlay, Overlay::Confirm);
    let a = app.on_key(key('d'));
    assert!(matches!(a, Action::Engine(Command::Stop { save: false })), "{a:?}");
    h.commands.send(Command::Stop { save: false }).unwrap();
    pump(&mut app, &h, &|a| a.should_quit);
    h.thread.take().unwrap().join().unwrap();
    let dir = app.run.as_ref().unwrap().run_dir.clone().unwrap();
    assert!(!dir.join("last").exists(), "q d saves nothing");
}

#[test]
fn sampling_from_a_checkpoint_without_training() {
    let rec = memory_run();
    let best = rec.run_dir.join("best");
    let params = flashlm_tui::generate::SampleParams { max_tokens: 30, ..Default::default() };
    let mut app = App::sample_only(model_source(best.clone()), format!("checkpoint {}", best.display()), "Once upon a time", params);
    let b = render(&app, 80, 24);
    assert!(has(&b, "Sampling") && !has(&b, "1 Presets"), "only the sampling pane:\n{}", screen(&b));
    assert!(has(&b, "> Once upon a time"));
    let a = app.on_key(code(KeyCode::Enter));
    let Action::SampleFrom { source, id, prompt, params } = a else { panic!("{a:?}") };
    assert_eq!(source.checkpoint.as_deref(), Some(best.as_path()));
    let (tx, rx) = crossbeam_channel::unbounded();
    let sampler = flashlm_tui::tui::CheckpointSampler::new(2);
    sampler.start(source, id, prompt, params, tx);
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.sampling.running && Instant::now() < deadline {
        if let Ok(ev) = rx.recv_timeout(Duration::from_millis(100)) {
            app.on_event(ev);
        }
    }
    assert!(!app.sampling.running);
    assert!(app.sampling.tokens > 0 && app.sampling.tokens <= 30);
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("Once upon a time") && s.contains("tokens in") && s.contains("checkpoint"), "{s}");
    // number keys are not screens here; q leaves
    assert!(matches!(app.on_key(code(KeyCode::Esc)), Action::None));
    assert!(matches!(app.on_key(key('2')), Action::None));
    assert_eq!(app.screen, Screen::Sampling);
    assert!(matches!(app.on_key(key('q')), Action::Quit));
}

#[test]
fn prompt_keys_are_text_until_esc_and_ctrl_c_always_works() {
    let mut app = new_app(runs_root());
    app.on_key(key('4'));
    assert_eq!(app.sampling.focus, SampleFocus::Prompt);
    app.on_key(ctrl('u'));
    assert_eq!(app.sampling.prompt.text(), "");
    typed(&mut app, "q?1p s4eax");
    assert_eq!(app.sampling.prompt.text(), "q?1p s4eax", "every printable key is text in the prompt");
    assert_eq!(app.screen, Screen::Sampling);
    assert_eq!(app.overlay, Overlay::None);
    app.on_key(code(KeyCode::Home));
    assert_eq!(app.sampling.prompt.cursor, 0);
    app.on_key(code(KeyCode::Delete));
    assert_eq!(app.sampling.prompt.text(), "?1p s4eax");
    app.on_key(code(KeyCode::End));
    app.on_key(code(KeyCode::Backspace));
    assert_eq!(app.sampling.prompt.text(), "?1p s4ea");
    app.on_key(code(KeyCode::Left));
    app.on_key(code(KeyCode::Left));
    app.on_key(key('Z'));
    assert_eq!(app.sampling.prompt.text(), "?1p s4Zea");
    app.on_key(code(KeyCode::Right));
    assert_eq!(app.sampling.prompt.cursor, 8);
    app.on_key(ctrl('a'));
    assert_eq!(app.sampling.prompt.cursor, 0);
    app.on_key(ctrl('e'));
    assert_eq!(app.sampling.prompt.cursor, 9);
    let b = render(&app, 80, 24);
    let (x, y) = find(&b, "> ?1p s4Zea").expect("the prompt line");
    let cur = (x + 2 + 9, y);
    assert!(b[cur].modifier.contains(ratatui::style::Modifier::REVERSED), "a visible cursor after the text");
    // history: Enter with nothing to sample from keeps the text, says why
    app.on_key(ctrl('u'));
    typed(&mut app, "first");
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::None));
    assert!(app.status.as_deref().unwrap_or("").contains("nothing to sample from"));
    app.sampling.source = Some(model_source(PathBuf::from("somewhere")));
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::SampleFrom { .. }));
    app.on_key(ctrl('u'));
    typed(&mut app, "second");
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::SampleFrom { .. }));
    app.on_key(ctrl('u'));
    typed(&mut app, "draft");
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.sampling.prompt.text(), "second");
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.sampling.prompt.text(), "first");
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.sampling.prompt.text(), "first");
    assert!(has(&render(&app, 80, 24), "history 1/2"));
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.sampling.prompt.text(), "second");
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.sampling.prompt.text(), "draft", "back to the line being typed");
    app.on_paste("pasted\ntext");
    assert_eq!(app.sampling.prompt.text(), "draftpasted text");
    // Esc leaves the prompt: keys are commands again
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.sampling.focus, SampleFocus::Params);
    app.on_key(key('i'));
    assert_eq!(app.sampling.focus, SampleFocus::Prompt);
    app.on_key(code(KeyCode::Esc));
    app.on_key(key('/'));
    assert_eq!(app.sampling.focus, SampleFocus::Prompt);
    // Ctrl-C quits even while typing
    assert!(matches!(app.on_key(ctrl('c')), Action::Quit));
    assert!(app.should_quit);
}

#[test]
fn sampling_parameters_change_in_place() {
    let mut app = new_app(runs_root());
    app.on_key(key('4'));
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.sampling.focus, SampleFocus::Params);
    let p0 = app.sampling.params.clone();
    app.on_key(code(KeyCode::Up));
    assert!((app.sampling.params.temperature - (p0.temperature + 0.05)).abs() < 1e-6);
    assert!(has(&render(&app, 80, 24), "◀0.85▶"), "{}", screen(&render(&app, 80, 24)));
    app.on_key(code(KeyCode::Down));
    app.on_key(key('-'));
    assert!((app.sampling.params.temperature - (p0.temperature - 0.05)).abs() < 1e-6);
    app.on_key(code(KeyCode::Right));
    app.on_key(key('+'));
    assert_eq!(app.sampling.params.top_k, p0.top_k + 5);
    app.on_key(code(KeyCode::Right));
    for _ in 0..5 {
        app.on_key(code(KeyCode::Up));
    }
    assert_eq!(app.sampling.params.top_p, 1.0, "top-p is clamped to 1");
    app.on_key(code(KeyCode::Down));
    assert!((app.sampling.params.top_p - 0.95).abs() < 1e-6);
    app.on_key(code(KeyCode::Right));
    app.on_key(code(KeyCode::Up));
    assert!((app.sampling.params.repetition_penalty - 1.05).abs() < 1e-6);
    app.on_key(code(KeyCode::Right));
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.sampling.params.max_tokens, p0.max_tokens - 10);
    app.on_key(code(KeyCode::Right));
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.sampling.params.seed, p0.seed + 1);
    assert!(has(&render(&app, 80, 24), "seed"));
    app.on_key(code(KeyCode::Right));
    assert_eq!(app.sampling.param_sel, 0, "wraps around");
    app.on_key(code(KeyCode::Left));
    assert_eq!(app.sampling.param_sel, 5);
    // Enter from the parameters generates with them
    app.sampling.source = Some(model_source(PathBuf::from("x")));
    let Action::SampleFrom { params, .. } = app.on_key(code(KeyCode::Enter)) else { panic!() };
    assert_eq!(params, app.sampling.params);
    // Tab cycles prompt → params → output → prompt; the output scrolls
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.sampling.focus, SampleFocus::Output);
    app.on_key(code(KeyCode::Down));
    app.on_key(code(KeyCode::PageDown));
    assert_eq!(app.sampling.scroll, 11);
    app.on_key(code(KeyCode::Up));
    app.on_key(code(KeyCode::PageUp));
    assert_eq!(app.sampling.scroll, 0);
    app.on_key(code(KeyCode::BackTab));
    assert_eq!(app.sampling.focus, SampleFocus::Params);
    app.on_key(code(KeyCode::Tab));
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.sampling.focus, SampleFocus::Prompt);
}

// -------------------------------------------------------------------- runs

#[test]
fn runs_screen_compares_past_runs_and_prints_markdown() {
    let (a, b) = (memory_run(), conv_run());
    let runs = flashlm_tui::runs::scan(runs_root());
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    for rec in [a, b] {
        let n = rec.run_dir.file_name().unwrap().to_string_lossy().to_string();
        assert!(names.contains(&n.as_str()), "{n} in {names:?}");
    }
    let r = runs.iter().find(|r| r.dir == a.run_dir).unwrap();
    let fin = a.events.iter().find_map(|e| if let Event::Finished(s) = e { Some(s.clone()) } else { None }).unwrap();
    assert_eq!((r.preset.as_str(), r.steps, r.tokens), ("tiny", 60, 7680));
    assert!((r.best().unwrap().loss - fin.best_val_loss.unwrap()).abs() < 1e-9);
    assert!(r.mean_tok_per_sec.unwrap() > 0.0 && r.finished);
    assert_eq!(runs.iter().find(|r| r.dir == b.run_dir).unwrap().preset, "tiny-conv");

    let mut app = new_app(runs_root());
    assert!(matches!(app.on_key(key('3')), Action::ScanRuns));
    assert_eq!(app.screen, Screen::Runs);
    app.set_runs(runs.clone());
    let buf = render(&app, 100, 30);
    let s = screen(&buf);
    for want in ["Runs under", "best PPL", "final PPL", "mean tok/s", "validation (bold) loss by tokens", "▶ tiny"] {
        assert!(s.contains(want), "{want:?}:\n{s}");
    }
    let wide = screen(&render(&app, 220, 40));
    for c in flashlm_tui::runs::COLUMNS {
        assert!(wide.contains(c), "column {c} on a wide terminal:\n{wide}");
    }
    app.on_key(key('x'));
    assert!(has(&render(&app, 100, 30), "validation (bold) loss by wall time"));
    app.on_key(key('x'));
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.runs.selected, 1.min(runs.len() - 1));
    app.on_key(key('k'));
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.runs.selected, 0);
    assert!(matches!(app.on_key(key('u')), Action::ScanRuns));
    // Enter: sample from that run's best checkpoint
    app.runs.selected = runs.iter().position(|r| r.dir == a.run_dir).unwrap();
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::None));
    assert_eq!(app.screen, Screen::Sampling);
    assert_eq!(app.sampling.source.as_ref().unwrap().checkpoint.as_deref(), Some(a.run_dir.join("best").as_path()));
    // r: resume it
    app.on_key(code(KeyCode::Esc));
    app.on_key(key('3'));
    match app.on_key(key('r')) {
        Action::Start(cfg) => assert_eq!(cfg.resume.as_deref(), Some(a.run_dir.join("last").as_path())),
        other => panic!("{other:?}"),
    }

    // the Markdown table, from the library and from the binary
    let md = flashlm_tui::runs::markdown_table(&runs);
    let lines: Vec<&str> = md.lines().collect();
    assert!(lines[0].starts_with("| run | preset | steps | tokens | wall time | best val loss | best PPL"), "{md}");
    assert!(lines[1].starts_with("|---|---|---:|"), "{md}");
    assert_eq!(lines.len(), 2 + runs.len());
    assert!(md.contains("| tiny | 60 | 7,680 |"), "{md}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui")).args(["runs", "--dir"]).arg(runs_root()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    let rescanned = flashlm_tui::runs::markdown_table(&flashlm_tui::runs::scan(runs_root()));
    assert_eq!(printed, rescanned);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui")).args(["runs", "--dir", "/no/such/runs"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no such folder"));
    assert_eq!(flashlm_tui::runs::preset_of_dir_name("v7.2-cortex-vi-20260101-120000-2"), "v7.2-cortex-vi");
    assert_eq!(flashlm_tui::runs::preset_of_dir_name("odd-name"), "odd-name");
}

// ------------------------------------------------------- help and controls

#[test]
fn help_overlay_lists_every_key() {
    let mut app = new_app(runs_root());
    assert!(matches!(app.on_key(key('?')), Action::None));
    assert_eq!(app.overlay, Overlay::Help { scroll: 0 });
    let b = render(&app, 160, 50);
    let s = screen(&b);
    for (section, keys) in KEYMAP {
        assert!(s.contains(section), "section {section}:\n{s}");
        for (k, d) in keys.iter() {
            let line = s.lines().find(|l| l.contains(d)).unwrap_or_else(|| panic!("{d:?} missing:\n{s}"));
            assert!(line.contains(k), "{k:?} next to {d:?}: {line}");
        }
    }
    // every binding the app handles has an entry
    let all: Vec<&str> = KEYMAP.iter().flat_map(|(_, ks)| ks.iter().flat_map(|(k, _)| k.split_whitespace())).collect();
    for k in [
        "?", "1", "4", "q", "Ctrl-C", "Tab", "Enter", "r", "c", "e", "p", "s", "l", "x", "w", "a", "d", "Esc", "u", "i", "/", "←", "→",
        "↑", "↓", "PgUp", "PgDn", "Home", "End", "+", "-",
    ] {
        assert!(all.contains(&k), "{k} in the help");
    }
    // at 80×24 it scrolls to the last section
    let top = screen(&render(&app, 80, 24));
    for _ in 0..60 {
        app.on_key(code(KeyCode::Down));
    }
    let bottom = screen(&render(&app, 80, 24));
    assert_ne!(top, bottom);
    assert!(bottom.contains("rescan the runs folder"), "{bottom}");
    app.on_key(code(KeyCode::Home));
    assert_eq!(app.overlay, Overlay::Help { scroll: 0 });
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    app.on_key(key('?'));
    app.on_key(key('?'));
    assert_eq!(app.overlay, Overlay::None, "? toggles");
}

/// An app with a run that has started and stepped but not finished.
pub(super) fn app_mid_run() -> App {
    let rec = memory_run();
    let cut = rec.events.iter().position(|e| matches!(e, Event::Step(m) if m.step == 10)).unwrap() + 1;
    app_fed(rec, "tiny", Some(cut))
}

#[test]
fn quit_asks_and_q_s_stops_saves_and_leaves() {
    let mut app = app_mid_run();
    assert!(app.run_active());
    // q asks; c and Esc cancel
    assert!(matches!(app.on_key(key('q')), Action::None));
    assert_eq!(app.overlay, Overlay::Confirm);
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("Quit?") && s.contains("stop and save") && s.contains("stop without saving") && s.contains("cancel"), "{s}");
    assert!(matches!(app.on_key(key('x')), Action::None), "other keys do nothing");
    assert_eq!(app.overlay, Overlay::Confirm);
    app.on_key(key('c'));
    assert_eq!(app.overlay, Overlay::None);
    app.on_key(key('q'));
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.quitting.is_none());
    // q s: stop with save; the final evaluation is waited for, however long
    // (its progress on the status line, Ctrl-C skips it); Finished ends the UI
    app.on_key(key('q'));
    assert!(matches!(app.on_key(key('s')), Action::Engine(Command::Stop { save: true })));
    assert!(has(&render(&app, 80, 24), "stopping (saving)"));
    let t0 = app.quitting.as_ref().unwrap().since;
    for secs in [1, 3, 30, 600] {
        assert!(matches!(app.on_tick(t0 + Duration::from_secs(secs)), Action::None), "no automatic skip or give-up after {secs} s");
    }
    assert!(!app.quitting.as_ref().unwrap().escalated && !app.should_quit);
    app.on_event(Event::Status { state: RunState::Evaluating, detail: "final evaluation: validation 3/32 batches".into() });
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("stopping: final evaluation: validation 3/32 batches · Ctrl-C skips it"), "{s}");
    assert!(matches!(app.on_key(key('q')), Action::None), "q while stopping does not ask again");
    assert!(!app.should_quit);
    let rec = memory_run();
    let finished = rec.events.iter().find(|e| matches!(e, Event::Finished(_))).unwrap().clone();
    app.on_event(finished);
    assert!(app.should_quit, "Finished after q s leaves");
    assert_eq!(app.exit_signal, None, "q s is a normal stop: exit status 0");
    // a run stopped before its first step leaves promptly (nothing to save)
    let (mut app, _) = app_running("tiny");
    app.on_key(key('q'));
    assert!(matches!(app.on_key(key('s')), Action::Engine(Command::Stop { save: true })));
    let t0 = app.quitting.as_ref().unwrap().since;
    assert!(matches!(app.on_tick(t0 + LEAVE_UNSTARTED_AFTER), Action::Quit));
    // the engine thread ending while stopping also leaves
    let mut app = app_mid_run();
    app.on_key(key('q'));
    app.on_key(key('d'));
    app.on_engine_gone();
    assert!(app.should_quit);
}

#[test]
fn ctrl_c_stops_and_saves_then_hurries_then_quits() {
    let mut app = app_mid_run();
    assert!(matches!(app.on_key(ctrl('c')), Action::Engine(Command::Stop { save: true })));
    assert!(app.quitting.as_ref().is_some_and(|q| q.save && !q.escalated));
    assert!(matches!(app.on_key(ctrl('c')), Action::Engine(Command::Stop { save: true })));
    assert!(app.quitting.as_ref().unwrap().escalated);
    assert!(matches!(app.on_key(ctrl('c')), Action::Quit));
    assert!(app.should_quit);
    assert_eq!(app.exit_signal, Some(SIGINT), "a run ended by Ctrl-C exits with 130");
    // SIGTERM and SIGHUP stop and save as Ctrl-C does, and set the exit status
    let mut app = app_mid_run();
    assert!(matches!(app.on_signal(15), Action::Engine(Command::Stop { save: true })));
    assert!(app.quitting.as_ref().is_some_and(|q| q.save && !q.escalated));
    assert!(matches!(app.on_signal(1), Action::Engine(Command::Stop { save: true })), "a second signal skips the final evaluation");
    assert_eq!(app.exit_signal, Some(15), "the first signal names the exit status");
    // Ctrl-C inside the quit dialog and in overlays works the same
    let mut app = app_mid_run();
    app.on_key(key('?'));
    assert!(matches!(app.on_key(ctrl('c')), Action::Engine(Command::Stop { save: true })));
    assert_eq!(app.overlay, Overlay::None);
    // with nothing training it just quits (status 0); a signal still sets the status
    let mut app = new_app(runs_root());
    assert!(matches!(app.on_key(KeyEvent::new(KeyCode::Char('C'), KeyModifiers::CONTROL | KeyModifiers::SHIFT)), Action::Quit));
    assert_eq!(app.exit_signal, None);
    let mut app = new_app(runs_root());
    assert!(matches!(app.on_signal(1), Action::Quit));
    assert_eq!(app.exit_signal, Some(1));
    let mut app = new_app(runs_root());
    assert!(matches!(app.on_key(key('q')), Action::Quit));
}

#[test]
fn pause_save_focus_and_screen_keys() {
    let mut app = app_mid_run();
    assert!(matches!(app.on_key(key('p')), Action::Engine(Command::Pause)));
    app.on_event(Event::Status { state: RunState::Paused, detail: "paused".into() });
    assert!(has(&render(&app, 80, 24), " paused "));
    assert!(matches!(app.on_key(key('p')), Action::Engine(Command::Resume)));
    assert!(matches!(app.on_key(key('s')), Action::Engine(Command::SaveNow)));
    assert!(app.status.as_deref().unwrap_or("").contains("saving"));
    // Tab focus cycle on the dashboard, shown by the ▸ title
    assert_eq!(app.dashboard.focus, Pane::Chart);
    for want in [Pane::Heatmap, Pane::Samples, Pane::Log, Pane::Chart] {
        app.on_key(code(KeyCode::Tab));
        assert_eq!(app.dashboard.focus, want);
    }
    app.on_key(code(KeyCode::BackTab));
    assert_eq!(app.dashboard.focus, Pane::Log);
    assert!(has(&render(&app, 80, 24), "▸ Log"));
    // screens
    assert!(matches!(app.on_key(key('1')), Action::None));
    assert_eq!(app.screen, Screen::Picker);
    app.on_key(key('2'));
    assert_eq!(app.screen, Screen::Dashboard);
    assert!(matches!(app.on_key(key('3')), Action::ScanRuns));
    assert_eq!(app.screen, Screen::Runs);
    app.on_key(key('4'));
    assert_eq!(app.screen, Screen::Sampling);
    // before the first step: nothing to save; with no run: 2 says so
    let (mut app, _) = app_running("tiny");
    assert!(matches!(app.on_key(key('s')), Action::None));
    assert!(app.status.as_deref().unwrap_or("").contains("nothing to save"));
    let mut app = new_app(runs_root());
    app.on_key(key('2'));
    assert_eq!(app.screen, Screen::Picker);
    assert!(app.status.as_deref().unwrap_or("").contains("no run yet"));
    // a finished run: p and s say there is nothing training
    let mut app = app_fed(memory_run(), "tiny", None);
    assert!(matches!(app.on_key(key('p')), Action::None));
    assert!(matches!(app.on_key(key('s')), Action::None));
    assert!(app.status.as_deref().unwrap_or("").contains("no run is training"));
}

#[test]
fn too_small_terminals_get_a_message_and_any_size_renders() {
    let mut app = app_fed(memory_run(), "tiny", None);
    for (w, h) in [(79, 24), (80, 23), (40, 10)] {
        let s = screen(&render(&app, w, h));
        assert!(s.contains("terminal too small (need 80×24)"), "{w}×{h}:\n{s}");
    }
    assert!(!screen(&render(&app, 80, 24)).contains("too small"));
    // every screen and overlay at many sizes, including degenerate ones: no panic
    let sizes = [(1, 1), (2, 3), (80, 24), (81, 25), (100, 30), (133, 41), (250, 70), (80, 24)];
    let screens = [Screen::Picker, Screen::Dashboard, Screen::Runs, Screen::Sampling];
    app.set_runs(flashlm_tui::runs::scan(runs_root()));
    for sc in screens {
        app.screen = sc;
        for ov in [Overlay::None, Overlay::Help { scroll: 3 }, Overlay::Confirm, Overlay::Ron { scroll: 0 }] {
            app.overlay = ov;
            for all in [false, true] {
                app.dashboard.all_layers = all;
                for &(w, h) in &sizes {
                    let _ = render(&app, w, h);
                }
            }
        }
    }
    // and the picker's corpus dialog
    app.screen = Screen::Picker;
    app.overlay = Overlay::None;
    app.on_key(key('c'));
    for &(w, h) in &sizes {
        let _ = render(&app, w, h);
    }
}

#[test]
fn without_a_terminal_train_runs_headless_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    isolated_cache();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui"))
        .env("FLASHLM_CACHE", std::env::var("FLASHLM_CACHE").unwrap())
        .args(["train", "--preset", "tiny", "--steps", "12", "--threads", "2", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("not a terminal") && err.contains("headless"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("finished: 12 steps"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui"))
        .args(["sample", "--interactive", "--checkpoint"])
        .arg(memory_run().run_dir.join("best"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
}
