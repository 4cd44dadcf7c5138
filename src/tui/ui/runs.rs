//! The runs screen: past runs under the runs folder (from their metrics.jsonl
//! and newest checkpoint) in a table whose numbers are never cut, and a chart
//! overlaying the training and validation curves of the runs marked for
//! comparison, which says so when their corpora differ.

use super::{clean, pane, si, wrap, ACCENT, DIM};
use crate::runs::{fmt_duration, row_cells, RunRecord, COLUMNS, TEXT_COLUMNS};
use crate::tui::app::{Runs, XAxis};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Cell, Chart, Dataset, GraphType, LegendPosition, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use std::path::Path;

pub const PALETTE: [Color; 8] =
    [Color::Cyan, Color::Yellow, Color::Magenta, Color::Green, Color::LightRed, Color::LightBlue, Color::LightGreen, Color::White];

/// Columns in the order they are given room: what tells runs apart first.
const PRIORITY: [usize; 16] = [0, 2, 6, 9, 11, 1, 12, 13, 14, 15, 5, 8, 3, 4, 7, 10];
/// The order columns are shown in.
const ORDER: [usize; 16] = [0, 1, 12, 13, 14, 2, 15, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/// The run name may be cut (with "…") down to this; numbers never are.
const MIN_NAME: usize = 12;

/// The columns that fit `width` (every one at its full width, the run name
/// at least `MIN_NAME`), in display order, with their widths.
pub fn table_columns(cells: &[Vec<String>], width: usize) -> Vec<(usize, usize)> {
    let natural = |c: usize| cells.iter().map(|r| r[c].chars().count()).chain([COLUMNS[c].chars().count()]).max().unwrap_or(1);
    // the name column carries the marker ("▶ ✓ ") too
    let want = |c: usize| if c == 0 { natural(0) + 4 } else { natural(c) };
    let mut chosen: Vec<usize> = Vec::new();
    let mut used = MIN_NAME + 4;
    for &c in &PRIORITY[1..] {
        let w = want(c) + 1;
        if used + w <= width {
            used += w;
            chosen.push(c);
        }
    }
    let name_w = (want(0)).min(width.saturating_sub(used) + MIN_NAME + 4).max(MIN_NAME + 4);
    let mut cols = vec![(0, name_w)];
    cols.extend(ORDER.iter().filter(|c| chosen.contains(c)).map(|&c| (c, want(c))));
    cols
}

fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub fn render_runs(f: &mut Frame, area: Rect, runs: &Runs, runs_root: &Path) {
    if let Some(view) = &runs.sweep {
        render_sweep(f, area, view);
        return;
    }
    let table_h = (runs.records.len() as u16 + 3).clamp(5, area.height / 2);
    let [top, bottom] = Layout::vertical([Constraint::Length(table_h), Constraint::Min(6)]).areas(area);
    let title = format!("Runs under {}/ ({}) · Space marks for comparison", runs_root.display(), runs.records.len());
    if runs.records.is_empty() {
        f.render_widget(
            Paragraph::new(
                "No runs yet: train one from the presets screen (1). Each run writes checkpoints/<preset>-<time>/metrics.jsonl.",
            )
            .wrap(Wrap { trim: true })
            .fg(DIM)
            .block(pane(clean(&title), true)),
            area,
        );
        return;
    }
    let cells: Vec<Vec<String>> = runs.records.iter().map(row_cells).map(|r| r.iter().map(|c| clean(c)).collect()).collect();
    let inner_w = top.width.saturating_sub(2) as usize;
    let cols = table_columns(&cells, inner_w);
    let widths: Vec<Constraint> = cols.iter().map(|&(_, w)| Constraint::Length(w as u16)).collect();
    let header = Row::new(cols.iter().map(|&(c, _)| Cell::from(head(c)))).style(Style::new().fg(ACCENT).bold());
    let compared = runs.compared();
    let rows: Vec<Row> = cells
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let marker = format!(
                "{} {}",
                if i == runs.selected { "▶" } else { " " },
                if runs.marked.contains(&runs.records[i].dir) { "✓ " } else { "" }
            );
            let style = if i == runs.selected { Style::new().add_modifier(Modifier::REVERSED) } else { Style::new() };
            Row::new(cols.iter().map(|&(c, w)| {
                if c == 0 {
                    Cell::from(format!("{marker}{}", cut(&r[0], w.saturating_sub(marker.chars().count()))))
                } else if TEXT_COLUMNS.contains(&c) {
                    Cell::from(r[c].clone())
                } else {
                    Cell::from(Line::from(r[c].clone()).right_aligned())
                }
            }))
            .style(if compared.contains(&i) { style.fg(PALETTE[i % PALETTE.len()]) } else { style })
        })
        .collect();
    // keep the selected row visible
    let visible = table_h.saturating_sub(3) as usize;
    let skip = runs.selected.saturating_sub(visible.saturating_sub(1));
    let table = Table::new(rows.into_iter().skip(skip), widths).header(header).block(pane(clean(&title), true)).column_spacing(1);
    f.render_widget(table, top);
    render_overlay(f, bottom, runs);
}

/// A column's header; numbers are right-aligned under theirs.
fn head(c: usize) -> Line<'static> {
    if TEXT_COLUMNS.contains(&c) {
        Line::from(COLUMNS[c])
    } else {
        Line::from(COLUMNS[c]).right_aligned()
    }
}

/// Points of a curve in chart coordinates.
type Curve = Vec<(f64, f64)>;

