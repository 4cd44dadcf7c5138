//! `--precision fp32|bf16`: what each path supports on this CPU, and the
//! message when it cannot run.
//!
//! Training in bf16 needs AVX512-BF16 dot products (`vdpbf16ps`); without them a
//! bf16 product is an f32 product plus conversions, i.e. slower than fp32, so
//! `train`/`bench --precision bf16` say so and stop. Where the CPU has them,
//! every matrix product of the step (forward, both backward products) rounds
//! its two operands to bf16 as it packs them and accumulates in f32
//! (`kernels/bf16.rs`); weights, gradients, optimizer state and every
//! elementwise pass stay f32. Generation is different: it streams every weight once per token, so
//! bf16 *storage* (converted to f32 in registers, AVX2 is enough) halves the
//! bytes read; `sample --precision bf16` and `bench` use it where the model's
//! decoder supports it. `int8` goes one step further for generation only:
//! blocks of 32 weights as int8 with one f32 scale (1.125 bytes per weight,
//! the GGML Q8_0 layout); `eval`-style loss through the decoder is reported by
//! `bench` so the cost in quality is measured, not assumed.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Precision {
    /// 32-bit floats everywhere (the default)
    #[default]
    Fp32,
    /// bfloat16: training rounds both operands of every product (f32 accumulation, weights and
    /// optimizer state f32); generation streams bf16 copies of the weights
    Bf16,
    /// int8 weights in blocks of 32 with one f32 scale each (generation only)
    Int8,
}

impl Precision {
    pub fn label(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }
}

/// Vector extensions this CPU reports that matter for the kernels, for messages.
pub fn cpu_vector_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut f = Vec::new();
        if std::arch::is_x86_feature_detected!("avx2") {
            f.push("AVX2");
        }
        if std::arch::is_x86_feature_detected!("fma") {
            f.push("FMA");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            f.push("AVX-512F");
        }
        if std::arch::is_x86_feature_detected!("avx512bw") {
            f.push("AVX-512BW");
        }
        if std::arch::is_x86_feature_detected!("avx512bf16") {
            f.push("AVX512-BF16");
        }
        if f.is_empty() {
            "no AVX".into()
        } else {
            f.join(", ")
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "not x86-64".into()
    }
}

/// Where bf16 products are the slower choice here: why, with both measured
/// GEMM peaks (GFLOP/s). None when bf16 is at least as fast, or a peak is
/// not known (yet).
pub fn bf16_slower(fp32_peak: Option<f64>, bf16_peak: Option<f64>) -> Option<String> {
    let (f, b) = (fp32_peak?, bf16_peak?);
    (b < f).then(|| {
        format!(
            "bf16 is slower than fp32 on this CPU: measured GEMM peaks bf16 {b:.0} GFLOP/s vs fp32 {f:.0} GFLOP/s ({:.2}×); fp32 trains faster here",
            b / f
        )
    })
}

/// Both GEMM peaks on a pool of `threads` (fp32's, then bf16's with bf16
/// products), for [`bf16_slower`]; about a second on two cores. Call only
/// where the CPU has AVX512-BF16.
pub fn measure_fp32_bf16_peaks(threads: usize) -> Option<(f64, f64)> {
    let peak = |bf16: bool| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .start_handler(crate::kernels::matmul::bf16_start_handler(bf16))
            .build()
            .ok()?;
        Some(pool.install(|| crate::kernels::peak::sgemm_peak(4096)))
    };
    Some((peak(false)?, peak(true)?))
}

/// Ok for fp32; for bf16 training, the reason it cannot run here.
pub fn check_training(p: Precision) -> anyhow::Result<()> {
    match p {
        Precision::Fp32 => Ok(()),
        Precision::Bf16 if !crate::kernels::matmul::bf16_supported() => anyhow::bail!(
            "--precision bf16 trains with AVX512-BF16 dot products (beside AVX-512F and AVX-512BW), which this CPU \
             does not have (it has: {}). Without them bf16 products are f32 products plus conversions, slower than fp32. \
             Train with --precision fp32 (the default); generation can still use bf16 weights: `sample --precision bf16`.",
            cpu_vector_features()
        ),
        Precision::Bf16 => Ok(()),
        Precision::Int8 => anyhow::bail!("--precision int8 is for generation only (`sample`); train with --precision fp32 (the default)"),
    }
}
