//! Element-wise functions and deterministic reductions.

use rayon::prelude::*;

/// e^x in f32, vectorisable (no libm call): Cody–Waite range reduction
/// x = n·ln2 + r, |r| ≤ ln2/2, then the Cephes expf polynomial (relative error
/// ≈ 2e-7, like libm's within a couple of ulps). Inputs below −87.3 give ~1e-38
/// instead of 0, above 88.7 saturate: harmless for softmax and gates.
#[inline(always)]
#[allow(clippy::excessive_precision)] // the polynomial's published coefficients, verbatim
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    // 2ⁿ from n's bits: n is a whole number in [−126, 128], so adding
    // 1.5·2²³ puts it in the low mantissa bits exactly. (`n as i32`, Rust's
    // saturating NaN-checked conversion, compiled to 16 scalar conversions and
    // branch-free fix-ups per vector, and was most of the exp's time.) Same
    // bits as the conversion for every input but NaN, whose result stays NaN.
    const MAGIC: f32 = 12_582_912.0;
    let ni = (n + MAGIC).to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    y * f32::from_bits((ni.wrapping_add(127) as u32) << 23)
}

/// Lanes of the row reductions below: independent partial results the
/// compiler keeps in vector registers (a single running f32 sum or max is a
/// serial chain it may not reorder, and then the exp beside it stays scalar too).
const LANES: usize = 16;

crate::vectorized! {
    /// max of a row (−∞ for an empty one), lane-wise.
    pub fn row_max(z: &[f32]) -> f32 {
        let mut m = [f32::NEG_INFINITY; LANES];
        let c = z.chunks_exact(LANES);
        let tail = c.remainder().iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        for ch in c {
            for l in 0..LANES {
                m[l] = m[l].max(ch[l]);
            }
        }
        m.iter().fold(tail, |a, &b| a.max(b))
    }
}

