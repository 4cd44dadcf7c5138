//! Run-time choice of the vector width for the element-wise loops.
//!
//! The crate builds for plain x86-64 (SSE2) unless told otherwise, so a loop
//! LLVM vectorises would otherwise use 128-bit vectors and call libm for
//! `floor` and `mul_add`. [`vectorized!`](crate::vectorized) compiles a
//! function's body three times — for AVX-512 (F, BW, DQ, VL), for AVX2 + FMA,
//! and as written — and calls the widest copy this CPU runs. Closures inside
//! the body (rayon's per-row work) inherit the copy's features. No fast-math
//! is involved and `mul_add` is fused in every copy (libm's `fmaf` without
//! FMA), so all three give the same bits.
//!
//! `FLASHLM_SIMD=avx2` (or `baseline`) caps the level, to compare the paths
//! on one machine. `avx2` caps the matrix kernels too; `baseline` does not
//! (their portable fallback sums in another order), so every level gives the
//! same bits on a CPU with AVX2.

use std::sync::atomic::{AtomicU8, Ordering};

/// The widest instruction set the element-wise loops use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// What the build targets (SSE2 for plain x86-64).
    Baseline = 1,
    /// AVX2, FMA, BMI1/2, F16C, LZCNT, POPCNT, SSE4.2.
    Avx2 = 2,
    /// The above plus AVX-512 F, BW, DQ and VL.
    Avx512 = 3,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Avx2 => "AVX2",
            Level::Avx512 => "AVX-512",
        }
    }
}

/// 0: not detected yet, else a `Level`.
static LEVEL: AtomicU8 = AtomicU8::new(0);
static PRODUCTS: AtomicU8 = AtomicU8::new(0);

fn cached(cell: &AtomicU8, compute: impl FnOnce() -> Level) -> Level {
    match cell.load(Ordering::Relaxed) {
        1 => Level::Baseline,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => {
            let l = compute();
            cell.store(l as u8, Ordering::Relaxed);
            l
        }
    }
}

/// The element-wise loops' level: this CPU's, capped by `FLASHLM_SIMD`
/// (detected once).
#[inline]
pub fn level() -> Level {
    cached(&LEVEL, || detected().min(cap_from_env()))
}

/// The matrix kernels' level (GEMM, decode products): this CPU's, capped by
/// `FLASHLM_SIMD=avx2` only.
#[inline]
pub fn products() -> Level {
    cached(&PRODUCTS, || detected().min(cap_from_env().max(Level::Avx2)))
}

/// What the CPU has, uncapped.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2")
            && has!("fma")
            && has!("bmi1")
            && has!("bmi2")
            && has!("f16c")
            && has!("lzcnt")
            && has!("popcnt")
            && has!("sse4.2");
        if avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
            Level::Avx512
        } else if avx2 {
            Level::Avx2
        } else {
            Level::Baseline
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Level::Baseline
    }
}

/// The cap `FLASHLM_SIMD` sets (`avx2`, `baseline`; anything else: none).
pub fn cap_from_env() -> Level {
    match std::env::var("FLASHLM_SIMD").map(|v| v.to_ascii_lowercase()) {
        Ok(v) if v == "avx2" => Level::Avx2,
        Ok(v) if v == "baseline" || v == "sse2" => Level::Baseline,
        _ => Level::Avx512,
    }
}

/// Runs `f` compiled for the widest level [`level`] allows: `f` is inlined
/// into a copy of this function built for that level, so its code (and what
/// it inlines) uses those instructions. For methods, which
/// [`vectorized!`](crate::vectorized) cannot take: mark the method
/// `#[inline(always)]` and call it from an `#[inline(always)]` closure (a
/// closure called from three copies is otherwise compiled once, baseline).
#[inline(always)]
pub fn run<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match level() {
        // SAFETY: level() is Avx512 only where the CPU has every feature `run_avx512` enables.
        Level::Avx512 => return unsafe { run_avx512(f) },
        // SAFETY: level() is Avx2 or above only where the CPU has every feature `run_avx2` enables.
        Level::Avx2 => return unsafe { run_avx2(f) },
        Level::Baseline => {}
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,f16c,lzcnt,popcnt,sse4.2")]
fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi1,bmi2,f16c,lzcnt,popcnt,sse4.2")]
fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Compiles a free function's body for AVX-512, for AVX2 and as written, and
/// calls the widest copy [`level`] allows. Arguments must be plain `name: Type`
/// (no patterns) and the function not generic; lifetimes may be elided.
///
/// ```ignore
/// flashlm_tui::vectorized! {
///     /// doc
///     pub fn scale(x: &mut [f32], s: f32) { for v in x { *v *= s } }
/// }
/// ```
#[macro_export]
macro_rules! vectorized {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,f16c,lzcnt,popcnt,sse4.2")]
                fn wide($($arg: $ty),*) $(-> $ret)? $body
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma,bmi1,bmi2,f16c,lzcnt,popcnt,sse4.2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? $body
                match $crate::kernels::dispatch::level() {
                    // SAFETY: level() is Avx512 only where the CPU has every feature `wide` enables.
                    $crate::kernels::dispatch::Level::Avx512 => return unsafe { wide($($arg),*) },
                    // SAFETY: level() is Avx2 or above only where the CPU has every feature `avx2` enables.
                    $crate::kernels::dispatch::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::kernels::dispatch::Level::Baseline => {}
                }
            }
            $body
        }
    };
}
