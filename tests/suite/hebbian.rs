//! The chunkwise Hebbian memory equals the quadratic (whole-window) form, in the
//! forward and in every gradient, for windows that are a multiple of the chunk,
//! that end in a partial chunk, and that are shorter than one chunk.

use super::common::pool;
use flashlm_tui::model::blocks::hebbian::*;
use flashlm_tui::rng::Rng;

fn rand(rng: &mut Rng, n: usize, s: f32) -> Vec<f32> {
    (0..n).map(|_| rng.normal() * s).collect()
}

fn compare(t: usize, chunk: usize) {
    let (b, d, dm) = (3, 12, 8);
    let rows = b * t;
    let mut rng = Rng::new(t as u64 * 31 + chunk as u64);
    let a = rand(&mut rng, rows * d, 1.0);
    let kvq_w = rand(&mut rng, 3 * dm * d, 0.4);
    let out_w = rand(&mut rng, d * dm, 0.4);
    let dout = rand(&mut rng, rows * d, 1.0);
    let w = MemoryWeights { kvq: &kvq_w, out: &out_w };
    let sh = MemoryShape { t, d, d_mem: dm, decay: 0.93, scale: 0.2, chunk };

    let run = |chunked: bool| {
        let (mut out, mut kvq, mut r) = (vec![0.0; rows * d], vec![0.0; rows * 3 * dm], vec![0.0; rows * dm]);
        let (mut gk, mut go, mut da) = (vec![0.0; 3 * dm * d], vec![0.0; d * dm], vec![0.0; rows * d]);
        let (mut dr, mut dkvq) = (vec![0.0; rows * dm], vec![0.0; rows * 3 * dm]);
        if chunked {
            let mut cache = vec![0.0; b * sh.cache_len()];
            let mut ds = vec![0.0; b * sh.scratch_len()];
            memory_forward(&mut out, &mut kvq, &mut cache, &mut r, &a, &w, sh);
            let g = MemoryGrads { kvq: &mut gk, out: &mut go };
            memory_backward(&mut da, g, &dout, &a, (&kvq, &mut cache, &r), &w, &mut dr, &mut ds, &mut dkvq, sh);
        } else {
            let mut s = vec![0.0; b * t * t];
            let mut ds = vec![0.0; b * t * t];
            memory_forward_quadratic(&mut out, &mut kvq, &mut s, &mut r, &a, &w, sh);
            let g = MemoryGrads { kvq: &mut gk, out: &mut go };
            memory_backward_quadratic(&mut da, g, &dout, &a, (&kvq, &s, &r), &w, &mut dr, &mut ds, &mut dkvq, sh);
        }
        [out, gk, go, da]
    };
    let (c, q) = pool().install(|| (run(true), run(false)));
    for (name, (x, y)) in ["out", "d kvq", "d mem_out", "d a"].iter().zip(c.iter().zip(&q)) {
        let scale = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = x.iter().zip(y).map(|(p, q)| if (p - q).is_nan() { f32::INFINITY } else { (p - q).abs() }).fold(0.0f32, f32::max);
        assert!(worst <= 1e-5 + 1e-5 * scale, "t={t} chunk={chunk}: {name} differs by {worst} (max {scale})");
    }
}

#[test]
fn chunked_equals_quadratic_whole_chunks() {
    compare(16, 4);
    compare(256, 64);
}

#[test]
fn chunked_equals_quadratic_partial_last_chunk() {
    compare(13, 4);
    compare(70, 64);
}

#[test]
fn chunked_equals_quadratic_window_shorter_than_a_chunk() {
    compare(5, 64);
    compare(1, 4);
}
