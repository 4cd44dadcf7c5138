//! A sweep's runs: presets × grid points, then the list; overrides applied
//! to each preset by dotted path ("train.lr", "model.d_model") and the result
//! held to the preset's own validation.

use super::{SweepError, SweepFile, MAX_RUNS};
use crate::preset::{resolve, FspConfig, Preset, PresetError};
use serde_json::Value;
use std::path::Path;

/// One run of a sweep, its overrides applied and validated.
#[derive(Clone, Debug)]
pub struct Run {
    /// 0 … N−1, in expansion order.
    pub id: usize,
    /// The preset as the sweep file names it.
    pub preset_spec: String,
    /// The overrides, in file order (sweep-wide ones first).
    pub overrides: Vec<(String, Value)>,
    /// The preset with the overrides applied.
    pub preset: Preset,
    /// Its RON text (the preset's own text when nothing is overridden).
    pub text: String,
}

impl Run {
    /// `train.lr=0.001 train.seed=1`, or `(preset defaults)`.
    pub fn label(&self) -> String {
        if self.overrides.is_empty() {
            return "(preset defaults)".into();
        }
        self.overrides.iter().map(|(k, v)| format!("{k}={}", value_label(v))).collect::<Vec<_>>().join(" ")
    }

    /// The run's folder in the sweep folder: `run-003-tiny-lr0.003-seed1`
    /// (ASCII letters, digits, `.`, `-`, `_`; the id keeps it unique).
    pub fn folder_name(&self) -> String {
        let mut s = format!("run-{:03}-{}", self.id, self.preset.name);
        for (k, v) in &self.overrides {
            let field = k.rsplit('.').next().unwrap_or(k);
            s.push('-');
            s.push_str(field);
            s.push_str(&value_label(v));
        }
        let mut clean: String =
            s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
        if clean.len() > 96 {
            clean.truncate(96);
        }
        clean
    }
}

/// A value as a label: strings without quotes, `none` for null.
pub fn value_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        // an f32 field read back as f64 shows as the f32 it is (0.001, not 0.0010000000474974513)
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let f = x as f32;
            if f as f64 == x {
                f.to_string()
            } else {
                x.to_string()
            }
        }
        other => other.to_string(),
    }
}

pub(super) fn expand(s: &SweepFile, presets_dir: Option<&Path>) -> Result<Vec<Run>, SweepError> {
    let points = grid_points(s)?;
    let mut plan: Vec<(String, Vec<(String, Value)>)> = Vec::new();
    for p in &s.presets {
        for point in &points {
            plan.push((p.clone(), merged(&s.overrides.0, point)));
        }
    }
    for e in &s.list {
        plan.push((e.preset.clone(), merged(&s.overrides.0, &e.overrides.0)));
    }
    if plan.len() > MAX_RUNS {
        return Err(SweepError::Invalid(format!("{} runs; a sweep has at most {MAX_RUNS}", plan.len())));
    }
    let mut bases: Vec<(String, Preset, String)> = Vec::new();
    let mut runs = Vec::with_capacity(plan.len());
    for (id, (spec, overrides)) in plan.into_iter().enumerate() {
        let (base, text) = match bases.iter().find(|b| b.0 == spec) {
            Some(b) => (b.1.clone(), b.2.clone()),
            None => {
                let (p, t) = resolve(&spec, presets_dir).map_err(|e| SweepError::Invalid(format!("run {id}: {e}")))?;
                bases.push((spec.clone(), p.clone(), t.clone()));
                (p, t)
            }
        };
        let what = format!("run {id} ({spec}{})", overrides.iter().map(|(k, v)| format!(" {k}={}", value_label(v))).collect::<String>());
        let (preset, text) = apply_overrides(&base, &text, &overrides).map_err(|e| SweepError::Invalid(format!("{what}: {e}")))?;
        runs.push(Run { id, preset_spec: spec, overrides, preset, text });
    }
    Ok(runs)
}

