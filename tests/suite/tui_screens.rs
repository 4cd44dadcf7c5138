//! The terminal UI's screens beyond the basics in tui.rs: the picker's run
//! setup form, the readable heatmap, the dashboard's small charts, the runs
//! comparison, and the small bugs found by hand, each drawn on ratatui's
//! TestBackend.

use super::tui::{
    app_fed, app_mid_run, app_running, code, ctrl, find, has, key, memory_run, new_app, render, row, runs_root, screen, select, typed,
};
use crossterm::event::KeyCode;
use flashlm_tui::engine::{Event, MemorySnapshot};
use flashlm_tui::preset::Budget;
use flashlm_tui::tui::app::*;
use flashlm_tui::tui::ui::heatmap::{brightness, diverging, num, Scale};
use ndarray::Array2;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ------------------------------------------------------------ run setup form

fn start_cfg(a: Action) -> flashlm_tui::train::RunConfig {
    match a {
        Action::Start(cfg) => *cfg,
        other => panic!("expected a start: {other:?}"),
    }
}

/// A folder holding a training and a validation text.
fn text_pair() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("train.txt"), "Tom ran.\n\nSue sat.\n").unwrap();
    std::fs::write(d.path().join("valid.txt"), "Ann hid.\n").unwrap();
    d
}

#[test]
fn run_setup_form_values_reach_the_run_config() {
    let texts = text_pair();
    let mut app = new_app(runs_root());
    select(&mut app, "tiny");
    // f opens the form; what is typed there is text, not commands
    app.on_key(key('f'));
    assert!(app.picker.form.open);
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains("Run setup") && s.contains("budget") && s.contains("validation text") && s.contains("preset: 60 steps"), "{s}");
    typed(&mut app, "120 steps");
    assert_eq!(app.screen, Screen::Picker, "digits are budget text, not screens");
    app.on_key(code(KeyCode::Down));
    typed(&mut app, "12");
    app.on_key(code(KeyCode::Tab));
    typed(&mut app, "30");
    // the training text: Enter opens the chooser; a folder with train.txt and valid.txt
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.picker.form.current(), FormField::Train);
    app.on_key(code(KeyCode::Enter));
    assert!(matches!(app.overlay, Overlay::Corpus(_)));
    app.on_key(key('j'));
    app.on_key(key('j'));
    app.on_key(code(KeyCode::Enter));
    app.on_paste(&texts.path().display().to_string());
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.picker.form.open, "back in the form");
    // the folder says which files it stands for
    let s = screen(&render(&app, 120, 35));
    assert!(s.contains("folder: trains on train.txt, validates on valid.txt"), "{s}");
    // Enter in the form starts with its values
    let cfg = start_cfg(app.on_key(code(KeyCode::Enter)));
    assert_eq!(cfg.budget, Some(Budget::Steps(120)));
    assert_eq!(cfg.overrides.warmup, Some(12));
    assert_eq!(cfg.overrides.eval_every, Some(30));
    assert_eq!(cfg.corpus.as_deref(), Some(texts.path().join("train.txt").as_path()));
    assert_eq!(cfg.valid.as_deref(), Some(texts.path().join("valid.txt").as_path()));
    // the dashboard shows the interval the run uses
    assert_eq!(app.run.as_ref().unwrap().eval_every, 30);
    assert!(app.log.lines.iter().any(|l| l.text.contains("validates on valid.txt")), "the log says which files");

    // Tab opens it too; Esc closes it and Enter on the list starts with the same values
    let mut app = new_app(runs_root());
    select(&mut app, "tiny");
    app.on_key(code(KeyCode::Tab));
    assert!(app.picker.form.open);
    typed(&mut app, "10 min");
    for _ in 0..4 {
        app.on_key(code(KeyCode::Down));
    }
    assert_eq!(app.picker.form.current(), FormField::Valid);
    app.on_paste(&texts.path().join("valid.txt").display().to_string());
    app.on_key(code(KeyCode::Esc));
    assert!(!app.picker.form.open);
    let b = render(&app, 100, 30);
    assert!(has(&b, "budget 10 min") && has(&b, "valid.txt"), "the details show the form's values:\n{}", screen(&b));
    let cfg = start_cfg(app.on_key(code(KeyCode::Enter)));
    assert_eq!(cfg.budget, Some(Budget::Minutes(10.0)));
    assert_eq!(cfg.valid.as_deref(), Some(texts.path().join("valid.txt").as_path()));
    assert_eq!(cfg.corpus, None, "built-in training text");
    assert_eq!((cfg.overrides.warmup, cfg.overrides.eval_every), (None, None), "blank fields keep the preset's");

    // a bad value does not start: the form opens on it and says why
    let mut app = new_app(runs_root());
    select(&mut app, "tiny");
    app.on_key(key('f'));
    typed(&mut app, "lots");
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::None));
    assert!(has(&render(&app, 100, 30), "expected e.g. 2000 steps"), "{}", screen(&render(&app, 100, 30)));
    assert!(app.run.is_none());
}

