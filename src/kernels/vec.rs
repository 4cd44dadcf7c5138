//! Single-token (decode-time) vector kernels: FMA dot product, parallel-when-large
//! matrix–vector product, RMSNorm of one row.

use crate::model::rmsnorm::RMS_EPS;

/// Dot product with 16 independent FMA lanes (vectorises to AVX2/AVX-512 FMAs).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// Products at least this large (multiply-adds) are split over the current rayon pool.
pub const PAR_MATVEC: usize = 1 << 17;

/// y[o] = Σ_i w[o, i]·x[i] for w stored [out × in]; large products run on the
/// current rayon pool when `parallel` (never from a thread outside the pool).
pub fn matvec(y: &mut [f32], w: &[f32], x: &[f32], parallel: bool) {
    let n = x.len();
    if parallel && y.len() * n >= PAR_MATVEC {
        use rayon::prelude::*;
        // one contiguous block per thread: a fork/join costs microseconds, a token ~1 ms
        let per = y.len().div_ceil(rayon::current_num_threads());
        y.par_chunks_mut(per).enumerate().for_each(|(c, ys)| {
            for (i, yo) in ys.iter_mut().enumerate() {
                let o = c * per + i;
                *yo = dot(&w[o * n..(o + 1) * n], x);
            }
        });
    } else {
        for (o, yo) in y.iter_mut().enumerate() {
            *yo = dot(&w[o * n..(o + 1) * n], x);
        }
    }
}

pub fn rmsnorm(out: &mut [f32], x: &[f32], g: &[f32]) {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (ms + RMS_EPS).sqrt();
    for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
        *o = x * r * g;
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
}

/// y = W·x for either storage; same splitting over the rayon pool as `matvec`.
pub fn matvec_mat(y: &mut [f32], w: Mat<'_>, x: &[f32], parallel: bool) {
    let w = match w {
        Mat::F32(w) => return matvec(y, w, x, parallel),
        Mat::Bf16(w) => w,
    };
    let n = x.len();
    if parallel && y.len() * n >= PAR_MATVEC {
        use rayon::prelude::*;
        let per = y.len().div_ceil(rayon::current_num_threads());
        y.par_chunks_mut(per).enumerate().for_each(|(c, ys)| {
            for (i, yo) in ys.iter_mut().enumerate() {
                let o = c * per + i;
                *yo = dot_bf16(&w[o * n..(o + 1) * n], x);
            }
        });
    } else {
        for (o, yo) in y.iter_mut().enumerate() {
            *yo = dot_bf16(&w[o * n..(o + 1) * n], x);
        }
    }
}

/// A parameter buffer as a decoder reads it: f32 always (norm gains, conv taps,
/// embedding rows), plus a bf16 copy of everything when generating in bf16.
/// In bf16 mode the f32 view holds the bf16-rounded values too, so the decoder
/// computes exactly the model whose weights are the rounded ones.
pub struct WeightStore<'a> {
    f32s: std::borrow::Cow<'a, [f32]>,
    bf16: Option<Vec<u16>>,
}

impl<'a> WeightStore<'a> {
    pub fn fp32(params: &'a [f32]) -> Self {
        WeightStore { f32s: std::borrow::Cow::Borrowed(params), bf16: None }
    }
    pub fn bf16(params: &[f32]) -> Self {
        let bf16: Vec<u16> = params.iter().map(|&x| to_bf16(x)).collect();
        let rounded = bf16.iter().map(|&h| from_bf16(h)).collect::<Vec<f32>>();
        WeightStore { f32s: std::borrow::Cow::Owned(rounded), bf16: Some(bf16) }
    }
    /// The f32 parameter buffer (bf16-rounded in bf16 mode).
    pub fn params(&self) -> &[f32] {
        &self.f32s
    }
    pub fn is_bf16(&self) -> bool {
        self.bf16.is_some()
    }
    /// The storage to multiply with for `w`, a sub-slice of `self.params()`.
    pub fn mat<'s>(&'s self, w: &'s [f32]) -> Mat<'s> {
        match &self.bf16 {
            None => Mat::F32(w),
            Some(h) => {
                // a slice from elsewhere (not this buffer) is used as it is
                let off = (w.as_ptr() as usize).checked_sub(self.f32s.as_ptr() as usize).map(|b| b / std::mem::size_of::<f32>());
                match off {
                    Some(off) if off + w.len() <= h.len() => Mat::Bf16(&h[off..off + w.len()]),
                    _ => Mat::F32(w),
                }
            }
        }
    }
}
