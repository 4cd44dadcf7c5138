//! Generation speed: one stream through an incremental decoder, context 1 … 4,096.

use std::time::Instant;

pub const GEN_TOKENS: usize = 4096;

/// Feeds GEN_TOKENS tokens one at a time to a fresh decoder from `make`: (mean
/// tok/s, tok/s at context 16–32, tok/s at context 4,080–4,096). A first decoder
/// is fed 64 tokens and dropped, so the timed one does not start with cold
/// caches and sleeping pool threads. None if `make` has no decoder.
pub fn time_generation<'a>(make: &dyn Fn() -> Option<Box<dyn crate::model::Decode + 'a>>, v: usize) -> Option<(f64, f64, f64)> {
    crate::kernels::awake::with_workers_awake(|| {
        let mut warm = make()?;
        warm.set_parallel(true);
        for i in 0..64u32 {
            warm.step(i % v as u32);
        }
        drop(warm);
        let mut dec = make()?;
        dec.set_parallel(true);
        let t0 = Instant::now();
        let mut tok = 1u32;
        let (mut at16, mut at32, mut before_last16) = (0.0, 0.0, 0.0);
        for i in 0..GEN_TOKENS {
            match i {
                16 => at16 = t0.elapsed().as_secs_f64(),
                32 => at32 = t0.elapsed().as_secs_f64(),
                i if i == GEN_TOKENS - 16 => before_last16 = t0.elapsed().as_secs_f64(),
                _ => {}
            }
            dec.step(tok);
            tok = (i as u32 * 31 + 7) % v as u32;
        }
        let total = t0.elapsed().as_secs_f64();
        Some((GEN_TOKENS as f64 / total, 16.0 / (at32 - at16), 16.0 / (total - before_last16)))
    })
}

/// Generation figures: fp32 (mean, context 16–32, context 4,080–4,096), and
/// the mean with bf16 / int8 weights where the decoder has them.
#[derive(Debug, Default)]
pub struct GenFigures {
    pub fp32: (f64, f64, f64),
    pub bf16: Option<f64>,
    pub int8: Option<f64>,
}

/// Times one stream with fp32 weights, then bf16 and int8 weights; prints each.
pub fn time_all(model: &dyn crate::model::LanguageModel, params: &[f32], threads: usize) -> anyhow::Result<GenFigures> {
    use crate::precision::Precision;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(crate::kernels::matmul::bf16_start_handler(false))
        .build()
        .map_err(|e| anyhow::anyhow!("thread pool: {e}"))?;
    let v = model.vocab();
    let fp32 = pool.install(|| time_generation(&|| Some(model.decoder(params)), v)).unwrap_or_default();
    println!(
        "generate (fp32): {:.0} tok/s single stream over {GEN_TOKENS} tokens (context 16–32: {:.0} tok/s, context 4,080–4,096: {:.0} tok/s)",
        fp32.0, fp32.1, fp32.2
    );
    // single-stream decoding reads every weight once per token, so the read
    // bandwidth over the weights bounds it (the input embedding of an untied
    // model is read one row at a time: there the bound is a little low)
    if model.ternary_shares(params).is_empty() {
        let bw = pool.install(|| crate::kernels::awake::with_workers_awake(|| crate::kernels::peak::read_bandwidth(params)));
        let mb = std::mem::size_of_val(params) as f64 / 1e6;
        if bw > 0.0 && mb > 0.0 {
            println!(
                "generation bound: {mb:.1} MB of fp32 weights per token; {threads} thread(s) read that buffer at {bw:.1} GB/s → at most about {:.0} tok/s (fp32)",
                bw * 1e3 / mb
            );
        } else {
            println!("generation bound: not measured (no weights, or too few to time)");
        }
    } else {
        println!("generation bound: not stated (the decoder reads most weights as 1-byte ternary codes, not as the fp32 parameters)");
    }
    let mut out = GenFigures { fp32, ..Default::default() };
    for p in [Precision::Bf16, Precision::Int8] {
        match pool.install(|| time_generation(&|| model.decoder_lowp(params, p), v)) {
            Some(g) => {
                println!(
                    "generate ({} weights): {:.0} tok/s (context 16–32: {:.0} tok/s, context 4,080–4,096: {:.0} tok/s)",
                    p.label(),
                    g.0,
                    g.1,
                    g.2
                );
                match p {
                    Precision::Bf16 => out.bf16 = Some(g.0),
                    _ => out.int8 = Some(g.0),
                }
            }
            None => println!("generate ({} weights): not available for this model (fp32 decoder only)", p.label()),
        }
    }
    Ok(out)
}
