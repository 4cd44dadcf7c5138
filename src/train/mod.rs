//! Training: optimiser, checkpoints, the loop on a background thread, evaluation.

pub mod checkpoint;
pub mod eval;
pub mod lanes;
pub mod optim;
pub mod probe;
pub mod run;
pub mod trainer;

pub use trainer::{start, RunConfig};
