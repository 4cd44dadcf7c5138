//! One integration-test binary (links once, far faster than many).

mod cli;
mod common;
mod data;
mod generate;
mod golden;
mod gradcheck;
mod hebbian;
mod presets;
mod stories;
mod supernova;
mod train;
mod tui;
