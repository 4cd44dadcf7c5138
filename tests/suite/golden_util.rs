//! The reference fixtures (tests/fixtures/<version>/) shared by every model's
//! golden test: config.json, weights.safetensors and case.safetensors (tokens,
//! loss, logits and one `grad.*` tensor per parameter), compared with the golden
//! README's tolerances: |Δ| ≤ 1e-5 for loss and logits, |Δ| ≤ 1e-5 + 1e-4·max|ref|
//! per gradient tensor. Also the full_size.json state dicts.

use super::common::{fixtures, pool};
use flashlm_tui::model::{LanguageModel, Workspace};
use flashlm_tui::weights::{f32s, import_reference};
use safetensors::SafeTensors;
use std::path::{Path, PathBuf};

pub fn read_json(path: impl AsRef<Path>) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A NaN difference must fail a `<=` tolerance check, not vanish in `f32::max`.
pub fn nan_is_inf(x: f32) -> f32 {
    if x.is_nan() {
        f32::INFINITY
    } else {
        x
    }
}

/// max |a − b| over equally long slices (NaN counts as ∞).
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| nan_is_inf((x - y).abs())).fold(0.0, f32::max)
}

/// `(name, shape)` of every entry of a full_size.json `state_dict`, in order.
pub fn state_dict(j: &serde_json::Value) -> Vec<(String, Vec<usize>)> {
    j["state_dict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().to_string(), e[1].as_array().unwrap().iter().map(|s| s.as_u64().unwrap() as usize).collect()))
        .collect()
}

/// `(name, shape)` of every parameter tensor of `model`, in layout order.
pub fn layout_shapes(model: &dyn LanguageModel) -> Vec<(String, Vec<usize>)> {
    model.layout().tensors.iter().map(|t| (t.name.clone(), t.shape.clone())).collect()
}

/// The fixture's batch: inputs x = tokens[:, :-1], targets y = tokens[:, 1:].
pub struct Case {
    pub b: usize,
    pub t: usize,
    pub x: Vec<u32>,
    pub y: Vec<u32>,
}

/// One golden fixture folder, tests/fixtures/<version>.
pub struct Golden {
    pub version: String,
    pub dir: PathBuf,
    /// config.json
    pub cfg: serde_json::Value,
    case_bytes: Vec<u8>,
}

/// What [`Golden::run`] computed (after checking loss and logits).
pub struct Run {
    pub case: Case,
    pub grads: Vec<f32>,
    pub loss_err: f64,
    pub logit_err: f32,
}

impl Golden {
    pub fn open(version: &str) -> Self {
        let dir = fixtures().join(version);
        let cfg = read_json(dir.join("config.json"));
        let case_bytes = std::fs::read(dir.join("case.safetensors")).unwrap();
        Golden { version: version.to_string(), dir, cfg, case_bytes }
    }

    pub fn case(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.case_bytes).unwrap()
    }

    /// A float tensor of case.safetensors.
    pub fn tensor(&self, name: &str) -> Vec<f32> {
        f32s(self.case().tensor(name).unwrap().data())
    }

    pub fn tokens(&self) -> Case {
        let case = self.case();
        let tok = case.tensor("tokens").unwrap();
        let (b, t1) = (tok.shape()[0], tok.shape()[1]);
        let t = t1 - 1;
        let tokens: Vec<i64> = tok.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
        let pick = |shift: usize| (0..b * t).map(|i| tokens[(i / t) * t1 + i % t + shift] as u32).collect::<Vec<u32>>();
        Case { b, t, x: pick(0), y: pick(1) }
    }

    /// Checks the parameter count against config.json, then loads weights.safetensors
    /// (buffers skipped, tied aliases checked against their canonical tensor).
    pub fn params(&self, model: &dyn LanguageModel) -> Vec<f32> {
        let v = &self.version;
        assert_eq!(model.num_params() as u64, self.cfg["param_count"].as_u64().unwrap(), "{v}: parameter count");
        import_reference(model, &self.dir.join("weights.safetensors")).unwrap()
    }

    /// |loss − reference loss| ≤ 1e-5; returns |Δ|.
    pub fn assert_loss(&self, what: &str, loss: f64) -> f64 {
        let reference = self.tensor("loss")[0] as f64;
        let err = (loss - reference).abs();
        eprintln!("{} golden: {what} {loss} vs {reference} (|Δ| {err:.3e})", self.version);
        assert!(err <= 1e-5, "{}: {what} {loss} vs reference {reference}", self.version);
        err
    }

    /// Every element of `ours` within 1e-5 of the fixture tensor `name` (same length); returns max |Δ|.
    pub fn assert_close(&self, name: &str, ours: &[f32]) -> f32 {
        let worst = max_diff(ours, &self.tensor(name));
        eprintln!("{} golden: {name} max |Δ| {worst:.3e}", self.version);
        assert!(worst <= 1e-5, "{}: {name} differs by {worst}", self.version);
        worst
    }

    /// `loss_and_grad` on the fixture batch (loss checked), then `forward` (logits
    /// checked: the backward may have overwritten them).
    pub fn run(&self, model: &dyn LanguageModel, params: &[f32], ws: &mut Workspace) -> Run {
        let case = self.tokens();
        let Case { b, t, .. } = case;
        let mut grads = vec![0.0f32; model.num_params()];
        let loss = pool().install(|| model.loss_and_grad(ws, params, &mut grads, &case.x, &case.y, b, t));
        let loss_err = self.assert_loss("loss", loss);
        pool().install(|| model.forward(ws, params, &case.x, b, t));
        let logit_err = self.assert_close("logits", &ws.logits[..b * t * model.vocab()]);
        Run { case, grads, loss_err, logit_err }
    }

    /// Every `grad.*` tensor of the fixture against ours (a tied alias maps to its
    /// canonical tensor) within 1e-5 + 1e-4·max|ref|, and every parameter (and tied
    /// alias) must have one. `each(name, ours)` runs on every compared tensor.
    /// Returns how many were compared and the worst |Δ| as a share of its tolerance.
    pub fn assert_every_gradient(&self, model: &dyn LanguageModel, grads: &[f32], mut each: impl FnMut(&str, &[f32])) -> (usize, f32) {
        let v = &self.version;
        let aliases = model.tied_aliases();
        let (mut checked, mut worst_ratio) = (0, 0.0f32);
        for (name, view) in self.case().tensors() {
            let Some(pname) = name.strip_prefix("grad.") else {
                continue;
            };
            let canon = aliases.iter().find(|(a, _)| *a == pname).map_or(pname, |(_, c)| c);
            let info = model.layout().get(canon).unwrap_or_else(|| panic!("{v}: gradient {name} has no parameter here"));
            let (ours, reference) = (&grads[info.range()], f32s(view.data()));
            assert_eq!(ours.len(), reference.len(), "{v}: {name} size");
            let max_ref = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let tol = 1e-5 + 1e-4 * max_ref;
            let worst = max_diff(ours, &reference);
            eprintln!("   {name:<36} max|ref| {max_ref:.3e}  max|Δ| {worst:.3e}  ({:.3} of tolerance)", worst / tol);
            assert!(worst <= tol, "{v}: {name} differs by {worst} (tolerance {tol})");
            worst_ratio = worst_ratio.max(worst / tol);
            each(pname, ours);
            checked += 1;
        }
        eprintln!("{v} golden: {checked} gradient tensors, worst at {worst_ratio:.3} of tolerance");
        assert_eq!(checked, model.layout().tensors.len() + aliases.len(), "{v}: every parameter's gradient must be checked");
        (checked, worst_ratio)
    }
}
