//! Every key binding, as the help overlay lists it (a test checks that each
//! key the screens handle is listed here).

/// Every key binding, by context, as the help overlay lists them.
pub const KEYMAP: &[(&str, &[(&str, &str)])] = &[
    (
        "Everywhere",
        &[
            ("?", "this help (Esc closes any overlay)"),
            ("1 2 3 4", "presets · training · runs · sampling"),
            ("q", "quit (asks while training)"),
            ("Ctrl-C", "stop, save and quit (again: skip final eval)"),
            ("Tab", "move focus (Shift-Tab back)"),
            ("j k", "same as ↓ ↑ in lists and panes"),
            ("↑ ↓ PgUp PgDn", "scroll this help and the RON text"),
        ],
    ),
    (
        "Presets",
        &[
            ("↑ ↓ Home End", "select a preset"),
            ("Enter", "start training it (with the run setup)"),
            ("f Tab", "run setup: budget, warm-up, eval interval, texts"),
            ("r", "resume its latest checkpoint"),
            ("c", "choose the corpus"),
            ("b", "precision auto / fp32 / bf16, with GEMM peaks"),
            ("e", "show the preset's RON text"),
        ],
    ),
    (
        "Training",
        &[
            ("p", "pause / resume"),
            ("s", "save a checkpoint now"),
            ("v", "evaluate, sample and refresh the heatmaps now"),
            ("e", "smoothing: EMA 10 / 40 / 100 / 300 steps / raw"),
            ("l", "log-scale y on / off"),
            ("x", "x axis: steps / tokens / time"),
            ("w", "full history / recent window"),
            ("← → [ ]", "memory heatmap layer"),
            ("↑ ↓ ← →", "heatmap cursor and its value (heatmap focused)"),
            ("c", "heatmap: change since the last snapshot"),
            ("a", "all layers as small multiples"),
            ("↑ ↓ PgUp PgDn", "scroll the focused log / samples"),
            ("Home End", "oldest / newest in that pane"),
        ],
    ),
    ("Quit dialog", &[("s", "stop and save"), ("d", "stop without saving"), ("c Esc", "cancel")]),
    (
        "Sampling",
        &[
            ("Enter", "generate from the prompt"),
            ("Esc", "leave the prompt (keys become commands)"),
            ("← → Home End", "move the cursor in the prompt"),
            ("Ctrl-A Ctrl-E", "start / end of the prompt"),
            ("Backspace Delete", "delete a character"),
            ("Ctrl-U", "clear up to the cursor"),
            ("↑ ↓", "prompt history"),
            ("i /", "back to the prompt"),
            ("← → (params)", "choose a parameter"),
            ("↑ ↓ + -", "change it"),
            ("PgUp PgDn", "scroll the output (when focused)"),
        ],
    ),
    (
        "Runs",
        &[
            ("↑ ↓", "select a run"),
            ("Space", "mark / unmark it for the comparison chart"),
            ("Enter", "sample from its best checkpoint"),
            ("r w", "resume it · watch it (read-only)"),
            ("t", "its sweep as one table (s sort · d reverse)"),
            ("x", "x axis: tokens / time"),
            ("u", "rescan the runs folder"),
        ],
    ),
];
