//! The activity feed: live events, newest first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::Millis;

use super::super::app::App;
use super::super::theme::Theme;
use super::fit;
use crate::present::cells;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, now: Millis) {
    let focused = app.grid.feed_focus;
    let mark = if focused { "▶ " } else { "" };
    // Scrolled down, the feed stops moving: say so, and how much is above.
    let title = match app.grid.feed_scroll {
        0 => format!(" {mark}activity "),
        n => format!(" {mark}activity · paused, {n} newer above (gg: back to live) "),
    };
    let block = super::pane(&title, focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let lines: Vec<Line> = if app.feed.is_empty() {
        vec![Line::styled("waiting for events…", theme.muted())]
    } else {
        app.feed
            .iter()
            .skip(app.grid.feed_scroll)
            .take(inner.height as usize)
            .map(|item| {
                let age = format!("{:>4} ", cells::age(now, item.at));
                Line::from(vec![
                    Span::styled(age, theme.muted()),
                    // Feed text was sanitized when the event came in.
                    Span::styled(
                        fit(&item.text, w.saturating_sub(5)),
                        theme.level(item.level),
                    ),
                ])
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines), inner);
}