/// Every combination of the grid's values, the last key varying fastest;
/// one empty point for no grid.
fn grid_points(s: &SweepFile) -> Result<Vec<Vec<(String, Value)>>, SweepError> {
    let mut points: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (k, vals) in s.grid.iter() {
        if points.len().saturating_mul(vals.len()).saturating_mul(s.presets.len().max(1)) > MAX_RUNS {
            return Err(SweepError::Invalid(format!("the grid expands to more than {MAX_RUNS} runs")));
        }
        points = points
            .into_iter()
            .flat_map(|p| {
                vals.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((k.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    Ok(points)
}

/// `base` with `over` on top: a key in both keeps base's place, over's value.
fn merged(base: &[(String, Value)], over: &[(String, Value)]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = base.to_vec();
    for (k, v) in over {
        match out.iter_mut().find(|(o, _)| o == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

/// Keys that a preset may leave out of its serialised form (absent means off).
const OPTIONAL_KEYS: [&str; 1] = ["train.fsp"];

/// Applies dotted-path overrides to a preset and validates the result as a
/// preset file is validated; the error names the key at fault.
pub fn apply_overrides(base: &Preset, text: &str, overrides: &[(String, Value)]) -> Result<(Preset, String), String> {
    if overrides.is_empty() {
        return Ok((base.clone(), text.to_string()));
    }
    let tree = serde_json::to_value(base).map_err(|e| format!("cannot represent the preset: {e}"))?;
    let mut v = tree.clone();
    for (k, val) in overrides {
        set_path(&mut v, k, val)?;
    }
    let p: Preset = match serde_json::from_value(v) {
        Ok(p) => p,
        Err(e) => {
            // find the key whose value does not fit its field
            for (k, val) in overrides {
                let mut one = tree.clone();
                set_path(&mut one, k, val)?;
                if let Err(e) = serde_json::from_value::<Preset>(one) {
                    return Err(format!("`{k}` = {}: {e}", value_label(val)));
                }
            }
            return Err(format!("the overrides together do not make a preset: {e}"));
        }
    };
    let text = p.to_ron().map_err(|e| format!("cannot write the preset: {e}"))?;
    match Preset::parse(&text, "<preset with the sweep's overrides>") {
        Ok(p) => Ok((p, text)),
        Err(PresetError::Invalid { field, msg, .. }) => {
            let key = overrides.iter().find(|(k, _)| k.rsplit('.').next() == Some(field.as_str()));
            match key {
                Some((k, val)) => Err(format!("`{k}` = {} fails the preset's validation: `{field}` {msg}", value_label(val))),
                None => Err(format!(
                    "the overrides ({}) fail the preset's validation: `{field}` {msg}",
                    overrides.iter().map(|(k, _)| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        Err(e) => Err(format!("the overrides fail the preset's validation: {e}")),
    }
}

/// Sets `key` ("train.lr") in the preset's tree; an unknown key is an error
/// naming it. `train.fsp` takes `true` (the reference constants), `false`
/// or a full `(weight: …, horizon: …, stride: …, pos_weight: …)`.
fn set_path(root: &mut Value, key: &str, val: &Value) -> Result<(), String> {
    let val = match (key, val) {
        ("train.fsp", Value::Bool(true)) => serde_json::to_value(FspConfig::default()).map_err(|e| e.to_string())?,
        ("train.fsp", Value::Bool(false)) => Value::Null,
        _ => val.clone(),
    };
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("unknown key `{key}`: keys are dotted paths into the preset such as \"train.lr\" or \"model.d_model\""));
    }
    let unknown = |at: &str| {
        format!("unknown key `{key}`: the preset has no `{at}` (keys are dotted paths into its sections: name, model, train, data; e.g. \"train.lr\", \"model.d_model\")")
    };
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let Value::Object(map) = cur else {
            return Err(unknown(&parts[..i].join(".")));
        };
        // a version's config sits inside its variant ({"Cortex": {...}}): step into it
        if !map.contains_key(*part) && map.len() == 1 {
            let only = map.keys().next().cloned().unwrap_or_default();
            if only.starts_with(|c: char| c.is_ascii_uppercase()) {
                cur = map.get_mut(&only).expect("the one key");
                let Value::Object(inner) = cur else {
                    return Err(unknown(part));
                };
                if last {
                    return insert(inner, part, val, key, &unknown);
                }
                cur = inner.get_mut(*part).ok_or_else(|| unknown(part))?;
                continue;
            }
        }
        if last {
            return insert(map, part, val, key, &unknown);
        }
        cur = map.get_mut(*part).ok_or_else(|| unknown(part))?;
    }
    Ok(())
}

fn insert(
    map: &mut serde_json::Map<String, Value>,
    part: &str,
    val: Value,
    key: &str,
    unknown: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    if !map.contains_key(part) && !OPTIONAL_KEYS.contains(&key) {
        return Err(unknown(part));
    }
    map.insert(part.to_string(), val);
    Ok(())
}

/// The value at `key` in a preset (variants stepped into as [`apply_overrides`] does).
pub fn get_path(p: &Preset, key: &str) -> Option<Value> {
    let mut cur = serde_json::to_value(p).ok()?;
    for part in key.split('.') {
        let Value::Object(mut map) = cur else {
            return None;
        };
        if !map.contains_key(part) && map.len() == 1 {
            let only = map.keys().next().cloned().unwrap_or_default();
            if let Some(Value::Object(inner)) = map.remove(&only) {
                map = inner;
            }
        }
        cur = map.remove(part).unwrap_or(Value::Null);
    }
    Some(cur)
}
