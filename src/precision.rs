//! `--precision auto|fp32|bf16|int8`: what each path supports on this CPU,
//! the message when it cannot run, and the rule `auto` decides by
//! ([`auto_choice`]; the peaks it is given come from `crate::auto_precision`).
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
    /// Training: bf16 where the CPU has AVX512-BF16 and its measured bf16 GEMM peak beats fp32's by
    /// at least 10 %, else fp32 (decided once per process from the cached peaks); generation: fp32
    Auto,
    /// 32-bit floats everywhere (what a library caller gets by default)
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
            Precision::Auto => "auto",
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

/// How much faster (as a fraction) bf16's measured GEMM peak must be than
/// fp32's for `auto` to train in bf16: a smaller lead is within what two
/// measurements of the same CPU differ by, and rounding operands costs a
/// little accuracy, so it is not worth taking for less.
pub const AUTO_MARGIN: f64 = 0.10;

/// What `--precision auto` trains in: bf16 only where the CPU has AVX512-BF16
/// (`has_bf16`) and both peaks (GFLOP/s) are known with bf16's at least
/// [`AUTO_MARGIN`] above fp32's; fp32 otherwise.
pub fn auto_choice(has_bf16: bool, fp32_peak: Option<f64>, bf16_peak: Option<f64>) -> Precision {
    match (has_bf16, fp32_peak, bf16_peak) {
        (true, Some(f), Some(b)) if f.is_finite() && b.is_finite() && f > 0.0 && (b - f) / f >= AUTO_MARGIN - 1e-12 => Precision::Bf16,
        _ => Precision::Fp32,
    }
}

/// Generation's meaning of `auto`: fp32 (bf16 / int8 weights change the
/// output, so they are only used when asked for).
pub fn for_generation(p: Precision) -> Precision {
    if p == Precision::Auto {
        Precision::Fp32
    } else {
        p
    }
}

/// Ok for fp32; for bf16 training, the reason it cannot run here.
pub fn check_training(p: Precision) -> anyhow::Result<()> {
    match p {
        Precision::Auto => anyhow::bail!(
            "--precision auto is decided before training starts (crate::auto_precision::resolve); the trainer needs fp32 or bf16"
        ),
        Precision::Fp32 => Ok(()),
        Precision::Bf16 if !crate::kernels::matmul::bf16_supported() => anyhow::bail!(
            "--precision bf16 trains with AVX512-BF16 dot products (beside AVX-512F and AVX-512BW), which this CPU \
             does not have (it has: {}). Without them bf16 products are f32 products plus conversions, slower than fp32. \
             Train with --precision fp32 (or auto, the default); generation can still use bf16 weights: `sample --precision bf16`.",
            cpu_vector_features()
        ),
        Precision::Bf16 => Ok(()),
        Precision::Int8 => {
            anyhow::bail!("--precision int8 is for generation only (`sample`); train with --precision auto (the default) or fp32")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{auto_choice, Precision};

    #[test]
    fn auto_trains_in_bf16_only_where_it_is_clearly_faster() {
        // no AVX512-BF16: fp32 whatever the figures say
        assert_eq!(auto_choice(false, Some(100.0), Some(300.0)), Precision::Fp32);
        // bf16 slower (Intel without AMX)
        assert_eq!(auto_choice(true, Some(226.0), Some(180.0)), Precision::Fp32);
        // bf16 10 % and more faster
        assert_eq!(auto_choice(true, Some(100.0), Some(110.0)), Precision::Bf16);
        assert_eq!(auto_choice(true, Some(100.0), Some(112.0)), Precision::Bf16);
        assert_eq!(auto_choice(true, Some(100.0), Some(250.0)), Precision::Bf16);
        // only 5 % faster: within the noise, fp32
        assert_eq!(auto_choice(true, Some(100.0), Some(105.0)), Precision::Fp32);
        assert_eq!(auto_choice(true, Some(100.0), Some(100.0)), Precision::Fp32);
        // a peak not known
        assert_eq!(auto_choice(true, None, Some(300.0)), Precision::Fp32);
        assert_eq!(auto_choice(true, Some(100.0), None), Precision::Fp32);
        assert_eq!(auto_choice(true, None, None), Precision::Fp32);
        assert_eq!(auto_choice(true, Some(0.0), Some(10.0)), Precision::Fp32);
        assert_eq!(auto_choice(true, Some(f64::NAN), Some(10.0)), Precision::Fp32);
    }
}
