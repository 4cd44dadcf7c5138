//! CPUFlow v9.7's slot memory in the heatmap: the model's per-layer slot
//! states [slots × d_v], the snapshot's bound on its size, and the pane
//! drawing a tall non-square matrix with its rows pooled to fit.

use super::tui::{app_running, code, has, render, screen};
use crossterm::event::KeyCode;
use flashlm_tui::engine::{MemorySnapshot, MAX_MEMORY_CELLS};
use flashlm_tui::model::{CpuFlow, LanguageModel, MemoryDims, MemoryKind};
use flashlm_tui::preset::resolve;
use flashlm_tui::rng::Rng;
use flashlm_tui::tui::ui::heatmap::brightness;
use ndarray::Array2;

/// A small v9.7: 2 layers, 2³ = 8 slots of width 5, a commit every 4 tokens.
fn small_v97() -> CpuFlow {
    super::cpuflow::tiny(true, 16)
}

#[test]
fn v9_7_decoder_shows_each_layers_slot_states() {
    let model = small_v97();
    let dims = model.memory_dims().expect("v9.7 shows its slot memory");
    assert_eq!(dims, MemoryDims { n_layers: 2, rows: 8, cols: 5, kind: MemoryKind::Slots });
    assert_eq!(dims.tag().as_deref(), Some("slots 8×5"));
    let params = model.init_params(3);
    let init: Vec<Vec<f32>> = (0..2)
        .map(|li| params[model.layout().tensors.iter().find(|t| t.name == format!("blocks.{li}.mem_init")).unwrap().range()].to_vec())
        .collect();
    let mut dec = model.decoder(&params);
    // before any token: S = mem_init
    assert_eq!(dec.memory().iter().map(|l| l.to_vec()).collect::<Vec<_>>(), init);
    // 10 tokens: two chunks of 4 committed (S ← λS + U), the third pending
    for tok in [5u32, 9, 13, 2, 7, 7, 21, 3, 11, 4] {
        dec.step(tok);
    }
    let mem = dec.memory();
    assert_eq!(mem.len(), 2);
    for (li, (s, s0)) in mem.iter().zip(&init).enumerate() {
        assert_eq!(s.len(), 8 * 5, "layer {li}");
        assert!(s.iter().all(|v| v.is_finite()), "layer {li}: {s:?}");
        assert!(s.iter().zip(s0).any(|(a, b)| a != b), "layer {li}: the committed writes changed S");
        let m = MemorySnapshot::layer(s, &dims);
        assert_eq!(m.dim(), (8, 5));
        assert_eq!(m.iter().copied().collect::<Vec<_>>(), s.to_vec(), "small memories are kept as they are");
    }
    // the full-size preset: 6 layers of 512 slots × 64 (32 768 values, under the bound)
    let (preset, _) = resolve("cpuflow-v9.7", None).unwrap();
    let full = preset.build_model().memory_dims().unwrap();
    assert_eq!((full.n_layers, full.rows, full.cols, full.kind), (6, 512, 64, MemoryKind::Slots));
    assert_eq!(MemorySnapshot::row_group(&full), 1);
}

#[test]
fn large_memories_are_pooled_by_rows_into_a_bounded_snapshot() {
    // 4096 slots × 64 is 4× the bound: groups of 4 slots, the largest magnitude kept with its sign
    let dims = MemoryDims { n_layers: 1, rows: 4096, cols: 64, kind: MemoryKind::Slots };
    assert_eq!(MemorySnapshot::row_group(&dims), 4);
    let mut data = vec![0.01f32; 4096 * 64];
    data[(8 + 2) * 64 + 7] = -3.0;
    data[(8 + 3) * 64 + 7] = 2.0;
    let m = MemorySnapshot::layer(&data, &dims);
    assert_eq!(m.dim(), (1024, 64));
    assert!(m.len() <= MAX_MEMORY_CELLS);
    assert_eq!((m[(2, 7)], m[(2, 8)], m[(0, 0)]), (-3.0, 0.01, 0.01));
    // a Hebbian matrix that large averages its rows
    let heb = MemoryDims { n_layers: 1, rows: 512, cols: 512, kind: MemoryKind::Hebbian };
    let data: Vec<f32> = (0..512 * 512).map(|i| (i / 512 % 4) as f32).collect();
    let m = MemorySnapshot::layer(&data, &heb);
    assert_eq!(m.dim(), (128, 512));
    assert!(m.iter().all(|&v| v == 1.5), "mean of rows 0, 1, 2, 3");
    // a decoder state of the wrong size gives zeros, not a panic
    assert_eq!(
        MemorySnapshot::layer(&[1.0; 7], &MemoryDims { n_layers: 1, rows: 2, cols: 4, kind: MemoryKind::Slots }),
        Array2::<f32>::zeros((2, 4))
    );
}

/// Six layers of 512 × 64 slot states as a v9.7 snapshot looks: mem_init's
/// 0.01-scale noise everywhere, a few slots written strongly.
fn v97_like_snapshot() -> MemorySnapshot {
    let mut rng = Rng::new(5);
    let layers = (0..6)
        .map(|li| {
            Array2::from_shape_fn((512, 64), |(r, c)| {
                let noise = 0.01 * rng.normal();
                if r % 97 == 3 + li {
                    noise + if c % 2 == 0 { 1.5 } else { -1.5 }
                } else {
                    noise
                }
            })
        })
        .collect();
    MemorySnapshot { step: 40, layers }
}

#[test]
fn heatmap_draws_v9_7_slot_memory_as_a_tall_matrix() {
    let (mut app, _) = app_running("cpuflow-v9.7");
    let waiting = screen(&render(&app, 120, 36));
    assert!(waiting.contains("512×64 slot"), "{waiting}");
    let mem = v97_like_snapshot();
    app.on_memory(mem.clone());
    let b = render(&app, 120, 36);
    let s = screen(&b);
    eprintln!("{s}");
    assert!(s.contains("Memory L1/6 · slots 512×64 · step 40"), "the title says what is shown:\n{s}");
    assert!(s.contains("512×64 · ≤") && s.contains("max |v|/cell"), "the row pooling is stated:\n{s}");
    assert!(s.contains("slot") && s.contains("value →"), "axes name slots and values:\n{s}");
    // the written slots survive the pooling: some cells are lit brightly, most stay dark
    let mut lit = Vec::new();
    for y in 0..b.area.height {
        for x in 0..b.area.width {
            let c = &b[(x, y)];
            if c.symbol() == "▀" {
                lit.extend([c.fg, c.bg].into_iter().filter_map(brightness));
            }
        }
    }
    assert!(lit.len() > 300, "{} half-cells drawn", lit.len());
    let bright = lit.iter().filter(|&&v| v >= 100.0).count();
    assert!(bright > 10 && bright < lit.len() / 2, "{bright} of {} half-cells bright", lit.len());
    // the cursor reads single slots, row by row
    app.on_key(code(KeyCode::Tab));
    for _ in 0..3 {
        app.on_key(code(KeyCode::Down));
    }
    let want = format!("slot 3 × value 0: {}", flashlm_tui::tui::ui::heatmap::num(mem.layers[0][(3, 0)]));
    assert!(has(&render(&app, 120, 36), &want), "{want}");
    // every layer at once, still titled as slots
    app.on_key(code(KeyCode::Char('a')));
    let s = screen(&render(&app, 160, 50));
    assert!(s.contains("all 6 layers · slots 512×64 · step 40") && s.contains("L6"), "{s}");
}
