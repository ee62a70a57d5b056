//! The top line: server, user and role, connection, demo workspace, spinner.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::Millis;

use super::super::app::{App, Conn};
use super::super::theme::{Element, Theme};
use super::{clean, fit};

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, now: Millis) {
    let sep = Span::styled(" │ ", theme.muted());
    let mut spans = vec![Span::styled(
        match &app.header.server_version {
            Some(v) => format!("ferry {}", clean(v)),
            None => "ferry".to_string(),
        },
        Style::default().add_modifier(Modifier::BOLD),
    )];
    spans.push(sep.clone());
    spans.push(Span::raw(clean(&app.header.server_label)));
    if let Some(u) = &app.header.user {
        spans.push(sep.clone());
        spans.push(Span::raw(format!(
            "{} ({})",
            clean(&u.name),
            clean(&u.roles.join(", "))
        )));
    }
    spans.push(sep.clone());
    spans.push(match &app.conn {
        Conn::Connected => Span::styled("● connected", theme.fg(Element::Healthy)),
        Conn::Connecting => Span::styled("◌ connecting", theme.fg(Element::Waiting)),
        Conn::Reconnecting { attempt, .. } => Span::styled(
            format!("↻ reconnecting (attempt {attempt})"),
            theme.fg(Element::Failed).add_modifier(Modifier::BOLD),
        ),
    });
    if let Some(ws) = &app.header.demo_workspace {
        spans.push(sep.clone());
        spans.push(Span::styled(
            format!("demo {}", clean(ws)),
            theme.fg(Element::Accent),
        ));
    }
    if let Some(p) = app.pending.last() {
        let frame_no = ((now - p.since).max(0) / 100) as usize % SPINNER.len();
        spans.push(sep);
        let more = if app.pending.len() > 1 {
            format!(" (+{})", app.pending.len() - 1)
        } else {
            String::new()
        };
        spans.push(Span::styled(
            format!("{} {}{more}", SPINNER[frame_no], clean(&p.label)),
            theme.fg(Element::Progress),
        ));
    }
    // Cut from the right so the most important parts stay.
    let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
    if unicode_width::UnicodeWidthStr::width(text.as_str()) > area.width as usize {
        let line = Line::raw(fit(&text, area.width as usize));
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
