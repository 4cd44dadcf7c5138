//! Rendering: one pure function per pane, `fn render_x(f: &mut Frame, area: Rect, …)`,
//! given the state it shows (a screen's state from `tui::app`, the run, the
//! log); only [`draw`], the tab bar, the hints and the dashboard header see
//! the whole [`App`]. They draw and never change state.

pub mod confirm;
pub mod dashboard;
pub mod heatmap;
pub mod help;
pub mod log;
pub mod picker;
pub mod runs;
pub mod samples;
pub mod sampling;

use super::app::{App, Overlay, SampleFocus, Screen, MIN_HEIGHT, MIN_WIDTH};
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub const ACCENT: Color = Color::Cyan;
pub const DIM: Color = Color::DarkGray;

/// Draws the whole screen for the current state.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(f, area);
        return;
    }
    let [top, body, bottom] = Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    render_tabs(f, top, app);
    match app.screen {
        Screen::Picker => picker::render_picker(f, body, &app.picker, &app.opts.runs_root, &app.auto_choice()),
        Screen::Dashboard => dashboard::render_dashboard(f, body, app),
        Screen::Runs => runs::render_runs(f, body, &app.runs, &app.opts.runs_root),
        Screen::Sampling => sampling::render_sampling(f, body, &app.sampling, app.live()),
    }
    render_hints(f, bottom, app);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help { scroll } => help::render_help(f, area, *scroll),
        Overlay::Confirm => confirm::render_confirm(f, area, app.run.as_ref().and_then(|r| r.last.as_ref()).map_or(0, |m| m.step)),
        Overlay::Ron { scroll } => picker::render_ron(f, area, &app.picker, *scroll),
        Overlay::Corpus(dlg) => picker::render_corpus(f, area, dlg, &app.picker.corpus, app.opts.tinystories.as_ref()),
    }
}

pub fn render_too_small(f: &mut Frame, area: Rect) {
    f.render_widget(Clear, area);
    let msg = vec![
        Line::from(format!("terminal too small (need {MIN_WIDTH}×{MIN_HEIGHT})")).bold(),
        Line::from(format!("now {}×{}", area.width, area.height)),
        Line::from("q or Ctrl-C quits"),
    ];
    let h = (msg.len() as u16).min(area.height);
    let y = area.y + area.height.saturating_sub(h) / 2;
    f.render_widget(
        Paragraph::new(msg).alignment(Alignment::Center).wrap(Wrap { trim: true }),
        Rect { x: area.x, y, width: area.width, height: h },
    );
}

fn render_tabs(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![Span::styled(" flashlm-tui ", Style::new().fg(Color::Black).bg(ACCENT).bold()), Span::raw(" ")];
    if app.sample_only {
        spans.push(Span::styled(" Sampling ", Style::new().reversed()));
    } else {
        let tabs =
            [(Screen::Picker, "1 Presets"), (Screen::Dashboard, "2 Training"), (Screen::Runs, "3 Runs"), (Screen::Sampling, "4 Sampling")];
        for (s, label) in tabs {
            let style = if s == app.screen { Style::new().reversed().bold() } else { Style::new() };
            spans.push(Span::styled(format!(" {label} "), style));
            spans.push(Span::raw(" "));
        }
    }
    f.render_widget(Line::from(spans), area);
    let mut right = Vec::new();
    if let Some(c) = app.ui_cpu {
        right.push(Span::styled(format!("UI {c:.1}% cpu  "), Style::new().fg(DIM)));
    }
    right.push(Span::styled("? help ", Style::new().fg(DIM)));
    f.render_widget(Line::from(right).alignment(Alignment::Right), area);
}

