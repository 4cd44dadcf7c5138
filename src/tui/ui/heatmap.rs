//! The memory heatmap: each Hebbian layer's d_mem × d_mem matrix M drawn with
//! half-block cells (`▀`: the upper matrix row is the foreground colour, the
//! lower one the background), so one terminal row holds two matrix rows. The
//! colour scale diverges around 0 (blue negative, dark 0, red positive) and is
//! symmetric, so equal magnitudes get equal intensity.

use super::{clean, pane, DIM};
use crate::tui::app::{Dashboard, HeatData, HeatKind, Pane, RunView};
use ndarray::Array2;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub const NEG: (u8, u8, u8) = (40, 120, 255);
pub const ZERO: (u8, u8, u8) = (24, 24, 24);
pub const POS: (u8, u8, u8) = (255, 80, 40);

/// Colour for t in [−1, 1]: −1 blue, 0 near-black, +1 red, linear in between.
pub fn diverging(t: f32) -> Color {
    let t = if t.is_finite() { t.clamp(-1.0, 1.0) } else { 0.0 };
    let (end, a) = if t < 0.0 { (NEG, -t) } else { (POS, t) };
    let mix = |z: u8, e: u8| (z as f32 + (e as f32 - z as f32) * a).round() as u8;
    Color::Rgb(mix(ZERO.0, end.0), mix(ZERO.1, end.1), mix(ZERO.2, end.2))
}

/// How a matrix maps onto cells: `size` = (terminal columns, half-rows); cell
/// i of an axis shows the mean of source entries [i·n/size, (i+1)·n/size)
/// (at least one), so larger displays repeat entries and smaller ones average them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub src: (usize, usize),
    pub size: (usize, usize),
}

impl Fit {
    /// Source entries averaged per cell (rows, cols), rounded up; 1 when enlarged.
    pub fn pool(&self) -> (usize, usize) {
        (self.src.0.div_ceil(self.size.1.max(1)), self.src.1.div_ceil(self.size.0.max(1)))
    }
}

/// Fits `rows × cols` into `w` columns × `h2` half-rows; square matrices stay square.
pub fn fit(rows: usize, cols: usize, w: usize, h2: usize, square: bool) -> Fit {
    let (rows, cols, w, h2) = (rows.max(1), cols.max(1), w.max(1), h2.max(1));
    let size = if square {
        let s = w.min(h2);
        (s, s)
    } else {
        // keep the columns sharp when they fit, and never stretch rows more than 3×
        (if cols <= w { cols * (w / cols).clamp(1, 3) } else { w }, h2.min(rows * 3))
    };
    Fit { src: (rows, cols), size }
}

fn span(i: usize, n: usize, size: usize) -> std::ops::Range<usize> {
    let a = i * n / size;
    let b = ((i + 1) * n / size).max(a + 1).min(n);
    a..b
}

