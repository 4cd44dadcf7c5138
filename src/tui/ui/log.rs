//! The log pane: status, warnings, checkpoint saves and errors, newest at the
//! bottom, with scrollback (↑/↓ when focused).

use super::{pane, wrap, DIM};
use crate::tui::app::{Level, Log, LogLine};
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn level_style(l: Level) -> Style {
    match l {
        Level::Info => Style::new(),
        Level::Save => Style::new().fg(Color::Green),
        Level::Warn => Style::new().fg(Color::Yellow),
        Level::Error => Style::new().fg(Color::Red),
    }
}

pub fn render_log(f: &mut Frame, area: Rect, log: &Log, focused: bool) {
    let n = log.lines.len();
    let title = if log.scroll > 0 { format!("Log ({n}, {} newer below)", log.scroll) } else { format!("Log ({n})") };
    let block = pane(title, focused);
    let inner = block.inner(area);
    let h = inner.height as usize;
    let width = inner.width as usize;
    // walk back from the newest visible entry until the pane is full; scrolled
    // to the oldest entries, fill on with the newer ones after them
    let end = n.saturating_sub(log.scroll);
    let mut rows: Vec<Line> = Vec::new();
    for entry in log.lines.iter().take(end).rev() {
        if rows.len() >= h {
            break;
        }
        let mut lines = entry_lines(entry, width);
        lines.reverse();
        rows.extend(lines);
    }
    rows.truncate(h);
    rows.reverse();
    for entry in log.lines.iter().skip(end) {
        if rows.len() >= h {
            break;
        }
        rows.extend(entry_lines(entry, width));
    }
    rows.truncate(h);
    f.render_widget(Paragraph::new(rows).block(block), area);
}

/// One entry as the pane shows it: its time stamp, marker and wrapped text.
fn entry_lines(entry: &LogLine, width: usize) -> Vec<Line<'static>> {
    let stamp = format!("{:02}:{:02} ", (entry.secs as u64) / 60, (entry.secs as u64) % 60);
    let marker = match entry.level {
        Level::Info => "",
        Level::Save => "✔ ",
        Level::Warn => "⚠ ",
        Level::Error => "✗ ",
    };
    let body = wrap(&format!("{marker}{}", entry.text), width.saturating_sub(stamp.len()).max(1));
    let style = level_style(entry.level);
    body.into_iter()
        .enumerate()
        .map(|(i, l)| {
            let lead = if i == 0 { stamp.clone() } else { " ".repeat(stamp.len()) };
            Line::from(vec![Span::styled(lead, Style::new().fg(DIM)), Span::styled(l, style)])
        })
        .collect()
}
