//! The preset picker, and its two overlays: the RON text viewer (`e`) and the
//! corpus chooser (`c`).

use super::{centered, clean, pane, thousands, wrap, ACCENT, DIM};
use crate::auto_precision::AutoChoice;
use crate::preset::Preset;
use crate::tui::app::{resolve_corpus, Corpus, CorpusDialog, FormField, Picker, PresetRow, CORPUS_OPTIONS, FORM_FIELDS};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use std::path::{Path, PathBuf};

const NAME_W: usize = 18;
/// Width of the fixed columns after the name.
const ROW_W: usize = 58;

fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        format!("{s:<w$}")
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn row_line(row: &PresetRow, selected: bool, width: usize) -> Line<'static> {
    let marker = if selected { "▶ " } else { "  " };
    let base = if selected { Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED) } else { Style::new() };
    let mut spans = vec![Span::styled(marker, Style::new().fg(ACCENT).bold())];
    // `!` an ambiguous name (two files define it), `~` a preset overriding another of its name
    match (row.ambiguous, &row.note) {
        (true, _) => {
            spans.push(Span::styled(fit(&clean(&row.name), NAME_W - 2), base));
            spans.push(Span::styled(" !", Style::new().fg(Color::Red).bold()));
        }
        (false, Some(_)) => {
            spans.push(Span::styled(fit(&clean(&row.name), NAME_W - 2), base));
            spans.push(Span::styled(" ~", Style::new().fg(Color::Yellow).bold()));
        }
        (false, None) => spans.push(Span::styled(fit(&clean(&row.name), NAME_W), base)),
    }
    match &row.preset {
        Ok(p) => {
            let (ppl, tok) = match &p.reference {
                Some(r) => (format!("{:.2}*", r.reported_ppl), thousands(r.pytorch_tok_s.round() as u64)),
                None => ("–".into(), "–".into()),
            };
            let text = format!(
                " {:<5} {:>10} {:>8} {:<13} {:>7} {:>9}",
                fit(&p.version, 5),
                thousands(row.params as u64),
                format!("{}×{}", p.train.batch, p.train.seq_len),
                fit(&p.budget_label(), 13),
                ppl,
                tok
            );
            spans.push(Span::styled(text, base));
            // wide terminals also get the architecture in the row
            let room = width.saturating_sub(2 + NAME_W + ROW_W + 2);
            if room >= 20 {
                spans.push(Span::styled(format!("  {}", fit(&clean(&p.architecture()), room)), Style::new().fg(DIM)));
            }
        }
        Err(e) => {
            let room = width.saturating_sub(NAME_W + 4);
            spans.push(Span::styled(format!(" ✗ {}", fit(&clean(e), room)), Style::new().fg(Color::Red).add_modifier(base.add_modifier)));
        }
    }
    Line::from(spans)
}

/// `peaks`: the measured fp32 and bf16 GEMM peaks, for what bf16 costs here.
pub fn render_picker(f: &mut Frame, area: Rect, picker: &Picker, runs_root: &Path, auto: &AutoChoice) {
    let list_h = (picker.presets.len() as u16 + 3).clamp(5, area.height.saturating_sub(8).max(5));
    let [list, details] = Layout::vertical([Constraint::Length(list_h), Constraint::Min(4)]).areas(area);
    let block =
        pane(format!("Presets ({}) · Enter start · f set up · r resume · c corpus · b precision · e RON", picker.presets.len()), true);
    let inner = block.inner(list);
    let mut head =
        format!("  {:<NAME_W$} {:<5} {:>10} {:>8} {:<13} {:>7} {:>9}", "preset", "ver", "params", "B×T", "budget", "ref PPL", "PyT tok/s");
    if (inner.width as usize).saturating_sub(2 + NAME_W + ROW_W + 2) >= 20 {
        head.push_str("  architecture");
    }
    let header = Line::from(Span::styled(head, Style::new().fg(ACCENT).bold()));
    let rows_h = inner.height.saturating_sub(1) as usize;
    let skip = picker.selected.saturating_sub(rows_h.saturating_sub(1));
    let mut lines = vec![header];
    for (i, row) in picker.presets.iter().enumerate().skip(skip).take(rows_h) {
        lines.push(row_line(row, i == picker.selected, inner.width as usize));
    }
    if picker.presets.is_empty() {
        lines.push(Line::from(Span::styled("no presets found", Style::new().fg(Color::Red))));
    }
    f.render_widget(Paragraph::new(lines).block(block), list);
    if picker.form.open {
        render_form(f, details, picker);
    } else {
        render_details(f, details, picker, runs_root, auto);
    }
}

