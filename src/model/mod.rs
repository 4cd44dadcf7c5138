//! Model assembly. One file per building block, each with forward and backward
//! side by side; `cortex.rs` stacks them into v7.1 / v7.2.

pub mod cortex;
pub mod embedding;
pub mod gated_conv;
pub mod head;
pub mod hebbian;
pub mod params;
pub mod rmsnorm;
pub mod swiglu;

pub use cortex::{Cortex, CortexConfig, MemoryConfig, Workspace};
pub use params::{Layout, TensorInfo};
