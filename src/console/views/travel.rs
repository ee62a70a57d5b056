//! Time travel's banner and panel: where in the log the dashboard shown is,
//! and the keys that move it. Drawn over the status line and the feed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::super::app::TravelState;
use super::super::theme::{Element, Theme};

/// "as of <time> (seq N of END)", or that the answer is on its way.
pub fn banner_text(t: &TravelState) -> String {
    match &t.as_of {
        Some(a) => format!(
            "TIME TRAVEL · as of {} (seq {} of {}) · read-only",
            a.at_time, a.seq, a.end
        ),
        None => "TIME TRAVEL · loading…".to_string(),
    }
}

pub fn banner(frame: &mut Frame, area: Rect, t: &TravelState, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let style = theme.fg(Element::Waiting).add_modifier(Modifier::BOLD);
    frame.render_widget(Paragraph::new(Line::styled(banner_text(t), style)), area);
}

pub fn panel(frame: &mut Frame, area: Rect, t: &TravelState, theme: &Theme) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let mut lines = vec![Line::styled(
        banner_text(t),
        theme.fg(Element::Waiting).add_modifier(Modifier::BOLD),
    )];
    if let Some(a) = &t.as_of {
        let or_none = |s: Option<u64>| s.map_or("none nearby".to_string(), |s| format!("seq {s}"));
        lines.push(Line::raw(format!(
            "previous deployment change: {} · next: {}",
            or_none(a.previous_deployment),
            or_none(a.next_deployment)
        )));
    }
    lines.push(Line::styled(
        "[ ] one event · { } one deployment · Esc back to live",
        theme.muted(),
    ));
    let block = Block::default()
        .borders(Borders::TOP)
        .title(" time travel ");
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
        area,
    );
}
