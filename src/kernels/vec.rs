//! Single-token (decode-time) vector kernels: FMA dot product, parallel-when-large
//! matrix–vector product, RMSNorm of one row.

/// ε of every RMSNorm: decoding's [`rmsnorm`] here and training's (`model::blocks::rmsnorm`).
pub const RMS_EPS: f32 = 1e-6;

/// Dot product: the AVX2 kernel where the CPU has it (`simd`), else 16
/// independent FMA lanes that LLVM vectorises.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if super::simd::available() {
        // SAFETY: AVX2 and FMA checked just above
        return unsafe { super::simd::dot(a, b) };
    }
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

crate::vectorized! {
    /// o = Σ_j p\[j\]·v\[j·n .. (j+1)·n\] with n = o.len(): attention's weighted sum of
    /// value rows. Even and odd rows go to two partial sums, added at the end, so
    /// one row's adds do not wait on the last row's (one chain had made the sum
    /// latency-bound).
    pub fn weighted_rows(o: &mut [f32], p: &[f32], v: &[f32]) {
        const W: usize = 64;
        let n = o.len();
        debug_assert!(v.len() >= p.len() * n);
        for c0 in (0..n).step_by(W) {
            let w = W.min(n - c0);
            let (mut even, mut odd) = ([0.0f32; W], [0.0f32; W]);
            let mut pairs = p.chunks_exact(2);
            for (j, pj) in (&mut pairs).enumerate() {
                let r0 = &v[2 * j * n + c0..2 * j * n + c0 + w];
                let r1 = &v[(2 * j + 1) * n + c0..(2 * j + 1) * n + c0 + w];
                for ((e, od), (&x, &y)) in even[..w].iter_mut().zip(&mut odd[..w]).zip(r0.iter().zip(r1)) {
                    *e += pj[0] * x;
                    *od += pj[1] * y;
                }
            }
            if let [pl] = pairs.remainder() {
                let j = p.len() - 1;
                for (e, &x) in even[..w].iter_mut().zip(&v[j * n + c0..j * n + c0 + w]) {
                    *e += pl * x;
                }
            }
            for ((o, &e), &od) in o[c0..c0 + w].iter_mut().zip(&even[..w]).zip(&odd[..w]) {
                *o = e + od;
            }
        }
    }
}

/// Products at least this large (multiply-adds) are split over the current rayon pool.
pub const PAR_MATVEC: usize = 1 << 17;

/// y\[o\] = Σ_i w\[o, i\]·x\[i\] for w stored [out × in]; large products run on the
/// current rayon pool when `parallel` (never from a thread outside the pool).
pub fn matvec(y: &mut [f32], w: &[f32], x: &[f32], parallel: bool) {
    matvec_mat(y, Mat::F32(w), x, parallel)
}

crate::vectorized! {
    pub fn rmsnorm(out: &mut [f32], x: &[f32], g: &[f32]) {
        let ms = dot(x, x) / x.len() as f32; // as training's rmsnorm_forward
        let r = 1.0 / (ms + RMS_EPS).sqrt();
        for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
            *o = x * r * g;
        }
    }
}

