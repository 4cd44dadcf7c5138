//! The sampling pane: parameters (adjustable in place), the prompt line with
//! its cursor, and the output streamed token by token.

use super::{clean, pane, wrap, ACCENT, DIM};
use crate::tui::app::{Live, SampleFocus, Sampling, PARAM_NAMES};
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// `live`: the training run Enter samples from, if one trains.
pub fn render_sampling(f: &mut Frame, area: Rect, s: &Sampling, live: Option<Live>) {
    let [source, params, prompt, output] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(3), Constraint::Length(3), Constraint::Min(3)]).areas(area);
    render_source(f, source, s, live);
    render_params(f, params, s);
    render_prompt(f, prompt, s);
    render_output(f, output, s);
}

/// Where Enter will sample from.
fn render_source(f: &mut Frame, area: Rect, s: &Sampling, live: Option<Live>) {
    let from = if let Some(live) = live {
        format!("the training run's current weights (a snapshot; training continues) · step {}", super::thousands(live.step))
    } else if s.source.is_some() {
        s.source_label.clone()
    } else {
        "nothing yet: start a run (1) or pick a past run (3, Enter)".into()
    };
    f.render_widget(Line::from(vec![Span::styled(" samples from: ", Style::new().fg(DIM)), Span::raw(clean(&from))]), area);
}

fn render_params(f: &mut Frame, area: Rect, s: &Sampling) {
    let focused = s.focus == SampleFocus::Params;
    let mut spans = Vec::new();
    for (i, name) in PARAM_NAMES.iter().enumerate() {
        let sel = i == s.param_sel;
        let value = s.param_value(i);
        let style = if sel && focused {
            Style::new().fg(Color::Black).bg(ACCENT).bold()
        } else if sel {
            Style::new().add_modifier(Modifier::UNDERLINED).bold()
        } else {
            Style::new().bold()
        };
        let short = match *name {
            "repetition penalty" => "rep.penalty",
            "max tokens" => "max",
            "temperature" => "temp",
            other => other,
        };
        spans.push(Span::styled(format!("{short} "), Style::new().fg(DIM)));
        spans.push(Span::styled(if sel && focused { format!("◀{value}▶") } else { value }, style));
        spans.push(Span::raw("  "));
    }
    let ptitle =
        if focused { format!("Parameters · {} (←→ choose, ↑↓ change)", PARAM_NAMES[s.param_sel]) } else { "Parameters".into() };
    f.render_widget(Paragraph::new(Line::from(spans)).block(pane(ptitle, focused)), area);
}

/// The prompt with its cursor, scrolled horizontally so the cursor stays visible.
fn render_prompt(f: &mut Frame, area: Rect, s: &Sampling) {
    let focused = s.focus == SampleFocus::Prompt;
    let hist = if s.history.is_empty() {
        String::new()
    } else {
        match s.hist_pos {
            Some(p) => format!(" · history {}/{}", p + 1, s.history.len()),
            None => format!(" · history {} (↑)", s.history.len()),
        }
    };
    let block = pane(format!("Prompt{}{hist}", if focused { " (typing)" } else { " (i to edit)" }), focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width.saturating_sub(3) as usize;
    let chars: Vec<char> = s.prompt.chars.iter().map(|&c| if c.is_control() { '�' } else { c }).collect();
    let start = s.prompt.cursor.saturating_sub(w.saturating_sub(1));
    let visible: String = chars.iter().skip(start).take(w).collect();
    let mut line = vec![Span::styled("> ", Style::new().fg(ACCENT).bold())];
    let cur = s.prompt.cursor - start;
    let before: String = visible.chars().take(cur).collect();
    let at: String = visible.chars().nth(cur).map(String::from).unwrap_or_else(|| " ".into());
    let after: String = visible.chars().skip(cur + 1).collect();
    line.push(Span::raw(before.clone()));
    if focused {
        line.push(Span::styled(at, Style::new().add_modifier(Modifier::REVERSED)));
    } else {
        line.push(Span::raw(at));
    }
    line.push(Span::raw(after));
    f.render_widget(Line::from(line), inner);
    if focused {
        let x = inner.x + 2 + before.chars().count() as u16;
        if x < inner.x + inner.width {
            f.set_cursor_position(Position { x, y: inner.y });
        }
    }
}

fn render_output(f: &mut Frame, area: Rect, s: &Sampling) {
    let focused = s.focus == SampleFocus::Output;
    let status = if s.running {
        format!("generating… {} tokens", s.tokens)
    } else if let Some(secs) = s.secs {
        match s.tok_per_sec() {
            Some(r) => format!("{} tokens in {:.2} s ({:.0} tok/s)", s.tokens, secs, r),
            None => format!("{} tokens", s.tokens),
        }
    } else {
        "Enter generates".into()
    };
    let title = if s.output_from.is_empty() { format!("Output · {status}") } else { format!("Output · {status} · {}", s.output_from) };
    let block = pane(clean(&title), focused);
    let inner = block.inner(area);
    let mut lines: Vec<Line> = Vec::new();
    if s.id != 0 {
        let text = format!("{}{}", s.shown_prompt, s.output);
        // the prompt part is drawn bold, the generated part plain
        let plen = s.shown_prompt.chars().count();
        let mut seen = 0usize;
        for l in wrap(&text, inner.width as usize) {
            let n = l.chars().count();
            let split = plen.saturating_sub(seen).min(n);
            let (a, b): (String, String) = (l.chars().take(split).collect(), l.chars().skip(split).collect());
            lines.push(Line::from(vec![Span::styled(a, Style::new().bold().fg(ACCENT)), Span::raw(b)]));
            seen += n + 1;
        }
    } else {
        lines.push(Line::from(Span::styled("type a prompt and press Enter", Style::new().fg(DIM))));
    }
    f.render_widget(Paragraph::new(lines).scroll((s.scroll, 0)).block(block), area);
}