fn render_hints(f: &mut Frame, area: Rect, app: &App) {
    if let Some(s) = &app.status {
        f.render_widget(Line::from(Span::styled(format!(" {}", clean(s)), Style::new().fg(Color::Yellow).bold())), area);
        return;
    }
    let hints: &[(&str, &str)] = match app.screen {
        Screen::Picker if app.picker.form.open => &[("↑↓", "field"), ("Tab", "complete / next"), ("Enter", "start"), ("Esc", "close form")],
        Screen::Picker => &[
            ("↑↓", "select"),
            ("Enter", "start"),
            ("f", "set up"),
            ("r", "resume"),
            ("c", "corpus"),
            ("b", "precision"),
            ("e", "RON"),
            ("3", "runs"),
            ("q", "quit"),
        ],
        Screen::Dashboard => &[
            ("p", "pause"),
            ("s", "save"),
            ("q", "quit"),
            ("Tab", "focus"),
            ("e", "smooth"),
            ("l", "log-y"),
            ("x", "axis"),
            ("w", "window"),
            ("←→", "layer"),
            ("c", "Δ"),
            ("a", "all"),
        ],
        Screen::Runs => {
            &[("↑↓", "select"), ("Space", "compare"), ("Enter", "sample"), ("r", "resume"), ("x", "axis"), ("u", "rescan"), ("q", "quit")]
        }
        Screen::Sampling if app.sampling.focus == SampleFocus::Prompt => {
            &[("typing:", ""), ("Enter", "generate"), ("Esc", "leave prompt"), ("↑↓", "history"), ("Tab", "params"), ("Ctrl-C", "quit")]
        }
        Screen::Sampling => &[("Tab", "focus"), ("←→", "param"), ("↑↓", "change"), ("Enter", "generate"), ("i", "prompt"), ("q", "quit")],
    };
    // two spaces between hints when there is room, one on narrow terminals
    let gap = if area.width >= 100 { "  " } else { " " };
    let mut spans = vec![Span::raw(" ")];
    for (k, d) in hints {
        spans.push(Span::styled(*k, Style::new().fg(ACCENT).bold()));
        if !d.is_empty() {
            spans.push(Span::raw(format!(" {d}{gap}")));
        } else {
            spans.push(Span::raw(" "));
        }
    }
    if app.screen != Screen::Dashboard || area.width >= 100 {
        spans.push(Span::styled("? help", Style::new().fg(DIM)));
    }
    f.render_widget(Line::from(spans), area);
}

/// A bordered block; the focused one gets a thick accent border and a ▸ in its title.
pub fn pane<'a>(title: impl Into<String>, focused: bool) -> Block<'a> {
    let title = title.into();
    let b = Block::default().borders(Borders::ALL);
    if focused {
        b.border_type(BorderType::Thick)
            .border_style(Style::new().fg(ACCENT))
            .title(Span::styled(format!("▸ {title} "), Style::new().fg(ACCENT).bold()))
    } else {
        b.border_style(Style::new().fg(DIM)).title(Span::styled(format!(" {title} "), Style::new().bold()))
    }
}

/// A centered rectangle of at most `w` × `h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// Text from the model, files or the trainer, made safe for the terminal:
/// control characters (an ESC would corrupt the screen) become spaces or `�`.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\n' || c == '\t' || c == '\r' {
                ' '
            } else if c.is_control() {
                '�'
            } else {
                c
            }
        })
        .collect()
}

/// Splits text into lines of at most `width` characters, breaking at spaces where possible.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line: Vec<char> = Vec::new();
    for c in clean(text).chars() {
        line.push(c);
        if line.len() > width {
            let cut = line.iter().rposition(|&ch| ch == ' ').filter(|&p| p > 0).unwrap_or(width);
            let rest: Vec<char> = line.split_off(cut);
            out.push(line.iter().collect::<String>().trim_end().to_string());
            line = if rest.first() == Some(&' ') { rest[1..].to_vec() } else { rest };
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line.iter().collect());
    }
    out
}

/// 1234567 → "1.23M", 4096 → "4.10k".
pub fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub use crate::util::thousands;

pub fn bold_label<'a>(label: &'a str, value: String) -> Vec<Span<'a>> {
    vec![Span::styled(label, Style::new().fg(DIM)), Span::styled(value, Style::new().add_modifier(Modifier::BOLD)), Span::raw("  ")]
}
