//! Training: optimiser, checkpoints, the loop on a background thread, evaluation.
//!
//! `trainer.rs` starts the thread; `prepare.rs` (with `pipeline.rs` for the
//! data and `budget.rs`) gets a run ready; `session.rs` is the loop, with
//! `commands.rs` for the consumer's commands, `periodic.rs` for what is
//! done every so often and `cadence.rs` for when; `collective.rs` shares a
//! step among several processes (over MPI with the `mpi` feature: `mpi.rs`).

mod budget;
pub mod cadence;
pub mod checkpoint;
pub mod collective;
mod commands;
pub mod error;
pub mod eval;
pub mod lanes;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod optim;
mod periodic;
mod pipeline;
mod prepare;
pub mod probe;
mod ranked;
pub mod run;
mod session;
pub mod trainer;

pub use budget::fitted_warmup;
pub use cadence::Cadence;
pub use error::TrainError;
pub use trainer::{start, RunConfig};
