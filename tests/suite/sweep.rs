//! Sweeps: parsing, expansion and override checks as a library, and a 2 × 2
//! sweep of `tiny` end to end through the binary (list, run each id, the
//! table in three formats, job-array scripts).

use super::cli::{bin, run};
use flashlm_tui::report::{cell_number, Format, Table};
use flashlm_tui::sweep::{apply_overrides, SweepFile};
use proptest::prelude::*;
use std::path::Path;

const GRID: &str = r#"(presets: ["tiny"], budget: Steps(30), grid: { "train.lr": [1e-3, 3e-3], "train.seed": [1, 2] })"#;

fn expand(text: &str) -> Result<Vec<flashlm_tui::sweep::Run>, String> {
    SweepFile::parse(text, "test.ron").map_err(|e| e.to_string())?.expand(None).map_err(|e| e.to_string())
}

#[test]
fn the_example_parses_and_expands_to_the_grid_product_in_order() {
    let runs = expand(GRID).unwrap();
    assert_eq!(runs.len(), 4);
    let labels: Vec<String> = runs.iter().map(|r| r.label()).collect();
    assert_eq!(
        labels,
        ["train.lr=0.001 train.seed=1", "train.lr=0.001 train.seed=2", "train.lr=0.003 train.seed=1", "train.lr=0.003 train.seed=2"]
    );
    assert_eq!(runs[2].preset.train.lr, 3e-3);
    assert_eq!(runs[2].preset.train.seed, 1);
    assert_eq!(runs[3].folder_name(), "run-003-tiny-lr0.003-seed2");
    // the overridden preset is what a preset file with those values would be
    assert!(runs[3].text.contains("seed: 2"), "{}", runs[3].text);
}

#[test]
fn list_entries_global_overrides_fsp_and_model_keys() {
    let text = r#"(
        presets: ["tiny"],
        budget: Minutes(5),
        overrides: { "train.seed": 7 },
        list: [
            (preset: "tiny", overrides: { "train.fsp": true, "model.d_model": 48 }),
            (preset: "v10-fsp", overrides: { "train.fsp": false, "train.seed": 3 }),
        ],
        eval: Some((probe: Some("recall"))),
    )"#;
    let runs = expand(text).unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].preset.train.seed, 7);
    assert!(runs[0].preset.train.fsp.is_none());
    assert!(runs[1].preset.train.fsp.is_some() && runs[1].preset.train.seed == 7);
    assert_eq!(flashlm_tui::sweep::get_path(&runs[1].preset, "model.d_model"), Some(serde_json::json!(48)));
    assert!(runs[2].preset.train.fsp.is_none() && runs[2].preset.train.seed == 3, "a list entry's key wins over the sweep-wide one");
}

#[test]
fn the_leaderboard_sweep_has_its_fourteen_runs() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/leaderboard.ron")).unwrap();
    let s = SweepFile::parse(&text, "leaderboard.ron").unwrap();
    assert_eq!(s.budget, Some(flashlm_tui::preset::Budget::Minutes(5.0)));
    let runs = s.expand(None).unwrap();
    assert_eq!(runs.len(), 14);
    assert!(runs.iter().all(|r| r.preset.train.seed == 1));
    let toggled: Vec<(String, bool)> = runs[10..].iter().map(|r| (r.preset.name.clone(), r.preset.train.fsp.is_some())).collect();
    for (name, fsp) in &toggled {
        let default = runs[..10].iter().find(|r| &r.preset.name == name).unwrap();
        assert_ne!(default.preset.train.fsp.is_some(), *fsp, "{name}: FSP is toggled against the default");
    }
    let e = s.eval.unwrap();
    assert_eq!(e.probe.as_deref(), Some("recall"));
    assert!(e.buckets.contains(&(86, 256)));
}

