//! Presets: one RON file per model version, built into the binary and
//! overridable from `./presets/` or `--presets DIR`.

pub use crate::model::blocks::fsp::FspConfig;
pub use crate::model::ModelSpec;

use crate::model::Model;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub version: String,
    pub description: String,
    #[serde(default)]
    pub reference: Option<Reference>,
    pub model: ModelSpec,
    pub train: TrainSpec,
    #[serde(default)]
    pub data: DataSpec,
}

/// What the FlashLM project reported for this version, with its caveats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub reported_ppl: f64,
    pub caveat: String,
    pub hardware: String,
    pub hours: f64,
    /// PyTorch 2.15 training tok/s on 2 cores (median), from DESIGN.md.
    pub pytorch_tok_s: f64,
    #[serde(default)]
    pub pytorch_tok_s_range: Option<(f64, f64)>,
    #[serde(default)]
    pub pytorch_peak_rss_mb: Option<f64>,
    /// The machine the PyTorch figures were measured on: they hold for it only.
    #[serde(default = "pytorch_machine")]
    pub pytorch_machine: String,
}

/// Where the presets' PyTorch figures were measured (DESIGN.md).
fn pytorch_machine() -> String {
    "a 2-core AMD EPYC (Zen 4, AVX-512)".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Budget {
    Steps(u64),
    Tokens(u64),
    Minutes(f64),
}

fn one() -> f32 {
    1.0
}
fn beta1() -> f32 {
    0.9
}
fn beta2() -> f32 {
    0.95
}
fn adam_eps() -> f32 {
    1e-8
}
fn one_usize() -> usize {
    1
}

/// Learning-rate schedule after the linear warm-up P·(s+1)/W (spec BB-SCHED).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// S-A/S-B/S-C with the D11 fix: one cosine from P to m over the budget's
    /// horizon, progress clamped (LR stays at m after the end).
    #[default]
    Cosine,
    /// S-D (v6, v7): restarts every `cycle` steps at a peak shrunk by `gamma`
    /// per cycle: lr = m + ½(P·γ^c − m)(1 + cos πφ), floored at m.
    Cyclic { cycle: u64, gamma: f32 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Micro-batch size (windows per forward/backward).
    pub batch: usize,
    pub seq_len: usize,
    /// Micro-batches per optimiser step (BB-OPT: losses averaged, gradients summed).
    #[serde(default = "one_usize")]
    pub accum: usize,
    pub lr: f32,
    pub min_lr: f32,
    pub warmup: u64,
    pub weight_decay: f32,
    #[serde(default = "one")]
    pub grad_clip: f32,
    #[serde(default = "beta1")]
    pub beta1: f32,
    #[serde(default = "beta2")]
    pub beta2: f32,
    #[serde(default = "adam_eps")]
    pub eps: f32,
    #[serde(default)]
    pub schedule: Schedule,
    pub budget: Budget,
    pub log_every: u64,
    pub eval_every: u64,
    /// Number of fixed validation windows (D20).
    pub eval_windows: usize,
    pub sample_every: u64,
    pub checkpoint_every: u64,
    pub seed: u64,
    /// The FSP auxiliary loss (spec §15): CE + weight·FSP, with the
    /// training-only `fsp_proj.weight`; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fsp: Option<FspConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Built-in story count when no corpus is given.
    pub builtin_stories: usize,
    pub builtin_seed: u64,
    /// Share of stories held out for validation when no validation file is given.
    pub valid_fraction: f64,
    /// The tokenizer is trained on at most this many bytes of stories (the first ones).
    pub tokenizer_sample_bytes: usize,
    /// Which tokenizer to train: byte-level BPE (default) or v4's GPT-2 remap.
    #[serde(default)]
    pub tokenizer: crate::data::tok::TokenizerKind,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            builtin_stories: 12_000,
            builtin_seed: 1,
            valid_fraction: 0.05,
            tokenizer_sample_bytes: 8 << 20,
            tokenizer: Default::default(),
        }
    }
}

