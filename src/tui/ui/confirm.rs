//! The quit confirmation: stop and save, stop without saving, or cancel.

use super::centered;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use ratatui::Frame;

/// `step`: where the training run is.
pub fn render_confirm(f: &mut Frame, area: Rect, step: u64) {
    let r = centered(area, 56, 8);
    f.render_widget(Clear, r);
    let key = |k: &'static str| Span::styled(k, Style::new().fg(Color::Cyan).bold());
    let lines = vec![
        Line::from(format!("Training is at step {}.", super::thousands(step))),
        Line::from(""),
        Line::from(vec![key("  s  "), Span::raw("stop and save (final eval, then last/)")]),
        Line::from(vec![key("  d  "), Span::raw("stop without saving")]),
        Line::from(vec![key("  c  "), Span::raw("or "), key("Esc"), Span::raw("  cancel, keep training")]),
    ];
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(Color::Yellow))
        .title(Span::styled(" Quit? ", Style::new().fg(Color::Yellow).bold()));
    f.render_widget(Paragraph::new(lines).block(block), r);
}
