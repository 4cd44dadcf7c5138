//! The training dashboard: header, loss chart, throughput sparkline, and the
//! heatmap, samples and log panes around them.

use super::{bold_label, clean, pane, si, thousands, DIM};
use crate::engine::RunState;
use crate::runs::fmt_duration;
use crate::tui::app::{App, Dashboard, Pane, RunView, TrainPoint, XAxis};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, LegendPosition, Paragraph, Sparkline};
use ratatui::Frame;

/// The validation curve's colour (the training curves are cyan and grey).
pub const VAL_COLOUR: Color = Color::Yellow;

/// Steps shown in the "recent window" view.
pub const RECENT_POINTS: usize = 300;

pub fn render_dashboard(f: &mut Frame, area: Rect, app: &App) {
    let Some(run) = app.run.as_ref() else {
        f.render_widget(Paragraph::new("No run yet: pick a preset (1) and press Enter.").block(pane("Training", false)), area);
        return;
    };
    let view = &app.dashboard;
    let bottom_h = (area.height / 4).max(6);
    let spark_h = if area.height >= 34 { 5 } else { 3 };
    let [header, middle, bottom] = Layout::vertical([Constraint::Length(4), Constraint::Min(8), Constraint::Length(bottom_h)]).areas(area);
    let [samples, log] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    render_header(f, header, app, run);
    if view.all_layers {
        // all layers need the room: they take the charts' place until `a` again
        super::heatmap::render_heatmap(f, middle, run, view);
    } else {
        let [left, right] = Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(middle);
        let [chart, spark, small] = Layout::vertical([Constraint::Min(5), Constraint::Length(spark_h), Constraint::Length(3)]).areas(left);
        let [lr, grad] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(small);
        render_loss_chart(f, chart, run, view);
        render_throughput(f, spark, run);
        render_small_series(f, lr, run, view, Series::Lr);
        render_small_series(f, grad, run, view, Series::GradNorm);
        super::heatmap::render_heatmap(f, right, run, view);
    }
    super::samples::render_samples(f, samples, run, view.samples_scroll, view.focus == Pane::Samples);
    super::log::render_log(f, log, &app.log, view.focus == Pane::Log);
}

/// What the header calls the state.
pub fn state_label(app: &App, run: &RunView) -> (String, Color) {
    if app.quitting.is_some() && run.summary.is_none() {
        let what = if app.quitting.as_ref().is_some_and(|q| q.save) { "stopping (saving)" } else { "stopping (no save)" };
        return (what.into(), Color::Yellow);
    }
    if run.error.is_some() && run.summary.is_none() {
        return ("error".into(), Color::Red);
    }
    match run.state {
        RunState::Preparing => ("preparing".into(), Color::Yellow),
        RunState::Running => ("running".into(), Color::Green),
        RunState::Paused => ("paused".into(), Color::Yellow),
        RunState::Evaluating => ("evaluating".into(), Color::Magenta),
        RunState::Saving => ("saving".into(), Color::Blue),
        RunState::Finished => ("finished".into(), Color::Cyan),
    }
}

pub fn render_header(f: &mut Frame, area: Rect, app: &App, run: &RunView) {
    let lines = vec![identity_line(app, run), progress_line(run), rates_line(app, run), news_line(run)];
    f.render_widget(Paragraph::new(lines), area);
}

/// Preset, state, precision (if bf16 or auto), run folder, corpus.
fn identity_line<'a>(app: &App, run: &'a RunView) -> Line<'a> {
    let (state, colour) = state_label(app, run);
    let dir = run.run_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| "(creating)".into());
    let mut l1 = vec![
        Span::styled(format!(" {} ", run.preset), Style::new().fg(Color::Black).bg(Color::Cyan).bold()),
        Span::raw(" "),
        Span::styled(format!(" {state} "), Style::new().fg(Color::Black).bg(colour).bold()),
        Span::raw("  "),
    ];
    // bf16 products are the exception worth seeing, and what `auto` chose;
    // fp32 asked for goes unsaid
    let badge = match (app.run_precision_auto, app.run_precision) {
        (true, p) => Some(format!(" auto → {} ", p.label())),
        (false, crate::precision::Precision::Bf16) => Some(" bf16 ".to_string()),
        _ => None,
    };
    if let Some(b) = badge {
        l1.insert(2, Span::styled(b, Style::new().fg(Color::Black).bg(Color::Magenta).bold()));
        l1.insert(3, Span::raw(" "));
    }
    if run.watched {
        l1.push(Span::styled(" watching (read-only) ", Style::new().fg(Color::Black).bg(Color::Yellow).bold()));
        l1.push(Span::raw("  "));
    }
    l1.extend(bold_label("run ", clean(&dir)));
    l1.extend(bold_label("corpus ", clean(&run.corpus)));
    Line::from(l1)
}

