//! What a model costs in memory, counted from its config alone (nothing is
//! built or allocated), with checked arithmetic: a preset such as
//! `d_model: 1000000000` gives a number or "overflow", never a panic.
//!
//! Each version's config reports its [`Footprint`] (parameters, training
//! workspace at a batch × window, decoder state) from the same sizes its
//! `workspace.rs` and `decode.rs` allocate; [`estimate`] adds what training or
//! inference keeps beside them (gradients, AdamW moments, checkpoint buffers).

use super::config::ModelConfig;
use std::ops::{Add, Mul};

/// A size computed with checked arithmetic: `None` once any step overflowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count(Option<u128>);

/// `x` as a [`Count`].
pub fn n(x: usize) -> Count {
    Count(Some(x as u128))
}

impl Count {
    pub const ZERO: Count = Count(Some(0));

    /// The value, or `None` if it overflowed.
    pub fn get(self) -> Option<u128> {
        self.0
    }

    /// The value if it fits a `u64`.
    pub fn to_u64(self) -> Option<u64> {
        self.0.and_then(|v| u64::try_from(v).ok())
    }

    /// The sum of `items`.
    pub fn sum(items: impl IntoIterator<Item = Count>) -> Count {
        items.into_iter().fold(Count::ZERO, |a, b| a + b)
    }

    /// The larger of two counts (overflow is larger than anything).
    pub fn max(self, o: Count) -> Count {
        match (self.0, o.0) {
            (Some(a), Some(b)) => Count(Some(a.max(b))),
            _ => Count(None),
        }
    }
}

impl Add for Count {
    type Output = Count;
    fn add(self, o: Count) -> Count {
        Count(self.0.zip(o.0).and_then(|(a, b)| a.checked_add(b)))
    }
}

impl Mul for Count {
    type Output = Count;
    fn mul(self, o: Count) -> Count {
        Count(self.0.zip(o.0).and_then(|(a, b)| a.checked_mul(b)))
    }
}

impl Mul<usize> for Count {
    type Output = Count;
    fn mul(self, o: usize) -> Count {
        self * n(o)
    }
}

impl Add<usize> for Count {
    type Output = Count;
    fn add(self, o: usize) -> Count {
        self + n(o)
    }
}

/// A model's sizes in f32 elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Parameters (the flat layout's total).
    pub params: Count,
    /// Training workspace for `batch` windows of `seq` tokens: every activation
    /// the backward pass reads, its scratch, and quantised weight copies.
    pub workspace: Count,
    /// The incremental decoder: per-layer states and caches for a context of
    /// `seq` tokens, and the weight copies it decodes from.
    pub decoder: Count,
    /// Blocks: each costs its parameter table's names and shapes and a few
    /// buffer headers, beside the floats.
    pub layers: usize,
}

/// Bytes of bookkeeping per block (parameter names and shapes, ranges, the
/// workspace's and decoder's per-block buffer headers), measured generously.
const PER_LAYER_BYTES: usize = 4096;

/// What the memory is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Training: parameters, gradients, AdamW moments, workspace, the
    /// periodic sample's decoder, and the buffers a checkpoint is written from.
    Train,
    /// Sampling or evaluation: parameters, workspace, decoder, and the buffers
    /// a checkpoint is read through.
    Infer,
}

/// Bytes by part; `None` means the part's size overflows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    pub parts: Vec<(&'static str, Count)>,
}

impl Estimate {
    /// Total bytes, `None` on overflow.
    pub fn total(&self) -> Option<u128> {
        Count::sum(self.parts.iter().map(|p| p.1)).get()
    }
}

/// Bytes `cfg` needs for `purpose` at `batch` windows of `seq` tokens.
pub fn estimate(cfg: &dyn ModelConfig, batch: usize, seq: usize, purpose: Purpose) -> Estimate {
    let f = cfg.footprint(batch, seq);
    let bytes = |c: Count| c * 4;
    let tokens = n(batch) * n(seq) * 2 * 4; // x and y as u32
    let parts = match purpose {
        Purpose::Train => vec![
            ("params", bytes(f.params)),
            ("gradients", bytes(f.params)),
            ("AdamW moments", bytes(f.params * 2)),
            ("activations", bytes(f.workspace) + tokens),
            ("decoder", bytes(f.decoder)),
            ("bookkeeping", n(f.layers) * PER_LAYER_BYTES),
            // a save serialises weights and both moments before writing them
            ("checkpoint buffers", bytes(f.params * 3)),
        ],
        Purpose::Infer => vec![
            ("params", bytes(f.params)),
            ("activations", bytes(f.workspace) + tokens),
            ("decoder", bytes(f.decoder)),
            ("bookkeeping", n(f.layers) * PER_LAYER_BYTES),
            // the file's bytes and the parsed tensors, beside the params
            ("checkpoint buffers", bytes(f.params * 2)),
        ],
    };
    Estimate { parts }
}
