//! Pure numeric kernels on slices: no model knowledge here.

pub mod matmul;
pub mod ops;

pub use matmul::{matmul, MatRef};
