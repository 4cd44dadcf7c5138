//! What the TUI reads from a checkpoint folder before it starts or samples:
//! the preset it was trained with, whether its budget is spent, and the
//! checkpoint as a model source for sampling.

use crate::inference::ModelSource;
use crate::preset::Preset;
use std::path::{Path, PathBuf};

/// The preset a checkpoint was trained with (its own preset.ron).
pub fn checkpoint_preset(ck: &Path) -> Option<Preset> {
    crate::train::checkpoint::read_preset(ck).ok()
}

/// If the checkpoint's budget is already spent: a new total one budget further, and why.
pub fn spent_budget_extension(ck: &Path) -> Option<(crate::preset::Budget, String)> {
    use crate::preset::Budget;
    let st = crate::train::checkpoint::read_state(ck).ok()?;
    let next = match st.budget {
        Budget::Steps(n) if st.step >= n => Budget::Steps(st.step + n),
        Budget::Tokens(n) if st.tokens_seen >= n => Budget::Tokens(st.tokens_seen + n),
        Budget::Minutes(m) if st.elapsed_secs >= m * 60.0 => Budget::Minutes(((st.elapsed_secs / 60.0 + m) * 100.0).round() / 100.0),
        _ => return None,
    };
    let msg = format!(
        "the checkpoint's budget ({}) is spent: continuing to a new total of {}",
        crate::preset::budget_label(&st.budget),
        crate::preset::budget_label(&next)
    );
    Some((next, msg))
}

/// A checkpoint folder as a model source for sampling.
pub fn model_source(checkpoint: PathBuf) -> ModelSource {
    ModelSource::checkpoint(checkpoint)
}
