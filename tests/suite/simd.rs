//! The AVX2 matrix–vector kernels (`kernels::simd`, used wherever the CPU has
//! AVX2 + FMA) against an f64 reference, at every awkward shape: rows not a
//! multiple of 4, row lengths not a multiple of 8 or 16, and the parallel split.

use flashlm_tui::kernels::vec::{dot, from_bf16, matvec_mat, to_bf16, Mat, Q8_BLOCK};
use flashlm_tui::rng::Rng;

fn reference(w: impl Fn(usize) -> f64, rows: usize, x: &[f32]) -> Vec<f64> {
    let n = x.len();
    (0..rows).map(|o| (0..n).map(|i| w(o * n + i) * x[i] as f64).sum()).collect()
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len());
    for (o, (&g, &e)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - e).abs() <= 1e-5 * (1.0 + e.abs()), "{what}: row {o}: {g} vs {e}");
    }
}

#[test]
fn matvec_every_weight_type_and_shape() {
    let mut rng = Rng::new(21);
    for n in [1usize, 7, 8, 9, 15, 16, 17, 24, 33, 256, 300] {
        for rows in [1usize, 3, 4, 5, 9] {
            let w: Vec<f32> = (0..rows * n).map(|_| rng.normal()).collect();
            let x: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let mut y = vec![f32::NAN; rows];
            matvec_mat(&mut y, Mat::F32(&w), &x, false);
            assert_close(&y, &reference(|i| w[i] as f64, rows, &x), &format!("f32 {rows}×{n}"));

            let h: Vec<u16> = w.iter().map(|&v| to_bf16(v)).collect();
            matvec_mat(&mut y, Mat::Bf16(&h), &x, false);
            assert_close(&y, &reference(|i| from_bf16(h[i]) as f64, rows, &x), &format!("bf16 {rows}×{n}"));

            let codes: Vec<i8> = (0..rows * n).map(|_| rng.below(3) as i8 - 1).collect();
            let scales: Vec<f32> = (0..rows).map(|_| rng.next_f32() + 0.1).collect();
            matvec_mat(&mut y, Mat::Ternary { codes: &codes, scales: &scales }, &x, false);
            let want = reference(|i| codes[i] as f64 * scales[i / n] as f64, rows, &x);
            assert_close(&y, &want, &format!("ternary {rows}×{n}"));

            // int8 in blocks of 32 along each row (rows of a multiple of 32), else the f32 copy
            let q: Vec<i8> = (0..rows * n).map(|_| (rng.below(255) as i32 - 127) as i8).collect();
            let qs: Vec<f32> = (0..(rows * n).div_ceil(Q8_BLOCK)).map(|_| rng.next_f32() * 0.01).collect();
            let deq: Vec<f32> = (0..rows * n).map(|i| q[i] as f32 * qs[i / Q8_BLOCK]).collect();
            matvec_mat(&mut y, Mat::Q8 { codes: &q, scales: &qs, f32: &deq }, &x, false);
            assert_close(&y, &reference(|i| deq[i] as f64, rows, &x), &format!("int8 {rows}×{n}"));
        }
    }
}

#[test]
fn dot_odd_lengths() {
    let mut rng = Rng::new(22);
    for n in [0usize, 1, 5, 8, 16, 17, 31, 64, 1001] {
        let a: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let want: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
        assert!((dot(&a, &b) as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "n={n}");
    }
}

/// The parallel product splits rows in blocks of 4 over the pool; every row is
/// computed by the same code either way, so the result is bit-identical.
#[test]
fn parallel_matvec_equals_serial_bit_for_bit() {
    let mut rng = Rng::new(23);
    let (rows, n) = (1030usize, 256usize); // 263,680 products: above the parallel threshold
    let w: Vec<f32> = (0..rows * n).map(|_| rng.normal()).collect();
    let x: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    let q: Vec<i8> = w.iter().map(|&v| (v * 40.0).clamp(-127.0, 127.0) as i8).collect();
    let qs = vec![0.025f32; rows * n / Q8_BLOCK];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    for mat in [Mat::F32(&w), Mat::Q8 { codes: &q, scales: &qs, f32: &w }] {
        let (mut serial, mut par) = (vec![0.0f32; rows], vec![0.0f32; rows]);
        matvec_mat(&mut serial, mat, &x, false);
        pool.install(|| matvec_mat(&mut par, mat, &x, true));
        assert!(serial.iter().zip(&par).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

/// Where the CPU has AVX-512F, f32 rows run in zmm registers; each holds both
/// ymm chains of the AVX2 kernel, so the sums must be the same bits, tails included.
#[cfg(target_arch = "x86_64")]
#[test]
fn f32_rows_in_zmm_equal_the_avx2_kernel_bit_for_bit() {
    use flashlm_tui::kernels::dispatch::{products, Level};
    if products() != Level::Avx512 {
        eprintln!("skipped: no AVX-512 here (or FLASHLM_SIMD caps it), so both sides are the AVX2 kernel");
        return;
    }
    let mut rng = Rng::new(24);
    for n in [7usize, 8, 9, 16, 24, 40, 255, 256, 300] {
        for rows in [1usize, 4, 6, 9] {
            let w: Vec<f32> = (0..rows * n).map(|_| rng.normal()).collect();
            let x: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let (mut got, mut avx2) = (vec![0.0f32; rows], vec![0.0f32; rows]);
            matvec_mat(&mut got, Mat::F32(&w), &x, false);
            // SAFETY: AVX2 and FMA checked above; w holds rows·n weights
            unsafe { flashlm_tui::kernels::simd::matvec(&mut avx2, &w, &x) };
            assert!(got.iter().zip(&avx2).all(|(a, b)| a.to_bits() == b.to_bits()), "{rows}×{n}");
        }
    }
}

/// Attention's weighted sum of value rows, against an f64 sum: widths below,
/// at and above its 64-column chunk, odd and even row counts, no rows.
#[test]
fn weighted_rows_match_f64() {
    use flashlm_tui::kernels::vec::weighted_rows;
    let mut rng = Rng::new(21);
    for n in [1, 7, 64, 70, 130] {
        for rows in [0, 1, 2, 5, 8, 333] {
            // weights like a softmax's: summing to about 1
            let p: Vec<f32> = (0..rows).map(|_| 2.0 * rng.next_f32() / rows as f32).collect();
            let v: Vec<f32> = (0..rows * n).map(|_| rng.normal()).collect();
            let mut o = vec![f32::NAN; n];
            weighted_rows(&mut o, &p, &v);
            let want: Vec<f64> = (0..n).map(|i| (0..rows).map(|j| p[j] as f64 * v[j * n + i] as f64).sum()).collect();
            assert_close(&o, &want, &format!("{rows} rows of {n}"));
        }
    }
}
