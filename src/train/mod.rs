//! Training: optimiser, checkpoints, the loop on a background thread, evaluation.
//!
//! `trainer.rs` starts the thread; `prepare.rs` (with `pipeline.rs` for the
//! data and `budget.rs`) gets a run ready; `session.rs` is the loop, with
//! `commands.rs` for the consumer's commands and `periodic.rs` for what is
//! done every few steps.

mod budget;
pub mod checkpoint;
mod commands;
pub mod error;
pub mod eval;
pub mod lanes;
pub mod optim;
mod periodic;
mod pipeline;
mod prepare;
pub mod probe;
pub mod run;
mod session;
pub mod trainer;

pub use error::TrainError;
pub use trainer::{start, RunConfig};
