//! Answers of the server: success and info toasts vanish after a few
//! seconds, errors stay until Esc. Each toast has its level's glyph and
//! colour, wraps rather than cuts, and never covers the selected cell (it
//! moves to the top when the cell is in the bottom right).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::super::app::{App, ToastLevel};
use super::super::theme::{Element, Theme};
use super::{clean, wrap};

/// The glyph and the words of one toast.
pub fn label(level: ToastLevel, text: &str) -> String {
    match level {
        ToastLevel::Error => format!("✗ {text}  [Esc]"),
        ToastLevel::Warning => format!("! {text}"),
        ToastLevel::Info => format!("· {text}"),
        ToastLevel::Success => format!("✓ {text}"),
    }
}

fn element(level: ToastLevel) -> Element {
    match level {
        ToastLevel::Error => Element::Error,
        ToastLevel::Warning => Element::Waiting,
        ToastLevel::Info | ToastLevel::Success => Element::Info,
    }
}

/// Where the toasts go and what they say, or None when there are none.
pub fn place(
    area: Rect,
    app: &App,
    avoid: Option<Rect>,
) -> Option<(Rect, Vec<(ToastLevel, String)>)> {
    if app.toasts.is_empty() || area.width < 8 || area.height < 3 {
        return None;
    }
    let max_w = (area.width.saturating_sub(4)).min(100) as usize;
    let mut lines = Vec::new();
    for t in &app.toasts {
        for l in wrap(&label(t.level, &clean(&t.text)), max_w) {
            lines.push((t.level, l));
        }
    }
    let w = lines
        .iter()
        .map(|(_, t)| t.width())
        .max()
        .unwrap_or(0)
        .min(max_w) as u16
        + 2;
    let h = (lines.len() as u16 + 2).min(area.height);
    let x = area.x + area.width - w - 1;
    let bottom = Rect::new(x, area.y + area.height - h, w, h);
    let rect = match avoid {
        Some(cell) if cell.intersects(bottom) => Rect::new(x, area.y, w, h),
        _ => bottom,
    };
    Some((rect, lines))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, avoid: Option<Rect>) {
    let Some((rect, lines)) = place(area, app, avoid) else {
        return;
    };
    frame.render_widget(Clear, rect);
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|(level, t)| Line::styled(t, theme.fg(element(level))))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(Block::bordered()), rect);
}