#[test]
fn budgets_parse_in_steps_minutes_and_tokens() {
    assert_eq!(parse_budget("").unwrap(), None);
    assert_eq!(parse_budget("2000").unwrap(), Some(Budget::Steps(2000)));
    assert_eq!(parse_budget("2,000 steps").unwrap(), Some(Budget::Steps(2000)));
    assert_eq!(parse_budget("10 min").unwrap(), Some(Budget::Minutes(10.0)));
    assert_eq!(parse_budget("1.5 h").unwrap(), Some(Budget::Minutes(90.0)));
    assert_eq!(parse_budget("5M tokens").unwrap(), Some(Budget::Tokens(5_000_000)));
    assert_eq!(parse_budget("500k tokens").unwrap(), Some(Budget::Tokens(500_000)));
    for bad in ["ten", "0", "-5", "1.5 steps", "3 parsecs"] {
        assert!(parse_budget(bad).is_err(), "{bad}");
    }
}

#[test]
fn folders_say_which_files_they_train_on() {
    let pair = text_pair();
    let r = resolve_corpus(&Corpus::File(pair.path().to_path_buf()));
    assert_eq!(r.train.as_deref(), Some(pair.path().join("train.txt").as_path()));
    assert_eq!(r.valid.as_deref(), Some(pair.path().join("valid.txt").as_path()));
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("b.txt"), "x\n").unwrap();
    std::fs::write(other.path().join("a.txt"), "y\n").unwrap();
    let r = resolve_corpus(&Corpus::File(other.path().to_path_buf()));
    assert_eq!((r.train.as_deref(), r.valid.as_deref()), (Some(other.path()), None));
    assert!(r.note.contains("all 2 .txt files (a.txt, b.txt)") && r.note.contains("held out"), "{}", r.note);
    let ts = Corpus::TinyStories { train: PathBuf::from("ts/train.txt"), valid: PathBuf::from("ts/valid.txt") };
    assert_eq!(resolve_corpus(&ts).valid, Some(PathBuf::from("ts/valid.txt")), "the TinyStories pair is one choice");
}

#[test]
fn tab_completes_paths_without_appending_to_a_full_one() {
    let d = text_pair();
    std::fs::create_dir(d.path().join("subdir")).unwrap();
    let base = format!("{}/", d.path().display());
    assert_eq!(complete_path(&format!("{base}va")).0, format!("{base}valid.txt"));
    assert_eq!(complete_path(&format!("{base}su")).0, format!("{base}subdir/"));
    let full = format!("{base}valid.txt");
    assert_eq!(complete_path(&full), (full.clone(), Vec::new()), "a complete name stays as it is");
    let (same, names) = complete_path(&base);
    assert_eq!(same, base);
    assert_eq!(names, vec!["subdir/", "train.txt", "valid.txt"]);
    assert_eq!(complete_path(&format!("{base}nothing-like-this")).0, format!("{base}nothing-like-this"));
    // in the form: a pre-filled validation path and Tab
    let mut app = new_app(runs_root());
    select(&mut app, "tiny");
    app.on_key(key('f'));
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.picker.form.current(), FormField::Valid);
    app.on_paste(&full);
    app.on_key(code(KeyCode::Tab));
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.picker.form.valid.text(), full);
    app.on_key(ctrl('u'));
    typed(&mut app, &format!("{base}t"));
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.picker.form.valid.text(), format!("{base}train.txt"));
}

// ------------------------------------------------------------------ heatmap

/// Share of the heatmap's half-cells (each ▀ cell's two colours) darker than 64.
fn dark_share(b: &Buffer) -> (f64, usize) {
    let (mut dark, mut n) = (0usize, 0usize);
    for y in 0..b.area.height {
        for x in 0..b.area.width {
            let c = &b[(x, y)];
            if c.symbol() != "▀" {
                continue;
            }
            for col in [c.fg, c.bg] {
                if let Some(v) = brightness(col) {
                    n += 1;
                    dark += (v < 64.0) as usize;
                }
            }
        }
    }
    (dark as f64 / n.max(1) as f64, n)
}