/// Step, tokens, elapsed, ETA, params.
fn progress_line(run: &RunView) -> Line<'static> {
    let m = run.last.as_ref();
    let step = m.map_or(0, |m| m.step);
    let horizon = m.and_then(|m| m.horizon).map(|h| format!(" / {}", thousands(h))).unwrap_or_default();
    let mut l2 = vec![Span::raw(" ")];
    l2.extend(bold_label("step ", format!("{}{horizon}", thousands(step))));
    l2.extend(bold_label("tokens ", thousands(m.map_or(0, |m| m.tokens))));
    l2.extend(bold_label("elapsed ", fmt_duration(m.map_or(0.0, |m| m.elapsed_secs))));
    let eta = match (run.summary.as_ref(), m.and_then(|m| m.eta_secs)) {
        (Some(_), _) => "done".into(),
        (None, Some(e)) => fmt_duration(e),
        (None, None) => "–".into(),
    };
    l2.extend(bold_label("ETA ", eta));
    l2.extend(bold_label("params ", thousands(run.params as u64)));
    Line::from(l2)
}

/// LR, tok/s, MFU, loss, the last validation.
fn rates_line<'a>(app: &App, run: &'a RunView) -> Line<'a> {
    let m = run.last.as_ref();
    let mut l3 = vec![Span::raw(" ")];
    l3.extend(bold_label("LR ", m.map(|m| format!("{:.2e}", m.lr)).unwrap_or_else(|| "–".into())));
    let tok_s = m.map_or(0.0, |m| m.tok_per_sec);
    l3.extend(bold_label("tok/s ", if m.is_some() { thousands(tok_s.round() as u64) } else { "–".into() }));
    // MFU only against the peak of the run's own precision
    let mfu = match (app.peak_for(app.run_precision), m) {
        (Some(peak), Some(_)) if peak > 0.0 => {
            let v = 100.0 * run.flops_per_token * tok_s / (peak * 1e9);
            // a peak measured while other work ran is too low: say so rather than show 130 %
            if v > 100.0 {
                ">100%?".into()
            } else {
                format!("{v:.1}%")
            }
        }
        _ => "–".into(),
    };
    l3.extend(bold_label("MFU ", mfu));
    l3.extend(bold_label("loss ", m.map(|m| format!("{:.4}", m.loss)).unwrap_or_else(|| "–".into())));
    if let Some(n) = m.and_then(|m| m.ranks) {
        l3.extend(bold_label("ranks ", n.to_string()));
    }
    if let Some(e) = run.evals.last() {
        l3.extend(bold_label("val loss ", format!("{:.3} (PPL {:.2}, BPC {:.3})", e.loss, e.ppl, e.bpc)));
    }
    Line::from(l3)
}

/// The summary once finished, else an error, what is being prepared, or the last save.
fn news_line(run: &RunView) -> Line<'static> {
    if let Some(s) = &run.summary {
        let best_ppl = s.best_val_loss.map(|l| format!("{:.2}", l.exp())).unwrap_or_else(|| "–".into());
        let final_ppl = s.final_val_ppl.map(|p| format!("{p:.2}")).unwrap_or_else(|| "–".into());
        Line::from(vec![
            Span::styled(" ■ summary ", Style::new().fg(Color::Black).bg(Color::Green).bold()),
            Span::raw(format!(
                " best val PPL {best_ppl} · final val PPL {final_ppl} · {} tokens in {} · {} tok/s mean{}",
                thousands(s.tokens),
                fmt_duration(s.elapsed_secs),
                thousands(s.mean_tok_per_sec.round() as u64),
                if s.stopped_early { " · stopped early" } else { "" }
            ))
            .bold(),
        ])
    } else if let Some(e) = &run.error {
        Line::from(Span::styled(format!(" ✗ {}", clean(e)), Style::new().fg(Color::Red).bold()))
    } else if run.state == RunState::Preparing || !run.started {
        Line::from(Span::styled(format!(" … {}", clean(&run.detail)), Style::new().fg(Color::Yellow)))
    } else if let Some((step, path)) = &run.last_save {
        Line::from(Span::styled(format!(" last save: {} (step {step})", clean(&path.display().to_string())), Style::new().fg(DIM)))
    } else {
        Line::from("")
    }
}

fn x_of(p: &TrainPoint, axis: XAxis) -> f64 {
    match axis {
        XAxis::Steps => p.step as f64,
        XAxis::Tokens => p.tokens as f64,
        XAxis::Time => p.secs,
    }
}