/// Where the PyTorch reference figures were measured (presets may name another machine).
fn pytorch_machine(r: &crate::preset::Reference) -> String {
    clean(&r.pytorch_machine)
}

/// The architecture, the sizes and the reference figures with their caveat.
fn details_of(p: &Preset, row: &PresetRow, width: usize) -> Vec<Line<'static>> {
    let dim = Style::new().fg(DIM);
    let mut v = vec![
        Line::from(vec![Span::styled("architecture ", dim), Span::raw(clean(&p.architecture()))]),
        Line::from(vec![
            Span::styled("params ", dim),
            Span::raw(thousands(row.params as u64)),
            Span::styled("  batch × seq ", dim),
            Span::raw(format!("{} × {}", p.train.batch, p.train.seq_len)),
        ]),
    ];
    match &p.reference {
        Some(r) => {
            let range =
                r.pytorch_tok_s_range.map(|(a, b)| format!(" ({}–{})", thousands(a as u64), thousands(b as u64))).unwrap_or_default();
            v.push(Line::from(vec![
                Span::styled("FlashLM reported PPL ", dim),
                Span::styled(format!("{:.2}", r.reported_ppl), Style::new().bold()),
                Span::styled(format!("  ({}, {} h)", clean(&r.hardware), r.hours), dim),
            ]));
            let text = format!(
                "PyTorch {} tok/s{range} measured on {} (another CPU trains at another speed: `bench --pytorch-tok-s` takes yours)",
                thousands(r.pytorch_tok_s as u64),
                pytorch_machine(r)
            );
            v.extend(wrap(&text, width).into_iter().map(|l| Line::from(Span::styled(l, dim))));
            for l in wrap(&format!("* caveat: {}", r.caveat), width) {
                v.push(Line::from(Span::styled(l, Style::new().fg(Color::Yellow))));
            }
        }
        None => v.push(Line::from(Span::styled("no FlashLM reference figures for this preset", dim))),
    }
    v
}

/// `s` cut to `w` characters by dropping its start ("…" marks the cut).
fn tail(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    let keep: String = s.chars().skip(n + 1 - w.max(1)).collect();
    format!("…{keep}")
}

