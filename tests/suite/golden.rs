//! Golden tests: our forward/backward against the reference PyTorch fixtures
//! (tests/fixtures/v7.x, copied from ../shared/golden). Tolerances from the golden
//! README: |Δ| ≤ 1e-5 for logits and loss; |Δ| ≤ 1e-5 + 1e-4·max|ref| per gradient tensor.

use super::golden_util::Golden;
use flashlm_tui::model::{Cortex, CortexConfig, MemoryConfig, Workspace};

fn run_golden(version: &str) {
    let golden = Golden::open(version);
    let c = &golden.cfg["config"];
    let u = |k: &str| c[k].as_u64().unwrap() as usize;
    let memory = c.get("d_mem").map(|_| MemoryConfig { d_mem: u("d_mem"), decay: c["decay"].as_f64().unwrap() as f32 });
    let model = Cortex::new(CortexConfig {
        vocab: u("vocab"),
        d_model: u("d_model"),
        n_layers: u("n_layers"),
        d_ff: u("d_ff"),
        kernel_size: u("kernel_size"),
        memory,
        seq_len: u("seq_len"),
    });
    let params = golden.params(&model);
    let run = golden.run(&model, &params, &mut Workspace::new());
    golden.assert_every_gradient(&model, &run.grads, |_, _| {});
}

#[test]
fn golden_v7_1_logits_and_every_gradient() {
    run_golden("v7.1");
}

#[test]
fn golden_v7_2_logits_and_every_gradient() {
    run_golden("v7.2");
}
