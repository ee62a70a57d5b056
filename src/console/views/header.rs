//! The top line: connection, user and role, server, demo workspace, spinner.
//! Ordered by importance, so what a narrow terminal cuts is the least needed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use crate::model::Millis;

use super::super::app::{App, Conn};
use super::super::theme::{Element, Theme};
use super::{clean, fit};

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, now: Millis) {
    let mut parts: Vec<(String, Style)> = vec![(
        match &app.header.server_version {
            Some(v) => format!("ferry {}", clean(v)),
            None => "ferry".to_string(),
        },
        Style::default().add_modifier(Modifier::BOLD),
    )];
    parts.push(match &app.conn {
        Conn::Connected => ("● connected".into(), theme.fg(Element::Healthy)),
        Conn::Connecting => ("◌ connecting".into(), theme.fg(Element::Waiting)),
        Conn::Reconnecting { attempt, .. } => (
            format!("↻ reconnecting (attempt {attempt})"),
            theme.fg(Element::Failed).add_modifier(Modifier::BOLD),
        ),
    });
    if let Some(u) = &app.header.user {
        let n = crate::present::people::awaiting(&app.state, u);
        if n > 0 {
            parts.push((
                format!("⏸ {n} awaiting you (A)"),
                theme.fg(Element::Waiting).add_modifier(Modifier::BOLD),
            ));
        }
    }
    if let Some(p) = app.pending.last() {
        let frame_no = ((now - p.since).max(0) / 100) as usize % SPINNER.len();
        let more = if app.pending.len() > 1 {
            format!(" (+{})", app.pending.len() - 1)
        } else {
            String::new()
        };
        parts.push((
            format!("{} {}{more}", SPINNER[frame_no], clean(&p.label)),
            theme.fg(Element::Progress),
        ));
    }
    // In the demo, where its workspace is matters more than the server's URL.
    if let Some(ws) = &app.header.demo_workspace {
        parts.push((format!("demo {}", clean(ws)), theme.fg(Element::Accent)));
    }
    if let Some(u) = &app.header.user {
        // A narrow terminal gets the first role and a count, not a cut-off list.
        let roles = match u.roles.as_slice() {
            [first, _, ..] if area.width < 120 => format!("{first} +{}", u.roles.len() - 1),
            all => all.join(", "),
        };
        parts.push((
            format!("{} ({})", clean(&u.name), clean(&roles)),
            Style::default(),
        ));
    }
    parts.push((clean(&app.header.server_label), Style::default()));
    let mut spans = Vec::new();
    let mut left = area.width as usize;
    for (i, (text, style)) in parts.into_iter().enumerate() {
        let sep = if i == 0 { "" } else { " │ " };
        if sep.width() + 2 > left {
            break;
        }
        spans.push(Span::styled(sep, theme.muted()));
        left -= sep.width();
        let text = fit(&text, left);
        left -= text.width();
        spans.push(Span::styled(text, style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