#[test]
fn unknown_keys_bad_values_and_malformed_files_are_refused_by_name() {
    let err = expand(r#"(presets: ["tiny"], grid: { "train.lrr": [1e-3] })"#).unwrap_err();
    assert!(err.contains("run 0") && err.contains("unknown key `train.lrr`"), "{err}");
    let err = expand(r#"(presets: ["tiny"], grid: { "model.nope": [1] })"#).unwrap_err();
    assert!(err.contains("unknown key `model.nope`"), "{err}");
    // validation: a negative learning rate, a batch of 0, a fractional batch
    let err = expand(r#"(presets: ["tiny"], grid: { "train.seed": [1, 2], "train.lr": [1e-3, -1.0] })"#).unwrap_err();
    assert!(err.contains("run 1") && err.contains("`train.lr` = -1 fails the preset's validation"), "{err}");
    let err = expand(r#"(presets: ["tiny"], list: [(preset: "tiny", overrides: { "train.batch": 0 })])"#).unwrap_err();
    assert!(err.contains("`train.batch` = 0 fails"), "{err}");
    let err = expand(r#"(presets: ["tiny"], overrides: { "train.batch": 1.5 })"#).unwrap_err();
    assert!(err.contains("`train.batch` = 1.5") && err.contains("invalid type"), "{err}");
    let err = expand(r#"(presets: ["nope"])"#).unwrap_err();
    assert!(err.contains("no preset named `nope`"), "{err}");
    let err = expand(r#"(presets: ["tiny"], grid: { "train.lr": [] })"#).unwrap_err();
    assert!(err.contains("`train.lr` has no values"), "{err}");
    let err = expand(r#"(presets: ["tiny"], budgett: Steps(3))"#).unwrap_err();
    assert!(err.starts_with("test.ron:1:") && err.contains("budgett"), "{err}");
    let err = expand(r#"(presets: ["tiny"], grid: { "train.lr": [1e-3, }"#).unwrap_err();
    assert!(err.starts_with("test.ron:1:"), "{err}");
    let err = expand(r#"(presets: ["tiny"], grid: { "train.lr": [1], "train.lr": [2] })"#).unwrap_err();
    assert!(err.contains("given twice"), "{err}");
    let err = expand("(budget: Steps(3))").unwrap_err();
    assert!(err.contains("no runs"), "{err}");
}

#[test]
fn overriding_nothing_keeps_the_preset_and_its_text() {
    let (p, text) = flashlm_tui::preset::resolve("tiny", None).unwrap();
    let (q, t2) = apply_overrides(&p, &text, &[]).unwrap();
    assert_eq!((q, t2), (p.clone(), text));
    // a round trip through the override path changes only the key set
    let (q, _) = apply_overrides(&p, "", &[("train.warmup".into(), serde_json::json!(5))]).unwrap();
    let mut want = p;
    want.train.warmup = 5;
    assert_eq!(q, want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// A grid of k keys with n_i values each expands to Π n_i runs per preset, ids 0…N−1.
    #[test]
    fn grid_expands_to_the_product(counts in proptest::collection::vec(1usize..4, 0..4), presets in 1usize..3, extra in 0usize..3) {
        let keys = ["train.seed", "train.warmup", "train.eval_every", "train.log_every"];
        let grid: Vec<String> = counts.iter().enumerate().map(|(i, &n)| {
            let vals: Vec<String> = (1..=n).map(|v| v.to_string()).collect();
            format!("\"{}\": [{}]", keys[i], vals.join(", "))
        }).collect();
        let names: Vec<&str> = ["\"tiny\""; 2][..presets].to_vec();
        let list: Vec<String> = (0..extra).map(|i| format!("(preset: \"tiny\", overrides: {{ \"train.seed\": {} }})", 100 + i)).collect();
        let text = format!("(presets: [{}], budget: Steps(30), grid: {{ {} }}, list: [{}])", names.join(", "), grid.join(", "), list.join(", "));
        let runs = expand(&text).unwrap();
        let want = presets * counts.iter().product::<usize>() + extra;
        prop_assert_eq!(runs.len(), want);
        prop_assert!(runs.iter().enumerate().all(|(i, r)| r.id == i));
        prop_assert!(runs[runs.len() - extra..].iter().enumerate().all(|(i, r)| r.preset.train.seed == 100 + i as u64));
    }
}

#[test]
fn tables_sort_by_number_and_render_three_ways() {
    let mut t = Table {
        headers: vec!["run".into(), "tok/s".into(), "wall time".into()],
        rows: vec![
            vec!["a".into(), "12,000".into(), "1m05s".into()],
            vec!["b".into(), "–".into(), "0m09s".into()],
            vec!["c".into(), "900".into(), "1h00m".into()],
        ],
        text_columns: vec![0],
    };
    assert_eq!(cell_number("1h00m"), Some(3600.0));
    t.sort_by("TOK/S", false).unwrap();
    assert_eq!(t.rows.iter().map(|r| r[0].as_str()).collect::<String>(), "cab");
    t.sort_by("wall time", true).unwrap();
    assert_eq!(t.rows.iter().map(|r| r[0].as_str()).collect::<String>(), "cab");
    assert!(t.sort_by("nope", false).unwrap_err().contains("\"tok/s\""));
    assert_eq!(t.render(Format::Csv), "run,tok/s,wall time\nc,900,1h00m\na,12000,1m05s\nb,,0m09s\n");
    assert!(t.render(Format::Markdown).starts_with("| run | tok/s | wall time |\n|---|---:|---:|\n| c | 900 | 1h00m |"));
    let aligned = t.render(Format::Table);
    let lines: Vec<&str> = aligned.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["run", "tok/s", "wall", "time"], "{aligned}");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["c", "900", "1h00m"], "{aligned}");
    // numbers right-aligned: every line ends in the same column
    assert!(lines.iter().all(|l| l.chars().count() == lines[0].chars().count()), "{aligned}");
}

fn write_valid(dir: &Path) -> std::path::PathBuf {
    let valid = dir.join("valid.txt");
    std::fs::write(&valid, flashlm_tui::data::stories::stories(99, 20).join("\n<|endoftext|>\n")).unwrap();
    valid
}

#[test]
fn a_two_by_two_sweep_of_tiny_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grid.ron");
    std::fs::write(
        &file,
        r#"(presets: ["tiny"], budget: Steps(3), grid: { "train.lr": [1e-3, 3e-3], "train.seed": [1, 2] },
            eval: (probe: Some("recall"), probe_stories: 40, buckets: [(1, 7), (8, 32)]))"#,
    )
    .unwrap();
    let valid = write_valid(dir.path());
    let sweep_dir = dir.path().join("sweep");

    let (ok, out, err) = run(bin().arg("sweep").arg(&file).arg("--list"));
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.trim_start().starts_with(&format!("{i}  tiny  train.lr=")), "{l}");
    }
    assert!(lines[3].ends_with("train.lr=0.003 train.seed=2"), "{out}");

    let (ok, _, err) = run(bin().arg("sweep").arg(&file).args(["--run", "4", "--dir"]).arg(&sweep_dir));
    assert!(!ok && err.contains("--run 4") && err.contains("numbered 0 to 3"), "{err}");

    for id in 0..4 {
        let (ok, out, err) = run(bin()
            .arg("sweep")
            .arg(&file)
            .args(["--run", &id.to_string(), "--threads", "2", "--dir"])
            .arg(&sweep_dir)
            .arg("--valid")
            .arg(&valid));
        assert!(ok, "run {id}\nstdout:\n{out}\nstderr:\n{err}");
        assert!(out.contains("finished: 3 steps") && out.contains("eval last (step 3) on"), "{out}");
    }
    let names: Vec<String> = {
        let mut v: Vec<String> =
            std::fs::read_dir(&sweep_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(
        names,
        [
            "run-000-tiny-lr0.001-seed1",
            "run-001-tiny-lr0.001-seed2",
            "run-002-tiny-lr0.003-seed1",
            "run-003-tiny-lr0.003-seed2",
            "sweep.ron"
        ]
    );
    let ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sweep_dir.join("run-002-tiny-lr0.003-seed1/eval.json")).unwrap()).unwrap();
    assert_eq!(ev["step"], 3);
    assert!(ev["text"]["bpc"].as_f64().unwrap() > 0.5, "{ev}");
    assert_eq!(ev["probe"]["buckets"][1]["lo"], 8);

    // a finished run is not trained again
    let (ok, out, err) = run(bin().arg("sweep").arg(&file).args(["--run", "1", "--dir"]).arg(&sweep_dir).arg("--valid").arg(&valid));
    assert!(ok && out.contains("run 1 already finished") && !out.contains("finished: 3 steps"), "{out}{err}");

    let (ok, md, err) = run(bin().args(["runs", "--dir"]).arg(&sweep_dir));
    assert!(ok, "{err}");
    let md_lines: Vec<&str> = md.lines().collect();
    assert_eq!(md_lines.len(), 2 + 4, "{md}");
    for col in ["| id | preset | train.lr | train.seed | status |", "final BPC", "eval BPC", "eval PPL", "tok/s", "wall time", "gap 8–32"]
    {
        assert!(md_lines[0].contains(col), "{col}: {md}");
    }
    assert!(md_lines[2].starts_with("| 0 | tiny | 0.001 | 1 | finished | 3 | 384 |"), "{md}");
    assert!(md_lines[5].starts_with("| 3 | tiny | 0.003 | 2 | finished |"), "{md}");

    let (ok, csv, err) = run(bin().args(["runs", "--format", "csv", "--sort", "train.seed", "--desc", "--dir"]).arg(&sweep_dir));
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 5, "{csv}");
    let seed = rows[0].iter().position(|h| *h == "train.seed").unwrap();
    let bpc = rows[0].iter().position(|h| *h == "eval BPC").unwrap();
    assert_eq!(rows[1..].iter().map(|r| r[seed]).collect::<Vec<_>>(), ["2", "2", "1", "1"]);
    for r in &rows[1..] {
        let b: f64 = r[bpc].parse().unwrap();
        assert!(b > 0.5 && b < 12.0, "{csv}");
        assert_eq!(r.len(), rows[0].len());
    }

    let (ok, table, _) = run(bin().args(["runs", "--format", "table", "--dir"]).arg(&sweep_dir));
    assert!(ok && table.lines().count() == 5 && table.starts_with("id  preset"), "{table}");

    // the folder holding the sweep lists its runs as it lists plain runs (the TUI's runs screen reads the same)
    let runs = flashlm_tui::runs::scan(dir.path());
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sweep/run-000-tiny-lr0.001-seed1",
            "sweep/run-001-tiny-lr0.001-seed2",
            "sweep/run-002-tiny-lr0.003-seed1",
            "sweep/run-003-tiny-lr0.003-seed2"
        ]
    );
    assert!(runs.iter().all(|r| r.preset == "tiny" && r.steps == 3 && r.finished), "{runs:?}");
}

#[test]
fn emitted_job_arrays_hold_one_task_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grid.ron");
    std::fs::write(&file, GRID).unwrap();
    let sweep_dir = dir.path().join("my sweep");
    let valid = write_valid(dir.path());

    let (ok, out, err) =
        run(bin().arg("sweep").arg(&file).args(["--emit", "slurm", "--threads", "2", "--dir"]).arg(&sweep_dir).arg("--valid").arg(&valid));
    assert!(ok, "{err}");
    assert!(out.contains("sbatch"), "{out}");
    assert_eq!(std::fs::read_to_string(sweep_dir.join("sweep.ron")).unwrap(), GRID);
    let script = sweep_dir.join("sweep.sbatch");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("#SBATCH --array=0-3\n"), "{text}");
    assert!(text.contains("#SBATCH --cpus-per-task=2\n"), "--threads 2 asks Slurm for 2 cores per task: {text}");
    assert!(text.contains("sweep") && text.contains("--run \"$SLURM_ARRAY_TASK_ID\" --dir") && text.contains("--valid"), "{text}");
    let syntax = std::process::Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));

    let (ok, out, err) = run(bin().arg("sweep").arg(&file).args(["--emit", "parallel", "--dir"]).arg(&sweep_dir));
    assert!(ok && out.contains("parallel"), "{out}{err}");
    let lines = std::fs::read_to_string(sweep_dir.join("sweep.parallel")).unwrap();
    assert_eq!(lines.lines().count(), 4, "{lines}");
    for (i, l) in lines.lines().enumerate() {
        assert!(l.contains(&format!("--run {i} --dir")), "{l}");
        let syntax = std::process::Command::new("bash").args(["-n", "-c", l]).output().unwrap();
        assert!(syntax.status.success(), "{l}");
    }

    // a sweep folder holds one sweep: another sweep file is refused
    let other = dir.path().join("other.ron");
    std::fs::write(&other, r#"(presets: ["tiny"], budget: Steps(4))"#).unwrap();
    let (ok, _, err) = run(bin().arg("sweep").arg(&other).args(["--emit", "slurm", "--dir"]).arg(&sweep_dir));
    assert!(!ok && err.contains("holds another sweep"), "{err}");
}

