//! The bottom line: the keys that do something here, from the keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::app::{App, Modal};
use super::super::keymap::{self, Cmd, Scope};
use super::super::theme::Theme;
use crate::present::cells;
use crate::present::targets;

/// Whether a command does anything for the current selection, so the
/// footer only offers what applies.
pub fn applies(app: &App, scope: Scope, cmd: Cmd) -> bool {
    match scope {
        Scope::Dashboard => {
            let Some((svc, stage)) = app.selected() else {
                return matches!(cmd, Cmd::Filter);
            };
            let st = stage.and_then(|n| svc.stages.iter().find(|s| s.name == n));
            match cmd {
                Cmd::Open => match st {
                    Some(st) => cells::focus_deployment(&app.state, st).is_some(),
                    None => !svc.builds.is_empty(),
                },
                Cmd::Rollback => st.is_some_and(|s| s.rollback_target(&app.state).is_some()),
                Cmd::History => st.is_some(),
                Cmd::CancelRun => st.is_some_and(|s| targets::cancel_target(&app.state, s).is_ok()),
                Cmd::Promote => st.is_some_and(|s| {
                    super::super::facts::candidate(&app.state, &svc.name, &s.name).is_ok()
                }),
                Cmd::Approve | Cmd::Reject => st.is_some_and(|s| {
                    cells::awaiting(&app.state, s).is_some()
                        || (cmd == Cmd::Approve
                            && s.queue
                                .iter()
                                .any(|id| app.state.freeze.frozen.contains_key(id)))
                }),
                _ => true,
            }
        }
        Scope::Detail => match cmd {
            Cmd::Approve | Cmd::Reject => match app.screens.last() {
                Some(super::super::app::Screen::Detail(d)) => {
                    app.state.deployments.get(d.run.id()).is_some_and(|x| {
                        x.status == crate::model::DeploymentStatus::AwaitingApproval
                    })
                }
                _ => false,
            },
            Cmd::Follow => match app.screens.last() {
                Some(super::super::app::Screen::Detail(d)) => {
                    d.log.as_ref().is_some_and(|l| !l.follow)
                }
                _ => false,
            },
            _ => true,
        },
        Scope::Approvals => {
            !matches!(cmd, Cmd::Approve | Cmd::Reject | Cmd::Open)
                || !app.state.pending_approvals().is_empty()
        }
        // Only the command line completes.
        Scope::Input => cmd != Cmd::Complete || matches!(app.modal, Some(Modal::Command(_))),
        _ => true,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let scope = app.scope();
    // Most important first: what gets cut on a narrow screen is the least needed.
    let mut items: Vec<(String, &str)> = Vec::new();
    if app.toasts.iter().any(|t| t.error) && !scope.is_modal() {
        items.push(("Esc".into(), "dismiss error"));
    }
    let reason = match &app.modal {
        Some(Modal::Confirm(c)) => c.reason.as_ref(),
        _ => None,
    };
    if let Some(r) = reason {
        // A confirmation with a reason line: its own keys, in its words.
        items.push(("Enter".into(), "send"));
        if r.duration.is_some() {
            items.push(("Tab".into(), "reason/length"));
        }
        items.push(("Esc".into(), "close"));
    } else if matches!(app.modal, Some(Modal::Command(_))) {
        items.push(("Enter".into(), "run"));
        items.push(("Tab".into(), "complete"));
        items.push(("Esc".into(), "close"));
    } else if scope == Scope::Input && !matches!(app.modal, Some(Modal::Comment(_))) {
        items.push(("Enter".into(), "keep filter"));
        items.push(("Esc".into(), "clear filter"));
    } else {
        for b in keymap::in_scope(scope) {
            if let Some(label) = b.footer
                && applies(app, scope, b.cmd)
            {
                items.push((keymap::keys_label(b.keys), label));
            }
        }
    }
    if !scope.is_modal() {
        for b in keymap::in_scope(Scope::Global) {
            if let Some(label) = b.footer {
                items.push((keymap::keys_label(b.keys), label));
            }
        }
        items.push(("Tab".into(), "pane"));
    }
    // However narrow the screen, the way to every other key stays on it.
    let help = items
        .iter()
        .position(|(keys, _)| keys == "?")
        .map(|i| items.remove(i));
    let width = |keys: &str, label: &str| 3 + keys.chars().count() + 1 + label.chars().count();
    let key_style = Style::default().add_modifier(Modifier::BOLD);
    let mut spans: Vec<Span> = Vec::new();
    let mut left =
        (area.width as usize).saturating_sub(help.as_ref().map_or(0, |(k, l)| width(k, l)));
    // Once one key does not fit, the less needed ones after it are left out
    // too, but help, whose room was kept, still comes last.
    let mut full = false;
    for (keys, label) in items.into_iter().chain(help) {
        let is_help = keys == "?";
        if is_help {
            left += width(&keys, label);
        } else if full {
            continue;
        }
        let sep = if spans.is_empty() { "" } else { " · " };
        let need = sep.len().min(3) + keys.chars().count() + 1 + label.chars().count();
        if need > left {
            full = true;
            continue;
        }
        left -= need;
        if !sep.is_empty() {
            spans.push(Span::styled(" · ", theme.muted()));
        }
        spans.push(Span::styled(keys, key_style));
        spans.push(Span::raw(format!(" {label}")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
