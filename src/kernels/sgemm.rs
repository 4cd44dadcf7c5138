//! A single-threaded AVX2 + FMA / AVX-512 sgemm, BLIS-style: B packed into
//! 16-column slivers, A into 6-row slivers, a 6 × 16 register tile (12 ymm
//! accumulators); where the CPU has AVX-512F, a tile of zmm registers at twice
//! the FMA width: 8 × 32 (16 accumulators) or 6 × 64 (24), whichever this CPU
//! runs faster.
//!
//! Why not the `gemm` crate here (it stays the fallback without AVX2): its
//! micro-kernel is the same 6 × 16 shape but ran well below the cores' FMA
//! peak on this project's training shapes (figures in docs/performance.md).
//! What differs here: the
//! depth block is 512, so the common k ≤ 512 products make one pass over C;
//! packing copies are fixed-size (inlined, not a memmove call per 16 floats);
//! packing walks each source cache line once (row by row for contiguous rows,
//! 8 × 8 AVX transposes for strided ones) instead of striding by a
//! power-of-two row width that mapped every read to the same cache sets. The
//! layout is the textbook one (Goto & van de Geijn 2008; BLIS's Haswell sgemm).
//!
//! Loop order: columns in blocks of `NC`, depth in blocks of `KC` (`KC_DEEP`
//! for deep products; B block packed once), rows in blocks of `MC` (A block
//! packed), then the tiles (6 × 16; 8 × 32 or 6 × 64 with AVX-512; 8 × 32 with
//! bf16). Edge tiles are computed whole into a scratch tile from
//! zero-padded slivers and only their valid part is written back. Packing
//! buffers are per thread and reused, so a call allocates only the first time
//! a thread sees a larger block; they start on a 64-byte boundary, and each
//! tile prefetches its rows of C before its loop (both measured faster).

/// AVX2 tile: 6 rows × 16 columns (12 ymm accumulators).
const MR: usize = 6;
const NR: usize = 16;
/// AVX-512 tiles: 8 rows × 32 columns (16 zmm accumulators, 10 loads per 16
/// FMAs), or 6 rows × 64 columns (24 accumulators, 10 loads per 24 FMAs). Which
/// is faster depends on the core: the 8 × 32 tile in L1 on a Xeon with AMX, the
/// 6 × 64 one by 7–14 % over whole products on an Ice Lake Xeon (docs/performance.md);
/// [`tile512`] measures once per process. Both sum each element in the same order, so the
/// choice never changes a result. The depth blocks are the AVX2 kernel's
/// (other sizes measured within noise), so all kernels round alike. The bf16
/// kernel keeps the 8 × 32 tile.
const MR512: usize = 8;
const NR512: usize = 32;
const MR64: usize = 6;
const NR64: usize = 64;
const KC: usize = 512;
/// The depth block of deep products (depth ≥ `DEEP`: the weight gradients, whose
/// depth is the batch's rows). They make several passes over C anyway, and with
/// 512 the packed B block (512 × n) and the A block do not fit a 512 KB L2
/// together.
const KC_DEEP: usize = 256;
const DEEP: usize = 2048;
const MC: usize = 144;
const NC: usize = 2048;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, Ordering};