/// The Hebbian memories of the full-size v7.2 preset (6 layers of 64×64)
/// after its decoder has read one 256-token window: weights at their
/// initialisation (a first evaluation comes after only a few dozen warm-up
/// steps), tokens drawn from a Zipf law over the vocab as text's are.
fn v72_memory() -> MemorySnapshot {
    let (preset, _) = flashlm_tui::preset::resolve("v7.2-cortex-vi", None).unwrap();
    let model = preset.build_model();
    let params = model.init_params(7);
    let mut rng = flashlm_tui::rng::Rng::new(11);
    let vocab = preset.vocab();
    let mut dec = model.decoder(&params);
    for _ in 0..preset.train.seq_len {
        // Zipf(1): P(rank r) ∝ 1/r, drawn by inverting its integral
        let u = rng.next_f32() as f64;
        let r = ((vocab as f64).powf(u)).floor() as usize;
        dec.step(r.clamp(1, vocab - 1) as u32);
    }
    let d = model.memory_dims().unwrap().rows;
    let layers = dec.memory().iter().map(|l| Array2::from_shape_vec((d, d), l.to_vec()).unwrap()).collect();
    MemorySnapshot { step: 50, layers }
}

/// The colour the heatmap drew before its scale spread the values: linear in
/// |v| / max |v|, for the before/after comparison.
fn linear_colour(t: f32) -> Color {
    let (end, a) = if t < 0.0 { ((40u8, 120u8, 255u8), -t) } else { ((255, 80, 40), t) };
    let mix = |z: u8, e: u8| (z as f32 + (e as f32 - z as f32) * a.min(1.0)).round() as u8;
    Color::Rgb(mix(24, end.0), mix(24, end.1), mix(24, end.2))
}

#[test]
fn heatmap_of_a_v7_2_memory_is_mostly_lit() {
    let mem = v72_memory();
    assert_eq!((mem.layers.len(), mem.layers[0].dim()), (6, (64, 64)));
    // the memory is heavy-tailed: its largest entry dwarfs the typical one
    let mut a: Vec<f32> = mem.layers[0].iter().map(|v| v.abs()).collect();
    a.sort_by(f32::total_cmp);
    let (median, max) = (a[a.len() / 2], a[a.len() - 1]);
    eprintln!("v7.2 memory L1: median |M| {median:.3e}, max {max:.3e} ({:.0}×)", max / median);
    let linear_dark = a.iter().filter(|&&v| brightness(linear_colour(v / max)).unwrap() < 64.0).count() as f64 / a.len() as f64;
    let (mut app, _) = app_running("tiny");
    app.on_memory(mem.clone());
    for (w, h, all) in [(100, 30, false), (120, 35, false), (80, 24, false), (120, 35, true), (200, 60, true)] {
        app.dashboard.all_layers = all;
        let b = render(&app, w, h);
        let (dark, n) = dark_share(&b);
        eprintln!(
            "{w}×{h} all layers {all}: {n} half-cells, {:.1} % below brightness 64 (linear scale: {:.1} %)",
            100.0 * dark,
            100.0 * linear_dark
        );
        assert!(n > 150, "{w}×{h}: {n} half-cells");
        assert!(dark <= 0.5, "{w}×{h} all={all}: {:.1} % of the half-cells are darker than 64", 100.0 * dark);
    }
    assert!(linear_dark > 0.5, "the old linear scale was this dark: {:.1} %", 100.0 * linear_dark);
    // the recorded tiny run's memory (trained 60 steps) too
    let app = app_fed(memory_run(), "tiny", None);
    let (dark, _) = dark_share(&render(&app, 100, 30));
    assert!(dark <= 0.5, "tiny run: {:.1} %", 100.0 * dark);
}

#[test]
fn the_scale_puts_the_median_at_half_colour_and_clips_the_tail() {
    // heavy-tailed values: most small, a few large
    let vals: Vec<f32> = (0..1000).map(|i| if i % 40 == 0 { 50.0 } else { (i % 7) as f32 * 0.1 - 0.3 }).collect();
    let s = Scale::fit(vals.iter().cloned());
    assert!(s.is_log(), "{s:?}");
    assert!((s.t(s.mid) - 0.5).abs() < 1e-4 && (s.t(-s.mid) + 0.5).abs() < 1e-4, "median magnitude at half colour");
    assert!((s.t(s.top) - 1.0).abs() < 1e-5 && s.t(1e9) == 1.0 && s.t(-1e9) == -1.0, "clipped at the 99th percentile");
    assert_eq!(s.t(0.0), 0.0);
    assert!((s.value_at(0.5) - s.mid).abs() < 1e-4 * s.mid.max(1.0));
    // values without a tail get a linear scale
    let flat = Scale::fit((0..100).map(|i| i as f32 / 100.0 - 0.5));
    assert!(!flat.is_log());
    assert_eq!(flat.colour(0.0), diverging(0.0));
    // a half-colour cell is clearly lit, a zero is dark
    for t in [-0.5f32, 0.5] {
        assert!(brightness(diverging(t)).unwrap() >= 70.0, "{t}: {:?}", diverging(t));
    }
    assert!(brightness(diverging(0.0)).unwrap() < 30.0);
}

