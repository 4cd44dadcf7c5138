//! One integration-test binary (links once, far faster than many).

mod cli;
mod common;
mod cortex_v7;
mod data;
mod generate;
mod golden;
mod gradcheck;
mod hebbian;
mod presets;
mod stories;
mod train;
mod tui;
