//! Presets: the built-in files parse, parameter counts match the spec, and bad
//! input gets an error naming file, line and column.

use flashlm_tui::preset::{discover, resolve, thousands, Budget, Overrides, Preset, PresetError, BUILTIN};

#[test]
fn builtin_presets_parse_with_spec_parameter_counts() {
    let (v71, _) = resolve("v7.1-cortex-iii", None).unwrap();
    let (v72, _) = resolve("v7.2-cortex-vi", None).unwrap();
    assert_eq!(v71.build_model().num_params(), 4_614_144);
    assert_eq!(v72.build_model().num_params(), 5_008_896);
    assert_eq!(thousands(5_008_896), "5,008,896");
    assert_eq!((v72.train.batch, v72.train.seq_len), (16, 256));
    assert_eq!(v72.train.budget, Budget::Minutes(120.0));
    for (f, text) in BUILTIN {
        Preset::parse(text, f).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

/// Every built-in preset re-serialises (as `with_overrides` does for the copy
/// stored in a checkpoint) to text that parses back to the same preset, with
/// the model section still written `Version(field: ...)`.
#[test]
fn builtin_presets_round_trip_through_ron() {
    for (f, text) in BUILTIN {
        let p = Preset::parse(text, f).unwrap_or_else(|e| panic!("{f}: {e}"));
        let again = p.to_ron().unwrap();
        let head = text.lines().map(str::trim).find(|l| l.starts_with("model:")).expect("a model section");
        assert!(again.contains(head) && !again.contains(&format!("{head}(")), "{f}: model section written as\n{again}");
        assert_eq!(Preset::parse(&again, f).unwrap_or_else(|e| panic!("{f}: {e}\n{again}")), p);
        let (o, otext) = p.with_overrides(text, &Overrides { warmup: Some(1), ..Default::default() }).unwrap();
        assert_eq!(o.train.warmup, 1);
        assert_eq!(Preset::parse(&otext, f).unwrap(), o);
    }
}

#[test]
fn unknown_field_is_an_error_with_position() {
    let (_, text) = resolve("tiny", None).unwrap();
    let bad = text.replace("batch: 4,", "batch: 4,\n        batchh: 5,");
    let e = Preset::parse(&bad, "bad.ron").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PresetError::Parse { .. }), "{msg}");
    assert!(msg.starts_with("bad.ron:"), "{msg}");
    assert!(msg.contains("batchh"), "{msg}");
}

/// The model section rejects unknown fields too, `seq_len` (the training
/// window, which lives in `train:`) among them.
#[test]
fn unknown_model_field_is_an_error_with_position() {
    let (_, text) = resolve("tiny", None).unwrap();
    for extra in ["kernell: 5", "seq_len: 32"] {
        let bad = text.replace("kernel_size: 4,", &format!("kernel_size: 4,\n        {extra},"));
        let e = Preset::parse(&bad, "bad.ron").unwrap_err();
        let msg = e.to_string();
        let field = extra.split(':').next().unwrap();
        match &e {
            PresetError::Parse { file, line, .. } => {
                assert_eq!(file, "bad.ron");
                assert_eq!(*line, bad.lines().position(|l| l.contains(extra)).unwrap() + 1, "{msg}");
            }
            _ => panic!("{extra}: expected a parse error, got {msg}"),
        }
        assert!(msg.contains(field), "{msg}");
    }
}

#[test]
fn syntax_error_names_line_and_column() {
    let e = Preset::parse("(\n  name: \"x\",\n  version: ,\n)", "broken.ron").unwrap_err();
    match e {
        PresetError::Parse { file, line, .. } => {
            assert_eq!(file, "broken.ron");
            assert_eq!(line, 3);
        }
        other => panic!("expected a parse error, got {other}"),
    }
}

#[test]
fn invalid_values_are_rejected_with_their_field() {
    let (_, text) = resolve("tiny", None).unwrap();
    let cases = [
        ("vocab: 512", "vocab: 70000", "vocab"),
        ("kernel_size: 4", "kernel_size: 0", "kernel_size"),
        ("warmup: 10", "warmup: 60", "warmup"),
        ("d_model: 32", "d_model: 0", "d_model"),
        ("batch: 4", "batch: 0", "batch"),
    ];
    for (from, to, field) in cases {
        let bad = text.replace(from, to);
        let e = Preset::parse(&bad, "t.ron").unwrap_err();
        let msg = e.to_string();
        match &e {
            PresetError::Invalid { field: f, line, .. } => {
                assert_eq!(f, field, "{msg}");
                let expected_line = bad.lines().position(|l| l.contains(to)).unwrap() + 1;
                assert_eq!(*line, expected_line, "{msg}");
            }
            _ => panic!("{to}: expected a validation error, got {msg}"),
        }
    }
}

#[test]
fn broken_preset_files_are_listed_not_hidden() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.ron"), "(name: \"broken\", oops)").unwrap();
    let entries = discover(Some(dir.path()));
    let e = entries.iter().find(|e| e.name() == "broken").expect("listed");
    assert!(e.parsed.is_err());
    assert!(entries.iter().any(|e| e.name() == "v7.2-cortex-vi" && e.parsed.is_ok()));
}

#[test]
fn unknown_preset_name_lists_known_ones() {
    let e = resolve("v9-nope", None).unwrap_err().to_string();
    assert!(e.contains("v7.2-cortex-vi"), "{e}");
}
