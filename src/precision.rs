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
