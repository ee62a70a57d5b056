//! Where an on-call engineer looks first: the cells that need attention
//! (failed, rolled back, rollback failed, awaiting the user's approval,
//! frozen, awaiting a sign-off),
//! newest first, and the deployment a failed or rolled-back cell is about.

use crate::engine::{Principal, StageState, State};
use crate::model::{Deployment, DeploymentKind, DeploymentStatus, Millis};
use crate::present::cells::{self, CellKind};
use crate::present::people;

use super::super::app::App;

/// One cell that needs attention: its grid position and when it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trouble {
    pub row: usize,
    pub col: usize,
    pub since: Millis,
}

/// The server's reason codes (`blocked`) that put a cell on the attention
/// list beside the cell's own state.
pub const NEEDS_SOMEONE: &[&str] = &["frozen", "awaiting_sign_off", "rollback_failed"];

/// Whether the deployment awaits `user` (anyone's, before the user is known).
fn awaits(user: Option<&Principal>, d: &Deployment) -> bool {
    user.is_none_or(|u| people::may_approve(u, d))
}

/// Whether a stage needs attention, and since when.
fn trouble_since(state: &State, st: &StageState, user: Option<&Principal>) -> Option<Millis> {
    let s = cells::stage_summary(state, st);
    let attention = match s.kind {
        CellKind::Failed | CellKind::RolledBack => true,
        CellKind::Awaiting => cells::awaiting(state, st).is_some_and(|d| awaits(user, d)),
        _ => false,
    };
    // A failed rollback shows as failed above; a finished one as rolled back.
    attention.then(|| s.since.unwrap_or(0))
}

/// Every cell that needs attention among the visible services, newest first
/// (ties: top-left first).
pub fn troubles(app: &App) -> Vec<Trouble> {
    let cols = app.columns();
    let user = app.header.user.as_ref();
    let mut out = Vec::new();
    for (row, svc) in app.visible_services().iter().enumerate() {
        for st in &svc.stages {
            let Some(col) = cols.iter().position(|c| *c == st.name) else {
                continue;
            };
            let blocked = app
                .blocked
                .iter()
                .filter(|b| b.service == svc.name && b.stage == st.name)
                .find(|b| NEEDS_SOMEONE.contains(&b.reason.as_str()));
            let since = trouble_since(&app.state, st, user).or_else(|| {
                // Frozen or awaiting a sign-off: someone has to act (or know).
                let b = blocked?;
                let d = b
                    .deployment
                    .as_deref()
                    .and_then(|id| app.state.deployments.get(id));
                Some(d.map_or(0, |d| d.created_at))
            });
            if let Some(since) = since {
                out.push(Trouble {
                    row,
                    col: col + 1,
                    since,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        b.since
            .cmp(&a.since)
            .then(a.row.cmp(&b.row))
            .then(a.col.cmp(&b.col))
    });
    out
}

/// Move the cursor to the next cell needing attention. The first press goes
/// to the newest; pressing again (with nothing else between) goes to the
/// next older one, around. Returns false when nothing needs attention.
pub fn jump(app: &mut App) -> bool {
    let list = troubles(app);
    if list.is_empty() {
        app.grid.attention = None;
        return false;
    }
    let next = match app.grid.attention {
        Some(i) => (i + 1) % list.len(),
        None => 0,
    };
    app.grid.row = list[next].row;
    app.grid.col = list[next].col;
    app.grid.attention = Some(next);
    app.grid.feed_focus = false;
    true
}

/// The deployment a stage's cell opens: for a rollback, the deployment it
/// undid (the failure is what the reader needs), else the cell's own.
pub fn open_target<'a>(state: &'a State, st: &StageState) -> Option<&'a Deployment> {
    let d = cells::focus_deployment(state, st)?;
    if d.kind == DeploymentKind::Rollback
        && d.status == DeploymentStatus::Succeeded
        && let Some(undone) = d
            .rolls_back
            .as_ref()
            .and_then(|id| state.deployments.get(id))
    {
        return Some(undone);
    }
    Some(d)
}

/// The deployment linked to `d`: the one it rolled back, or the rollback
/// that undid it (the newest).
pub fn linked<'a>(state: &'a State, d: &Deployment) -> Option<&'a Deployment> {
    if let Some(id) = &d.rolls_back {
        return state.deployments.get(id);
    }
    let st = state.stage(&d.service, &d.stage)?;
    st.history
        .iter()
        .rev()
        .filter_map(|id| state.deployments.get(id))
        .find(|r| r.rolls_back.as_ref() == Some(&d.id))
}
