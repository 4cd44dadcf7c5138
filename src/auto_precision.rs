//! `--precision auto`, the training default: decided once per process by
//! [`crate::precision::auto_choice`] from this machine's GEMM peaks (the
//! cache in [`crate::peaks`], measured once where missing), and said in one
//! line. A resumed run keeps the precision it trained with. Whatever is
//! recorded (state, metrics, the runs table) is the resolved precision.

use crate::peaks::{load_or_measure, Peak};
use crate::precision::{auto_choice, Precision};
use std::path::Path;
use std::sync::Mutex;

/// What `auto` resolved to here, and the figures behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoChoice {
    pub precision: Precision,
    /// The CPU has AVX512-BF16 (else no peak is needed: fp32).
    pub has_bf16: bool,
    pub fp32: Option<Peak>,
    pub bf16: Option<Peak>,
}

impl AutoChoice {
    /// The decision from known figures (no measuring): for the picker.
    pub fn from_peaks(has_bf16: bool, fp32: Option<Peak>, bf16: Option<Peak>) -> Self {
        let precision = auto_choice(has_bf16, fp32.as_ref().map(|p| p.gflops), bf16.as_ref().map(|p| p.gflops));
        AutoChoice { precision, has_bf16, fp32, bf16 }
    }

    /// Why, in a few words: both peaks, or what is missing.
    pub fn reason(&self) -> String {
        match (self.has_bf16, &self.fp32, &self.bf16) {
            (false, _, _) => "this CPU has no AVX512-BF16".into(),
            (true, Some(f), Some(b)) => format!("bf16 GEMM {:.0} GFLOP/s vs fp32 {:.0} on this CPU", b.gflops, f.gflops),
            _ => "GEMM peaks not measured with every core free: fp32 until they are".into(),
        }
    }

    /// `precision auto → fp32 (bf16 GEMM 180 GFLOP/s vs fp32 226 on this CPU)`
    pub fn line(&self) -> String {
        format!("precision auto → {} ({})", self.precision.label(), self.reason())
    }
}

/// Decided once per process (per thread count): the peaks and so the choice
/// do not change while it runs.
static CHOSEN: Mutex<Option<(usize, AutoChoice)>> = Mutex::new(None);

/// What `auto` trains in at `threads` on this machine: cached peaks, else
/// measured now (about a second, only where the CPU has AVX512-BF16).
pub fn resolve(threads: usize) -> AutoChoice {
    let mut chosen = CHOSEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((t, c)) = chosen.as_ref() {
        if *t == threads {
            return c.clone();
        }
    }
    let has_bf16 = crate::kernels::matmul::bf16_supported();
    // only figures taken with every core free decide: one taken under another
    // load reads low, and either could be the low one
    let (fp32, bf16) = if has_bf16 {
        let peak = |p| load_or_measure(threads, p).filter(|(_, kept)| *kept).map(|(peak, _)| peak);
        (peak(Precision::Fp32), peak(Precision::Bf16))
    } else {
        (None, None)
    };
    let c = AutoChoice::from_peaks(has_bf16, fp32, bf16);
    *chosen = Some((threads, c.clone()));
    c
}

/// The precision a run trains in: `asked` unless it is `auto`; then, on
/// resume, the one the checkpoint trained with (where this CPU can), else
/// [`resolve`]. The line says what auto became and why (None when not auto).
pub fn for_run(asked: Precision, threads: usize, resume: Option<&Path>) -> (Precision, Option<String>) {
    if asked != Precision::Auto {
        return (asked, None);
    }
    let kept = resume.and_then(|ck| crate::train::checkpoint::read_state(ck).ok()).map(|st| st.precision);
    if let Some(p) = kept.filter(|p| crate::precision::check_training(*p).is_ok()) {
        return (p, Some(format!("precision auto → {} (what the resumed run trained with)", p.label())));
    }
    let c = resolve(threads);
    (c.precision, Some(c.line()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peak(g: f64) -> Option<Peak> {
        Some(Peak { gflops: g, date: "2026-12-07".into() })
    }

    #[test]
    fn the_line_names_both_peaks_or_what_is_missing() {
        let c = AutoChoice::from_peaks(true, peak(226.0), peak(180.0));
        assert_eq!(c.line(), "precision auto → fp32 (bf16 GEMM 180 GFLOP/s vs fp32 226 on this CPU)");
        let c = AutoChoice::from_peaks(true, peak(200.0), peak(400.0));
        assert_eq!(c.line(), "precision auto → bf16 (bf16 GEMM 400 GFLOP/s vs fp32 200 on this CPU)");
        let c = AutoChoice::from_peaks(false, None, None);
        assert_eq!(c.line(), "precision auto → fp32 (this CPU has no AVX512-BF16)");
        assert_eq!(AutoChoice::from_peaks(true, peak(200.0), None).precision, Precision::Fp32);
    }

    #[test]
    fn a_concrete_precision_is_kept() {
        assert_eq!(for_run(Precision::Fp32, 1, None), (Precision::Fp32, None));
        assert_eq!(for_run(Precision::Bf16, 1, None), (Precision::Bf16, None));
    }
}
