//! Elementwise kernels in `kernels::ops` against their plain loops.

use flashlm_tui::kernels::ops::mul_add_into;
use flashlm_tui::model::gated_conv::{conv_backward, conv_backward_plain, conv_forward, conv_forward_plain};
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
    // AVX-512 tiles of 8 positions (or taps, for dw) × 16 channels beside the
    // edge tiles: kernels shorter and longer than a tile (15 taps: two groups
    // overlapping in one), one longer than the window, sequences that cross
    // dw's 64-row chunks, and a width that is no multiple of 16 (plain loops)
    if !flashlm_tui::kernels::conv::available() {
        eprintln!("SKIPPED: this CPU lacks AVX-512F, so conv_forward/backward run the plain loops themselves; only that is compared");
    }
    let mut rng = Rng::new(12);
    for (b, t, d, k) in [(2, 37, 32, 15), (3, 64, 16, 4), (1, 8, 48, 8), (2, 5, 16, 9), (2, 20, 24, 15), (1, 256, 64, 15)] {
        let ldu = 2 * d;
        let u: Vec<f32> = (0..b * t * ldu).map(|_| rng.normal()).collect();
        let w: Vec<f32> = (0..d * k).map(|_| rng.normal()).collect();
        let dc: Vec<f32> = (0..b * t * d).map(|_| rng.normal()).collect();
        let (mut got, mut want) = (vec![0.0; b * t * d], vec![0.0; b * t * d]);
        conv_forward(&mut got, &u[d..], ldu, &w, t, d, k);
        conv_forward_plain(&mut want, &u[d..], ldu, &w, t, d, k);
        assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()), "forward b={b} t={t} d={d} k={k}");
        let start: Vec<f32> = (0..d * k).map(|_| rng.normal()).collect();
        let (mut du, mut du_want) = (vec![7.0; b * t * ldu], vec![7.0; b * t * ldu]);
        let (mut dw, mut dw_want) = (start.clone(), start);
        conv_backward(&mut du[d..], ldu, &mut dw, &dc, &u[d..], &w, t, d, k);
        conv_backward_plain(&mut du_want[d..], ldu, &mut dw_want, &dc, &u[d..], &w, t, d, k);
        assert!(du.iter().zip(&du_want).all(|(g, w)| g.to_bits() == w.to_bits()), "du b={b} t={t} d={d} k={k}");
        assert!(dw.iter().zip(&dw_want).all(|(g, w)| g.to_bits() == w.to_bits()), "dw b={b} t={t} d={d} k={k}");
    }
}
