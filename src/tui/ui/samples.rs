//! The samples pane: the trainer's periodic samples, newest first, each with its step.

use super::{pane, wrap, DIM};
use crate::tui::app::RunView;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// `scroll`: samples skipped from the newest.
pub fn render_samples(f: &mut Frame, area: Rect, run: &RunView, scroll: usize, focused: bool) {
    let n = run.samples.len();
    let title = if scroll > 0 { format!("Samples ({n}, {} newer above)", scroll) } else { format!("Samples ({n})") };
    let block = pane(title, focused);
    let inner = block.inner(area);
    let mut lines: Vec<Line> = Vec::new();
    if n == 0 {
        let when =
            run.cadence.as_ref().map_or_else(|| format!("every {} steps", crate::util::thousands(run.sample_every)), |c| c.sample_text());
        let msg = format!("no sample yet (the trainer samples {when})");
        lines.push(Line::from(Span::styled(msg, Style::new().fg(DIM))));
    }
    let width = inner.width.saturating_sub(1) as usize;
    for (step, text) in run.samples.iter().skip(scroll) {
        if lines.len() >= inner.height as usize {
            break;
        }
        let tag = format!("@{step} ");
        let body = wrap(&format!("{tag}{text}"), width);
        for (i, l) in body.into_iter().enumerate() {
            if i == 0 && l.starts_with(&tag) {
                lines.push(Line::from(vec![
                    Span::styled(tag.clone(), Style::new().fg(Color::Yellow).bold()),
                    Span::raw(l[tag.len()..].to_string()),
                ]));
            } else {
                lines.push(Line::from(l));
            }
        }
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}