/// `--minutes` replaces the sweep's budget for every run; the folder's copy
/// records it, so the copy run alone keeps it and another budget needs another folder.
#[test]
fn minutes_replace_the_budget_and_the_folder_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.ron");
    std::fs::write(&file, r#"(presets: ["tiny"], budget: Steps(100000))"#).unwrap();
    let sweep_dir = dir.path().join("sweep");
    let valid = write_valid(dir.path());
    let (ok, out, err) = run(bin()
        .arg("sweep")
        .arg(&file)
        .args(["--minutes", "0.02", "--threads", "2", "--dir"])
        .arg(&sweep_dir)
        .arg("--valid")
        .arg(&valid));
    assert!(ok, "{out}{err}");
    assert!(out.contains("finished:") && !out.contains("100000 steps"), "{out}");
    let copy = std::fs::read_to_string(sweep_dir.join("sweep.ron")).unwrap();
    assert!(copy.ends_with("// budget from --minutes: Minutes(0.02)\n"), "{copy}");
    let steps = |out: &str| out.split("finished: ").nth(1).and_then(|s| s.split(' ').next()).map(str::to_string);
    let trained = steps(&out).unwrap();
    assert_ne!(trained, "100000", "{out}");

    // the same budget again: the run is done, nothing trains
    let (ok, out, err) = run(bin().arg("sweep").arg(sweep_dir.join("sweep.ron")).arg("--dir").arg(&sweep_dir));
    assert!(ok && out.contains("already finished"), "{out}{err}");
    // another budget in the same folder is refused
    let (ok, _, err) = run(bin().arg("sweep").arg(&file).args(["--minutes", "0.05", "--dir"]).arg(&sweep_dir));
    assert!(!ok && err.contains("holds another sweep"), "{err}");
    let (ok, _, err) = run(bin().arg("sweep").arg(&file).args(["--dir"]).arg(&sweep_dir));
    assert!(!ok && err.contains("holds another sweep"), "{err}");
    for bad in ["0", "-1", "nan", "inf", "1e9"] {
        let (ok, _, err) = run(bin().arg("sweep").arg(&file).arg("--list").arg(format!("--minutes={bad}")));
        assert!(!ok && err.contains("--minutes") && !err.contains("panicked"), "{bad}: {err}");
    }
}

