//! `kernels::matmul` (our AVX-512 or AVX2 sgemm where the CPU has it, `gemm`
//! elsewhere) against an f64 reference: every operand layout (row-major and
//! transposed views), accumulate or overwrite, edge sizes around the 6 × 16
//! and 8 × 32 register tiles,
//! the 8-wide packing transposes, the 512-deep k blocks (k = 511 … 1,030),
//! the 256-deep blocks of products 2,048 deep or more, and a leading dimension
//! wider than n. The thread split must not change a single bit.

use flashlm_tui::kernels::matmul::matmul_serial;
use flashlm_tui::kernels::{matmul, MatRef};
use flashlm_tui::rng::Rng;

struct Case {
    m: usize,
    n: usize,
    k: usize,
    a_t: bool,
    b_t: bool,
    accumulate: bool,
}

/// (out, reference) for one case; out has leading dimension n + 3.
fn run(c: &Case, rng: &mut Rng, parallel: bool) -> (Vec<f32>, Vec<f64>) {
    let (m, n, k) = (c.m, c.n, c.k);
    let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
    // a(i, p), b(p, j) in the layout each case asks for
    let av = if c.a_t { MatRef::t(&a, m) } else { MatRef::rows(&a, k) };
    let bv = if c.b_t { MatRef::t(&b, k) } else { MatRef::rows(&b, n) };
    let ga = |i: usize, p: usize| a[i * av.rs + p * av.cs] as f64;
    let gb = |p: usize, j: usize| b[p * bv.rs + j * bv.cs] as f64;
    let ldo = n + 3;
    let init: Vec<f32> = (0..m * ldo).map(|_| rng.normal()).collect();
    let mut out = init.clone();
    let mut want = vec![0.0f64; m * ldo];
    for i in 0..m {
        for j in 0..ldo {
            let o = i * ldo + j;
            want[o] = if j >= n {
                init[o] as f64 // columns past n are never written
            } else {
                let base = if c.accumulate { init[o] as f64 } else { 0.0 };
                base + (0..k).map(|p| ga(i, p) * gb(p, j)).sum::<f64>()
            };
        }
    }
    if parallel {
        matmul(&mut out, ldo, c.accumulate, av, bv, m, n, k);
    } else {
        matmul_serial(&mut out, ldo, c.accumulate, av, bv, m, n, k);
    }
    (out, want)
}

