//! flashlm-tui: train the FlashLM family of small language models on CPUs.

pub mod cli;
pub mod data;
pub mod engine;
pub mod generate;
pub mod inference;
pub mod kernels;
pub mod launch;
pub mod model;
pub mod precision;
pub mod preset;
pub mod rng;
pub mod runs;
pub mod train;
pub mod tui;
pub mod util;
pub mod weights;
