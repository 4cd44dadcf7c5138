//! Inverted dropout (spec §6.2): a kept unit is scaled by 1/(1−p), a dropped one
//! is 0. Masks are *counter-based*: whether element `i` of stream `s` is kept is a
//! pure hash of (seed, s, i), so
//!
//! * the same seed gives the same masks on any thread count and in any order
//!   (a resumed run is bit-exact, a finite-difference check sees fixed masks);
//! * nothing is stored: the backward pass re-derives the mask it needs.
//!
//! The backward of dropout is the same multiplication applied to the gradient.

use rayon::prelude::*;

/// 24-bit uniforms: `p` is resolved to a multiple of 2⁻²⁴.
const BITS: u32 = 24;

/// SplitMix64's output function (a bijective 64-bit mixer).
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One dropout mask over a flat index space: element `i` is multiplied by
/// `factor(i)` ∈ {0, 1/(1−p)}.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropMask {
    key: u64,
    /// drop iff the element's 24-bit uniform is below this
    threshold: u32,
    scale: f32,
}

impl DropMask {
    /// The identity mask (evaluation, or p = 0).
    pub const OFF: DropMask = DropMask { key: 0, threshold: 0, scale: 1.0 };

    /// Mask number `stream` drawn from `seed` with drop probability `p` ∈ [0, 1).
    pub fn new(seed: u64, stream: u64, p: f32) -> Self {
        let threshold = (p.clamp(0.0, 1.0) as f64 * (1u64 << BITS) as f64).round() as u32;
        if threshold == 0 {
            return Self::OFF;
        }
        let threshold = threshold.min((1 << BITS) - 1);
        DropMask { key: mix(seed ^ mix(stream.wrapping_add(0x5851_F42D_4C95_7F2D))), threshold, scale: 1.0 / (1.0 - p) }
    }

    /// Whether any element can be dropped.
    pub fn is_active(&self) -> bool {
        self.threshold > 0
    }

    /// 0 for a dropped element, 1/(1−p) for a kept one (1 when inactive).
    #[inline(always)]
    pub fn factor(&self, i: u64) -> f32 {
        if self.threshold == 0 {
            return 1.0;
        }
        let u = (mix(self.key.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))) >> (64 - BITS)) as u32;
        if u < self.threshold {
            0.0
        } else {
            self.scale
        }
    }
}

crate::vectorized! {
    /// x\[i\] *= mask.factor(offset + i) in place (forward on activations, backward on
    /// their gradients). Parallel over fixed chunks; the result does not depend on them.
    pub fn dropout_apply(x: &mut [f32], mask: DropMask, offset: u64) {
        if !mask.is_active() {
            return;
        }
        const CHUNK: usize = 4096;
        x.par_chunks_mut(CHUNK).enumerate().for_each(|(c, xs)| {
            let base = offset + (c * CHUNK) as u64;
            for (j, v) in xs.iter_mut().enumerate() {
                *v *= mask.factor(base + j as u64);
            }
        });
    }
}