#[test]
fn matmul_matches_f64_at_every_layout_and_edge() {
    let mut rng = Rng::new(5);
    let sizes = [
        (1, 1, 1),
        (5, 15, 7),
        (6, 16, 8),
        (7, 17, 9),
        (13, 33, 17),
        (8, 32, 8),
        (17, 65, 9),
        (12, 48, 511),
        (19, 20, 513),
        (14, 20, 1024),
        (40, 70, 1030),
        (9, 21, 2051),
    ];
    let mut checked = 0;
    for &(m, n, k) in &sizes {
        for (a_t, b_t, accumulate) in [
            (false, false, false),
            (false, true, true),
            (true, false, false),
            (true, true, true),
            (false, false, true),
            (true, true, false),
        ] {
            let c = Case { m, n, k, a_t, b_t, accumulate };
            let (got, want) = run(&c, &mut rng, false);
            for (o, (&g, &e)) in got.iter().zip(&want).enumerate() {
                let tol = 2e-6 * (k as f64).sqrt() * (1.0 + e.abs());
                assert!((g as f64 - e).abs() <= tol, "{m}×{n}×{k} a_t={a_t} b_t={b_t} acc={accumulate}: element {o}: {g} vs {e}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, sizes.len() * 6);
}

#[test]
fn matmul_thread_split_is_bit_exact() {
    // large enough to be split across threads, along m (m ≥ n) and along n
    for (m, n, k, a_t, b_t) in [
        (300, 70, 600, false, true),
        (96, 700, 300, true, false),
        (64, 4096 + 7, 40, false, true),
        (40, 36, 2100, true, false),
        (50, 200, 300, false, false),
    ] {
        let c = Case { m, n, k, a_t, b_t, accumulate: true };
        let (serial, _) = run(&c, &mut Rng::new(9), false);
        // each AVX-512 tile cuts the columns at its own width (same bits either way)
        for tile in tiles() {
            if let Some(t) = tile {
                set_tile(t);
            }
            for threads in [2, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let (par, _) = pool.install(|| run(&c, &mut Rng::new(9), true));
                let same = serial.iter().zip(&par).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{m}×{n}×{k} at {threads} threads, tile {tile:?}");
            }
        }
    }
    if let Some(t) = tiles()[0] {
        set_tile(t);
    }
}

/// The AVX-512 tiles to try (the process's own first), or just the one kernel without AVX-512.
fn tiles() -> Vec<Option<flashlm_tui::kernels::sgemm::Tile>> {
    use flashlm_tui::kernels::dispatch::{products, Level};
    use flashlm_tui::kernels::sgemm::{tile_choice, Tile};
    if products() != Level::Avx512 || std::env::var("FLASHLM_SGEMM").is_ok_and(|v| v.eq_ignore_ascii_case("avx2")) {
        return vec![None];
    }
    let first = tile_choice().0;
    vec![Some(first), Some(if first == Tile::Square { Tile::Wide } else { Tile::Square })]
}

fn set_tile(t: flashlm_tui::kernels::sgemm::Tile) {
    flashlm_tui::kernels::sgemm::set_tile(t)
}

/// The AVX-512 (both tiles) and AVX2 kernels sum every element in the same
/// order, so they must agree bit for bit (training resumes alike on either
/// kind of machine, whichever tile a process measured faster).
#[test]
fn avx512_and_avx2_kernels_agree_bit_for_bit() {
    use flashlm_tui::kernels::sgemm::{sgemm_with, Kernel, Tile};
    if !std::arch::is_x86_feature_detected!("avx512f") || !flashlm_tui::kernels::simd::available() {
        eprintln!("SKIPPED avx512_and_avx2_kernels_agree_bit_for_bit: this CPU has no AVX-512F (only the AVX2 kernel runs here)");
        return;
    }
    let mut rng = Rng::new(11);
    for (m, n, k) in
        [(1, 1, 1), (7, 31, 5), (8, 32, 8), (9, 33, 300), (150, 70, 513), (17, 2100, 40), (33, 40, 2100), (13, 130, 70), (6, 64, 9)]
    {
        for (a_t, b_t, accumulate) in [(false, true, false), (true, false, true), (false, false, true), (true, true, false)] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
            let (a_rs, a_cs) = if a_t { (1, m) } else { (k, 1) };
            let (b_rs, b_cs) = if b_t { (1, k) } else { (n, 1) };
            let ldc = n + 5;
            let init: Vec<f32> = (0..m * ldc).map(|_| rng.normal()).collect();
            let mut out = [init.clone(), init.clone(), init];
            let runs = [(Kernel::Avx2, None), (Kernel::Avx512, Some(Tile::Square)), (Kernel::Avx512, Some(Tile::Wide))];
            for (o, (kern, tile)) in out.iter_mut().zip(runs) {
                // SAFETY: AVX2, FMA and AVX-512F checked above; the strides stay in bounds.
                unsafe { sgemm_with(kern, tile, m, n, k, o.as_mut_ptr(), ldc, accumulate, a.as_ptr(), a_rs, a_cs, b.as_ptr(), b_rs, b_cs) };
            }
            for (o, (_, tile)) in out[1..].iter().zip(&runs[1..]) {
                let same = out[0].iter().zip(o).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{m}×{n}×{k} a_t={a_t} b_t={b_t} acc={accumulate} tile={tile:?}");
            }
        }
    }
}

/// `--precision bf16` products: both operands rounded to bf16 (nearest even),
/// products summed in f32. Against an f64 sum of the rounded operands, every
/// layout and edge (odd depths leave half a pair), and the thread split
/// bit-exact as in fp32.
#[test]
fn bf16_products_match_f64_of_rounded_operands() {
    use flashlm_tui::kernels::matmul::{bf16_start_handler, bf16_supported, set_bf16_products};
    use flashlm_tui::kernels::vec::{from_bf16, to_bf16};
    if !bf16_supported() {
        eprintln!("SKIPPED bf16_products_match_f64_of_rounded_operands: this CPU has no AVX512-BF16");
        assert!(!set_bf16_products(true), "bf16 products must refuse to switch on without AVX512-BF16");
        return;
    }
    let round = |x: f32| from_bf16(to_bf16(x)) as f64;
    let mut rng = Rng::new(13);
    for &(m, n, k) in &[(1, 1, 1), (7, 31, 5), (8, 32, 8), (9, 33, 17), (12, 48, 511), (19, 70, 1030), (9, 21, 2051)] {
        for (a_t, b_t, accumulate) in [(false, false, false), (false, true, true), (true, false, false), (true, true, true)] {
            let c = Case { m, n, k, a_t, b_t, accumulate };
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
            let av = if c.a_t { MatRef::t(&a, m) } else { MatRef::rows(&a, k) };
            let bv = if c.b_t { MatRef::t(&b, k) } else { MatRef::rows(&b, n) };
            let ldo = n + 3;
            let init: Vec<f32> = (0..m * ldo).map(|_| rng.normal()).collect();
            assert!(set_bf16_products(true));
            let mut got = init.clone();
            matmul_serial(&mut got, ldo, accumulate, av, bv, m, n, k);
            set_bf16_products(false);
            for i in 0..m {
                for j in 0..ldo {
                    let o = i * ldo + j;
                    let want = if j >= n {
                        init[o] as f64
                    } else {
                        let base = if accumulate { init[o] as f64 } else { 0.0 };
                        base + (0..k).map(|p| round(a[i * av.rs + p * av.cs]) * round(b[p * bv.rs + j * bv.cs])).sum::<f64>()
                    };
                    let tol = 2e-6 * (k as f64).sqrt() * (1.0 + want.abs());
                    assert!((got[o] as f64 - want).abs() <= tol, "{m}×{n}×{k} a_t={a_t} b_t={b_t}: element {o}: {} vs {want}", got[o]);
                }
            }
            // and far from the fp32 product where the rounding shows: bf16 keeps 8 bits
            let mut fp32 = init.clone();
            matmul_serial(&mut fp32, ldo, accumulate, av, bv, m, n, k);
            if k >= 17 {
                assert!(fp32.iter().zip(&got).any(|(x, y)| x != y), "{m}×{n}×{k}: bf16 equals fp32: not rounded?");
            }
        }
    }
    // the thread split does not change a bit
    for (m, n, k, a_t, b_t) in [(300, 70, 600, false, true), (64, 4096 + 7, 40, false, true), (40, 36, 2100, true, false)] {
        let c = Case { m, n, k, a_t, b_t, accumulate: true };
        assert!(set_bf16_products(true));
        let (serial, _) = run(&c, &mut Rng::new(9), false);
        set_bf16_products(false);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).start_handler(bf16_start_handler(true)).build().unwrap();
        let (par, _) = pool.install(|| run(&c, &mut Rng::new(9), true));
        assert!(serial.iter().zip(&par).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}×{n}×{k} bf16 at 2 threads");
        let (fp32, _) = run(&c, &mut Rng::new(9), false);
        assert!(fp32 != serial, "{m}×{n}×{k}: the pool's products were not bf16");
    }
}

/// The bf16 kernel on operands whose strides are both above 1 (packed through
/// the gathering path) gives the bits of the same product on contiguous copies.
#[test]
fn bf16_strided_operands_match_contiguous_bit_for_bit() {
    use flashlm_tui::kernels::matmul::bf16_supported;
    use flashlm_tui::kernels::sgemm::{sgemm_with, Kernel};
    if !bf16_supported() {
        eprintln!("SKIPPED bf16_strided_operands_match_contiguous_bit_for_bit: this CPU has no AVX512-BF16");
        return;
    }
    let mut rng = Rng::new(17);
    for (m, n, k) in [(1, 1, 1), (7, 33, 5), (9, 40, 37), (20, 70, 600)] {
        // every element twice as far apart as in a row-major matrix
        let a2: Vec<f32> = (0..2 * m * k).map(|_| rng.normal() * 1e-3).collect();
        let b2: Vec<f32> = (0..2 * k * n).map(|_| rng.normal()).collect();
        let a: Vec<f32> = (0..m * k).map(|i| a2[2 * i]).collect();
        let b: Vec<f32> = (0..k * n).map(|i| b2[2 * i]).collect();
        let mut got = vec![0.0f32; m * n];
        let mut want = vec![0.0f32; m * n];
        // SAFETY: bf16 support checked above; the strides stay inside a2/b2 and a/b.
        unsafe {
            sgemm_with(Kernel::Bf16, None, m, n, k, got.as_mut_ptr(), n, false, a2.as_ptr(), 2 * k, 2, b2.as_ptr(), 2 * n, 2);
            sgemm_with(Kernel::Bf16, None, m, n, k, want.as_mut_ptr(), n, false, a.as_ptr(), k, 1, b.as_ptr(), n, 1);
        }
        assert!(got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}×{n}×{k}");
    }
}