fn pooled(m: &Array2<f32>, f: &Fit, hr: usize, c: usize) -> f32 {
    let (rows, cols) = m.dim();
    let (mut s, mut n) = (0.0f32, 0usize);
    for r in span(hr, rows, f.size.1) {
        for cc in span(c, cols, f.size.0) {
            s += m[(r, cc)];
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        s / n as f32
    }
}

/// Draws `m` at the top-left of `area` with half blocks; returns the fit used.
pub fn draw_matrix(buf: &mut Buffer, area: Rect, m: &Array2<f32>, vmax: f32, square: bool) -> Fit {
    let (rows, cols) = m.dim();
    let f = fit(rows, cols, area.width as usize, area.height as usize * 2, square);
    let scale = if vmax > 0.0 && vmax.is_finite() { 1.0 / vmax } else { 0.0 };
    for y in 0..f.size.1.div_ceil(2) {
        for x in 0..f.size.0 {
            let top = diverging(pooled(m, &f, 2 * y, x) * scale);
            let bottom = if 2 * y + 1 < f.size.1 { diverging(pooled(m, &f, 2 * y + 1, x) * scale) } else { Color::Reset };
            let pos = (area.x + x as u16, area.y + y as u16);
            if let Some(cell) = buf.cell_mut(pos) {
                cell.set_symbol("▀").set_fg(top).set_bg(bottom);
            }
        }
    }
    f
}

/// Minimum and maximum over matrices (ignoring non-finite values).
pub fn range(ms: &[&Array2<f32>]) -> (f32, f32) {
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for m in ms {
        for &v in m.iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if lo > hi {
        (0.0, 0.0)
    } else {
        (lo, hi)
    }
}

/// Three significant figures, short enough for a 28-column legend.
pub fn num(v: f32) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(0.01..1000.0).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The legend line: `min <v> ███ 0 ███ max <v>` in the scale's colours, with
/// fewer swatches when `width` is tight (the numbers always stay whole).
pub fn legend(lo: f32, hi: f32, width: usize) -> Line<'static> {
    let (a, b) = (num(lo), num(hi));
    let fixed = "min ".len() + a.chars().count() + 1 + " 0 ".len() + " max ".len() + b.chars().count();
    let n = (width.saturating_sub(fixed) / 2).clamp(1, 3);
    let ts: &[f32] = match n {
        3 => &[1.0, 0.6, 0.25],
        2 => &[1.0, 0.4],
        _ => &[1.0],
    };
    let mut spans = vec![Span::styled("min ", Style::new().fg(DIM)), Span::raw(format!("{a} "))];
    for &t in ts {
        spans.push(Span::styled("█", Style::new().fg(diverging(-t))));
    }
    spans.push(Span::styled(" 0 ", Style::new().bold()));
    for &t in ts.iter().rev() {
        spans.push(Span::styled("█", Style::new().fg(diverging(t))));
    }
    spans.push(Span::styled(" max ", Style::new().fg(DIM)));
    spans.push(Span::raw(b));
    Line::from(spans)
}

fn title(view: &Dashboard, h: Option<&HeatData>) -> String {
    let Some(h) = h else {
        return "Memory".into();
    };
    let n = h.layers.len();
    let what = match h.kind {
        HeatKind::Memory => "Memory",
        HeatKind::ConvTaps { .. } => "Conv taps",
    };
    if view.all_layers {
        format!("{what} · all {n} layers · step {}", h.step)
    } else {
        format!("{what} L{}/{n} · step {}", view.layer.min(n.saturating_sub(1)) + 1, h.step)
    }
}

pub fn render_heatmap(f: &mut Frame, area: Rect, run: &RunView, view: &Dashboard) {
    let block = pane(title(view, run.heat.as_ref()), view.focus == Pane::Heatmap);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(h) = run.heat.as_ref().filter(|h| !h.layers.is_empty()) else {
        render_nothing_yet(f, inner, run);
        return;
    };
    if inner.height < 3 || inner.width < 4 {
        return;
    }
    let square = h.kind == HeatKind::Memory;
    let legend_row = Rect { y: inner.y + inner.height - 1, height: 1, ..inner };
    let note_row = Rect { y: inner.y + inner.height - 2, height: 1, ..inner };
    let mut grid = Rect { height: inner.height - 2, ..inner };
    if let HeatKind::ConvTaps { checkpoint } = &h.kind {
        let label = format!("no Hebbian memory: conv taps from {}", clean(&checkpoint.display().to_string()));
        f.render_widget(Line::from(Span::styled(label, Style::new().fg(Color::Yellow))), Rect { height: 1, ..grid });
        grid = Rect { y: grid.y + 1, height: grid.height.saturating_sub(1), ..grid };
    }
    let (note, lo, hi) = if view.all_layers {
        render_all_layers(f, grid, h, square)
    } else {
        render_layer(f, grid, &h.layers[view.layer.min(h.layers.len() - 1)], square)
    };
    f.render_widget(Line::from(Span::styled(note, Style::new().fg(DIM))), note_row);
    f.render_widget(legend(lo, hi, legend_row.width as usize), legend_row);
}

/// Before the first matrix: what will appear, and the ternary shares meanwhile.
fn render_nothing_yet(f: &mut Frame, inner: Rect, run: &RunView) {
    let msg = if run.has_memory {
        format!(
            "Waiting for the first evaluation ({}; v: now): each layer's {d}×{d} Hebbian memory M is read at the probe sequence then.",
            run.cadence.as_ref().map_or_else(|| format!("every {} steps", run.eval_every), |c| c.eval_text()),
            d = run.d_mem
        )
    } else if run.has_conv {
        format!(
                "{} ({}) has no Hebbian memory, so there is no memory matrix to show. Its depthwise conv taps (k × d_model per layer) appear here once a checkpoint is saved.",
                run.preset, run.version
            )
    } else {
        format!("{} ({}) has no Hebbian memory and no convolution: nothing to draw here.", run.preset, run.version)
    };
    let mut lines = vec![Line::from(Span::styled(msg, Style::new().fg(DIM)))];
    if !run.ternary.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("ternary weights  −1 / 0 / +1", Style::new().bold())));
        for s in &run.ternary {
            lines.push(Line::from(vec![
                Span::raw(format!("{:>5.1} {:>5.1} {:>5.1}  ", 100.0 * s.neg, 100.0 * s.zero, 100.0 * s.pos)),
                Span::styled(clean(&s.name), Style::new().fg(DIM)),
            ]));
        }
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