#[test]
fn heatmap_axes_cursor_and_change_view() {
    let rec = memory_run();
    let mut app = app_fed(rec, "tiny", None);
    let m = rec.memory.clone().unwrap();
    // axis labels at every size
    for (w, h) in [(80, 24), (100, 30), (160, 50)] {
        let s = screen(&render(&app, w, h));
        assert!(s.contains("key") && s.contains("value →") && s.contains("rows key · cols value"), "{w}×{h}:\n{s}");
    }
    // a cursor with the Heatmap focused: arrows move it, the value under it is read out
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.dashboard.focus, Pane::Heatmap);
    for _ in 0..3 {
        app.on_key(code(KeyCode::Down));
    }
    app.on_key(code(KeyCode::Right));
    app.on_key(code(KeyCode::Right));
    assert_eq!(app.dashboard.cursor, (3, 2));
    assert_eq!(app.dashboard.layer, 0, "arrows move the cursor, not the layer, while the heatmap has focus");
    let b = render(&app, 100, 30);
    let want = format!("key 3 × value 2: {}", num(m.layers[0][(3, 2)]));
    assert!(has(&b, &want), "{want:?}:\n{}", screen(&b));
    assert!(has(&b, "▼") && (has(&b, "▶") || has(&b, "▷")), "the cursor's column and row are marked:\n{}", screen(&b));
    app.on_key(key(']'));
    assert_eq!(app.dashboard.layer, 1, "] changes layer");
    assert!(has(&render(&app, 100, 30), &format!("key 3 × value 2: {}", num(m.layers[1][(3, 2)]))));
    // the change since the last snapshot
    let mut next = m.clone();
    next.step = m.step + 10;
    next.layers[1][(3, 2)] += 1.0;
    app.on_memory(next);
    app.on_key(key('c'));
    let b = render(&app, 100, 30);
    let s = screen(&b);
    let change = num(app.run.as_ref().unwrap().heat.as_ref().unwrap().layers[1][(3, 2)] - m.layers[1][(3, 2)]);
    assert!(s.contains(&format!("Δ step {}→{}", m.step, m.step + 10)), "{s}");
    assert!(s.contains(&format!("key 3 × value 2: {change}")), "the cursor reads the change:\n{s}");
    assert!(s.contains(&format!("max {change}")) && s.contains("min 0 "), "the legend spans the change:\n{s}");
    app.on_key(key('c'));
    assert!(!has(&render(&app, 100, 30), "Δ step"));
    // with a single snapshot the change view says there is nothing to compare yet
    let mut app = app_fed(rec, "tiny", None);
    app.on_key(key('c'));
    assert!(has(&render(&app, 120, 35), "no earlier snapshot yet"));
}

#[test]
fn all_layers_of_v7_2_are_readable_at_120_by_35() {
    let (mut app, _) = app_running("tiny");
    app.on_memory(v72_memory());
    app.on_key(key('a'));
    let b = render(&app, 120, 35);
    let s = screen(&b);
    for l in 1..=6 {
        assert!(s.contains(&format!("L{l}")), "tile L{l}:\n{s}");
    }
    assert!(s.contains("all 6 layers") && s.contains("rows key × cols value") && s.contains("min ") && s.contains("max "), "{s}");
    // each tile: at least 16 columns and 16 half-rows of cells
    let half_blocks = (0..b.area.height).flat_map(|y| (0..b.area.width).map(move |x| (x, y))).filter(|&p| b[p].symbol() == "▀").count();
    assert!(half_blocks >= 6 * 16 * 8, "{half_blocks} cells for 6 layers");
}

// ------------------------------------------------------------- dashboard

