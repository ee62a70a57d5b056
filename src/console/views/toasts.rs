//! Answers of the server, in the bottom-right corner: info toasts vanish
//! after a few seconds, errors stay until Esc.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::super::app::App;
use super::super::theme::{Element, Theme};
use super::{clean, fit};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if app.toasts.is_empty() {
        return;
    }
    let texts: Vec<(bool, String)> = app
        .toasts
        .iter()
        .map(|t| {
            let text = clean(&t.text);
            if t.error {
                (true, format!("✗ {text}  [Esc]"))
            } else {
                (false, format!("✓ {text}"))
            }
        })
        .collect();
    let max_w = (area.width.saturating_sub(4)).min(90) as usize;
    let w = texts
        .iter()
        .map(|(_, t)| t.width())
        .max()
        .unwrap_or(0)
        .min(max_w) as u16
        + 2;
    let h = (texts.len() as u16 + 2).min(area.height);
    let rect = Rect::new(area.x + area.width - w - 1, area.y + area.height - h, w, h);
    frame.render_widget(Clear, rect);
    let lines: Vec<Line> = texts
        .iter()
        .map(|(err, t)| {
            Line::styled(
                fit(t, max_w),
                theme.fg(if *err { Element::Error } else { Element::Info }),
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(Block::bordered()), rect);
}
