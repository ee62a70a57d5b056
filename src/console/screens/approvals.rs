//! The approvals screen: every deployment awaiting approval.

use crate::model::{DeploymentId, Millis};
use crate::present::cells::RunRef;

use super::super::app::{App, ApprovalsState, Screen};
use super::super::dialogs::decision;
use super::super::keymap::Cmd;
use super::super::msg::Request;
use super::{detail, is_vertical, step_by};

/// Show the approvals screen (once: it is not stacked on itself).
pub fn open(app: &mut App) {
    if !matches!(app.screens.last(), Some(Screen::Approvals(_))) {
        app.screens
            .push(Screen::Approvals(ApprovalsState::default()));
    }
}

pub fn approvals_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) {
    let pending: Vec<DeploymentId> = app
        .state
        .pending_approvals()
        .iter()
        .map(|d| d.id.clone())
        .collect();
    let Some(Screen::Approvals(a)) = app.screens.last_mut() else {
        return;
    };
    a.selected = a.selected.min(pending.len().saturating_sub(1));
    match cmd {
        Cmd::Back => {
            app.screens.pop();
        }
        c if is_vertical(c) => a.selected = step_by(a.selected, pending.len(), c),
        Cmd::Approve | Cmd::Reject | Cmd::Open => {
            let Some(id) = pending.get(a.selected).cloned() else {
                app.toast(false, "nothing awaits approval", now);
                return;
            };
            if cmd == Cmd::Open {
                detail::open(app, RunRef::Deployment(id), out);
            } else {
                decision::open(app, &id, super::decision(cmd), now);
            }
        }
        _ => {}
    }
}
