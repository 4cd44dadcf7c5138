//! The runs screen: past runs under the runs folder (from their metrics.jsonl)
//! and an overlay of their validation curves by tokens or wall time.

use super::{clean, pane, si, ACCENT, DIM};
use crate::runs::{fmt_duration, row_cells, COLUMNS};
use crate::tui::app::{Runs, XAxis};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Cell, Chart, Dataset, GraphType, LegendPosition, Paragraph, Row, Table};
use ratatui::Frame;
use std::path::Path;

pub const PALETTE: [Color; 8] =
    [Color::Cyan, Color::Yellow, Color::Magenta, Color::Green, Color::LightRed, Color::LightBlue, Color::LightGreen, Color::White];

pub fn render_runs(f: &mut Frame, area: Rect, runs: &Runs, runs_root: &Path) {
    let table_h = (runs.records.len() as u16 + 3).clamp(5, area.height / 2);
    let [top, bottom] = Layout::vertical([Constraint::Length(table_h), Constraint::Min(6)]).areas(area);
    let title = format!("Runs under {}/ ({})", runs_root.display(), runs.records.len());
    if runs.records.is_empty() {
        f.render_widget(
            Paragraph::new(
                "No runs yet: train one from the presets screen (1). Each run writes checkpoints/<preset>-<time>/metrics.jsonl.",
            )
            .fg(DIM)
            .block(pane(clean(&title), true)),
            area,
        );
        return;
    }
    // narrow terminals get the columns that matter most for comparing runs
    let wide = area.width >= 150;
    let cols: Vec<usize> = if wide { (0..COLUMNS.len()).collect() } else { vec![0, 3, 4, 5, 6, 7, 9, 11] };
    let preset_w = runs.records.iter().map(|r| r.preset.chars().count()).max().unwrap_or(6).clamp(6, 20) as u16;
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|&c| match c {
            0 => Constraint::Min(16),
            1 => Constraint::Length(preset_w),
            _ => Constraint::Length(COLUMNS[c].len().max(7) as u16),
        })
        .collect();
    let header = Row::new(cols.iter().map(|&c| Cell::from(COLUMNS[c]))).style(Style::new().fg(ACCENT).bold());
    let rows: Vec<Row> = runs
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let cells = row_cells(r);
            let marker = if i == runs.selected { "▶ " } else { "  " };
            let style = if i == runs.selected { Style::new().add_modifier(Modifier::REVERSED) } else { Style::new() };
            Row::new(cols.iter().map(|&c| {
                if c == 0 {
                    Cell::from(format!("{marker}{}", clean(&cells[0])))
                } else {
                    Cell::from(cells[c].clone())
                }
            }))
            .style(style.fg(PALETTE[i % PALETTE.len()]))
        })
        .collect();
    // keep the selected row visible
    let visible = table_h.saturating_sub(3) as usize;
    let skip = runs.selected.saturating_sub(visible.saturating_sub(1));
    let table = Table::new(rows.into_iter().skip(skip), widths).header(header).block(pane(clean(&title), true)).column_spacing(1);
    f.render_widget(table, top);
    render_overlay(f, bottom, runs);
}

fn render_overlay(f: &mut Frame, area: Rect, runs: &Runs) {
    let ax = runs.x_axis;
    let series: Vec<Vec<(f64, f64)>> = runs
        .records
        .iter()
        .map(|r| {
            r.evals
                .iter()
                .filter(|e| e.loss.is_finite())
                .map(|e| (if ax == XAxis::Time { e.secs } else { e.tokens as f64 }, e.loss))
                .collect()
        })
        .collect();
    let pts = series.iter().flatten();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let title = format!("Validation loss by {} (x toggles)", if ax == XAxis::Time { "wall time" } else { "tokens" });
    if !x0.is_finite() {
        f.render_widget(Paragraph::new("no evaluation in these runs yet").fg(DIM).block(pane(title, false)), area);
        return;
    }
    x0 = x0.min(0.0);
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let (y0, y1) = (y0 - pad, y1 + pad);
    // the selected run is drawn last so it sits on top
    let mut order: Vec<usize> = (0..series.len()).filter(|&i| i != runs.selected).collect();
    if runs.selected < series.len() {
        order.push(runs.selected);
    }
    let datasets: Vec<Dataset> = order
        .iter()
        .filter(|&&i| !series[i].is_empty())
        .map(|&i| {
            let mut style = Style::new().fg(PALETTE[i % PALETTE.len()]);
            if i == runs.selected {
                style = style.bold();
            }
            Dataset::default()
                .name(clean(&runs.records[i].name))
                .marker(if series[i].len() == 1 { Marker::Dot } else { Marker::Braille })
                .graph_type(if series[i].len() == 1 { GraphType::Scatter } else { GraphType::Line })
                .style(style)
                .data(&series[i])
        })
        .collect();
    let fx = |v: f64| if ax == XAxis::Time { fmt_duration(v) } else { si(v) };
    let chart = Chart::new(datasets)
        .block(pane(title, false))
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
