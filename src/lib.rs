//! flashlm-tui: train the FlashLM family of small language models on CPUs.
//!
//! The layers, each using only the ones below it:
//!
//! | layer | modules |
//! |---|---|
//! | front-ends (never import each other; `main.rs` picks one) | [`cli`], [`tui`] |
//! | what a front-end asks for | [`launch`] (how the TUI opens), [`inference`] (load a model to sample from), [`runs`] (past runs), [`report`] (their tables), [`sweep`] (sweep files, their runs and tables), [`peaks`] (this machine's GEMM peaks, cached), [`auto_precision`] (what `--precision auto` trains in) |
//! | training | [`train`] (the loop on its own thread, evaluation, checkpoints) |
//! | the protocol | [`engine`] (`Command` in, `Event` out, on channels) |
//! | models and generation | [`preset`], [`model`] (`blocks/`, `versions/<v>/`), [`limits`] (the memory a preset needs against what is available), [`generate`] (sampling, streaming), [`weights`] |
//! | data | [`data`] (corpus → tokenizer → tokens → batches) |
//! | numerics | [`precision`] (which products a run uses) over [`kernels`] (SIMD and raw memory access, nowhere else) |
//! | utilities | [`rng`], [`util`] |

pub mod auto_precision;
pub mod cli;
pub mod data;
pub mod engine;
pub mod follow;
pub mod generate;
pub mod inference;
pub mod kernels;
pub mod launch;
pub mod limits;
pub mod model;
pub mod peaks;
pub mod precision;
pub mod preset;
pub mod report;
pub mod rng;
pub mod runs;
pub mod sweep;
pub mod train;
pub mod tui;
pub mod util;
pub mod weights;
