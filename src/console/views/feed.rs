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
    // Scrolled down, the feed stops moving: say so, and how much came since.
    let title = match (app.grid.feed_scroll, app.grid.feed_new) {
        (0, _) if focused => format!(" {mark}activity · Enter: open the line's run "),
        (0, _) => format!(" {mark}activity "),
        (_, n) => format!(" {mark}activity · paused, {n} new (gg: back to live) "),
    };
    let block = super::pane(&title, focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let h = inner.height as usize;
    // The cursor stays in view: the page scrolls once it passes the bottom.
    let cursor = app.grid.feed_scroll;
    let skip = (cursor + 1).saturating_sub(h.max(1));
    let lines: Vec<Line> = if app.feed.is_empty() {
        vec![Line::styled("waiting for events…", theme.muted())]
    } else {
        app.feed
            .iter()
            .enumerate()
            .skip(skip)
            .take(h)
            .map(|(i, item)| {
                let age = format!("{:>4} ", cells::age(now, item.at));
                let line = Line::from(vec![
                    Span::styled(age, theme.muted()),
                    // Feed text was sanitized when the event came in.
                    Span::styled(
                        fit(&item.text, w.saturating_sub(5)),
                        theme.level(item.level),
                    ),
                ]);
                if focused && i == cursor {
                    line.style(theme.selected())
                } else {
                    line
                }
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines), inner);
}