/// Preset fields that `train` flags may override.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub warmup: Option<u64>,
    pub eval_every: Option<u64>,
    pub sample_every: Option<u64>,
    pub accum: Option<usize>,
    /// Not a preset field: save `last/` every N steps as well as at the end.
    pub save_every: Option<u64>,
    /// `--fsp`: train with the FSP loss (the reference's constants) unless the preset sets its own.
    pub fsp: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error("{file}:{line}:{col}: {msg}")]
    Parse { file: String, line: usize, col: usize, msg: String },
    #[error("{file}:{line}:{col}: invalid value for `{field}`: {msg}")]
    Invalid { file: String, line: usize, col: usize, field: String, msg: String },
    #[error("{0}: cannot read preset: {1}")]
    Io(String, std::io::Error),
    #[error("no preset named `{0}` (known: {1}); pass a name from `flashlm-tui presets` or a path to a .ron file")]
    Unknown(String, String),
    #[error("preset name `{name}` is ambiguous: {} in one folder define it; rename one, or pass the file's path to --preset", .files.join(" and "))]
    Ambiguous { name: String, files: Vec<String> },
}

/// Longest preset name: it becomes part of a run folder's name.
pub const MAX_NAME_LEN: usize = 64;

/// Why `name` cannot name a preset, if it cannot: names become part of run
/// folder paths, so they are slugs (ASCII letters, digits, `.`, `-`, `_`)
/// that start with a letter or digit — never empty, `.`, `..`, a path or a flag.
pub fn check_name(name: &str) -> Result<(), String> {
    let shown = format!("{name:?}");
    if name.is_empty() {
        return Err("\"\" (empty); a name is needed, it becomes part of the run folder's name".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("{} characters; at most {MAX_NAME_LEN}", name.chars().count()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
        return Err(format!(
            "{shown} contains {c:?}; names become part of run folder paths, so they may use only ASCII letters, digits, `.`, `-` and `_`"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("{shown}; a name starts with a letter or digit (it becomes part of run folder paths)"));
    }
    Ok(())
}

impl Preset {
    /// Parses and validates RON text; `file` names the source in every error.
    pub fn parse(text: &str, file: &str) -> Result<Preset, PresetError> {
        Preset::parse_with(text, file, true)
    }

    /// [`Preset::parse`] for the copy stored in a checkpoint, whose name is
    /// not held to the slug rule: it names no folder (a resumed run goes on
    /// in the checkpoint's own run folder), and checkpoints saved before
    /// names were checked still load.
    pub fn parse_stored(text: &str, file: &str) -> Result<Preset, PresetError> {
        Preset::parse_with(text, file, false)
    }

    fn parse_with(text: &str, file: &str, slug_name: bool) -> Result<Preset, PresetError> {
        let p: Preset = ron_options().from_str(text).map_err(|e| PresetError::Parse {
            file: file.into(),
            line: e.position.line,
            col: e.position.col,
            msg: e.code.to_string(),
        })?;
        p.validate(text, file, slug_name)?;
        Ok(p)
    }

    fn validate(&self, text: &str, file: &str, slug_name: bool) -> Result<(), PresetError> {
        let bad = |field: &str, msg: String| {
            let (line, col) = locate(text, field);
            Err(PresetError::Invalid { file: file.into(), line, col, field: field.into(), msg })
        };
        if let (true, Err(msg)) = (slug_name, check_name(&self.name)) {
            return bad("name", msg);
        }
        let vocab = self.vocab();
        if !(5..=65_535).contains(&vocab) {
            return bad("vocab", format!("{vocab}; expected 5..=65535 (tokens are stored as u16 and ids 0-3 are special)"));
        }
        let min = self.data.tokenizer.min_vocab();
        if vocab < min {
            return bad("vocab", format!("{vocab}; the {} needs at least {min} ids", self.data.tokenizer.label()));
        }
        if let Err((f, msg)) = self.model.config().validate() {
            return bad(f, msg);
        }
        let t = &self.train;
        if t.batch == 0 {
            return bad("batch", "0; expected ≥ 1".into());
        }
        if t.accum == 0 || t.accum > 1024 {
            return bad("accum", format!("{}; expected 1..=1024 micro-batches per step", t.accum));
        }
        if let Schedule::Cyclic { cycle, gamma } = t.schedule {
            if cycle == 0 || !(gamma > 0.0 && gamma <= 1.0) {
                return bad("schedule", format!("Cyclic(cycle: {cycle}, gamma: {gamma}); expected cycle ≥ 1 and 0 < gamma ≤ 1"));
            }
        }
        if t.seq_len < 2 {
            return bad("seq_len", format!("{}; expected ≥ 2", t.seq_len));
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return bad("lr", format!("{}; expected a positive number", t.lr));
        }
        if !(t.min_lr >= 0.0 && t.min_lr <= t.lr) {
            return bad("min_lr", format!("{}; expected 0 ≤ min_lr ≤ lr ({})", t.min_lr, t.lr));
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay < 1.0) {
            return bad("weight_decay", format!("{}; expected 0 ≤ wd < 1", t.weight_decay));
        }
        if t.grad_clip.is_nan() || t.grad_clip <= 0.0 {
            return bad("grad_clip", format!("{}; expected > 0", t.grad_clip));
        }
        if !(0.0..1.0).contains(&t.beta1) || !(0.0..1.0).contains(&t.beta2) {
            return bad("beta1", "betas must be in [0, 1)".into());
        }
        match t.budget {
            Budget::Steps(0) | Budget::Tokens(0) => return bad("budget", "0; expected a positive budget".into()),
            Budget::Minutes(m) if !(m > 0.0 && m.is_finite()) => return bad("budget", format!("{m} minutes; expected a positive number")),
            Budget::Steps(s) if t.warmup >= s => {
                return bad("warmup", format!("{} warm-up steps; expected fewer than the {s} budget steps", t.warmup))
            }
            _ => {}
        }
        for (f, v) in [
            ("log_every", t.log_every),
            ("eval_every", t.eval_every),
            ("sample_every", t.sample_every),
            ("checkpoint_every", t.checkpoint_every),
        ] {
            if v == 0 {
                return bad(f, "0; expected ≥ 1".into());
            }
        }
        if t.eval_windows == 0 {
            return bad("eval_windows", "0; expected ≥ 1".into());
        }
        if let Some(f) = &t.fsp {
            if f.horizon == 0 || f.stride == 0 {
                return bad("fsp", format!("horizon {} and stride {}; expected both ≥ 1", f.horizon, f.stride));
            }
            if !(f.weight >= 0.0 && f.weight.is_finite() && f.pos_weight > 0.0 && f.pos_weight.is_finite()) {
                return bad("fsp", format!("weight {} and pos_weight {}; expected weight ≥ 0 and pos_weight > 0", f.weight, f.pos_weight));
            }
            if let Some(why) = self.model.config().sees_later_tokens() {
                return bad(
                    "fsp",
                    format!(
                        "FSP needs a causal model, and here {why}; FSP would reward that leak (spec §15.4): switch reference_compat off"
                    ),
                );
            }
        }
        let d = &self.data;
        if !(d.valid_fraction > 0.0 && d.valid_fraction < 0.5) {
            return bad("valid_fraction", format!("{}; expected 0 < f < 0.5", d.valid_fraction));
        }
        if d.builtin_stories < 10 {
            return bad("builtin_stories", format!("{}; expected ≥ 10", d.builtin_stories));
        }
        Ok(())
    }

    /// Applies command-line overrides; the returned text (stored in every
    /// checkpoint) is re-serialised so a resumed run sees the same values.
    pub fn with_overrides(&self, text: &str, o: &Overrides) -> Result<(Preset, String), PresetError> {
        if o.warmup.is_none()
            && o.eval_every.is_none()
            && o.sample_every.is_none()
            && o.accum.is_none()
            && (!o.fsp || self.train.fsp.is_some())
        {
            return Ok((self.clone(), text.to_string()));
        }
        let mut p = self.clone();
        if let Some(w) = o.warmup {
            p.train.warmup = w;
        }
        if let Some(e) = o.eval_every {
            p.train.eval_every = e;
        }
        if let Some(e) = o.sample_every {
            p.train.sample_every = e;
        }
        if let Some(a) = o.accum {
            p.train.accum = a;
        }
        if o.fsp && p.train.fsp.is_none() {
            p.train.fsp = Some(FspConfig::default());
        }
        let text = p.to_ron().map_err(|e| PresetError::Parse { file: "<overrides>".into(), line: 1, col: 1, msg: e.to_string() })?;
        // the name is as it was parsed (and checked, where it names a folder)
        let p = Preset::parse_with(&text, "<preset with command-line overrides>", false)?;
        Ok((p, text))
    }

    /// The preset as RON text in the format [`Preset::parse`] reads.
    pub fn to_ron(&self) -> Result<String, ron::Error> {
        ron_options().to_string_pretty(self, ron::ser::PrettyConfig::default())
    }

    pub fn vocab(&self) -> usize {
        self.model.config().vocab()
    }

    /// The model this preset describes (its window fixes v7.2's read scale).
    /// With `train.fsp`, the model carries the training-only FSP head (`model::fsp`).
    pub fn build_model(&self) -> Model {
        let model = crate::model::registry::build(&self.model, self.train.seq_len);
        match self.train.fsp {
            Some(f) => crate::model::fsp::with_fsp(model, f),
            None => model,
        }
    }

    /// Short architecture label for listings (from the config: nothing is built).
    pub fn architecture(&self) -> String {
        let arch = self.model.config().describe();
        match &self.train.fsp {
            Some(f) => crate::model::fsp::label(&arch, f),
            None => arch,
        }
    }

    /// Parameters, counted from the config without building the model;
    /// `None` if the count overflows.
    pub fn param_count(&self) -> Option<u64> {
        self.model.config().param_count(self.train.seq_len)
    }

    pub fn budget_label(&self) -> String {
        budget_label(&self.train.budget)
    }
}

pub fn budget_label(b: &Budget) -> String {
    match b {
        Budget::Steps(s) => format!("{} steps", thousands(*s)),
        Budget::Tokens(t) => format!("{} tokens", thousands(*t)),
        Budget::Minutes(m) => format!("{m} min"),
    }
}

/// RON as presets are written: a version's config inside its `model:` variant
/// without a second pair of parentheses (`Cortex(vocab: 4096, ...)`).
fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES)
}

/// Line and column (1-based) of the first `field:` in the text, for error messages.
fn locate(text: &str, field: &str) -> (usize, usize) {
    let pat = format!("{field}:");
    for (i, line) in text.lines().enumerate() {
        if let Some(c) = line.find(&pat) {
            let before = line[..c].chars().last();
            if before.is_none_or(|ch| !ch.is_alphanumeric() && ch != '_') {
                return (i + 1, line[..c].chars().count() + 1);
            }
        }
    }
    (1, 1)
}

/// Digit grouping for budgets here and for the callers that print presets.
pub use crate::util::thousands;

/// The presets compiled into the binary: (file name, RON text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("v4-bolt.ron", include_str!("../presets/v4-bolt.ron")),
    ("v5-thunderbolt.ron", include_str!("../presets/v5-thunderbolt.ron")),
    ("v5.2-nova-ignition.ron", include_str!("../presets/v5.2-nova-ignition.ron")),
    ("v6-supernova.ron", include_str!("../presets/v6-supernova.ron")),
    ("v7-cortex.ron", include_str!("../presets/v7-cortex.ron")),
    ("v7.1-cortex-iii.ron", include_str!("../presets/v7.1-cortex-iii.ron")),
    ("v7.2-cortex-vi.ron", include_str!("../presets/v7.2-cortex-vi.ron")),
    ("cpuflow-v5-ln.ron", include_str!("../presets/cpuflow-v5-ln.ron")),
    ("cpuflow-v9.7.ron", include_str!("../presets/cpuflow-v9.7.ron")),
    ("v10-fsp.ron", include_str!("../presets/v10-fsp.ron")),
    ("tiny.ron", include_str!("../presets/tiny.ron")),
];