thread_local! {
    static PACK: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Which micro-kernel [`sgemm_with`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// 6 × 16 tiles in ymm registers (AVX2 + FMA)
    Avx2,
    /// 8 × 32 or 6 × 64 tiles in zmm registers (AVX-512F; [`tile512`])
    Avx512,
    /// 8 × 32 tiles of bf16 dot products with f32 accumulation (AVX512-BF16,
    /// `--precision bf16` training): both operands rounded to bf16 as they are
    /// packed (`bf16.rs`)
    Bf16,
}

impl Kernel {
    /// Columns of its tile (a thread's share of a product's columns is cut at
    /// a multiple of it).
    pub fn columns(self) -> usize {
        match self {
            Kernel::Avx2 => NR,
            Kernel::Avx512 => tile512().columns(),
            Kernel::Bf16 => NR512,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kernel::Avx2 => "AVX2",
            Kernel::Avx512 => "AVX-512",
            Kernel::Bf16 => "AVX512-BF16",
        }
    }
}

/// 0: not chosen yet, 1: AVX2, 2: AVX-512.
static KERNEL: AtomicU8 = AtomicU8::new(0);

/// The machine's fp32 kernel (what `matmul` passes to [`sgemm_with`]): AVX-512 where the CPU has AVX-512F, else AVX2.
/// `FLASHLM_SGEMM=avx2` or `FLASHLM_SIMD=avx2` forces the AVX2 kernel (to compare the two on one machine).
/// Both accumulate every output element in the same order (depth 0, 1, … with
/// one FMA each, in the same depth blocks), so they give bit-identical results.
pub fn kernel() -> Kernel {
    match KERNEL.load(Ordering::Relaxed) {
        1 => Kernel::Avx2,
        2 => Kernel::Avx512,
        _ => {
            let forced = std::env::var("FLASHLM_SGEMM").map(|v| v.eq_ignore_ascii_case("avx2")).unwrap_or(false);
            let k = if !forced && super::dispatch::products() == super::dispatch::Level::Avx512 { Kernel::Avx512 } else { Kernel::Avx2 };
            KERNEL.store(if k == Kernel::Avx2 { 1 } else { 2 }, Ordering::Relaxed);
            k
        }
    }
}

/// c\[m×n\] (row stride `ldc`, unit column stride) = (accumulate ? c : 0) + a·b
/// where a(i, p) = `a[i*a_rs + p*a_cs]`, b(p, j) = `b[p*b_rs + j*b_cs]`, on the
/// kernel `kern` (the machine's own is [`kernel`]) and, for `Kernel::Avx512`,
/// the tile `tile` (`None`: [`tile512`]'s; other kernels ignore it).
///
/// # Safety
/// The CPU has AVX2 and FMA, and for `Kernel::Avx512` AVX-512F, for
/// `Kernel::Bf16` AVX-512F, AVX-512BW and AVX512-BF16; every index named above
/// is in bounds of its pointer; `c` does not alias `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_with(
    kern: Kernel,
    tile: Option<Tile>,
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    b_rs: usize,
    b_cs: usize,
) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !accumulate {
                for i in 0..m {
                    std::ptr::write_bytes(c.add(i * ldc), 0, n);
                }
            }
            return;
        }
        match kern {
            Kernel::Avx2 => blocked::<MR, NR, AVX2>(m, n, k, c, ldc, accumulate, a, a_rs, a_cs, b, b_rs, b_cs),
            Kernel::Avx512 => match tile.unwrap_or_else(tile512) {
                Tile::Wide => blocked::<MR64, NR64, AVX512>(m, n, k, c, ldc, accumulate, a, a_rs, a_cs, b, b_rs, b_cs),
                Tile::Square => blocked::<MR512, NR512, AVX512>(m, n, k, c, ldc, accumulate, a, a_rs, a_cs, b, b_rs, b_cs),
            },
            Kernel::Bf16 => blocked::<MR512, NR512, BF16>(m, n, k, c, ldc, accumulate, a, a_rs, a_cs, b, b_rs, b_cs),
        }
    }
}

/// The AVX-512 fp32 tile shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// 8 rows × 32 columns
    Square,
    /// 6 rows × 64 columns
    Wide,
}

impl Tile {
    pub fn columns(self) -> usize {
        match self {
            Tile::Square => NR512,
            Tile::Wide => NR64,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tile::Square => "8 × 32",
            Tile::Wide => "6 × 64",
        }
    }
}

/// The first choice and, when it was measured, the two tiles' GFLOP/s (8 × 32, 6 × 64).
static CHOICE: std::sync::OnceLock<(Tile, Option<(f64, f64)>)> = std::sync::OnceLock::new();
/// The tile in use: 0 until [`tile512`] first runs, then 1 (8 × 32) or 2 (6 × 64).
static TILE: AtomicU8 = AtomicU8::new(0);