/// What Enter starts: budget, warm-up and evaluation interval (the form's
/// or the preset's), the texts, the precision and the checkpoint `r` resumes
/// — first, so they fit at 80×24; the preset's description follows.
fn render_details(f: &mut Frame, area: Rect, picker: &Picker, runs_root: &Path, auto: &AutoChoice) {
    let Some(row) = picker.presets.get(picker.selected) else {
        return;
    };
    let block = pane(format!("{} · {}", clean(&row.name), clean(&row.file)), false);
    let inner = block.inner(area);
    let width = inner.width as usize;
    let dim = Style::new().fg(DIM);
    let mut lines = Vec::new();
    match &row.preset {
        Ok(p) => {
            lines.push(Line::from(vec![Span::styled(clean(&p.description), Style::new().bold())]));
            lines.extend(setup_lines(picker, p, width, auto));
            if picker.precision == crate::precision::Precision::Bf16 {
                let peaks = (auto.fp32.as_ref().map(|p| p.gflops), auto.bf16.as_ref().map(|p| p.gflops));
                if let Some(why) = crate::precision::bf16_slower(peaks.0, peaks.1) {
                    lines.extend(
                        wrap(&format!("⚠ {why}"), width).into_iter().map(|l| Line::from(Span::styled(l, Style::new().fg(Color::Yellow)))),
                    );
                }
            }
        }
        Err(e) => {
            lines.push(Line::from(Span::styled("✗ this preset does not parse and cannot be started:", Style::new().fg(Color::Red).bold())));
            for l in wrap(e, width) {
                lines.push(Line::from(Span::styled(l, Style::new().fg(Color::Red))));
            }
            lines.push(Line::from(Span::styled("e shows the RON text with the error marked", dim)));
        }
    }
    if let Some(note) = &row.note {
        let (mark, color) = if row.ambiguous { ("! ", Color::Red) } else { ("~ ", Color::Yellow) };
        for l in wrap(&format!("{mark}{note}"), width) {
            lines.push(Line::from(Span::styled(clean(&l), Style::new().fg(color))));
        }
    }
    let resume = picker.latest_checkpoint(picker.selected);
    lines.push(Line::from(match resume {
        Some(p) => {
            let room = width.saturating_sub("latest checkpoint ".len() + "  (r resumes)".len());
            vec![
                Span::styled("latest checkpoint ", dim),
                Span::raw(tail(&clean(&p.display().to_string()), room)),
                Span::styled("  (r resumes)", dim),
            ]
        }
        None => vec![Span::styled(tail(&format!("no checkpoint under {}/ yet", runs_root.display()), width), dim)],
    }));
    if let Ok(p) = &row.preset {
        lines.extend(details_of(p, row, width));
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// The run Enter starts, in four lines: schedule, texts, precision and the
/// GEMM peaks `auto` decides by.
fn setup_lines(picker: &Picker, p: &Preset, width: usize, auto: &AutoChoice) -> Vec<Line<'static>> {
    let dim = Style::new().fg(DIM);
    let form = picker.form.values().unwrap_or_default();
    let budget = form.budget.as_ref().map(crate::preset::budget_label).unwrap_or_else(|| p.budget_label());
    let warmup = form.warmup.unwrap_or(p.train.warmup);
    // without a fixed interval the TUI evaluates on the clock
    let eval = form.eval_every.map_or_else(|| "on the clock".to_string(), |n| format!("every {} steps", thousands(n)));
    let resolved = resolve_corpus(&picker.corpus);
    let valid = match (&form.valid, &resolved.valid) {
        (Some(v), _) | (None, Some(v)) => clean(&v.display().to_string()),
        (None, None) => "held out from the training text".into(),
    };
    let products = match picker.precision {
        crate::precision::Precision::Bf16 => "bf16 products (f32 weights and optimizer)".to_string(),
        crate::precision::Precision::Auto => format!("auto → {}", auto.precision.label()),
        _ => "fp32".to_string(),
    };
    let text = format!("train on {} · validate on {valid}", clean(&picker.corpus.label()));
    let mut lines = vec![
        Line::from(vec![
            Span::styled("budget ", dim),
            Span::raw(budget),
            Span::styled("  warm-up ", dim),
            Span::raw(thousands(warmup)),
            Span::styled("  eval ", dim),
            Span::raw(eval),
            Span::styled("  (f sets up)", dim),
        ]),
        Line::from(vec![Span::raw(fit(&text, width.saturating_sub(6)).trim_end().to_string()), Span::styled("  (c)", dim)]),
        Line::from(vec![Span::styled("precision ", dim), Span::raw(products), Span::styled("  (b to change)", dim)]),
    ];
    // once measured (in the background as the picker opens)
    if auto.fp32.is_some() || auto.bf16.is_some() {
        let peaks = fit(&peaks_text(auto), width.saturating_sub(11)).trim_end().to_string();
        lines.push(Line::from(vec![Span::styled("GEMM peaks ", dim), Span::raw(peaks)]));
    }
    lines
}

/// Both measured GEMM peaks with their date, and what `auto` picks.
fn peaks_text(auto: &AutoChoice) -> String {
    let g = |p: &Option<crate::peaks::Peak>| p.as_ref().map_or_else(|| "–".to_string(), |p| format!("{:.0}", p.gflops));
    let date = auto.fp32.as_ref().or(auto.bf16.as_ref()).map(|p| format!(", measured {}", p.date)).unwrap_or_default();
    let picks = match (auto.has_bf16, &auto.fp32, &auto.bf16) {
        (false, _, _) => "auto: fp32 (no AVX512-BF16)".to_string(),
        (true, Some(_), Some(_)) => format!("auto: {} (bf16 needs ≥ 10 % more)", auto.precision.label()),
        _ => "auto: fp32 until both are measured".to_string(),
    };
    if auto.has_bf16 {
        format!("fp32 {} · bf16 {} GFLOP/s{date}; {picks}", g(&auto.fp32), g(&auto.bf16))
    } else {
        format!("fp32 {} GFLOP/s{date}; {picks}", g(&auto.fp32))
    }
}

/// The run-setup form (Tab or `f`), in place of the details.
fn render_form(f: &mut Frame, area: Rect, picker: &Picker) {
    let Some(row) = picker.presets.get(picker.selected) else {
        return;
    };
    let block = pane(format!("Run setup · {} · ↑↓ field · Enter start · Esc close", clean(&row.name)), true);
    let inner = block.inner(area);
    let width = inner.width as usize;
    let dim = Style::new().fg(DIM);
    let form = &picker.form;
    let preset = row.preset.as_ref().ok();
    let resolved = resolve_corpus(&picker.corpus);
    let mut lines = Vec::new();
    for (i, field) in FORM_FIELDS.iter().enumerate() {
        let sel = i == form.field;
        let mark = if sel { "▶ " } else { "  " };
        let mut spans = vec![
            Span::styled(mark, Style::new().fg(ACCENT).bold()),
            Span::styled(format!("{:<16}", field.label()), if sel { Style::new().bold() } else { dim }),
        ];
        let default = match (field, preset) {
            (FormField::Budget, Some(p)) => format!("preset: {} · e.g. 2000 steps, 10 min", p.budget_label()),
            (FormField::Warmup, Some(p)) => format!("preset: {}", thousands(p.train.warmup)),
            (FormField::EvalEvery, Some(_)) => "blank: on the clock (first look after ~1 min)".to_string(),
            (FormField::Valid, _) => match &resolved.valid {
                Some(v) => format!("blank: {} · Tab completes", clean(&v.display().to_string())),
                None => "blank: held out from the training text · Tab completes".into(),
            },
            _ => String::new(),
        };
        match form.editor(*field) {
            Some(ed) => {
                let text = ed.text();
                let room = width.saturating_sub(20 + default.chars().count() + 2).max(12);
                let shown = tail(&clean(&text), room);
                if sel {
                    spans.push(Span::styled(format!("{shown}▏"), Style::new().fg(Color::White).bold()));
                } else if text.is_empty() {
                    spans.push(Span::styled("–", dim));
                } else {
                    spans.push(Span::raw(shown));
                }
                spans.push(Span::styled(format!("  {default}"), dim));
            }
            None => {
                spans.push(Span::raw(clean(&picker.corpus.label())));
                spans.push(Span::styled("  Enter: choose (built-in, TinyStories pair, a file or folder)", dim));
            }
        }
        lines.push(Line::from(spans));
    }
    for l in wrap(&format!("uses: {}", resolved.note), width) {
        lines.push(Line::from(Span::styled(l, Style::new().fg(ACCENT))));
    }
    if !form.completions.is_empty() {
        let names = form.completions.iter().take(12).cloned().collect::<Vec<_>>().join("  ");
        lines.push(Line::from(Span::styled(fit(&clean(&names), width).trim_end().to_string(), dim)));
    }
    if let Some(e) = &form.error {
        for l in wrap(e, width) {
            lines.push(Line::from(Span::styled(l, Style::new().fg(Color::Red))));
        }
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// `e`: the preset's RON text, with a parse error's line marked.
pub fn render_ron(f: &mut Frame, area: Rect, picker: &Picker, scroll: u16) {
    let Some(row) = picker.presets.get(picker.selected) else {
        return;
    };
    let r = centered(area, area.width.saturating_sub(4).min(100), area.height.saturating_sub(2));
    f.render_widget(Clear, r);
    let err = row.preset.as_ref().err();
    let at = err.and_then(|e| error_position(e));
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = err {
        lines.push(Line::from(Span::styled(format!("✗ {}", clean(e)), Style::new().fg(Color::Red).bold())));
    }
    for (i, l) in row.text.lines().enumerate() {
        let n = i + 1;
        let text = clean(&l.replace('\t', "    "));
        let num = Span::styled(format!("{n:>4} "), Style::new().fg(DIM));
        if at.is_some_and(|(line, _)| line == n) {
            lines.push(Line::from(vec![num, Span::styled(text, Style::new().fg(Color::White).bg(Color::Red))]));
            if let Some((_, col)) = at {
                lines.push(Line::from(Span::styled(
                    format!("     {}^ here", " ".repeat(col.saturating_sub(1))),
                    Style::new().fg(Color::Red).bold(),
                )));
            }
        } else {
            lines.push(Line::from(vec![num, Span::raw(text)]));
        }
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(ACCENT))
        .title(Span::styled(format!(" {} (Esc closes, ↑↓ scroll) ", clean(&row.file)), Style::new().bold()));
    let scroll = scroll.min((lines.len() as u16).saturating_sub(r.height.saturating_sub(2)));
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)).block(block), r);
}

