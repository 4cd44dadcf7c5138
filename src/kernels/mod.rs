//! Pure numeric kernels on slices: no model knowledge here.

#[cfg(target_arch = "x86_64")]
mod bf16;
pub mod conv;
pub mod matmul;
pub mod ops;
pub mod scratch;
#[cfg(target_arch = "x86_64")]
pub mod sgemm;
pub mod simd;
pub mod vec;

pub use matmul::{matmul, MatRef};
