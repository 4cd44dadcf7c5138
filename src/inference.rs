//! Models ready for inference, for both front-ends: a checkpoint (or imported
//! reference weights) loaded into a definition, weights and tokenizer.
//! Streaming generation itself is [`crate::generate::stream_sample`], one layer
//! down so the trainer's live samples use it too.

use crate::data::corpus::CorpusSource;
use crate::data::tok::Tok;
use crate::model::Model;
use crate::preset::{resolve, Preset};
use crate::train::checkpoint;
use anyhow::{anyhow, bail, Result};
use std::path::PathBuf;

/// Where a model comes from: a checkpoint folder, or reference PyTorch
/// weights with the preset and tokenizer they were trained with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelSource {
    pub checkpoint: Option<PathBuf>,
    pub weights: Option<PathBuf>,
    pub preset: Option<String>,
    pub tokenizer: Option<PathBuf>,
}

impl ModelSource {
    pub fn checkpoint(dir: PathBuf) -> Self {
        ModelSource { checkpoint: Some(dir), ..Default::default() }
    }

    /// Short description for titles and logs.
    pub fn label(&self) -> String {
        match (&self.checkpoint, &self.weights) {
            (Some(c), _) => format!("checkpoint {}", c.display()),
            (None, Some(w)) => format!("weights {}", w.display()),
            _ => "model".into(),
        }
    }
}

/// A model ready for inference: definition, weights, tokenizer, and what it was trained on.
pub struct Loaded {
    pub preset: Preset,
    pub model: Model,
    pub params: Vec<f32>,
    pub tokenizer: Tok,
    pub corpus: Option<CorpusSource>,
    /// Things the user should know about these weights (shown, never fatal).
    pub warnings: Vec<String>,
}

impl Loaded {
    /// Ids that sampling must never produce: specials other than `<eos>`, and ids the tokenizer never makes.
    pub fn banned_ids(&self) -> Vec<bool> {
        self.tokenizer.banned_ids(self.model.vocab())
    }
}

pub fn load_model(src: &ModelSource) -> Result<Loaded> {
    if let Some(dir) = &src.checkpoint {
        let ck = checkpoint::load_model(dir)?;
        let corpus = if ck.state.corpus.starts_with("built-in") {
            CorpusSource::BuiltIn { seed: ck.preset.data.builtin_seed, stories: ck.preset.data.builtin_stories }
        } else {
            CorpusSource::Path(PathBuf::from(&ck.state.corpus))
        };
        let checkpoint::Loaded { preset, model, params, tokenizer, .. } = ck;
        return Ok(Loaded { preset, model, params, tokenizer, corpus: Some(corpus), warnings: Vec::new() });
    }
    if let Some(w) = &src.weights {
        let (preset, _) = resolve(src.preset.as_deref().unwrap_or_default(), None)?;
        let tpath = src.tokenizer.as_deref().ok_or_else(|| anyhow!("--weights needs --tokenizer"))?;
        let tokenizer = Tok::load(tpath)?;
        tokenizer.check_specials(&tpath.display().to_string())?;
        tokenizer.check_vocab(preset.vocab())?;
        crate::limits::check_preset(&preset, preset.train.batch, crate::model::footprint::Purpose::Infer)?;
        let model = preset.build_model();
        let params = crate::weights::import_reference(&*model, w).map_err(|e| anyhow!(e))?;
        let warnings = vec![crate::weights::D3_WARNING.to_string()];
        return Ok(Loaded { preset, model, params, tokenizer, corpus: None, warnings });
    }
    bail!("give a model: --checkpoint DIR, or --weights FILE --preset P --tokenizer tokenizer.json")
}