/// `c`: built-in corpus, TinyStories (if found) or a typed path.
pub fn render_corpus(f: &mut Frame, area: Rect, dlg: &CorpusDialog, current: &Corpus, tinystories: Option<&(PathBuf, PathBuf)>) {
    let r = centered(area, area.width.saturating_sub(4).min(90), 14);
    f.render_widget(Clear, r);
    let tiny = match tinystories {
        Some((t, v)) => format!(
            "TinyStories: {} + {} (training and validation text)",
            t.display(),
            v.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ),
        None => "TinyStories (not found: `flashlm-tui data download tinystories` fetches its train + valid pair)".into(),
    };
    let current = match current {
        Corpus::BuiltIn => 0,
        Corpus::TinyStories { .. } => 1,
        Corpus::File(_) => 2,
    };
    let opts = ["built-in story corpus (generated, no download)".to_string(), tiny, "a file or folder path…".to_string()];
    let mut lines = vec![Line::from(Span::styled("Train on:", Style::new().bold())), Line::from("")];
    for (i, o) in opts.iter().enumerate().take(CORPUS_OPTIONS) {
        let sel = i == dlg.selected;
        let mark = if sel { "▶ " } else { "  " };
        let now = if i == current { "  (current)" } else { "" };
        let mut style = if sel { Style::new().bold().reversed() } else { Style::new() };
        if i == 1 && tinystories.is_none() {
            style = style.fg(DIM);
        }
        lines.push(Line::from(vec![
            Span::styled(mark, Style::new().fg(ACCENT).bold()),
            Span::styled(clean(o), style),
            Span::styled(now, Style::new().fg(DIM)),
        ]));
    }
    lines.push(Line::from(""));
    if let Some(ed) = &dlg.editing {
        let before: String = ed.chars[..ed.cursor.min(ed.chars.len())].iter().collect();
        let at: String = ed.chars.get(ed.cursor).map(|c| c.to_string()).unwrap_or_else(|| " ".into());
        let after: String = ed.chars.iter().skip(ed.cursor + 1).collect();
        lines.push(Line::from(vec![
            Span::styled("path> ", Style::new().fg(ACCENT).bold()),
            Span::raw(clean(&before)),
            Span::styled(clean(&at), Style::new().reversed()),
            Span::raw(clean(&after)),
        ]));
        if !dlg.completions.is_empty() {
            lines.push(Line::from(Span::styled(
                clean(&dlg.completions.iter().take(12).cloned().collect::<Vec<_>>().join("  ")),
                Style::new().fg(DIM),
            )));
        }
        lines.push(Line::from(Span::styled("Enter accepts · Tab completes · Esc back", Style::new().fg(DIM))));
    } else {
        lines.push(Line::from(Span::styled("↑↓ choose · Enter select · Esc cancel", Style::new().fg(DIM))));
    }
    if let Some(e) = &dlg.error {
        lines.push(Line::from(Span::styled(clean(e), Style::new().fg(Color::Red))));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(ACCENT))
        .title(Span::styled(" Corpus ", Style::new().bold()));
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), r);
}

/// "file:12:5: message" → (12, 5), for highlighting a preset's parse error.
fn error_position(err: &str) -> Option<(usize, usize)> {
    let b = err.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b':' {
            let digits = |mut j: usize| {
                let s = j;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                (j > s).then(|| (err[s..j].parse::<usize>().ok(), j))
            };
            if let Some((Some(line), j)) = digits(i + 1) {
                if j < b.len() && b[j] == b':' {
                    if let Some((Some(col), k)) = digits(j + 1) {
                        if k < b.len() && b[k] == b':' {
                            return Some((line, col));
                        }
                    }
                }
            }
        }
        i += 1;
    }
    None
}
