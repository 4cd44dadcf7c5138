// scratch: time v7.2 generation alone (not committed)
use flashlm_tui::precision::Precision;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let prec = match args.get(1).map(|s| s.as_str()) {
        Some("bf16") => Precision::Bf16,
        Some("int8") => Precision::Int8,
        _ => Precision::Fp32,
    };
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let par: bool = args.get(3).map(|s| s != "seq").unwrap_or(true);
    let preset_name = args.get(4).cloned().unwrap_or("v7.2-cortex-vi".into());
    let (preset, _) = flashlm_tui::preset::resolve(&preset_name, None).unwrap();
    let model = preset.build_model();
    let params = model.init_params(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut dec = if prec == Precision::Fp32 { model.decoder(&params) } else { model.decoder_lowp(&params, prec).unwrap() };
        dec.set_parallel(par);
        for round in 0..3 {
            let t0 = Instant::now();
            let n = 2000;
            for i in 0..n {
                dec.step(((i * 31 + 7) % 4096) as u32);
            }
            println!("round {round}: {:.0} tok/s", n as f64 / t0.elapsed().as_secs_f64());
        }
    });
}
