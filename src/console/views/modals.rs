//! Dialogs over a screen: the rollback confirmation and the decision comment.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::model::{Decision, Millis};

use super::super::app::{Button, CommentInput, RollbackDialog};
use super::super::cells;
use super::super::theme::{Element, Theme};
use super::{centered, clean, fit};

/// "prod: checkout 1.4.3 → 1.4.2 (last good, deployed 2 days ago by alice)"
pub fn rollback_sentence(d: &RollbackDialog, now: Millis) -> String {
    let from = d.from_version.as_deref().unwrap_or("nothing");
    let which = if d.last_good {
        "last good"
    } else {
        "picked from history"
    };
    let when = match (d.deployed_at, &d.deployed_by) {
        (Some(at), Some(by)) => format!(", deployed {} ago by {by}", cells::age_words(now, at)),
        (Some(at), None) => format!(", deployed {} ago", cells::age_words(now, at)),
        _ => String::new(),
    };
    clean(&format!(
        "{}: {} {from} → {} ({which}{when})",
        d.stage, d.service, d.to_version
    ))
}

pub fn rollback(frame: &mut Frame, area: Rect, d: &RollbackDialog, theme: &Theme, now: Millis) {
    let rect = centered(area, 76, 9);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(" roll back? ")
        .border_style(theme.fg(Element::Failed).add_modifier(Modifier::BOLD));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let button = |label: &str, focused: bool| {
        let style = if focused {
            theme.selected()
        } else {
            Style::default()
        };
        Span::styled(format!("[ {label} ]"), style)
    };
    let lines = vec![
        Line::styled(
            rollback_sentence(d, now),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Line::raw(""),
        Line::raw(fit(
            &format!(
                "The running deployment of {} (if any) is cancelled first.",
                clean(&d.stage)
            ),
            inner.width as usize,
        )),
        Line::raw(""),
        Line::from(vec![
            button("Cancel", d.focus == Button::Cancel),
            Span::raw("   "),
            button("Roll back", d.focus == Button::Confirm),
            Span::styled("   y confirm · n/Esc cancel · Tab switch", theme.muted()),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

pub fn comment(frame: &mut Frame, area: Rect, c: &CommentInput, theme: &Theme) {
    let rect = centered(area, 76, 7);
    frame.render_widget(Clear, rect);
    let verb = match c.decision {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
    };
    let block = Block::bordered()
        .title(clean(&format!(" {verb} {}: {} ", c.deployment, c.subject)))
        .border_style(Style::default().add_modifier(Modifier::BOLD));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let w = inner.width.saturating_sub(2) as usize;
    let scroll = c.input.visual_scroll(w);
    let shown: String = c.input.value().chars().skip(scroll).collect();
    let lines = vec![
        Line::raw("comment (optional):"),
        Line::from(Span::styled(
            format!("{:<w$}", fit(&clean(&shown), w)),
            Style::default().add_modifier(Modifier::UNDERLINED),
        )),
        Line::raw(""),
        Line::styled(format!("Enter {verb} · Esc cancel"), theme.muted()),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
    let x = inner.x + (c.input.visual_cursor().saturating_sub(scroll)) as u16;
    frame.set_cursor_position((x.min(inner.x + inner.width.saturating_sub(1)), inner.y + 1));
}
