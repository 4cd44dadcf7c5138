//! Elementwise kernels in `kernels::ops` against their plain loops.

use flashlm_tui::kernels::ops::mul_add_into;
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
