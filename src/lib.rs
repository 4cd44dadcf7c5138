//! flashlm-tui: train the FlashLM family of small language models on CPUs.

pub mod kernels;
pub mod model;
pub mod rng;
pub mod weights;