/// The AVX-512 fp32 tile this process runs: `FLASHLM_TILE=8x32` or `6x64`
/// forces one; otherwise the first call times both on one product (alternating,
/// fastest of each) and keeps the faster; [`set_tile`] overrides it.
pub fn tile512() -> Tile {
    match TILE.load(Ordering::Relaxed) {
        1 => Tile::Square,
        2 => Tile::Wide,
        _ => {
            // a set_tile that came first wins
            let first = tile_choice().0;
            match TILE.compare_exchange(0, code(first), Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => first,
                Err(1) => Tile::Square,
                Err(_) => Tile::Wide,
            }
        }
    }
}

fn code(t: Tile) -> u8 {
    if t == Tile::Square {
        1
    } else {
        2
    }
}

/// `FLASHLM_TILE`: `Ok(Some(tile))` for `8x32` or `6x64` (any case, `x` or `×`),
/// `Ok(None)` when unset or empty, `Err(value)` for anything else.
pub fn forced_tile() -> Result<Option<Tile>, String> {
    let Ok(v) = std::env::var("FLASHLM_TILE") else { return Ok(None) };
    match v.trim().to_ascii_lowercase().replace('×', "x").replace(' ', "").as_str() {
        "" => Ok(None),
        "8x32" => Ok(Some(Tile::Square)),
        "6x64" => Ok(Some(Tile::Wide)),
        _ => Err(v),
    }
}

/// Runs later products on tile `t` (`bench --tiles` alternates them; results
/// are the same bits on either).
pub fn set_tile(t: Tile) {
    TILE.store(code(t), Ordering::Relaxed);
}

/// The first choice of [`tile512`] and the measurement behind it (`None` when
/// forced or without AVX-512).
pub fn tile_choice() -> (Tile, Option<(f64, f64)>) {
    *CHOICE.get_or_init(|| {
        if let Ok(Some(t)) = forced_tile() {
            return (t, None);
        }
        // nothing to time where the fp32 products run on AVX2 (the CPU's or FLASHLM_SGEMM's choice)
        if kernel() != Kernel::Avx512 {
            return (Tile::Square, None);
        }
        // SAFETY: the AVX-512 kernel runs only where the CPU has AVX2, FMA and AVX-512F.
        let (square, wide) = unsafe { time_tiles() };
        (if wide > square { Tile::Wide } else { Tile::Square }, Some((square, wide)))
    })
}

/// GFLOP/s of the two AVX-512 tiles on a 384 × 256 × 512 product (a block of
/// a training step's rows, about 1 ms), 6 alternating rounds of 2 calls,
/// fastest call of each (about 25 ms in all).
///
/// # Safety
/// The CPU has AVX2, FMA and AVX-512F.
unsafe fn time_tiles() -> (f64, f64) {
    let (m, n, k) = (384, 256, 512);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.01 - 0.06).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.01 - 0.03).collect();
    let mut c = vec![0.0f32; m * n];
    let mut best = [f64::MAX; 2];
    for _ in 0..6 {
        for (wide, best) in best.iter_mut().enumerate() {
            for _ in 0..2 {
                let t0 = std::time::Instant::now();
                // SAFETY: every index is in bounds of its buffer; AVX2, FMA and AVX-512F per this function's contract.
                unsafe {
                    if wide == 1 {
                        blocked::<MR64, NR64, AVX512>(m, n, k, c.as_mut_ptr(), n, false, a.as_ptr(), k, 1, b.as_ptr(), n, 1);
                    } else {
                        blocked::<MR512, NR512, AVX512>(m, n, k, c.as_mut_ptr(), n, false, a.as_ptr(), k, 1, b.as_ptr(), n, 1);
                    }
                }
                *best = best.min(t0.elapsed().as_secs_f64());
            }
        }
    }
    std::hint::black_box(&c);
    let gflops = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e9;
    (gflops(best[0]), gflops(best[1]))
}

const AVX2: u8 = 0;
const AVX512: u8 = 1;
const BF16: u8 = 2;