#[test]
fn the_binary_refuses_bad_sweeps_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("malformed.ron", r#"(presets: ["tiny"], grid: { "train.lr": [1e-3 )"#, "malformed.ron:1:"),
        ("key.ron", r#"(presets: ["tiny"], grid: { "train.nope": [1] })"#, "unknown key `train.nope`"),
        ("value.ron", r#"(presets: ["tiny"], grid: { "train.lr": [-1.0] })"#, "`train.lr` = -1 fails the preset's validation"),
    ];
    for (name, text, want) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        let (ok, out, err) = run(bin().arg("sweep").arg(&f).arg("--list"));
        assert!(!ok && err.contains(want) && !err.contains("panicked"), "{name}: {out}{err}");
    }
    let (ok, _, err) = run(bin().arg("sweep").arg(dir.path().join("missing.ron")).arg("--list"));
    assert!(!ok && err.contains("missing.ron"), "{err}");
}

/// The TUI's runs screen lists a sweep's runs (under its runs folder) and,
/// with `t` on one of them, shows the sweep as one table: the overridden keys
/// as columns, sortable with `s` / `d`, and back with `t`.
#[test]
fn the_runs_screen_shows_a_sweep_as_one_table() {
    use super::tui::{key, new_app, render, screen};
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("grid.ron");
    std::fs::write(&file, r#"(presets: ["tiny"], budget: Steps(2), grid: { "train.lr": [1e-3, 3e-3] })"#).unwrap();
    let sweep_dir = root.path().join("grid");
    let (ok, out, err) = run(bin().arg("sweep").arg(&file).args(["--threads", "2", "--dir"]).arg(&sweep_dir));
    assert!(ok, "{out}\n{err}");

    let mut app = new_app(root.path());
    app.set_runs(flashlm_tui::runs::scan(root.path()));
    app.on_key(key('3'));
    let i = app.runs.records.iter().position(|r| r.dir.starts_with(&sweep_dir)).expect("the sweep's runs are listed");
    app.runs.selected = i;
    app.on_key(key('t'));
    let s = screen(&render(&app, 160, 30));
    eprintln!("{s}");
    assert!(s.contains("Sweep") && s.contains("2 runs") && s.contains("in run order"), "{s}");
    assert!(s.contains("train.lr") && s.contains("0.001") && s.contains("0.003") && s.contains("finished"), "{s}");
    // s: sort by the first column, d: reverse it
    app.on_key(key('s'));
    app.on_key(key('d'));
    let view = app.runs.sweep.as_ref().unwrap();
    assert_eq!(view.order(), format!("sorted by {} ↓", view.table.headers[0]));
    assert_eq!(view.table.rows[0][0], "1", "descending by id");
    app.on_key(key('t'));
    assert!(app.runs.sweep.is_none());
    // a run outside any sweep says so
    let plain = app.runs.records.iter().position(|r| !r.dir.starts_with(&sweep_dir));
    assert!(plain.is_none(), "only the sweep's runs under this root");
}