#[test]
fn lr_and_grad_norm_charts_and_a_validation_line() {
    let rec = memory_run();
    let app = app_fed(rec, "tiny", None);
    let last = rec.events.iter().rev().find_map(|e| if let Event::Step(m) = e { Some(m.clone()) } else { None }).unwrap();
    let b = render(&app, 120, 35);
    let s = screen(&b);
    assert!(s.contains(&format!("LR {:.1e}", last.lr)), "LR chart:\n{s}");
    assert!(s.contains(&format!("grad norm {:.2}", last.grad_norm)), "gradient norm chart:\n{s}");
    let (x, y) = find(&b, "grad norm").unwrap();
    let bars = row(&b, y + 1).chars().skip(x as usize - 2).filter(|c| "▁▂▃▄▅▆▇█".contains(*c)).count();
    assert!(bars > 5, "sparkline bars under the title: {}", row(&b, y + 1));
    // validation: a connected line in its own colour, more cells than evaluations
    let evals = rec.events.iter().filter(|e| matches!(e, Event::Eval(_))).count();
    assert!(evals >= 2, "{evals}");
    let val_cells = (0..b.area.height)
        .flat_map(|y| (0..b.area.width).map(move |x| (x, y)))
        .filter(|&p| {
            b[p].fg == flashlm_tui::tui::ui::dashboard::VAL_COLOUR
                && ('\u{2800}'..='\u{28ff}').contains(&b[p].symbol().chars().next().unwrap_or(' '))
        })
        .count();
    assert!(val_cells > evals, "{val_cells} braille cells of the validation line for {evals} evaluations");
}

// -------------------------------------------------------------------- runs

/// A copy of the recorded run's folder with `extra` appended to its metrics.
fn copied_run(extra: &str, corpus: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let src = &memory_run().run_dir;
    let root = tempfile::tempdir().unwrap();
    let dst = root.path().join(src.file_name().unwrap());
    copy_dir(src, &dst);
    let mut metrics = std::fs::read_to_string(dst.join("metrics.jsonl")).unwrap();
    metrics.push_str(extra);
    std::fs::write(dst.join("metrics.jsonl"), metrics).unwrap();
    if let Some(c) = corpus {
        for ck in ["best", "last"] {
            let p = dst.join(ck).join("state.json");
            if let Ok(t) = std::fs::read_to_string(&p) {
                let mut v: serde_json::Value = serde_json::from_str(&t).unwrap();
                v["corpus"] = c.into();
                std::fs::write(&p, v.to_string()).unwrap();
            }
        }
    }
    (root, dst)
}

fn copy_dir(a: &Path, b: &Path) {
    std::fs::create_dir_all(b).unwrap();
    for e in std::fs::read_dir(a).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &b.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), b.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn runs_show_corpus_budget_precision_and_the_saved_step() {
    let rec = memory_run();
    let r = flashlm_tui::runs::read_run(&rec.run_dir).unwrap();
    assert_eq!(r.corpus.as_deref(), Some("built-in"));
    assert_eq!(r.budget.as_deref(), Some("60 steps"));
    assert_eq!(r.precision.as_deref(), Some("fp32"));
    assert_eq!(r.saved_step, Some(60));
    // a run that trained on after its last save (stopped without saving) says both
    let (_root, dir) =
        copied_run("{\"type\":\"step\",\"step\":75,\"tokens\":9600,\"elapsed_secs\":9.0,\"loss\":4.0,\"tok_per_sec\":1000.0}\n", None);
    let r = flashlm_tui::runs::read_run(&dir).unwrap();
    assert_eq!((r.steps, r.saved_step), (75, Some(60)));
    let cells = flashlm_tui::runs::row_cells(&r);
    assert_eq!(cells[2], "75");
    assert_eq!(cells[15], "60");
    let md = flashlm_tui::runs::markdown_table(&[r]);
    assert!(md.lines().next().unwrap().ends_with("| corpus | budget | precision | saved step |"), "{md}");
    assert!(md.contains("| built-in | 60 steps | fp32 | 60 |"), "{md}");
    // the screen: these columns, and no number cut at any size
    let mut app = new_app(runs_root());
    app.on_key(key('3'));
    let runs = flashlm_tui::runs::scan(runs_root());
    app.set_runs(runs.clone());
    let s = screen(&render(&app, 140, 35));
    for c in ["preset", "corpus", "budget", "precision", "saved step", "built-in", "60 steps", "fp32"] {
        assert!(s.contains(c), "{c:?} at 140×35:\n{s}");
    }
    for (w, h) in [(80, 24), (100, 30), (120, 35), (140, 35)] {
        let b = render(&app, w, h);
        for (i, r) in runs.iter().enumerate() {
            let cells = flashlm_tui::runs::row_cells(r);
            let (_, y) = find(&b, &r.name[..12]).unwrap_or_else(|| panic!("run {i} at {w}×{h}:\n{}", screen(&b)));
            let line = row(&b, y);
            // every number shown on the row is whole: each number-like word is one of the row's cells
            for word in
                line.split_whitespace().map(|w| w.trim_matches('┃')).filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
            {
                assert!(
                    cells.iter().any(|c| c.split_whitespace().any(|p| p == word)) || r.name.contains(word),
                    "{word:?} is cut at {w}×{h}: {line}"
                );
            }
        }
    }
}