/// The blocked loops around an `R` × `C` tile kernel (`KERN`: `AVX2`, `AVX512`
/// or `BF16`). Packed slivers hold `kd` depth units per line: floats, or for
/// bf16 pairs of adjacent depths in one 32-bit unit (`kd` = ⌈kc / 2⌉).
#[allow(clippy::too_many_arguments)]
unsafe fn blocked<const R: usize, const C: usize, const KERN: u8>(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    b_rs: usize,
    b_cs: usize,
) {
    // the fp32 AVX-512 tile kernel is picked by width below: only these two exist
    const { assert!(KERN != AVX512 || C == NR512 || C == NR64) };
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        let mc_block = MC / R * R;
        PACK.with(|p| {
            let mut p = p.borrow_mut();
            let (pa, pb) = &mut *p;
            let kc_block = if k >= DEEP { KC_DEEP } else { KC };
            let depth = |kc: usize| if KERN == BF16 { kc.div_ceil(2) } else { kc };
            let need_a = mc_block.min(m.next_multiple_of(R)) * depth(kc_block.min(k));
            let need_b = NC.min(n.next_multiple_of(C)) * depth(kc_block.min(k));
            let (pa, pb) = (aligned(pa, need_a), aligned(pb, need_b));
            // B's columns in slivers of C, A's rows in slivers of R
            let pack_lines = |is_b: bool, dst: &mut [f32], src: *const f32, sl: usize, sp: usize, n: usize, kc: usize| match (KERN, is_b) {
                (BF16, true) => super::bf16::pack_pairs::<C>(dst, src, sl, sp, n, kc),
                (BF16, false) => super::bf16::pack_pairs::<R>(dst, src, sl, sp, n, kc),
                (_, true) => pack::<C>(dst, src, sl, sp, n, kc),
                (_, false) => pack::<R>(dst, src, sl, sp, n, kc),
            };
            for j0 in (0..n).step_by(NC) {
                let nc = NC.min(n - j0);
                for p0 in (0..k).step_by(kc_block) {
                    let kc = kc_block.min(k - p0);
                    let kd = depth(kc);
                    pack_lines(true, pb, b.add(p0 * b_rs + j0 * b_cs), b_cs, b_rs, nc, kc);
                    let overwrite = p0 == 0 && !accumulate;
                    for i0 in (0..m).step_by(mc_block) {
                        let mc = mc_block.min(m - i0);
                        pack_lines(false, pa, a.add(i0 * a_rs + p0 * a_cs), a_rs, a_cs, mc, kc);
                        for js in (0..nc).step_by(C) {
                            let nr = C.min(nc - js);
                            let bp = pb.as_ptr().add(js * kd);
                            for is in (0..mc).step_by(R) {
                                let mr = R.min(mc - is);
                                let ap = pa.as_ptr().add(is * kd);
                                let cp = c.add((i0 + is) * ldc + j0 + js);
                                let tile = |cp: *mut f32, ldc: usize, overwrite: bool| match KERN {
                                    AVX512 if C == NR64 => kernel512::<R, 4>(kd, ap, bp, cp, ldc, overwrite),
                                    AVX512 => kernel512::<R, 2>(kd, ap, bp, cp, ldc, overwrite),
                                    BF16 => super::bf16::kernel::<R>(kd, ap as *const u32, bp as *const u32, cp, ldc, overwrite),
                                    _ => kernel256(kd, ap, bp, cp, ldc, overwrite),
                                };
                                if mr == R && nr == C {
                                    tile(cp, ldc, overwrite);
                                } else {
                                    let mut t = [[0.0f32; C]; R];
                                    tile(t.as_mut_ptr() as *mut f32, C, true);
                                    for (i, t) in t.iter().enumerate().take(mr) {
                                        let row = cp.add(i * ldc);
                                        for (j, &v) in t.iter().enumerate().take(nr) {
                                            *row.add(j) = if overwrite { v } else { *row.add(j) + v };
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        });
    }
}

/// The first `len` floats of `buf` from a 64-byte boundary on, growing `buf`
/// as needed: a 16-float row of a B sliver is then one cache line, where the
/// allocator's 16-byte alignment had split every other 32-byte load.
pub(super) fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    const PAD: usize = 64 / std::mem::size_of::<f32>();
    if buf.len() < len + PAD {
        buf.resize(len + PAD, 0.0);
    }
    let off = buf.as_ptr().align_offset(64).min(PAD);
    &mut buf[off..off + len]
}

/// Packs `n` lines (A's rows or B's columns) × `kc` depth into slivers of `W`
/// lines: sliver s holds, for each p, the W values of lines s·W … s·W+W−1 at
/// depth p (zero past n). Element (line l, depth p) is `src[l·sl + p·sp]`;
/// A packs with W = the tile's rows, sl = a_rs, sp = a_cs; B with W = its
/// columns, sl = b_cs, sp = b_rs. (bf16 operands go through `bf16::pack_pairs`,
/// which uses this to move its 32-bit pairs.)
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn pack<const W: usize>(dst: &mut [f32], src: *const f32, sl: usize, sp: usize, n: usize, kc: usize) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        if sl == 1 {
            // lines adjacent at each depth: depths in groups of PB, each group's
            // source rows read once, and within a group sliver by sliver, so
            // the writes go to one sliver at a time (depth by depth across all
            // slivers, each write landed kc·W floats from the last: a
            // power-of-two stride that kept every write in the same cache sets)
            const PB: usize = 16;
            let whole = n / W;
            let rest = n % W;
            for p0 in (0..kc).step_by(PB) {
                let pe = (p0 + PB).min(kc);
                for s in 0..whole {
                    for p in p0..pe {
                        // fixed-size copies the compiler inlines (a memmove call per
                        // sliver row had been a quarter of the time)
                        let v = std::ptr::read_unaligned(src.add(p * sp + s * W) as *const [f32; W]);
                        std::ptr::write_unaligned(dst.as_mut_ptr().add((s * kc + p) * W) as *mut [f32; W], v);
                    }
                }
                if rest > 0 {
                    for p in p0..pe {
                        let row = src.add(p * sp);
                        let o = &mut dst[(whole * kc + p) * W..(whole * kc + p + 1) * W];
                        for (l, o) in o.iter_mut().enumerate() {
                            *o = if l < rest { *row.add(whole * W + l) } else { 0.0 };
                        }
                    }
                }
            }
            return;
        }
        for (s, l0) in (0..n).step_by(W).enumerate() {
            let h = W.min(n - l0);
            let out = &mut dst[s * kc * W..(s + 1) * kc * W];
            if h < W {
                out.fill(0.0);
            }
            let mut done = 0;
            if sp == 1 && h == W && kc >= 8 {
                // each line contiguous in depth: 8 × 8 transposes, groups of up to
                // 8 lines. With W not a multiple of 8 each 8-wide store of the
                // last group runs into the next depth's place (rewritten next), so
                // the last depth is left to the scalar loop below.
                done = if W.is_multiple_of(8) { kc - kc % 8 } else { (kc - 1) / 8 * 8 };
                for p in (0..done).step_by(8) {
                    // groups last to first: were a short group to follow full ones
                    // (W = 12, 14: no tile in use has that), its spill into the
                    // next depth's first lines is then rewritten by the full groups
                    for g in (0..W).step_by(8).rev() {
                        let lines = (W - g).min(8);
                        transpose8(src.add((l0 + g) * sl + p), sl, lines, out.as_mut_ptr().add(p * W + g), W);
                    }
                }
            }
            for l in 0..h {
                let line = src.add((l0 + l) * sl);
                for p in done..kc {
                    out[p * W + l] = *line.add(p * sp);
                }
            }
        }
    }
}

/// Reads `rows` (≤ 8) rows of 8 floats at `src` (row stride `ld`) and writes
/// their transpose: for each of the 8 columns p, 8 floats at `dst + p·ldd`
/// whose first `rows` are that column (the rest is garbage when rows < 8).
#[target_feature(enable = "avx2,fma")]
unsafe fn transpose8(src: *const f32, ld: usize, rows: usize, dst: *mut f32, ldd: usize) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        use std::arch::x86_64::*;
        let ld_row = |i: usize| if i < rows { _mm256_loadu_ps(src.add(i * ld)) } else { _mm256_setzero_ps() };
        let (r0, r1, r2, r3) = (ld_row(0), ld_row(1), ld_row(2), ld_row(3));
        let (r4, r5, r6, r7) = (ld_row(4), ld_row(5), ld_row(6), ld_row(7));
        let t0 = _mm256_unpacklo_ps(r0, r1);
        let t1 = _mm256_unpackhi_ps(r0, r1);
        let t2 = _mm256_unpacklo_ps(r2, r3);
        let t3 = _mm256_unpackhi_ps(r2, r3);
        let t4 = _mm256_unpacklo_ps(r4, r5);
        let t5 = _mm256_unpackhi_ps(r4, r5);
        let t6 = _mm256_unpacklo_ps(r6, r7);
        let t7 = _mm256_unpackhi_ps(r6, r7);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let cols = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (p, c) in cols.into_iter().enumerate() {
            _mm256_storeu_ps(dst.add(p * ldd), c);
        }
    }
}

/// The 6 × 16 tile: c (row stride ldc) = or += Σ_p a\[p·6 + i\] · b\[p·16 + j\].
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel256(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, overwrite: bool) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        use std::arch::x86_64::*;
        // the tile's rows of C (two lines each where a row straddles) are fetched
        // while the loop runs: their first touch had stalled the write-back
        // (−4 … −6 % time on one thread over the training shapes, interleaved runs)
        for i in 0..MR {
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + 15) as *const i8);
        }
        // 12 accumulators: row i of the tile is acc[i] (columns 0–7, 8–15); the
        // constant-bound loops unroll and the array lives in registers
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let x = _mm256_broadcast_ss(&*a.add(i));
                row[0] = _mm256_fmadd_ps(x, b0, row[0]);
                row[1] = _mm256_fmadd_ps(x, b1, row[1]);
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        for (i, &[lo, hi]) in acc.iter().enumerate() {
            let p = c.add(i * ldc);
            if overwrite {
                _mm256_storeu_ps(p, lo);
                _mm256_storeu_ps(p.add(8), hi);
            } else {
                _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), lo));
                _mm256_storeu_ps(p.add(8), _mm256_add_ps(_mm256_loadu_ps(p.add(8)), hi));
            }
        }
    }
}