/// A preset as found on disk or built in; parse failures are kept (with their
/// error) so listings can show them instead of hiding them.
#[derive(Debug)]
pub struct PresetEntry {
    pub file: String,
    pub source: String,
    pub text: String,
    pub parsed: Result<Preset, String>,
    /// The file of the preset of the same name this one replaces (one from an
    /// earlier source: built-in, then `./presets/`, then `--presets DIR`).
    pub overrides: Option<String>,
    /// Other files in the same folder that define the same name: the name is
    /// ambiguous, and selecting it by name is refused.
    pub duplicates: Vec<String>,
}

impl PresetEntry {
    pub fn name(&self) -> String {
        match &self.parsed {
            Ok(p) => p.name.clone(),
            Err(_) => Path::new(&self.file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        }
    }

    /// What a listing should say about where this preset comes from: that it
    /// overrides another, or that its name is ambiguous; `None` when neither.
    pub fn note(&self) -> Option<String> {
        if !self.duplicates.is_empty() {
            return Some(format!("ambiguous: {} also defines it", self.duplicates.join(", ")));
        }
        self.overrides.as_ref().map(|f| format!("overrides {f}"))
    }
}

/// Built-in presets, then `./presets/`, then `extra_dir`: a preset replaces
/// one of the same name from an earlier source (and says so in
/// [`PresetEntry::overrides`]) unless it is a copy of the same text; two of
/// the same name in one folder are both kept and marked as duplicates of each other.
pub fn discover(extra_dir: Option<&Path>) -> Vec<PresetEntry> {
    let mut entries: Vec<PresetEntry> = BUILTIN
        .iter()
        .map(|(f, text)| PresetEntry {
            file: format!("<built-in>/{f}"),
            source: "built-in".into(),
            text: text.to_string(),
            parsed: Preset::parse(text, &format!("<built-in>/{f}")).map_err(|e| e.to_string()),
            overrides: None,
            duplicates: Vec::new(),
        })
        .collect();
    let mut dirs: Vec<PathBuf> = vec![PathBuf::from("presets")];
    if let Some(d) = extra_dir {
        // the same folder twice is one source, not a folder of duplicates
        let same = |a: &Path, b: &Path| a.canonicalize().ok().is_some_and(|a| b.canonicalize().ok() == Some(a));
        if !same(d, &dirs[0]) {
            dirs.push(d.to_path_buf());
        }
    }
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> =
            rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "ron")).collect();
        files.sort();
        let mut found: Vec<PresetEntry> = files
            .into_iter()
            .map(|path| {
                let file = path.display().to_string();
                let (text, parsed) = match read_preset_file(&path) {
                    Ok(t) => {
                        let p = Preset::parse(&t, &file).map_err(|e| e.to_string());
                        (t, p)
                    }
                    Err(e) => (String::new(), Err(format!("{file}: cannot read: {e}"))),
                };
                PresetEntry { file, source: dir.display().to_string(), text, parsed, overrides: None, duplicates: Vec::new() }
            })
            .collect();
        let names: Vec<String> = found.iter().map(PresetEntry::name).collect();
        let files: Vec<String> = found.iter().map(|e| e.file.clone()).collect();
        for (i, e) in found.iter_mut().enumerate() {
            e.duplicates = (0..names.len()).filter(|&j| j != i && names[j] == names[i]).map(|j| files[j].clone()).collect();
        }
        for mut entry in found {
            let name = entry.name();
            let same_name: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].name() == name).collect();
            match same_name.first() {
                None => entries.push(entry),
                // a duplicate from this folder goes beside the first one
                Some(&first) if entries[first].source == entry.source => {
                    entry.overrides = entries[first].overrides.clone();
                    entries.insert(same_name[same_name.len() - 1] + 1, entry);
                }
                // a copy of the very same text changes nothing: the earlier one stays
                Some(&first) if entries[first].text == entry.text && entry.duplicates.is_empty() => {}
                // an earlier source's preset is replaced, in its place in the list
                Some(&first) => {
                    entry.overrides = Some(entries[first].file.clone());
                    for &i in same_name[1..].iter().rev() {
                        entries.remove(i);
                    }
                    entries[first] = entry;
                }
            }
        }
    }
    entries
}