#[test]
fn comparison_overlays_train_and_validation_and_flags_other_corpora() {
    let rec = memory_run();
    let (_root, other) = copied_run("", Some("data/tinystories/train.txt"));
    let mut runs = vec![flashlm_tui::runs::read_run(&rec.run_dir).unwrap(), flashlm_tui::runs::read_run(&other).unwrap()];
    runs[1].name = format!("{}-copy", runs[1].name);
    let mut app = new_app(runs_root());
    app.on_key(key('3'));
    app.set_runs(runs.clone());
    // nothing marked: the selected run, train and validation
    let s = screen(&render(&app, 140, 40));
    assert!(
        s.contains("the selected run") && s.contains(&format!("{} train", runs[0].name)) && s.contains(&format!("{} val", runs[0].name)),
        "{s}"
    );
    assert!(!s.contains("different corpora"));
    // Space marks runs; two runs of different corpora are flagged
    app.on_key(key(' '));
    app.on_key(code(KeyCode::Down));
    app.on_key(key(' '));
    assert_eq!(app.runs.compared(), vec![0, 1]);
    let s = screen(&render(&app, 140, 40));
    assert!(s.contains("2 marked runs") && s.contains(&format!("{} val", runs[1].name)), "{s}");
    assert!(s.contains("different corpora (built-in vs tinystories/train.txt): losses not comparable"), "{s}");
    // even on a narrow terminal the warning is shown whole
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("different corpora") && s.contains("comparable"), "{s}");
    app.on_key(key(' '));
    assert_eq!(app.runs.compared(), vec![0]);
}

// --------------------------------------------------------- PyTorch and bf16

#[test]
fn pytorch_figures_name_their_machine() {
    let mut app = new_app(runs_root());
    select(&mut app, "v7.2-cortex-vi");
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains("measured on a 2-core AMD EPYC (Zen 4, AVX-512)"), "{s}");
    // bench: this machine's figure from a flag or a file
    let bench = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui"))
            .args(["bench", "--preset", "tiny", "--steps", "2", "--no-gen", "--threads", "2"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let out = bench(&["--pytorch-tok-s", "1000"]);
    assert!(out.contains("PyTorch on this machine: 1000 tok/s → ratio"), "{out}");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "machine: test box\ntiny 2,000\n").unwrap();
    let out = bench(&["--pytorch-file", f.path().to_str().unwrap()]);
    assert!(out.contains("PyTorch on this machine (test box): 2000 tok/s → ratio"), "{out}");
}

#[test]
fn bf16_where_slower_says_so_with_both_peaks() {
    use flashlm_tui::precision::{bf16_slower, Precision};
    let why = bf16_slower(Some(7201.0), Some(4379.0)).unwrap();
    assert!(why.contains("slower") && why.contains("bf16 4379") && why.contains("fp32 7201"), "{why}");
    assert_eq!(bf16_slower(Some(100.0), Some(200.0)), None);
    assert_eq!(bf16_slower(None, Some(200.0)), None);
    // the picker's details when bf16 was chosen on such a CPU
    let mut app = new_app(runs_root());
    select(&mut app, "tiny");
    app.picker.precision = Precision::Bf16;
    (app.peak_fp32, app.peak_bf16) = (Some(180.0), Some(120.0));
    let s = screen(&render(&app, 160, 40));
    assert!(s.contains("bf16 is slower than fp32 on this CPU") && s.contains("bf16 120") && s.contains("fp32 180"), "{s}");
    app.peak_bf16 = Some(400.0);
    assert!(!screen(&render(&app, 160, 40)).contains("slower"));
}

