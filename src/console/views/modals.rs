//! Dialogs over a screen: the confirmations of roll back, cancel and
//! promote, and the decision comment.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::model::{Decision, Millis};

use unicode_width::UnicodeWidthStr;

use super::super::app::{Button, CancelDialog, CommentInput, PromoteDialog, RollbackDialog};
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
    let body = format!(
        "The running deployment of {} (if any) is cancelled first.",
        d.stage
    );
    confirm_box(
        frame,
        area,
        theme,
        Confirm {
            title: " roll back? ",
            border: theme.fg(Element::Failed),
            headline: rollback_sentence(d, now),
            body,
            buttons: ["Cancel", "Roll back"],
            hint: "y confirm · n/Esc cancel · Tab switch",
            focus: d.focus,
        },
    );
}

/// "prod: cancel d-17 (checkout 1.4.4, running step 2/3 health)?"
pub fn cancel_sentence(d: &CancelDialog) -> String {
    clean(&format!(
        "{}: cancel {} ({} {}, {})?",
        d.stage, d.deployment, d.service, d.version, d.status
    ))
}

/// What the cancel does, as the engine does it.
pub fn cancel_effects(d: &CancelDialog) -> String {
    let text = if d.running {
        let policy = if d.rollback_auto {
            "with rollback = auto nothing is rolled back by a cancel"
        } else {
            "a cancel rolls nothing back"
        };
        format!(
            "The step's processes are killed and {} ends cancelled; {} ({policy}).",
            d.deployment, d.after
        )
    } else if d.status.starts_with("awaiting approval") {
        format!(
            "{} ends cancelled at once and approvals given for it are void; {}.",
            d.deployment, d.after
        )
    } else {
        format!("{} ends cancelled at once; {}.", d.deployment, d.after)
    };
    clean(&text)
}

pub fn cancel(frame: &mut Frame, area: Rect, d: &CancelDialog, theme: &Theme) {
    let confirm = format!("Cancel {}", clean(&d.deployment));
    confirm_box(
        frame,
        area,
        theme,
        Confirm {
            title: " cancel? ",
            border: theme.fg(Element::Failed),
            headline: cancel_sentence(d),
            body: cancel_effects(d),
            buttons: ["Keep", &confirm],
            hint: "y cancel it · n/Esc keep · Tab switch",
            focus: d.focus,
        },
    );
}

/// "preprod: promote checkout 1.4.4 (passed test 3 minutes ago)?"
pub fn promote_sentence(d: &PromoteDialog, now: Millis) -> String {
    let why = match (&d.passed_in, d.at) {
        (Some(prev), Some(at)) => format!("passed {prev} {} ago", cells::age_words(now, at)),
        (Some(prev), None) => format!("passed {prev}"),
        (None, Some(at)) => format!("the newest artifact, {} old", cells::age_words(now, at)),
        (None, None) => "the newest artifact".to_string(),
    };
    clean(&format!(
        "{}: promote {} {} ({why})?",
        d.stage, d.service, d.version
    ))
}

/// "It replaces 1.4.3; the gate then applies (awaiting approval by ...)."
pub fn promote_effects(d: &PromoteDialog) -> String {
    let mut text = format!("{}; the gate then applies ({}).", d.replaces, d.gate);
    if !d.supersedes.is_empty() {
        text += &format!(" It supersedes {}.", d.supersedes.join(", "));
    }
    if let Some(b) = &d.behind {
        text += &format!(" It queues behind {b}.");
    }
    clean(&text)
}

pub fn promote(frame: &mut Frame, area: Rect, d: &PromoteDialog, theme: &Theme, now: Millis) {
    confirm_box(
        frame,
        area,
        theme,
        Confirm {
            title: " promote? ",
            border: theme.fg(Element::Waiting),
            headline: promote_sentence(d, now),
            body: promote_effects(d),
            buttons: ["Cancel", "Promote"],
            hint: "y confirm · n/Esc cancel · Tab switch",
            focus: d.focus,
        },
    );
}

struct Confirm<'a> {
    title: &'a str,
    border: Style,
    headline: String,
    body: String,
    /// The safe button first (focused at first), then the one that acts.
    buttons: [&'a str; 2],
    hint: &'a str,
    focus: Button,
}

/// Lines `text` takes when word-wrapped at `width` (a close upper bound).
fn wrapped_height(text: &str, width: usize) -> u16 {
    let width = width.max(1);
    let mut lines = 1;
    let mut used = 0;
    for word in text.split(' ') {
        let w = word.width();
        let need = if used == 0 { w } else { used + 1 + w };
        if need <= width {
            used = need;
        } else {
            lines += 1 + w / width;
            used = w % width;
        }
    }
    u16::try_from(lines).unwrap_or(u16::MAX)
}

/// A bordered dialog: a bold headline, what happens, then the two buttons.
fn confirm_box(frame: &mut Frame, area: Rect, theme: &Theme, c: Confirm) {
    const W: u16 = 76;
    let inner_w = W.min(area.width).saturating_sub(2) as usize;
    // At least the height the rollback dialog always had.
    let h = (2 + wrapped_height(&c.headline, inner_w) + 1 + wrapped_height(&c.body, inner_w) + 2)
        .max(9);
    let rect = centered(area, W, h);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(c.title)
        .border_style(c.border.add_modifier(Modifier::BOLD));
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
        Line::styled(c.headline, Style::default().add_modifier(Modifier::BOLD)),
        Line::raw(""),
        Line::raw(c.body),
        Line::raw(""),
        Line::from(vec![
            button(c.buttons[0], c.focus == Button::Cancel),
            Span::raw("   "),
            button(c.buttons[1], c.focus == Button::Confirm),
            Span::styled(format!("   {}", c.hint), theme.muted()),
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