/// Every layer as a small multiple on one shared scale; returns the note
/// under them and the scale's ends.
fn render_all_layers(f: &mut Frame, grid: Rect, h: &HeatData, square: bool) -> (String, f32, f32) {
    let all: Vec<&Array2<f32>> = h.layers.iter().collect();
    let (lo, hi) = range(&all);
    let vmax = lo.abs().max(hi.abs());
    let (cols, tw, th) = grid_shape(h.layers.len(), grid.width as usize, grid.height as usize);
    for (i, m) in h.layers.iter().enumerate() {
        let (gx, gy) = (i % cols, i / cols);
        let x = grid.x + (gx * (tw + 1)) as u16;
        let y = grid.y + (gy * th) as u16;
        if th < 2 || y + 1 >= grid.y + grid.height {
            continue;
        }
        f.render_widget(Line::from(Span::styled(format!("L{}", i + 1), Style::new().fg(DIM))), Rect { x, y, width: tw as u16, height: 1 });
        let tile = Rect { x, y: y + 1, width: tw as u16, height: (th - 1) as u16 };
        draw_matrix(f.buffer_mut(), tile, m, vmax, square);
    }
    ("shared scale across layers · ← → a".into(), lo, hi)
}

/// One layer's matrix; returns the note under it (its shape, and the pooling
/// if any) and the scale's ends.
fn render_layer(f: &mut Frame, grid: Rect, m: &Array2<f32>, square: bool) -> (String, f32, f32) {
    let (lo, hi) = range(&[m]);
    let vmax = lo.abs().max(hi.abs());
    let fitted = draw_matrix(f.buffer_mut(), grid, m, vmax, square);
    let (pr, pc) = fitted.pool();
    let dims = format!("{}×{}", m.dim().0, m.dim().1);
    let note = if pr > 1 || pc > 1 {
        format!("{dims} · ≤{pr}×{pc} mean/cell · ▀ 2 rows")
    } else if square {
        format!("{dims} · rows key · cols value")
    } else {
        format!("{dims} · rows tap · cols channel")
    };
    (note, lo, hi)
}

/// Small multiples: (tiles per row, tile width, tile height incl. its label row).
pub fn grid_shape(n: usize, w: usize, h: usize) -> (usize, usize, usize) {
    let n = n.max(1);
    let mut best = (1, w, h, 0usize);
    for cols in 1..=n {
        let rows = n.div_ceil(cols);
        let tw = (w + 1) / cols;
        let tw = tw.saturating_sub(1).max(1);
        let th = h / rows;
        // the matrix gets th−1 rows of two half-rows each
        let side = tw.min(2 * th.saturating_sub(1));
        if side > best.3 {
            best = (cols, tw, th, side);
        }
    }
    (best.0, best.1, best.2)
}
