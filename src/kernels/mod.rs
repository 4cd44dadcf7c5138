//! The bottom layer: numeric kernels on slices (GEMM, bf16 products, conv
//! tiles, elementwise passes, reductions), the machine-peak probes, and the few
//! OS calls that need it. No model knowledge here. Every `unsafe` block and
//! every SIMD intrinsic of the crate lives under this folder, each with a
//! `// SAFETY:` line.

pub mod awake;
#[cfg(target_arch = "x86_64")]
mod bf16;
pub mod conv;
pub mod dispatch;
pub mod matmul;
pub mod mmap;
pub mod ops;
pub mod os;
pub mod peak;
pub mod scratch;
#[cfg(target_arch = "x86_64")]
pub mod sgemm;
pub mod simd;
pub mod vec;

pub use matmul::{matmul, MatRef};

/// All cores this process may use: the default size of every thread pool.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