/// The picker's precision: auto by default, with both measured peaks, their
/// date and what auto picks; `b` cycles auto → fp32 → bf16 (where the CPU has
/// AVX512-BF16) → auto, and says so with the peaks.
#[test]
fn picker_shows_both_peaks_and_what_auto_picks() {
    use flashlm_tui::precision::Precision;
    let has_bf16 = flashlm_tui::kernels::matmul::bf16_supported();
    let mut app = new_app(runs_root());
    select(&mut app, "tiny");
    assert_eq!(app.picker.precision, Precision::Auto);
    let s = screen(&render(&app, 120, 40));
    assert!(s.contains("precision auto → fp32") && !s.contains("GEMM peaks"), "before any peak is measured: {s}");
    (app.peak_fp32, app.peak_bf16) = (Some(226.0), Some(180.0));
    app.peak_dates = (Some("2026-12-01".into()), Some("2026-12-01".into()));
    let s = screen(&render(&app, 120, 40));
    if has_bf16 {
        assert!(s.contains("GEMM peaks fp32 226 · bf16 180 GFLOP/s, measured 2026-12-01; auto: fp32 (bf16 needs ≥ 10 % more)"), "{s}");
    } else {
        assert!(s.contains("GEMM peaks fp32 226 GFLOP/s, measured 2026-12-01; auto: fp32 (no AVX512-BF16)"), "{s}");
    }
    app.on_key(key('b'));
    assert_eq!(app.picker.precision, Precision::Fp32);
    let s = screen(&render(&app, 120, 40));
    assert!(s.contains("precision fp32  (b to change)"), "{s}");
    if has_bf16 {
        assert!(s.contains("train in fp32 (auto would pick fp32)"), "{s}");
        // bf16 clearly faster: auto picks it, and says so on the picker
        app.peak_bf16 = Some(400.0);
        app.on_key(key('b'));
        assert_eq!(app.picker.precision, Precision::Bf16);
        app.on_key(key('b'));
        assert_eq!(app.picker.precision, Precision::Auto);
        let s = screen(&render(&app, 120, 40));
        assert!(s.contains("precision auto → bf16") && s.contains("fp32 226 · bf16 400 GFLOP/s"), "{s}");
        assert!(s.contains("precision auto → bf16 (bf16 GEMM 400 GFLOP/s vs fp32 226 on this CPU)"), "the status line:\n{s}");
    } else {
        app.on_key(key('b'));
        assert_eq!(app.picker.precision, Precision::Auto);
    }
    // the run the picker starts asks for auto; it is resolved as it starts
    let cfg = start_cfg(app.on_key(code(KeyCode::Enter)));
    assert_eq!(cfg.precision, Precision::Auto);
}

/// The dashboard's header names what auto became; bf16 asked for is shown
/// as before, fp32 asked for goes unsaid.
#[test]
fn dashboard_header_says_the_precision_auto_chose() {
    use flashlm_tui::precision::Precision;
    let (mut app, _) = app_running("tiny");
    (app.run_precision, app.run_precision_auto) = (Precision::Fp32, true);
    assert!(screen(&render(&app, 120, 35)).contains(" auto → fp32 "));
    (app.run_precision, app.run_precision_auto) = (Precision::Bf16, true);
    assert!(screen(&render(&app, 120, 35)).contains(" auto → bf16 "));
    (app.run_precision, app.run_precision_auto) = (Precision::Bf16, false);
    let s = screen(&render(&app, 120, 35));
    assert!(s.contains(" bf16 ") && !s.contains("auto →"), "{s}");
    (app.run_precision, app.run_precision_auto) = (Precision::Fp32, false);
    assert!(!screen(&render(&app, 120, 35)).contains("fp32 "));
}

// -------------------------------------------------------------- small bugs

#[test]
fn samples_pane_names_the_interval() {
    let (app, cfg) = app_running("tiny");
    let s = screen(&render(&app, 120, 35));
    let want = format!("samples every {} steps", cfg.preset.train.sample_every);
    assert!(s.contains(&want) && !s.contains("sample_every"), "{want:?}:\n{s}");
}

#[test]
fn log_home_shows_a_full_page_of_the_oldest_lines() {
    let mut app = app_fed(memory_run(), "tiny", None);
    while app.dashboard.focus != Pane::Log {
        app.on_key(code(KeyCode::Tab));
    }
    app.on_key(code(KeyCode::Home));
    let b = render(&app, 100, 30);
    let (lx, ly) = find(&b, "▸ Log").unwrap();
    // the pane's rows below its title, down to its bottom border
    let (mut filled, mut rows) = (0, 0);
    for y in ly + 1..b.area.height {
        if b[(lx - 1, y)].symbol() != "┃" {
            break;
        }
        rows += 1;
        let r: String = row(&b, y).chars().skip(lx as usize).collect();
        if !r.trim_matches(|c: char| c == '┃' || c.is_whitespace()).is_empty() {
            filled += 1;
        }
    }
    assert!(app.log.lines.len() > rows, "more lines than the pane holds");
    assert_eq!(filled, rows, "no blank rows at Home:\n{}", screen(&b));
    let oldest = &app.log.lines[0].text;
    assert!(screen(&b).contains(&oldest[..20.min(oldest.len())]), "the oldest line on top");
}

