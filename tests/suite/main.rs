//! One integration-test binary (links once, far faster than many).

mod common;
mod golden;
mod gradcheck;
