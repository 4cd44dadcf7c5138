//! The memory heatmap: each layer's memory matrix (v7.2's Hebbian d_mem ×
//! d_mem M, v9.7's slot states slots × d_v, v5-LN's running state) drawn with
//! half-block cells (`▀`: the upper matrix row is the foreground colour, the
//! lower one the background), so one terminal row holds two matrix rows.
//!
//! Real memories are heavy-tailed: a few entries are tens of times the rest,
//! so a linear scale paints almost every cell black. The [`Scale`] is a
//! symmetric log fitted to the cells shown: the median magnitude lands at
//! half intensity and the 99th percentile at full (larger values are
//! clipped), and the legend prints the values at those points. Colours
//! diverge around 0 (blue negative, dark 0, red positive).

use super::{clean, pane, DIM};
use crate::model::MemoryKind;
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

/// The share of the way from ZERO to an end colour at |t|: a little faster
/// than linear, so mid-scale cells are clearly lit.
const GAMMA: f32 = 0.75;

/// Colour for t in [−1, 1]: −1 blue, 0 near-black, +1 red.
pub fn diverging(t: f32) -> Color {
    let t = if t.is_finite() { t.clamp(-1.0, 1.0) } else { 0.0 };
    let (end, a) = if t < 0.0 { (NEG, (-t).powf(GAMMA)) } else { (POS, t.powf(GAMMA)) };
    let mix = |z: u8, e: u8| (z as f32 + (e as f32 - z as f32) * a).round() as u8;
    Color::Rgb(mix(ZERO.0, end.0), mix(ZERO.1, end.1), mix(ZERO.2, end.2))
}

/// Perceived brightness 0.299 R + 0.587 G + 0.114 B of an RGB colour (0–255).
pub fn brightness(c: Color) -> Option<f32> {
    match c {
        Color::Rgb(r, g, b) => Some(0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32),
        _ => None,
    }
}

/// How values map onto [−1, 1]: t = sign(v)·ln(1 + |v|/c) / ln(1 + top/c),
/// clipped at ±1; linear (c infinite) when the values are not heavy-tailed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Full intensity from here (the 99th percentile of |v|).
    pub top: f32,
    /// The median |v|: half intensity.
    pub mid: f32,
    /// The log's linear width; infinite for a linear scale.
    pub c: f32,
}

impl Scale {
    /// Fitted to the values shown (non-finite ones ignored).
    pub fn fit(values: impl IntoIterator<Item = f32>) -> Scale {
        let mut a: Vec<f32> = values.into_iter().filter(|v| v.is_finite()).map(f32::abs).collect();
        if a.is_empty() {
            return Scale { top: 1.0, mid: 0.5, c: f32::INFINITY };
        }
        a.sort_by(f32::total_cmp);
        let q = |p: f64| a[((a.len() - 1) as f64 * p).round() as usize];
        let (mid, top) = (q(0.5), q(0.99));
        if top <= 0.0 {
            let m = a[a.len() - 1].max(f32::MIN_POSITIVE);
            return Scale { top: m, mid: m / 2.0, c: f32::INFINITY };
        }
        // ln(1 + mid/c) / ln(1 + top/c) = 1/2  ⇔  c = mid² / (top − 2·mid)
        if mid <= 0.0 || top <= 2.0 * mid * 1.0001 {
            return Scale { top, mid: top / 2.0, c: f32::INFINITY };
        }
        Scale { top, mid, c: mid * mid / (top - 2.0 * mid) }
    }

    /// Where `v` sits on the colour ramp, in [−1, 1].
    pub fn t(&self, v: f32) -> f32 {
        if !v.is_finite() {
            return 0.0;
        }
        let t = if self.c.is_finite() { (v.abs() / self.c).ln_1p() / (self.top / self.c).ln_1p() } else { v.abs() / self.top };
        (t.min(1.0)).copysign(v)
    }

    /// The value at `t` ≥ 0 (for the legend).
    pub fn value_at(&self, t: f32) -> f32 {
        if self.c.is_finite() {
            self.c * ((self.top / self.c).ln_1p() * t).exp_m1()
        } else {
            self.top * t
        }
    }

    pub fn colour(&self, v: f32) -> Color {
        diverging(self.t(v))
    }

    pub fn is_log(&self) -> bool {
        self.c.is_finite()
    }
}