/// Mean of each of `n` equal runs of points (the full-history view at chart resolution).
pub fn downsample(points: &[TrainPoint], n: usize) -> Vec<TrainPoint> {
    if points.len() <= n || n == 0 {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(n);
    for b in 0..n {
        let (lo, hi) = (b * points.len() / n, ((b + 1) * points.len() / n).max(b * points.len() / n + 1));
        let chunk = &points[lo..hi.min(points.len())];
        let k = chunk.len() as f64;
        let last = chunk[chunk.len() - 1];
        out.push(TrainPoint {
            step: last.step,
            tokens: last.tokens,
            secs: last.secs,
            loss: chunk.iter().map(|p| p.loss).sum::<f64>() / k,
            ema: chunk.iter().map(|p| p.ema).sum::<f64>() / k,
            lr: chunk.iter().map(|p| p.lr).sum::<f64>() / k,
            grad_norm: chunk.iter().map(|p| p.grad_norm).sum::<f64>() / k,
        });
    }
    out
}

/// The training loss's bias-corrected EMA over `span` steps (β = 1 − 2/(span + 1)).
pub fn ema(points: &[TrainPoint], span: u32) -> Vec<f64> {
    let beta = 1.0 - 2.0 / (span as f64 + 1.0);
    let (mut m, mut w) = (0.0f64, 0.0f64);
    points
        .iter()
        .map(|p| {
            m = beta * m + (1.0 - beta) * p.loss;
            w = beta * w + (1.0 - beta);
            m / w
        })
        .collect()
}

/// The points in view (the recent window or all), their `ema` field the
/// EMA of the chosen span (the raw loss when smoothing is off).
fn points_in_view(run: &RunView, view: &Dashboard) -> Vec<TrainPoint> {
    let all = &run.points[..];
    let from = if view.recent { all.len().saturating_sub(RECENT_POINTS) } else { 0 };
    match view.ema_span() {
        Some(span) => all.iter().zip(ema(all, span)).skip(from).map(|(p, e)| TrainPoint { ema: e, ..*p }).collect(),
        None => all[from..].iter().map(|p| TrainPoint { ema: p.loss, ..*p }).collect(),
    }
}

pub fn fmt_axis(v: f64, axis: XAxis) -> String {
    match axis {
        XAxis::Time => fmt_duration(v),
        _ => si(v),
    }
}

/// The loss chart's curves, in chart coordinates (ln of the loss on a log-y
/// chart), with the bounds that fit them.
struct LossSeries {
    raw: Vec<(f64, f64)>,
    ema: Vec<(f64, f64)>,
    val: Vec<(f64, f64)>,
    x: (f64, f64),
    y: (f64, f64),
}

/// `shown`: the non-empty training points in view; `width`: the chart's cells.
fn loss_series(shown: &[TrainPoint], run: &RunView, view: &Dashboard, width: usize) -> LossSeries {
    let pts = downsample(shown, (width * 2).max(2));
    let ax = view.x_axis;
    let ty = |v: f64| if view.log_y { v.max(1e-6).ln() } else { v };
    let raw: Vec<(f64, f64)> = pts.iter().map(|p| (x_of(p, ax), ty(p.loss))).collect();
    let ema: Vec<(f64, f64)> = pts.iter().map(|p| (x_of(p, ax), ty(p.ema))).collect();
    let x0 = x_of(&shown[0], ax);
    let x1 = x_of(&shown[shown.len() - 1], ax).max(x0 + 1e-9);
    let val: Vec<(f64, f64)> = run
        .evals
        .iter()
        .filter(|e| e.loss.is_finite())
        .map(|e| {
            let x = match ax {
                XAxis::Steps => e.step as f64,
                XAxis::Tokens => e.tokens as f64,
                XAxis::Time => e.elapsed_secs,
            };
            (x, ty(e.loss))
        })
        .filter(|(x, _)| *x >= x0 && *x <= x1)
        .collect();
    let ys = raw.iter().chain(ema.iter()).chain(val.iter()).map(|p| p.1).filter(|y| y.is_finite());
    let (mut y0, mut y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    if !y0.is_finite() {
        (y0, y1) = (0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    LossSeries { raw, ema, val, x: (x0, x1), y: (y0 - pad, y1 + pad) }
}

pub fn render_loss_chart(f: &mut Frame, area: Rect, run: &RunView, view: &Dashboard) {
    let window = if view.recent { format!("last {RECENT_POINTS} steps") } else { "full history".into() };
    let smoothing = match view.ema_span() {
        Some(span) => format!("EMA {span} steps"),
        None => "raw".into(),
    };
    let title = format!("Loss · x {} · {} · {}{}", view.x_axis.label(), window, smoothing, if view.log_y { " · log-y" } else { "" });
    let block = pane(title, view.focus == Pane::Chart);
    let inner = block.inner(area);
    let points = points_in_view(run, view);
    let shown = &points[..];
    if shown.is_empty() {
        let msg = if run.started { "waiting for the first step…" } else { "preparing…" };
        f.render_widget(Paragraph::new(msg).fg(DIM).block(block), area);
        return;
    }
    let LossSeries { raw, ema, val, x: (x0, x1), y: (y0, y1) } = loss_series(shown, run, view, inner.width as usize);
    let ax = view.x_axis;
    let mut datasets = Vec::new();
    let smoothed = view.ema_span().is_some();
    let raw_style = if smoothed { Style::new().fg(DIM) } else { Style::new().fg(Color::Cyan) };
    datasets.push(Dataset::default().name("train").marker(Marker::Braille).graph_type(GraphType::Line).style(raw_style).data(&raw));
    if smoothed {
        datasets.push(
            Dataset::default()
                .name("EMA")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(Color::Cyan))
                .data(&ema),
        );
    }
    if !val.is_empty() {
        // a connected line in its own colour; a lone point as a dot
        let (marker, kind) = if val.len() == 1 { (Marker::Dot, GraphType::Scatter) } else { (Marker::Braille, GraphType::Line) };
        datasets.push(Dataset::default().name("val").marker(marker).graph_type(kind).style(Style::new().fg(VAL_COLOUR).bold()).data(&val));
    }
    let unlog = |v: f64| if view.log_y { v.exp() } else { v };
    let ylabels = vec![
        Span::raw(format!("{:.2}", unlog(y0))),
        Span::raw(format!("{:.2}", unlog((y0 + y1) / 2.0))),
        Span::raw(format!("{:.2}", unlog(y1))),
    ];
    let xlabels = vec![Span::raw(fmt_axis(x0, ax)), Span::raw(fmt_axis((x0 + x1) / 2.0, ax)), Span::raw(fmt_axis(x1, ax))];
    let chart = Chart::new(datasets)
        .block(block)
        .legend_position(Some(LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(2, 3)))
        .x_axis(Axis::default().bounds([x0, x1]).labels(xlabels).style(Style::new().fg(DIM)))
        .y_axis(Axis::default().bounds([y0, y1]).labels(ylabels).style(Style::new().fg(DIM)));
    f.render_widget(chart, area);
}

pub fn render_throughput(f: &mut Frame, area: Rect, run: &RunView) {
    let n = run.tok_s.len();
    // the run's mean as the summary and `runs` give it (engine::mean_tok_per_sec)
    let title = match (run.tok_s.back(), run.last.as_ref()) {
        (Some(last), Some(m)) => {
            format!("Throughput {} tok/s · mean {}", thousands(last.round() as u64), thousands(m.mean_tok_per_sec.round() as u64))
        }
        _ => "Throughput (tok/s)".into(),
    };
    let block = pane(title, false);
    let inner = block.inner(area);
    let w = inner.width as usize;
    let data: Vec<u64> = run.tok_s.iter().skip(n.saturating_sub(w)).map(|v| v.max(0.0).round() as u64).collect();
    f.render_widget(Sparkline::default().block(block).data(&data).style(Style::new().fg(Color::Green)), area);
}

/// The small charts beside the throughput.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    Lr,
    GradNorm,
}

/// LR or gradient norm over the steps in view, as a sparkline scaled to its
/// own maximum, the newest value and the maximum in the title.
pub fn render_small_series(f: &mut Frame, area: Rect, run: &RunView, view: &Dashboard, which: Series) {
    let all = &run.points[..];
    let shown = if view.recent { &all[all.len().saturating_sub(RECENT_POINTS)..] } else { all };
    let value = |p: &TrainPoint| match which {
        Series::Lr => p.lr,
        Series::GradNorm => p.grad_norm,
    };
    let name = match which {
        Series::Lr => "LR",
        Series::GradNorm => "grad norm",
    };
    let fmt = |v: f64| match which {
        Series::Lr => format!("{v:.1e}"),
        Series::GradNorm => format!("{v:.2}"),
    };
    let w = area.width.saturating_sub(2) as usize;
    let pts: Vec<f64> = downsample(shown, w.max(1)).iter().map(value).filter(|v| v.is_finite()).collect();
    let max = pts.iter().cloned().fold(0.0f64, f64::max);
    let title = match shown.last().map(value).filter(|v| v.is_finite()) {
        Some(last) => format!("{name} {} · max {}", fmt(last), fmt(max)),
        None => name.to_string(),
    };
    let data: Vec<u64> = pts.iter().map(|v| if max > 0.0 { (1000.0 * v.max(0.0) / max).round() as u64 } else { 0 }).collect();
    let colour = match which {
        Series::Lr => Color::Magenta,
        Series::GradNorm => Color::LightBlue,
    };
    f.render_widget(Sparkline::default().block(pane(title, false)).max(1000).data(&data).style(Style::new().fg(colour)), area);
}
