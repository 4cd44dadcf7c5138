//! Pure numeric kernels on slices: no model knowledge here.

#[cfg(target_arch = "x86_64")]
mod bf16;
pub mod conv;
pub mod matmul;
pub mod ops;
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