/// f32 → bf16 bits, round to nearest even (NaN stays NaN).
#[inline]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// bf16 bits → f32 (exact).
#[inline]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Dot product of bf16 weights with f32 activations, f32 accumulation in 16
/// lanes (vectorises to a zero-extend, a shift and an FMA per 8 weights).
#[inline]
pub fn dot_bf16(w: &[u16], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (cw, cx) = (w.chunks_exact(16), x.chunks_exact(16));
    let tail: f32 = cw.remainder().iter().zip(cx.remainder()).map(|(&a, b)| from_bf16(a) * b).sum();
    for (a, b) in cw.zip(cx) {
        for l in 0..16 {
            acc[l] = from_bf16(a[l]).mul_add(b[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A decode-time weight matrix [out × in]: f32, or bf16 storage (half the bytes
/// to stream per token; products still accumulate in f32).
#[derive(Clone, Copy)]
pub enum Mat<'a> {
    F32(&'a [f32]),
    Bf16(&'a [u16]),
    /// ternary codes [out × in] and one scale per output row
    Ternary {
        codes: &'a [i8],
        scales: &'a [f32],
    },
    /// int8 codes with one f32 scale per Q8_BLOCK consecutive weights; `f32`
    /// holds the same (dequantised) values for rows that do not split into blocks
    Q8 {
        codes: &'a [i8],
        scales: &'a [f32],
        f32: &'a [f32],
    },
}

/// Weights per int8 block (one f32 scale each: 1.125 bytes per weight).
pub const Q8_BLOCK: usize = 32;

/// Dot product of block-scaled int8 weights with f32 activations; `c.len()` is a
/// multiple of Q8_BLOCK and `s` has one scale per block.
#[inline]
pub fn dot_q8(c: &[i8], s: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    for ((cb, &sb), xb) in c.chunks_exact(Q8_BLOCK).zip(s).zip(x.chunks_exact(Q8_BLOCK)) {
        for (c16, x16) in cb.chunks_exact(16).zip(xb.chunks_exact(16)) {
            for l in 0..16 {
                acc[l] = (c16[l] as f32 * sb).mul_add(x16[l], acc[l]);
            }
        }
    }
    acc.iter().sum()
}

/// A ternary matrix Q(W) = diag(α)·T with T ∈ {−1, 0, +1}, stored as one byte
/// per weight plus one scale per row: exactly the quantised weights of a
/// BitLinear layer in a quarter of the bytes of f32.
pub struct TernaryMat {
    codes: Vec<i8>,
    scales: Vec<f32>,
}

impl TernaryMat {
    /// Packs q [out × inp] if every row is α_o·{−1, 0, +1} exactly, else None.
    pub fn pack(q: &[f32], inp: usize) -> Option<TernaryMat> {
        let mut codes = Vec::with_capacity(q.len());
        let mut scales = Vec::with_capacity(q.len() / inp.max(1));
        for row in q.chunks_exact(inp) {
            let a = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for &v in row {
                codes.push(if v == 0.0 {
                    0
                } else if v == a {
                    1
                } else if v == -a {
                    -1
                } else {
                    return None;
                });
            }
            scales.push(a);
        }
        Some(TernaryMat { codes, scales })
    }
    pub fn mat(&self) -> Mat<'_> {
        Mat::Ternary { codes: &self.codes, scales: &self.scales }
    }
}

impl OwnedMat {
    /// Output rows `rows` of the matrix (`inp` inputs per row).
    pub fn rows(&self, rows: std::ops::Range<usize>, inp: usize) -> Mat<'_> {
        match self {
            OwnedMat::F32(w) => Mat::F32(&w[rows.start * inp..rows.end * inp]),
            OwnedMat::Ternary(t) => Mat::Ternary { codes: &t.codes[rows.start * inp..rows.end * inp], scales: &t.scales[rows] },
        }
    }
}

/// Dot product of ternary codes with f32 activations (16 FMA lanes).
#[inline]
pub fn dot_i8(c: &[i8], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (cc, cx) = (c.chunks_exact(16), x.chunks_exact(16));
    let tail: f32 = cc.remainder().iter().zip(cx.remainder()).map(|(&a, b)| a as f32 * b).sum();
    for (a, b) in cc.zip(cx) {
        for l in 0..16 {
            acc[l] = (a[l] as f32).mul_add(b[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A decoder's own copy of a matrix: packed ternary where the values allow it
/// (quantised BitLinear weights), else f32.
pub enum OwnedMat {
    F32(Vec<f32>),
    Ternary(TernaryMat),
}

impl OwnedMat {
    pub fn new(q: Vec<f32>, inp: usize) -> OwnedMat {
        match TernaryMat::pack(&q, inp) {
            Some(t) => OwnedMat::Ternary(t),
            None => OwnedMat::F32(q),
        }
    }
    pub fn mat(&self) -> Mat<'_> {
        match self {
            OwnedMat::F32(w) => Mat::F32(w),
            OwnedMat::Ternary(t) => t.mat(),
        }
    }
}

/// y = W·x for any storage; same splitting over the rayon pool as `matvec`.
pub fn matvec_mat(y: &mut [f32], w: Mat<'_>, x: &[f32], parallel: bool) {
    let n = x.len();
    if parallel && y.len() * n >= PAR_MATVEC {
        use rayon::prelude::*;
        // row blocks of a multiple of 4 (the AVX2 kernel's rows per pass)
        let per = y.len().div_ceil(rayon::current_num_threads()).next_multiple_of(4);
        y.par_chunks_mut(per).enumerate().for_each(|(c, ys)| matvec_rows(ys, w, x, c * per));
    } else {
        matvec_rows(y, w, x, 0);
    }
}

crate::vectorized! {
    /// Rows first .. first + y.len() of w·x.
    fn matvec_rows(y: &mut [f32], w: Mat<'_>, x: &[f32], first: usize) {
        let n = x.len();
        let rows = first * n..(first + y.len()) * n;
        #[cfg(target_arch = "x86_64")]
        if super::simd::available() {
            use super::simd;
            // SAFETY: AVX2 and FMA checked just above; every slice holds y.len() rows
            unsafe {
                match w {
                    Mat::Q8 { codes, scales, .. } if n.is_multiple_of(Q8_BLOCK) => {
                        simd::matvec_q8(y, &codes[rows.clone()], &scales[rows.start / Q8_BLOCK..rows.end / Q8_BLOCK], x)
                    }
                    // int8 rows that do not split into blocks use their f32 copy
                    Mat::F32(w) | Mat::Q8 { f32: w, .. } => simd::matvec_f32(y, &w[rows], x),
                    Mat::Bf16(w) => simd::matvec(y, &w[rows], x),
                    Mat::Ternary { codes, scales } => {
                        simd::matvec(y, &codes[rows], x);
                        for (yo, s) in y.iter_mut().zip(&scales[first..]) {
                            *yo *= s;
                        }
                    }
                }
            }
            return;
        }
        for (i, yo) in y.iter_mut().enumerate() {
            let o = first + i;
            *yo = match w {
                Mat::F32(w) => dot(&w[o * n..(o + 1) * n], x),
                Mat::Bf16(w) => dot_bf16(&w[o * n..(o + 1) * n], x),
                Mat::Ternary { codes, scales } => scales[o] * dot_i8(&codes[o * n..(o + 1) * n], x),
                Mat::Q8 { codes, scales, f32: w } => {
                    if n.is_multiple_of(Q8_BLOCK) {
                        dot_q8(&codes[o * n..(o + 1) * n], &scales[o * n / Q8_BLOCK..(o + 1) * n / Q8_BLOCK], x)
                    } else {
                        dot(&w[o * n..(o + 1) * n], x)
                    }
                }
            };
        }
    }
}

/// Ternary matrices inside a quantised parameter buffer, packed once: `mat`
/// maps a slice of that buffer that is one of them (or a block of its rows)
/// to the packed form, and anything else to itself (f32).
pub struct PackedStore {
    /// (first float in the buffer, inputs per row, packed matrix), by start
    mats: Vec<(usize, usize, TernaryMat)>,
}

impl PackedStore {
    pub fn new(base: &[f32], ranges: impl IntoIterator<Item = (std::ops::Range<usize>, usize)>) -> PackedStore {
        let mut mats: Vec<(usize, usize, TernaryMat)> =
            ranges.into_iter().filter_map(|(r, inp)| TernaryMat::pack(&base[r.clone()], inp).map(|t| (r.start, inp, t))).collect();
        mats.sort_by_key(|m| m.0);
        PackedStore { mats }
    }
    /// `w` is a slice of `base`, the buffer this store was built from.
    pub fn mat<'s>(&'s self, base: &[f32], w: &'s [f32]) -> Mat<'s> {
        let Some(off) = (w.as_ptr() as usize).checked_sub(base.as_ptr() as usize).map(|b| b / std::mem::size_of::<f32>()) else {
            return Mat::F32(w);
        };
        if off + w.len() > base.len() {
            return Mat::F32(w);
        }
        let i = self.mats.partition_point(|m| m.0 <= off);
        if i == 0 {
            return Mat::F32(w);
        }
        let (start, inp, t) = &self.mats[i - 1];
        let (rel, inp) = (off - start, *inp);
        if rel % inp != 0 || !w.len().is_multiple_of(inp) || rel + w.len() > t.codes.len() {
            return Mat::F32(w);
        }
        let rows = rel / inp..(rel + w.len()) / inp;
        Mat::Ternary { codes: &t.codes[rel..rel + w.len()], scales: &t.scales[rows] }
    }
}

/// Low-precision copies of a whole parameter buffer for decoding.
enum LowP {
    None,
    Bf16(Vec<u16>),
    Q8 { codes: Vec<i8>, scales: Vec<f32> },
}

/// A parameter buffer as a decoder reads it: f32 always (norm gains, conv taps,
/// embedding rows), plus a bf16 or block-int8 copy of everything when generating
/// in lower precision. Then the f32 view holds the rounded (dequantised) values
/// too, so the decoder computes exactly the model whose weights are the rounded ones.
pub struct WeightStore<'a> {
    f32s: std::borrow::Cow<'a, [f32]>,
    low: LowP,
}

impl<'a> WeightStore<'a> {
    pub fn fp32(params: &'a [f32]) -> Self {
        WeightStore { f32s: std::borrow::Cow::Borrowed(params), low: LowP::None }
    }
    /// bf16 (round to nearest even) copy.
    pub fn bf16(params: &[f32]) -> Self {
        let bf16: Vec<u16> = params.iter().map(|&x| to_bf16(x)).collect();
        let rounded = bf16.iter().map(|&h| from_bf16(h)).collect::<Vec<f32>>();
        WeightStore { f32s: std::borrow::Cow::Owned(rounded), low: LowP::Bf16(bf16) }
    }
    /// int8 copy in blocks of Q8_BLOCK weights along the flat buffer, one
    /// scale max|w|/127 per block, codes round(w/scale) (a tail block short of
    /// Q8_BLOCK is padded with zeros).
    pub fn int8(params: &[f32]) -> Self {
        let nb = params.len().div_ceil(Q8_BLOCK);
        let mut codes = vec![0i8; nb * Q8_BLOCK];
        let mut scales = vec![0.0f32; nb];
        let mut deq = vec![0.0f32; params.len()];
        for (b, wb) in params.chunks(Q8_BLOCK).enumerate() {
            let m = wb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let s = if m > 0.0 { m / 127.0 } else { 0.0 };
            scales[b] = s;
            for (i, &w) in wb.iter().enumerate() {
                let c = if s > 0.0 { (w / s).round().clamp(-127.0, 127.0) as i8 } else { 0 };
                codes[b * Q8_BLOCK + i] = c;
                deq[b * Q8_BLOCK + i] = c as f32 * s;
            }
        }
        WeightStore { f32s: std::borrow::Cow::Owned(deq), low: LowP::Q8 { codes, scales } }
    }
    /// The f32 parameter buffer (rounded values in bf16 / int8 mode).
    pub fn params(&self) -> &[f32] {
        &self.f32s
    }
    /// The storage to multiply with for `w`, a sub-slice of `self.params()`.
    pub fn mat<'s>(&'s self, w: &'s [f32]) -> Mat<'s> {
        // a slice from elsewhere (not this buffer) is used as it is
        let off = (w.as_ptr() as usize).checked_sub(self.f32s.as_ptr() as usize).map(|b| b / std::mem::size_of::<f32>());
        let off = match off {
            Some(off) if off + w.len() <= self.f32s.len() => off,
            _ => return Mat::F32(w),
        };
        match &self.low {
            LowP::None => Mat::F32(w),
            LowP::Bf16(h) => Mat::Bf16(&h[off..off + w.len()]),
            LowP::Q8 { codes, scales } if off % Q8_BLOCK == 0 => {
                Mat::Q8 { codes: &codes[off..off + w.len()], scales: &scales[off / Q8_BLOCK..(off + w.len()).div_ceil(Q8_BLOCK)], f32: w }
            }
            LowP::Q8 { .. } => Mat::F32(w),
        }
    }
}