/// How a matrix maps onto cells: `size` = (terminal columns, half-rows); cell
/// i of an axis shows the mean of source entries [i·n/size, (i+1)·n/size)
/// (at least one), so larger displays repeat entries and smaller ones average
/// them; with `max_abs`, the entry of largest magnitude instead (sign kept).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub src: (usize, usize),
    pub size: (usize, usize),
    pub max_abs: bool,
}

impl Fit {
    /// Source entries averaged per cell (rows, cols), rounded up; 1 when enlarged.
    pub fn pool(&self) -> (usize, usize) {
        (self.src.0.div_ceil(self.size.1.max(1)), self.src.1.div_ceil(self.size.0.max(1)))
    }

    /// The half-row and column that show matrix entry (r, c).
    pub fn cell_of(&self, r: usize, c: usize) -> (usize, usize) {
        let hr = (0..self.size.1).find(|&i| span(i, self.src.0, self.size.1).contains(&r)).unwrap_or(0);
        let col = (0..self.size.0).find(|&i| span(i, self.src.1, self.size.0).contains(&c)).unwrap_or(0);
        (hr, col)
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
    Fit { src: (rows, cols), size, max_abs: false }
}

fn span(i: usize, n: usize, size: usize) -> std::ops::Range<usize> {
    let a = i * n / size;
    let b = ((i + 1) * n / size).max(a + 1).min(n);
    a..b
}

fn pooled(m: &Array2<f32>, f: &Fit, hr: usize, c: usize) -> f32 {
    let (rows, cols) = m.dim();
    let (mut s, mut n, mut big) = (0.0f32, 0usize, 0.0f32);
    for r in span(hr, rows, f.size.1) {
        for cc in span(c, cols, f.size.0) {
            let v = m[(r, cc)];
            s += v;
            n += 1;
            if v.abs() > big.abs() {
                big = v;
            }
        }
    }
    if f.max_abs {
        big
    } else if n == 0 {
        0.0
    } else {
        s / n as f32
    }
}

/// The cells `m` shows at `fit`, row-major over half-rows.
pub fn cells(m: &Array2<f32>, f: &Fit) -> Vec<f32> {
    let mut out = Vec::with_capacity(f.size.0 * f.size.1);
    for hr in 0..f.size.1 {
        for c in 0..f.size.0 {
            out.push(pooled(m, f, hr, c));
        }
    }
    out
}

/// The values a scale is fitted to: the cells, where they average entries;
/// else the entries themselves (an enlarged matrix repeats them unevenly).
pub fn shown_values(m: &Array2<f32>, f: &Fit) -> Vec<f32> {
    let (pr, pc) = f.pool();
    if pr > 1 || pc > 1 {
        cells(m, f)
    } else {
        m.iter().cloned().collect()
    }
}

/// Draws `m` at the top-left of `area` with half blocks in `scale`'s colours.
pub fn draw_matrix(buf: &mut Buffer, area: Rect, m: &Array2<f32>, f: &Fit, scale: &Scale) {
    let v = cells(m, f);
    let (w, h2) = f.size;
    for y in 0..h2.div_ceil(2).min(area.height as usize) {
        for x in 0..w.min(area.width as usize) {
            let top = scale.colour(v[2 * y * w + x]);
            let bottom = if 2 * y + 1 < h2 { scale.colour(v[(2 * y + 1) * w + x]) } else { Color::Reset };
            let pos = (area.x + x as u16, area.y + y as u16);
            if let Some(cell) = buf.cell_mut(pos) {
                cell.set_symbol("▀").set_fg(top).set_bg(bottom);
            }
        }
    }
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

/// The legend line: `min <lo> ██ −<mid> ██ 0 ██ <mid> ██ max <hi>` in the
/// scale's colours, the ±mid labels marking half intensity; narrower widths
/// drop those labels, then swatches (the ends' numbers always stay whole).
pub fn legend(scale: &Scale, lo: f32, hi: f32, width: usize) -> Line<'static> {
    let (a, b, m) = (num(lo), num(hi), num(scale.mid));
    let fixed = "min ".len() + a.chars().count() + 1 + " 0 ".len() + " max ".len() + b.chars().count();
    let sw = |t: f32| Span::styled("█", Style::new().fg(diverging(t)));
    let mut spans = vec![Span::styled("min ", Style::new().fg(DIM)), Span::raw(format!("{a} "))];
    let with_mid = fixed + 8 + 2 * (m.chars().count() + 2) <= width;
    if with_mid {
        spans.extend([sw(-1.0), sw(-0.75), Span::raw(format!(" -{m} ")), sw(-0.5), sw(-0.25)]);
        spans.push(Span::styled(" 0 ", Style::new().bold()));
        spans.extend([sw(0.25), sw(0.5), Span::raw(format!(" {m} ")), sw(0.75), sw(1.0)]);
    } else {
        let n = (width.saturating_sub(fixed) / 2).clamp(1, 3);
        let ts: &[f32] = match n {
            3 => &[1.0, 0.6, 0.25],
            2 => &[1.0, 0.4],
            _ => &[1.0],
        };
        spans.extend(ts.iter().map(|&t| sw(-t)));
        spans.push(Span::styled(" 0 ", Style::new().bold()));
        spans.extend(ts.iter().rev().map(|&t| sw(t)));
    }
    spans.push(Span::styled(" max ", Style::new().fg(DIM)));
    spans.push(Span::raw(b));
    Line::from(spans)
}

/// What the scale does, for the note under the legend.
fn scale_note(s: &Scale) -> String {
    if s.is_log() {
        format!("symlog ½ colour at ±{}, full ≥ ±{}", num(s.mid), num(s.top))
    } else {
        format!("linear, full colour ≥ ±{}", num(s.top))
    }
}

/// `tag` names a memory other than the Hebbian one ("slots 512×64").
fn title(view: &Dashboard, h: Option<&HeatData>, diff: Option<u64>, tag: Option<String>) -> String {
    let Some(h) = h else {
        return "Memory".into();
    };
    let n = h.layers.len();
    let what = match h.kind {
        HeatKind::Memory => "Memory",
        HeatKind::ConvTaps { .. } => "Conv taps",
    };
    let step = match diff {
        Some(from) => format!("Δ step {from}→{}", h.step),
        None => format!("step {}", h.step),
    };
    let step = match tag.filter(|_| h.kind == HeatKind::Memory) {
        Some(tag) => format!("{tag} · {step}"),
        None => step,
    };
    if view.all_layers {
        format!("{what} · all {n} layers · {step}")
    } else {
        format!("{what} L{}/{n} · {step}", view.layer.min(n.saturating_sub(1)) + 1)
    }
}

/// The matrices shown: the snapshot, or its change since the previous one
/// (with that one's step) when the change view is on and there is one.
fn shown(run: &RunView, view: &Dashboard) -> Option<(Vec<Array2<f32>>, Option<u64>)> {
    let h = run.heat.as_ref().filter(|h| !h.layers.is_empty())?;
    if view.diff {
        if let Some(p) = run.prev_heat.as_ref().filter(|p| p.layers.len() == h.layers.len()) {
            if p.layers.iter().zip(&h.layers).all(|(a, b)| a.dim() == b.dim()) {
                let d = h.layers.iter().zip(&p.layers).map(|(a, b)| a - b).collect();
                return Some((d, Some(p.step)));
            }
        }
    }
    Some((h.layers.clone(), None))
}

pub fn render_heatmap(f: &mut Frame, area: Rect, run: &RunView, view: &Dashboard) {
    let data = shown(run, view);
    let focused = view.focus == Pane::Heatmap;
    let block = pane(title(view, run.heat.as_ref(), data.as_ref().and_then(|d| d.1), memory_tag(run)), focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let (Some(h), Some((layers, diff_from))) = (run.heat.as_ref(), data) else {
        render_nothing_yet(f, inner, run);
        return;
    };
    if inner.height < 3 || inner.width < 4 {
        return;
    }
    let look = match (&h.kind, run.memory) {
        (HeatKind::ConvTaps { .. }, _) => Look { square: false, axes: ("tap", "channel"), max_abs: false },
        (HeatKind::Memory, dims) => Look {
            square: layers[0].nrows() == layers[0].ncols(),
            axes: dims.map_or(("key", "value"), |d| d.kind.axes()),
            max_abs: dims.is_some_and(|d| d.kind.max_abs_pool()),
        },
    };
    let legend_row = Rect { y: inner.y + inner.height - 1, height: 1, ..inner };
    let note_row = Rect { y: inner.y + inner.height - 2, height: 1, ..inner };
    let mut grid = Rect { height: inner.height - 2, ..inner };
    if let HeatKind::ConvTaps { checkpoint } = &h.kind {
        let label = format!("no Hebbian memory: conv taps from {}", clean(&checkpoint.display().to_string()));
        f.render_widget(Line::from(Span::styled(label, Style::new().fg(Color::Yellow))), Rect { height: 1, ..grid });
        grid = Rect { y: grid.y + 1, height: grid.height.saturating_sub(1), ..grid };
    }
    let mut note = if view.all_layers {
        render_all_layers(f, grid, &layers, look)
    } else {
        let i = view.layer.min(layers.len() - 1);
        render_layer(f, grid, &layers[i], look, focused.then_some(view.cursor))
    };
    if view.diff && diff_from.is_none() {
        note.text = format!("no earlier snapshot yet: the matrix itself · {}", note.text);
    }
    f.render_widget(Line::from(Span::styled(clean(&note.text), Style::new().fg(DIM))), note_row);
    f.render_widget(legend(&note.scale, note.lo, note.hi, legend_row.width as usize), legend_row);
}

/// How the matrices are drawn: kept square or not, the names of their axes,
/// and whether a cell pools by the largest magnitude rather than the mean.
#[derive(Clone, Copy)]
struct Look {
    square: bool,
    axes: (&'static str, &'static str),
    max_abs: bool,
}

/// The title's name for a memory other than the Hebbian one; says so when
/// the snapshot pooled the rows ("slots 4096×64 as 1024 rows").
fn memory_tag(run: &RunView) -> Option<String> {
    let dims = run.memory?;
    let tag = dims.tag()?;
    let shown = run.heat.as_ref().and_then(|h| h.layers.first()).map_or(dims.rows, |m| m.nrows());
    Some(if shown != dims.rows && shown > 0 { format!("{tag} as {shown} rows") } else { tag })
}

/// What a view drew: the line under it, its scale and its value range.
struct Drawn {
    text: String,
    scale: Scale,
    lo: f32,
    hi: f32,
}

/// Before the first matrix: what will appear, and the ternary shares meanwhile.
fn render_nothing_yet(f: &mut Frame, inner: Rect, run: &RunView) {
    let msg = if run.has_memory {
        let what = match run.memory {
            Some(d) if d.kind == MemoryKind::Slots => format!("{}×{} slot states (slots × values)", d.rows, d.cols),
            Some(d) if d.kind == MemoryKind::RunningState => format!("{}×{} running state n/δ", d.rows, d.cols),
            d => {
                let d = d.map_or(0, |d| d.rows);
                format!("{d}×{d} Hebbian memory M")
            }
        };
        format!(
            "Waiting for the first evaluation ({}; v: now): each layer's {what} is read at the probe sequence then.",
            run.cadence.as_ref().map_or_else(|| format!("every {} steps", run.eval_every), |c| c.eval_text()),
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

/// Every layer as a small multiple on one shared scale (fitted to all their
/// cells), each tile labelled with its layer.
fn render_all_layers(f: &mut Frame, grid: Rect, layers: &[Array2<f32>], look: Look) -> Drawn {
    let axes = look.axes;
    let refs: Vec<&Array2<f32>> = layers.iter().collect();
    let (lo, hi) = range(&refs);
    let (cols, tw, th) = grid_shape(layers.len(), grid.width as usize, grid.height as usize);
    let mut tiles = Vec::new();
    for (i, m) in layers.iter().enumerate() {
        let (gx, gy) = (i % cols, i / cols);
        let x = grid.x + (gx * (tw + 1)) as u16;
        let y = grid.y + (gy * th) as u16;
        if th < 2 || y + 1 >= grid.y + grid.height {
            continue;
        }
        let tile = Rect { x, y: y + 1, width: tw as u16, height: (th - 1) as u16 };
        let (r, c) = m.dim();
        let ft = Fit { max_abs: look.max_abs, ..fit(r, c, tile.width as usize, tile.height as usize * 2, look.square) };
        tiles.push((i, x, y, tile, ft));
    }
    let scale = Scale::fit(tiles.iter().flat_map(|&(i, .., ft)| shown_values(&layers[i], &ft)));
    for &(i, x, y, tile, ft) in &tiles {
        f.render_widget(Line::from(Span::styled(format!("L{}", i + 1), Style::new().fg(DIM))), Rect { x, y, width: tw as u16, height: 1 });
        draw_matrix(f.buffer_mut(), tile, &layers[i], &ft, &scale);
    }
    let (r, c) = layers[0].dim();
    let text = format!("{r}×{c} · rows {} × cols {} · shared scale · {}", axes.0, axes.1, scale_note(&scale));
    Drawn { text, scale, lo, hi }
}

/// One layer's matrix with its axes (row numbers down the left, column
/// numbers along the top) and, when focused, the cursor and its value.
fn render_layer(f: &mut Frame, grid: Rect, m: &Array2<f32>, look: Look, cursor: Option<(usize, usize)>) -> Drawn {
    let axes = look.axes;
    let (lo, hi) = range(&[m]);
    let (rows, cols) = m.dim();
    let dim = Style::new().fg(DIM);
    // axes need a row above and a margin to the left; tiny panes go without
    let margin = (rows.saturating_sub(1).to_string().len().max(axes.0.len()) + 1) as u16;
    let with_axes = grid.height >= 3 && grid.width > margin + 4;
    let area =
        if with_axes { Rect { x: grid.x + margin, y: grid.y + 1, width: grid.width - margin, height: grid.height - 1 } } else { grid };
    let fitted = Fit { max_abs: look.max_abs, ..fit(rows, cols, area.width as usize, area.height as usize * 2, look.square) };
    let scale = Scale::fit(shown_values(m, &fitted));
    draw_matrix(f.buffer_mut(), area, m, &fitted, &scale);
    let cur = cursor.map(|(r, c)| (r.min(rows - 1), c.min(cols - 1)));
    if with_axes {
        let (w, h2) = fitted.size;
        let buf = f.buffer_mut();
        // top: the axis names and the first and last column numbers
        buf.set_string(grid.x, grid.y, format!("{:<w$}", axes.0, w = margin as usize), dim);
        let last = (cols - 1).to_string();
        let head = format!("0 {} →", axes.1);
        if cur.is_some() {
            // the cursor's column mark takes the row; the readout names the axis
            buf.set_string(area.x, grid.y, "0", dim);
            buf.set_string(area.x + (w.saturating_sub(last.len())) as u16, grid.y, &last, dim);
        } else if w > head.chars().count() + last.len() {
            buf.set_string(area.x, grid.y, &head, dim);
            buf.set_string(area.x + (w - last.len()) as u16, grid.y, &last, dim);
        } else {
            buf.set_string(area.x, grid.y, format!("{}→", &axes.1[..1]), dim);
        }
        // left: row numbers every few rows, and the last row's
        let trows = h2.div_ceil(2);
        let every = (trows / 4).max(1);
        for y in 0..trows {
            if y % every == 0 || y + 1 == trows {
                let first = span(2 * y, rows, h2).start;
                buf.set_string(grid.x, area.y + y as u16, format!("{first:>w$}", w = margin as usize - 1), dim);
            }
        }
        if let Some((r, c)) = cur {
            let (hr, col) = fitted.cell_of(r, c);
            let mark = Style::new().fg(Color::White).bold();
            buf.set_string(grid.x + margin - 1, area.y + (hr / 2) as u16, if hr % 2 == 0 { "▶" } else { "▷" }, mark);
            buf.set_string(area.x + col as u16, grid.y, "▼", mark);
        }
    }
    let (pr, pc) = fitted.pool();
    let dims = format!("{rows}×{cols}");
    let how = if look.max_abs { "max |v|" } else { "mean" };
    let text = match cur {
        Some((r, c)) => {
            let (hr, col) = fitted.cell_of(r, c);
            let cell = if pr > 1 || pc > 1 { format!(" (cell {how} {})", num(pooled(m, &fitted, hr, col))) } else { String::new() };
            format!("{} {r} × {} {c}: {}{cell} · {}", axes.0, axes.1, num(m[(r, c)]), scale_note(&scale))
        }
        None if pr > 1 || pc > 1 => format!("{dims} · ≤{pr}×{pc} {how}/cell · ▀ 2 rows · {}", scale_note(&scale)),
        None => format!("{dims} · rows {} · cols {} · {}", axes.0, axes.1, scale_note(&scale)),
    };
    Drawn { text, scale, lo, hi }
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
