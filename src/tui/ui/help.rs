//! The help overlay: every key binding, by context (from `app::KEYMAP`).

use super::{centered, ACCENT};
use crate::tui::app::KEYMAP;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use ratatui::Frame;

fn section_lines(title: &'static str, keys: &'static [(&'static str, &'static str)], key_w: usize) -> Vec<Line<'static>> {
    let mut v = vec![Line::from(Span::styled(title, Style::new().fg(ACCENT).bold().underlined()))];
    for (k, d) in keys {
        v.push(Line::from(vec![Span::styled(format!(" {k:<key_w$} "), Style::new().bold()), Span::raw(*d)]));
    }
    v
}

pub fn render_help(f: &mut Frame, area: Rect, scroll: u16) {
    let r = centered(area, area.width.saturating_sub(2).min(140), area.height.saturating_sub(1));
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(ACCENT))
        .title(Span::styled(" Keys (Esc closes, ↑↓ scroll) ", Style::new().bold()));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let key_w = KEYMAP.iter().flat_map(|(_, ks)| ks.iter().map(|(k, _)| k.chars().count())).max().unwrap_or(6);
    let total: usize = KEYMAP.iter().map(|(_, ks)| ks.len() + 2).sum();
    // two columns when both fit without cutting a description, split between sections
    let desc_w = KEYMAP.iter().flat_map(|(_, ks)| ks.iter().map(|(_, d)| d.chars().count())).max().unwrap_or(20);
    let two = inner.width as usize >= 2 * (key_w + 3 + desc_w);
    let (mut left, mut right): (Vec<Line>, Vec<Line>) = (Vec::new(), Vec::new());
    for (title, keys) in KEYMAP {
        let target = if two && left.len() >= total / 2 { &mut right } else { &mut left };
        target.extend(section_lines(title, keys, key_w));
        target.push(Line::from(""));
    }
    // never scroll past the last line
    let longest = left.len().max(right.len()) as u16;
    let scroll = scroll.min(longest.saturating_sub(inner.height));
    if two {
        let [a, b] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
        f.render_widget(Paragraph::new(left).scroll((scroll, 0)), a);
        f.render_widget(Paragraph::new(right).scroll((scroll, 0)), b);
    } else {
        f.render_widget(Paragraph::new(left).scroll((scroll, 0)), inner);
    }
}
