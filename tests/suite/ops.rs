//! Elementwise kernels in `kernels::ops` against their plain loops.

use flashlm_tui::kernels::conv::{conv_backward, conv_backward_plain, conv_forward, conv_forward_plain};
use flashlm_tui::kernels::ops::{exp, mul_add_into};
use flashlm_tui::rng::Rng;

#[test]
fn mul_add_into_equals_the_plain_loop_bit_for_bit() {
    // blocks of 8 and the tail after them; the conv's rows are 192 or 256 long
    let mut rng = Rng::new(11);
    for n in [0, 1, 7, 8, 9, 15, 16, 17, 192, 256, 257] {
        let a: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let o: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let mut want = o.clone();
        for i in 0..n {
            want[i] += a[i] * b[i];
        }
        let mut got = o.clone();
        mul_add_into(&mut got, &a, &b);
        assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()), "length {n}");
    }
}

#[test]
fn tiled_conv_equals_the_plain_loops_bit_for_bit() {
    use flashlm_tui::kernels::conv::{set_width, width, Width};
    // register tiles of 8 positions (or taps, for dw) × 16 channels beside the
    // edge tiles: kernels shorter and longer than a tile (15 taps: two groups
    // overlapping in one), one longer than the window, sequences that cross
    // dw's 64-row chunks, and a width that is no multiple of 16 (plain loops);
    // at each register width this CPU has (both give the same bits, so other
    // tests running meanwhile see no difference)
    let native = width();
    let mut ran = Vec::new();
    for w in [Width::Avx512, Width::Avx2] {
        if !set_width(w) {
            eprintln!("SKIPPED: the {w:?} conv tiles (this CPU lacks them)");
            continue;
        }
        ran.push(w);
        let mut rng = Rng::new(12);
        for (b, t, d, k) in [(2, 37, 32, 15), (3, 64, 16, 4), (1, 8, 48, 8), (2, 5, 16, 9), (2, 20, 24, 15), (1, 256, 64, 15)] {
            let ldu = 2 * d;
            let u: Vec<f32> = (0..b * t * ldu).map(|_| rng.normal()).collect();
            let w_: Vec<f32> = (0..d * k).map(|_| rng.normal()).collect();
            let dc: Vec<f32> = (0..b * t * d).map(|_| rng.normal()).collect();
            let (mut got, mut want) = (vec![0.0; b * t * d], vec![0.0; b * t * d]);
            conv_forward(&mut got, &u[d..], ldu, &w_, t, d, k);
            conv_forward_plain(&mut want, &u[d..], ldu, &w_, t, d, k);
            assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()), "{w:?} forward b={b} t={t} d={d} k={k}");
            let start: Vec<f32> = (0..d * k).map(|_| rng.normal()).collect();
            let (mut du, mut du_want) = (vec![7.0; b * t * ldu], vec![7.0; b * t * ldu]);
            let (mut dw, mut dw_want) = (start.clone(), start);
            conv_backward(&mut du[d..], ldu, &mut dw, &dc, &u[d..], &w_, t, d, k);
            conv_backward_plain(&mut du_want[d..], ldu, &mut dw_want, &dc, &u[d..], &w_, t, d, k);
            assert!(du.iter().zip(&du_want).all(|(g, w)| g.to_bits() == w.to_bits()), "{w:?} du b={b} t={t} d={d} k={k}");
            assert!(dw.iter().zip(&dw_want).all(|(g, w)| g.to_bits() == w.to_bits()), "{w:?} dw b={b} t={t} d={d} k={k}");
        }
    }
    assert!(set_width(native));
    if ran.is_empty() {
        eprintln!("SKIPPED: no conv tiles on this CPU (no AVX2): conv_forward/backward run the plain loops themselves");
    }
}

#[test]
fn exp_takes_its_power_of_two_from_bits_as_the_conversion_did() {
    // 2ⁿ was built with `n as i32`; now from the bits of n + 1.5·2²³. Same
    // result for every input (every 1/64 from −100 to 100, the clamp edges,
    // tiny and huge values, infinities); NaN stays NaN.
    // the constants verbatim from ops::exp
    #[allow(clippy::excessive_precision)]
    fn reference(x: f32) -> f32 {
        let x = x.clamp(-87.3, 88.7);
        let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
        let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
        let mut p = 1.987_569_1e-4f32;
        p = p * r + 1.398_199_9e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 5.000_000_1e-1;
        let y = p * r * r + r + 1.0;
        y * f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
    let mut xs: Vec<f32> = (-6400..=6400).map(|i| i as f32 / 64.0).collect();
    xs.extend([-87.3, 88.7, -87.29, 88.69, -88.0, 89.0, 1e-30, -1e-30, 0.0, -0.0, 1e30, -1e30, f32::INFINITY, f32::NEG_INFINITY]);
    for x in xs {
        assert_eq!(exp(x).to_bits(), reference(x).to_bits(), "exp({x})");
    }
    assert!(exp(f32::NAN).is_nan());
}
