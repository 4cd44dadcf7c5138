//! Moving parameters between our flat layout and reference-named safetensors files.

use crate::model::{LanguageModel, Layout};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a valid safetensors file: {msg}")]
    Format { path: String, msg: String },
    #[error("{path}: the tensors do not match this model:\n{details}")]
    Mismatch { path: String, details: String },
    #[error("{path}: tensor `{tensor}` holds a non-finite value ({value} at index {index}); weights with NaN or Inf cannot be used (the run diverged, or the file is damaged)")]
    NonFinite { path: String, tensor: String, value: f32, index: usize },
}

/// Tensors by name: (shape, values).
pub type NamedTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads every tensor of a safetensors buffer as f32 (f32 data only; others are
/// reported by name).
pub fn read_f32_tensors(bytes: &[u8], path: &str) -> Result<NamedTensors, WeightsError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format { path: path.into(), msg: e.to_string() })?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            continue;
        }
        out.insert(name.to_string(), (view.shape().to_vec(), f32s(view.data())));
    }
    Ok(out)
}

pub fn f32s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Fills a flat parameter vector from named tensors. `aliases` are (alias, canonical)
/// pairs such as ("head.weight", "embed.weight"): an alias may be present (and must
/// then equal the canonical tensor) or absent. `ignored` names (non-trainable buffers
/// like `decay_mask`) are skipped. Every missing, unexpected or mis-shaped tensor is listed;
/// a tensor holding NaN or Inf is refused by name.
pub fn params_from_named(
    layout: &Layout,
    tensors: &NamedTensors,
    aliases: &[(&str, &str)],
    is_ignored: impl Fn(&str) -> bool,
    path: &str,
) -> Result<Vec<f32>, WeightsError> {
    let mut params = vec![0.0f32; layout.total];
    let mut problems = Vec::new();
    for t in &layout.tensors {
        match tensors.get(&t.name) {
            None => problems.push(format!("  missing: {} {:?}", t.name, t.shape)),
            Some((shape, data)) => {
                if shape != &t.shape {
                    problems.push(format!("  wrong shape: {} is {:?}, expected {:?}", t.name, shape, t.shape));
                } else {
                    params[t.range()].copy_from_slice(data);
                }
            }
        }
    }
    for (name, (shape, data)) in tensors {
        if layout.get(name).is_some() || is_ignored(name) {
            continue;
        }
        if let Some((_, canon)) = aliases.iter().find(|(a, _)| a == name) {
            if let Some((cs, cd)) = tensors.get(*canon) {
                if cs != shape || cd.iter().zip(data).any(|(a, b)| a.to_bits() != b.to_bits()) {
                    problems.push(format!("  {name} should be tied to {canon} but holds different values"));
                }
            }
            continue;
        }
        problems.push(format!("  unexpected: {name} {shape:?}"));
    }
    if !problems.is_empty() {
        return Err(WeightsError::Mismatch { path: path.into(), details: problems.join("\n") });
    }
    // NaN or Inf would only make every loss and sample NaN: refused here, by tensor
    for t in &layout.tensors {
        if let Some(index) = params[t.range()].iter().position(|v| !v.is_finite()) {
            let value = params[t.range()][index];
            return Err(WeightsError::NonFinite { path: path.into(), tensor: t.name.clone(), value, index });
        }
    }
    Ok(params)
}

/// [`params_from_named`] with `model`'s layout, tied aliases and buffer names.
pub fn params_for_model(model: &dyn LanguageModel, tensors: &NamedTensors, path: &str) -> Result<Vec<f32>, WeightsError> {
    params_from_named(model.layout(), tensors, &model.tied_aliases(), |n| model.is_buffer(n), path)
}

/// Serialises named f32 tensors (a flat buffer sliced by `layout`, plus aliases
/// duplicated under their reference names) as safetensors bytes.
pub fn to_safetensors(
    layout: &Layout,
    buffers: &[(&str, &[f32])],
    aliases: &[(&str, &str)],
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    let mut bytes: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (prefix, buf) in buffers {
        for t in &layout.tensors {
            let data: Vec<u8> = buf[t.range()].iter().flat_map(|v| v.to_le_bytes()).collect();
            bytes.push((format!("{prefix}{}", t.name), t.shape.clone(), data.clone()));
            for (alias, canon) in aliases {
                if *canon == t.name && prefix.is_empty() {
                    bytes.push((alias.to_string(), t.shape.clone(), data.clone()));
                }
            }
        }
    }
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(n, s, d)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), d)?)))
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    safetensors::serialize(views, &None)
}

pub fn read_file(path: &Path) -> Result<Vec<u8>, WeightsError> {
    std::fs::read(path).map_err(|e| WeightsError::Io { path: path.display().to_string(), source: e })
}

/// Shown whenever reference v7.x weights are imported.
pub const D3_WARNING: &str = "reference FlashLM v7.x weights were trained to predict the token after next (spec D3): expect poor next-token loss and odd samples until fine-tuned";

/// Loads a plain safetensors file holding a reference `state_dict` (reference
/// names, tied keys duplicated, the model's buffers ignored) into `model`'s layout.
pub fn import_reference(model: &dyn LanguageModel, path: &Path) -> Result<Vec<f32>, String> {
    let bytes = read_file(path).map_err(|e| e.to_string())?;
    let p = path.display().to_string();
    let named = read_f32_tensors(&bytes, &p).map_err(|e| e.to_string())?;
    params_for_model(model, &named, &p).map_err(|e| e.to_string())
}