/// One run's curves in chart coordinates: training loss (an EMA over its
/// logged steps, thinned to `n` points) and validation loss.
fn curves(r: &RunRecord, ax: XAxis, n: usize) -> (Curve, Curve) {
    let x = |tokens: u64, secs: f64| if ax == XAxis::Time { secs } else { tokens as f64 };
    let beta = 0.9;
    let (mut m, mut w) = (0.0, 0.0);
    let mut train: Vec<(f64, f64)> = Vec::new();
    for p in r.train.iter().filter(|p| p.loss.is_finite()) {
        m = beta * m + (1.0 - beta) * p.loss;
        w = beta * w + (1.0 - beta);
        train.push((x(p.tokens, p.secs), m / w));
    }
    if train.len() > n && n > 0 {
        let k = train.len().div_ceil(n);
        let last = *train.last().unwrap_or(&(0.0, 0.0));
        train = train.into_iter().step_by(k).collect();
        train.push(last);
    }
    let val = r.evals.iter().filter(|e| e.loss.is_finite()).map(|e| (x(e.tokens, e.secs), e.loss)).collect();
    (train, val)
}

fn render_overlay(f: &mut Frame, area: Rect, runs: &Runs) {
    let ax = runs.x_axis;
    let compared = runs.compared();
    let width = area.width.saturating_sub(10) as usize * 2;
    let series: Vec<(usize, Curve, Curve)> = compared
        .iter()
        .map(|&i| {
            let (t, v) = curves(&runs.records[i], ax, width.max(2));
            (i, t, v)
        })
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in series.iter().flat_map(|(_, t, v)| t.iter().chain(v.iter())) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let by = if ax == XAxis::Time { "wall time" } else { "tokens" };
    let who = if runs.marked.is_empty() {
        "the selected run (Space marks runs to compare)".to_string()
    } else {
        format!("{} marked runs", compared.len())
    };
    let title = format!("Train (thin) and validation (bold) loss by {by} · {who} · x toggles");
    // runs on other corpora have losses on other scales: said above the chart, whole
    let area = match runs.mixed_corpora() {
        Some(c) if area.height > 8 => {
            let warn = format!("⚠ different corpora ({}): losses not comparable", c.join(" vs "));
            let lines: Vec<Line> = wrap(&warn, area.width as usize)
                .into_iter()
                .take(3)
                .map(|l| Line::from(Span::styled(l, Style::new().fg(Color::Yellow).bold())))
                .collect();
            let [top, rest] = Layout::vertical([Constraint::Length(lines.len() as u16), Constraint::Min(4)]).areas(area);
            f.render_widget(Paragraph::new(lines), top);
            rest
        }
        _ => area,
    };
    if !x0.is_finite() {
        f.render_widget(Paragraph::new("no training or evaluation logged in these runs yet").fg(DIM).block(pane(title, false)), area);
        return;
    }
    x0 = x0.min(0.0);
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let mut datasets: Vec<Dataset> = Vec::new();
    for (i, train, val) in &series {
        let colour = PALETTE[i % PALETTE.len()];
        let name = clean(&runs.records[*i].name);
        if !train.is_empty() {
            datasets.push(
                Dataset::default()
                    .name(format!("{name} train"))
                    .marker(Marker::Braille)
                    .graph_type(GraphType::Line)
                    .style(Style::new().fg(colour).add_modifier(Modifier::DIM))
                    .data(train),
            );
        }
        if !val.is_empty() {
            let (marker, kind) = if val.len() == 1 { (Marker::Dot, GraphType::Scatter) } else { (Marker::Braille, GraphType::Line) };
            datasets.push(
                Dataset::default()
                    .name(format!("{name} val"))
                    .marker(marker)
                    .graph_type(kind)
                    .style(Style::new().fg(colour).bold())
                    .data(val),
            );
        }
    }
    let fx = |v: f64| if ax == XAxis::Time { fmt_duration(v) } else { si(v) };
    let block = pane(title, false);
    let chart = Chart::new(datasets)
        .block(block)
        .legend_position(Some(LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Ratio(2, 3), Constraint::Ratio(2, 3)))
        .x_axis(
            Axis::default()
                .bounds([x0, x1])
                .labels(vec![Span::raw(fx(x0)), Span::raw(fx((x0 + x1) / 2.0)), Span::raw(fx(x1))])
                .style(Style::new().fg(DIM)),
        )
        .y_axis(
            Axis::default()
                .bounds([y0, y1])
                .labels(vec![Span::raw(format!("{y0:.2}")), Span::raw(format!("{:.2}", (y0 + y1) / 2.0)), Span::raw(format!("{y1:.2}"))])
                .style(Style::new().fg(DIM)),
        );
    f.render_widget(chart, area);
}

/// The sweep view: the sweep's table as aligned text (the same as `runs --dir
/// SWEEP --format table`), scrolled sideways by nothing: wide tables are cut
/// at the pane's edge, the leftmost columns (id, preset, overrides) kept.
fn render_sweep(f: &mut Frame, area: Rect, view: &crate::tui::app::SweepView) {
    let title =
        format!("Sweep {} · {} runs · {} · s next column · d reverse · t back", view.dir.display(), view.table.rows.len(), view.order());
    let text = view.table.render(crate::report::Format::Table);
    let lines: Vec<Line> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 0 { Line::from(clean(l)).style(Style::new().fg(ACCENT).bold()) } else { Line::from(clean(l)) })
        .collect();
    f.render_widget(Paragraph::new(lines).block(pane(clean(&title), true)), area);
}