/// The `R` × 16·`Q` tile: c (row stride ldc) = or += Σ_p a\[p·R + i\] · b\[p·16Q + j\],
/// the same sum in the same order as [`kernel256`].
#[target_feature(enable = "avx512f")]
unsafe fn kernel512<const R: usize, const Q: usize>(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, overwrite: bool) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        use std::arch::x86_64::*;
        prefetch_rows::<R, Q>(c, ldc);
        let mut acc = [[_mm512_setzero_ps(); Q]; R];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let mut bv = [_mm512_setzero_ps(); Q];
            for (q, v) in bv.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(b.add(16 * q));
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*a.add(i));
                for (acc, &v) in row.iter_mut().zip(&bv) {
                    *acc = _mm512_fmadd_ps(x, v, *acc);
                }
            }
            a = a.add(R);
            b = b.add(16 * Q);
        }
        store_tile::<R, Q>(&acc, c, ldc, overwrite);
    }
}

/// Fetches the `R` rows of a 16·`Q`-wide tile of C (one more line each where
/// a row straddles) while the tile's loop runs.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn prefetch_rows<const R: usize, const Q: usize>(c: *mut f32, ldc: usize) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        use std::arch::x86_64::*;
        for i in 0..R {
            for q in 0..Q {
                _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + 16 * q) as *const i8);
            }
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + 16 * Q - 1) as *const i8);
        }
    }
}

/// Writes an `R` × 16·`Q` tile of accumulators to C (row stride `ldc`):
/// stores them, or adds them to what is there.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn store_tile<const R: usize, const Q: usize>(
    acc: &[[std::arch::x86_64::__m512; Q]; R],
    c: *mut f32,
    ldc: usize,
    overwrite: bool,
) {
    // SAFETY: the caller upholds this function's contract (its doc and target features).
    unsafe {
        use std::arch::x86_64::*;
        for (i, row) in acc.iter().enumerate() {
            for (q, &v) in row.iter().enumerate() {
                let p = c.add(i * ldc + 16 * q);
                if overwrite {
                    _mm512_storeu_ps(p, v);
                } else {
                    _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), v));
                }
            }
        }
    }
}