#[test]
fn the_saving_footer_clears_when_the_save_is_reported() {
    let mut app = app_mid_run();
    app.on_key(key('s'));
    assert!(has(&render(&app, 100, 30), "saving a checkpoint…"));
    let dir = app.run.as_ref().unwrap().run_dir.clone().unwrap();
    app.on_event(Event::CheckpointSaved { step: 10, path: dir.join("step-10") });
    assert_eq!(app.status, None);
    assert!(!has(&render(&app, 100, 30), "saving a checkpoint…"));
}

#[test]
fn a_stop_without_saving_names_the_best_checkpoint() {
    let rec = memory_run();
    let mut app = app_fed(rec, "tiny", None);
    let run = app.run.as_mut().unwrap();
    // as after `q d`: best/ was written by an evaluation, last/ never
    run.last_ckpt = None;
    let label = run.saved_label();
    assert!(label.contains("best") && label.contains("(step "), "{label}");
    run.best_ckpt = None;
    run.last_save = None;
    assert_eq!(run.saved_label(), "nothing");
    let run = app_fed(rec, "tiny", None).run.unwrap();
    assert!(run.saved_label().contains("last (step 60)"), "{}", run.saved_label());
}

#[test]
fn number_keys_in_an_empty_prompt_still_switch_screens() {
    let mut app = new_app(runs_root());
    app.on_key(key('4'));
    assert_eq!(app.sampling.focus, SampleFocus::Prompt);
    app.on_key(ctrl('u'));
    assert!(matches!(app.on_key(key('3')), Action::ScanRuns), "an empty prompt does not swallow 3");
    assert_eq!(app.screen, Screen::Runs);
    app.on_key(key('4'));
    app.on_key(ctrl('u'));
    app.on_key(key('?'));
    assert_eq!(app.overlay, Overlay::Help { scroll: 0 });
    app.on_key(code(KeyCode::Esc));
    typed(&mut app, "a1?");
    assert_eq!(app.sampling.prompt.text(), "a1?", "with text in the prompt they are text");
    // Enter on the runs screen opens sampling without typing: 3 goes back
    app.set_runs(flashlm_tui::runs::scan(runs_root()));
    app.on_key(code(KeyCode::Esc));
    app.on_key(key('3'));
    app.runs.selected = app.runs.records.iter().position(|r| r.dir == memory_run().run_dir).unwrap();
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::None));
    assert_eq!(app.screen, Screen::Sampling);
    assert_ne!(app.sampling.focus, SampleFocus::Prompt);
    assert!(matches!(app.on_key(key('3')), Action::ScanRuns));
    assert_eq!(app.screen, Screen::Runs);
}

#[test]
fn nothing_is_cut_at_80_by_24() {
    let app = {
        let mut a = new_app(runs_root());
        select(&mut a, "tiny");
        a
    };
    // the tiny run is under runs_root: its checkpoint line must fit
    let _ = memory_run();
    let mut app = app;
    app.set_runs(flashlm_tui::runs::scan(runs_root()));
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("latest checkpoint") && s.contains("(r resumes)"), "{s}");
    let empty = tempfile::tempdir().unwrap();
    let mut app = new_app(empty.path());
    app.on_key(key('3'));
    app.set_runs(Vec::new());
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("No runs yet") && s.contains("metrics.jsonl."), "{s}");
}

#[test]
fn sample_from_a_missing_checkpoint_says_so_once() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashlm-tui")).args(["sample", "--checkpoint", "nope"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("checkpoint folder not found").count(), 1, "{err}");
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn generation_speed_is_timed_from_the_first_token() {
    let mut app = new_app(runs_root());
    app.sampling.source = Some(model_source(PathBuf::from("x")));
    app.on_key(key('4'));
    assert!(matches!(app.on_key(code(KeyCode::Enter)), Action::SampleFrom { .. }));
    let (id, t0) = (app.sampling.id, app.sampling.started.unwrap());
    // 156 s waiting in the queue, then 76 tokens over 3 s
    let first = t0 + Duration::from_secs(156);
    for i in 0..76u64 {
        app.sampling.on_generated_at(id, "x".repeat(i as usize + 1), false, first + Duration::from_millis(40 * i));
    }
    app.sampling.on_generated_at(id, "x".repeat(76), true, first + Duration::from_secs(3));
    assert_eq!(app.sampling.tokens, 76);
    assert!((app.sampling.secs.unwrap() - 3.0).abs() < 1e-6);
    assert!((app.sampling.tok_per_sec().unwrap() - 25.0).abs() < 1e-6);
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains("76 tokens in 3.00 s (25 tok/s)"), "{s}");
}