/// Σ_j f(a_j, b_j, c_j) over rows of one length, in LANES partial sums and a
/// fixed order (pass `a` again for a row `f` ignores): the norms' row sums,
/// which as one running f32 sum are a chain of dependent adds and stay scalar.
#[inline(always)]
pub fn lane_sum3(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb, cc) = (a.chunks_exact(LANES), b.chunks_exact(LANES), c.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).zip(cc.remainder()).map(|((&a, &b), &c)| f(a, b, c)).sum();
    for ((a, b), c) in ca.zip(cb).zip(cc) {
        for l in 0..LANES {
            acc[l] += f(a[l], b[l], c[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σ of a row's lanes in a fixed tree order.
#[inline(always)]
fn lanes_sum(acc: &[f32; LANES]) -> f32 {
    let mut s = [0.0f32; 8];
    for l in 0..8 {
        s[l] = acc[l] + acc[l + 8];
    }
    ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
}

crate::vectorized! {
    /// Σ_i exp(z_i − max), lane-wise (z unchanged).
    pub fn exp_sum(z: &[f32], max: f32) -> f32 {
        let mut se = [0.0f32; LANES];
        let c = z.chunks_exact(LANES);
        let tail: f32 = c.remainder().iter().map(|&v| exp(v - max)).sum();
        for ch in c {
            for l in 0..LANES {
                se[l] += exp(ch[l] - max);
            }
        }
        lanes_sum(&se) + tail
    }
}

crate::vectorized! {
    /// z_i ← e_i = exp(z_i − max); returns (Σ e_i, Σ e_i·(z_i − max)). With
    /// `keep_shifted` z_i ← z_i − max instead (the caller needs ln p later).
    #[inline]
    pub fn exp_shift_sums(z: &mut [f32], max: f32, keep_shifted: bool) -> (f32, f32) {
        let (mut se, mut sez) = ([0.0f32; LANES], [0.0f32; LANES]);
        let mut chunks = z.chunks_exact_mut(LANES);
        for ch in &mut chunks {
            for l in 0..LANES {
                let zc = ch[l] - max;
                let e = exp(zc);
                se[l] += e;
                sez[l] = e.mul_add(zc, sez[l]);
                ch[l] = if keep_shifted { zc } else { e };
            }
        }
        let (mut te, mut tez) = (0.0f32, 0.0f32);
        for x in chunks.into_remainder() {
            let zc = *x - max;
            let e = exp(zc);
            te += e;
            tez += e * zc;
            *x = if keep_shifted { zc } else { e };
        }
        (lanes_sum(&se) + te, lanes_sum(&sez) + tez)
    }
}

crate::vectorized! {
    /// Softmax of a row in place (lane-wise max and sum).
    pub fn softmax(z: &mut [f32]) {
        let (sum, _) = exp_shift_sums(z, row_max(z), false);
        let inv = 1.0 / sum;
        for v in z.iter_mut() {
            *v *= inv;
        }
    }
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

/// d/dx SiLU(x) = σ(x)·(1 + x·(1 − σ(x))).
#[inline(always)]
pub fn silu_grad(x: f32) -> f32 {
    let s = sigmoid(x);
    s * (1.0 + x * (1.0 - s))
}

/// o\[i\] += a\[i\]·b\[i\] over slices of one length (a product, then an add: not
/// fused, so the bits are those of the plain loop). In blocks of 8 whose loads
/// all come before their stores: as a plain or zipped loop over slices that
/// LLVM could not prove disjoint it stayed scalar (the gated conv's three
/// loops, ~3 % of a v7.1 step).
#[inline(always)]
pub fn mul_add_into(o: &mut [f32], a: &[f32], b: &[f32]) {
    assert!(a.len() == o.len() && b.len() == o.len(), "mul_add_into: lengths differ");
    let n = o.len();
    let mut oc = o.chunks_exact_mut(8);
    for ((o, a), b) in (&mut oc).zip(a.chunks_exact(8)).zip(b.chunks_exact(8)) {
        let (a, b): (&[f32; 8], &[f32; 8]) = (a.try_into().unwrap(), b.try_into().unwrap());
        let mut r = [0.0f32; 8];
        for l in 0..8 {
            r[l] = o[l] + a[l] * b[l];
        }
        o.copy_from_slice(&r);
    }
    let t = n - n % 8;
    for ((o, &a), &b) in oc.into_remainder().iter_mut().zip(&a[t..]).zip(&b[t..]) {
        *o += a * b;
    }
}

/// Rows per chunk in reductions. Fixed (not derived from the thread count) so a
/// sum over rows is computed in the same order on any number of threads.
pub const REDUCE_CHUNK: usize = 64;

crate::vectorized! {
    /// out = a + b elementwise (residual adds), in parallel blocks.
    pub fn add(out: &mut [f32], a: &[f32], b: &[f32]) {
        out.par_chunks_mut(4096).zip(a.par_chunks(4096)).zip(b.par_chunks(4096)).for_each(|((o, a), b)| {
            for i in 0..o.len() {
                o[i] = a[i] + b[i];
            }
        });
    }
}

/// out\[j\] += Σ_rows f(row)\[j\]: `f(r, acc)` adds row r's contribution into `acc`
/// (length `out.len()`). Parallel over fixed chunks of rows, partial sums added
/// in chunk order, so the result is bit-identical whatever the thread count.
pub fn sum_rows<F>(rows: usize, out: &mut [f32], f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    sum_row_chunks(rows, out, |range, acc| {
        for r in range {
            f(r, acc);
        }
    });
}

/// [`sum_rows`] a chunk at a time: `f(rows, acc)` adds the contributions of
/// the chunk's rows (in order) into `acc`, which starts at zero; the chunks are
/// the same fixed ones, their partial sums added in chunk order.
pub fn sum_row_chunks<F>(rows: usize, out: &mut [f32], f: F)
where
    F: Fn(std::ops::Range<usize>, &mut [f32]) + Sync,
{
    let d = out.len();
    let chunks = rows.div_ceil(REDUCE_CHUNK);
    let mut partials = super::scratch::zeroed(chunks * d);
    partials.par_chunks_mut(d.max(1)).enumerate().for_each(|(c, acc)| {
        let r0 = c * REDUCE_CHUNK;
        f(r0..(r0 + REDUCE_CHUNK).min(rows), acc);
    });
    add_partials(out, &partials);
}

/// [`sum_row_chunks`] that also gives each chunk its own rows of `per_row`
/// (`width` floats a row) to write: `f(rows, acc, those rows)`, so a pass that
/// reduces over rows and writes a result per row reads each row once.
pub fn sum_row_chunks_with<F>(rows: usize, out: &mut [f32], per_row: &mut [f32], width: usize, f: F)
where
    F: Fn(std::ops::Range<usize>, &mut [f32], &mut [f32]) + Sync,
{
    assert!(width > 0 && per_row.len() == rows * width, "sum_row_chunks_with: per_row is not rows × width");
    let d = out.len();
    let mut partials = super::scratch::zeroed(rows.div_ceil(REDUCE_CHUNK) * d);
    partials.par_chunks_mut(d.max(1)).zip(per_row.par_chunks_mut(REDUCE_CHUNK * width)).enumerate().for_each(|(c, (acc, mine))| {
        let r0 = c * REDUCE_CHUNK;
        f(r0..(r0 + REDUCE_CHUNK).min(rows), acc, mine);
    });
    add_partials(out, &partials);
}

/// out += each chunk's partial sums, in chunk order.
fn add_partials(out: &mut [f32], partials: &[f32]) {
    for p in partials.chunks(out.len().max(1)) {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
}

crate::vectorized! {
    /// Σ of squares in f64, in a fixed order: 64 contiguous parts summed in
    /// parallel, then in order (no allocation; the same whatever the thread count).
    pub fn sum_sq_f64(x: &[f32]) -> f64 {
        const PARTS: usize = 64;
        let len = x.len().div_ceil(PARTS).max(1);
        let mut sums = [0.0f64; PARTS];
        sums.par_iter_mut().zip(x.par_chunks(len)).for_each(|(s, c)| *s = c.iter().map(|&v| (v as f64) * (v as f64)).sum());
        sums.iter().sum()
    }
}
