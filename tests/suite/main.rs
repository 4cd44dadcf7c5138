//! One integration-test binary (links once, far faster than many).

mod bolt;
mod check_util;
mod cli;
mod common;
mod cortex_v7;
mod data;
mod download;
mod generate;
mod golden;
mod golden_util;
mod gpt2;
mod gradcheck;
mod hebbian;
mod lineup;
mod matmul;
mod nova;
mod precision;
mod presets;
mod probe;
mod simd;
mod stories;
mod stream;
mod supernova;
mod thunderbolt;
mod train;
mod tui;
