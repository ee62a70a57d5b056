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
    // Shorter forms of some parts, by index, for a narrow terminal.
    let mut shorter: std::collections::BTreeMap<usize, String> = Default::default();
    if let Some(u) = &app.header.user {
        let n = crate::present::people::awaiting(&app.state, u);
        if n > 0 {
            shorter.insert(parts.len(), format!("⏸ {n} (A)"));
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
    if let Some(ws) = &app.header.demo_workspace {
        // A long path gives way first: its last part says which workspace.
        let ws = clean(ws);
        let short = match ws.rsplit_once('/') {
            Some((_, last)) if !last.is_empty() => format!("…/{last}"),
            _ => ws.clone(),
        };
        shorter.insert(parts.len(), format!("demo {short}"));
        parts.push((format!("demo {ws}"), theme.fg(Element::Accent)));
    }
    if let Some(u) = &app.header.user {
        // A narrow terminal gets the first role and a count, not a cut-off list.
        let roles = match u.roles.as_slice() {
            [first, _, ..] if area.width < 120 => format!("{first} +{}", u.roles.len() - 1),
            all => all.join(", "),
        };
        shorter.insert(parts.len(), clean(&u.name));
        parts.push((
            format!("{} ({})", clean(&u.name), clean(&roles)),
            Style::default(),
        ));
    }
    // The server's URL is never dropped: it keeps its room at the right
    // end, and the other parts are cut first.
    let server = fit(&clean(&app.header.server_label), area.width as usize / 2);
    let server_w = server.width() + 3;
    let mut spans = Vec::new();
    let mut left = (area.width as usize).saturating_sub(server_w);
    for (i, (text, style)) in parts.into_iter().enumerate() {
        let sep = if i == 0 { "" } else { " │ " };
        // Too long: its shorter form, else cut; cut to a stub it says
        // nothing, so it is left out and the next one tried.
        let text = match shorter.remove(&i) {
            Some(short) if sep.width() + text.width() > left => short,
            _ => text,
        };
        if sep.width() + text.width().min(12) > left {
            continue;
        }
        spans.push(Span::styled(sep, theme.muted()));
        left -= sep.width();
        let text = fit(&text, left);
        left -= text.width();
        spans.push(Span::styled(text, style));
    }
    spans.push(Span::styled(" │ ", theme.muted()));
    spans.push(Span::raw(server));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
