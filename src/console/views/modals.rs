//! Dialogs over a screen: the confirmation (roll back, cancel, promote; its
//! words are made by `dialogs`) and the decision comment.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::model::Decision;

use unicode_width::UnicodeWidthStr;

use super::super::app::{Button, CommentInput, Confirm, ReasonLine};
use super::super::theme::{Element, Theme};
use super::{centered, clean, fit};

/// The confirmation dialog, in the words it was opened with.
pub fn confirm(frame: &mut Frame, area: Rect, c: &Confirm, theme: &Theme) {
    let t = &c.text;
    let border = if t.danger {
        Element::Failed
    } else {
        Element::Waiting
    };
    confirm_box(
        frame,
        area,
        theme,
        Boxed {
            title: t.title,
            border: theme.fg(border),
            headline: t.headline.clone(),
            body: t.body.clone(),
            buttons: [&t.buttons[0], &t.buttons[1]],
            hint: t.hint,
            focus: c.focus,
            reason: c.reason.as_ref(),
        },
    )
}

struct Boxed<'a> {
    title: &'a str,
    border: Style,
    headline: String,
    body: String,
    /// The safe button first (focused at first), then the one that acts.
    buttons: [&'a str; 2],
    hint: &'a str,
    focus: Button,
    /// The reason line (and a freeze's length) typed before it sends.
    reason: Option<&'a ReasonLine>,
}

/// Lines the reason block takes: label, line, the length, what is missing.
fn reason_height(r: Option<&ReasonLine>) -> u16 {
    r.map_or(0, |r| {
        3 + u16::from(r.duration.is_some()) + u16::from(r.missing.is_some())
    })
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
fn confirm_box(frame: &mut Frame, area: Rect, theme: &Theme, c: Boxed) {
    const W: u16 = 76;
    let inner_w = W.min(area.width).saturating_sub(2) as usize;
    // At least the height the rollback dialog always had.
    // The body may hold several paragraphs (the promote dialog's plan).
    let body_h: u16 = c
        .body
        .split('\n')
        .map(|p| wrapped_height(p, inner_w))
        .fold(0, u16::saturating_add);
    let h = (2 + wrapped_height(&c.headline, inner_w) + 1 + body_h + 2 + reason_height(c.reason))
        .max(9)
        .min(area.height);
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
    let head_h = wrapped_height(&c.headline, inner.width as usize);
    let mut lines = vec![
        Line::styled(c.headline, Style::default().add_modifier(Modifier::BOLD)),
        Line::raw(""),
    ];
    lines.extend(c.body.split('\n').map(|p| Line::raw(p.to_string())));
    // Where the cursor goes: the focused input's row and column.
    let mut cursor = None;
    if let Some(r) = c.reason {
        let w = inner.width.saturating_sub(10) as usize;
        let field = |input: &tui_input::Input| {
            let scroll = input.visual_scroll(w);
            let shown: String = input.value().chars().skip(scroll).collect();
            let col = input.visual_cursor().saturating_sub(scroll);
            (format!("{:<w$}", fit(&clean(&shown), w)), col)
        };
        let underlined = Style::default().add_modifier(Modifier::UNDERLINED);
        let label = Style::default().add_modifier(Modifier::BOLD);
        // Rows above the reason: headline, blank, the body's wrapped
        // paragraphs, blank.
        let above = head_h
            + 1
            + c.body
                .split('\n')
                .map(|p| wrapped_height(p, inner.width as usize))
                .fold(0, u16::saturating_add)
            + 1;
        lines.push(Line::raw(""));
        let (text, col) = field(&r.input);
        if !r.on_duration {
            cursor = Some((above, col));
        }
        lines.push(Line::from(vec![
            Span::styled("reason: ", label),
            Span::styled(text, underlined),
        ]));
        if let Some(d) = &r.duration {
            let (text, col) = field(d);
            if r.on_duration {
                cursor = Some((above + 1, col));
            }
            lines.push(Line::from(vec![
                Span::styled("length: ", label),
                Span::styled(text, underlined),
            ]));
        }
        if let Some(m) = &r.missing {
            lines.push(Line::styled(format!("✗ {m}"), theme.fg(Element::Failed)));
        }
    }
    lines.extend([
        Line::raw(""),
        Line::from(vec![
            button(c.buttons[0], c.focus == Button::Cancel),
            Span::raw("   "),
            button(c.buttons[1], c.focus == Button::Confirm),
            Span::styled(format!("   {}", c.hint), theme.muted()),
        ]),
    ]);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    if let Some((row, col)) = cursor {
        let x = inner.x + 8 + u16::try_from(col).unwrap_or(0);
        let y = inner.y + row;
        if y < inner.y + inner.height {
            frame.set_cursor_position((x.min(inner.x + inner.width.saturating_sub(1)), y));
        }
    }
}

pub fn comment(frame: &mut Frame, area: Rect, c: &CommentInput, theme: &Theme) {
    let rect = centered(area, 76, 7);
    frame.render_widget(Clear, rect);
    let (verb, label) = match (&c.sign_off, c.decision) {
        (Some(_), _) => (
            "sign off",
            "comment (required to fail; Enter, then choose pass or fail):",
        ),
        (None, decision) => match decision {
            Some(Decision::Approve) => ("approve", "comment (optional):"),
            Some(Decision::Reject) => ("reject", "comment (optional):"),
            None => ("note", "note (a lesson or comment, kept in the log):"),
        },
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
        Line::raw(label),
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