/// The most a preset file may hold (they are a few KB).
pub const MAX_PRESET_BYTES: u64 = 1 << 20;

/// A preset file's text, if it is a regular file of at most [`MAX_PRESET_BYTES`]
/// (checked first: a FIFO would block the listing, a huge file fill memory).
fn read_preset_file(path: &Path) -> std::io::Result<String> {
    let meta = crate::util::regular_file(path)?;
    if meta.len() > MAX_PRESET_BYTES {
        let msg = format!("{} bytes; a preset is at most {MAX_PRESET_BYTES} bytes", meta.len());
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg));
    }
    std::fs::read_to_string(path)
}

/// `--preset NAME` or `--preset PATH.ron` → (preset, its RON text).
pub fn resolve(spec: &str, extra_dir: Option<&Path>) -> Result<(Preset, String), PresetError> {
    if spec.ends_with(".ron") || spec.contains('/') {
        let text = read_preset_file(Path::new(spec)).map_err(|e| PresetError::Io(spec.into(), e))?;
        let p = Preset::parse(&text, spec)?;
        return Ok((p, text));
    }
    let entries = discover(extra_dir);
    let mut names: Vec<String> = entries.iter().map(|e| e.name()).collect();
    let mut matching: Vec<PresetEntry> = entries.into_iter().filter(|e| e.name() == spec).collect();
    match matching.len() {
        0 => {
            names.dedup();
            Err(PresetError::Unknown(spec.into(), names.join(", ")))
        }
        1 => {
            let e = matching.remove(0);
            let p = Preset::parse(&e.text, &e.file)?;
            Ok((p, e.text))
        }
        _ => Err(PresetError::Ambiguous { name: spec.into(), files: matching.into_iter().map(|e| e.file).collect() }),
    }
}
