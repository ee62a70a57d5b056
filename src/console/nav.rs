//! What each command does on each screen (the per-screen half of `update`;
//! pure like it).

use crate::model::{Decision, DeploymentStatus, Millis};

use super::actions;
use super::app::{App, Screen};
use super::cells::{self, RunRef};
use super::keymap::Cmd;
use super::update::{
    Action, dialog, open_decision, open_detail, open_history, open_rollback, select_step,
};

const HALF_PAGE: usize = 5;

fn step_by(cur: usize, len: usize, cmd: Cmd) -> usize {
    let last = len.saturating_sub(1);
    match cmd {
        Cmd::Up => cur.saturating_sub(1),
        Cmd::Down => (cur + 1).min(last),
        Cmd::Top => 0,
        Cmd::Bottom => last,
        Cmd::HalfPageUp => cur.saturating_sub(HALF_PAGE),
        Cmd::HalfPageDown => (cur + HALF_PAGE).min(last),
        _ => cur,
    }
    .min(last)
}

fn is_vertical(cmd: Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Up | Cmd::Down | Cmd::Top | Cmd::Bottom | Cmd::HalfPageUp | Cmd::HalfPageDown
    )
}

pub fn dashboard_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Action>) {
    let rows = app.visible_services().len();
    let cols = app.columns().len() + 1;
    if app.grid.feed_focus && is_vertical(cmd) {
        let len = app.feed.len();
        app.grid.feed_scroll = step_by(app.grid.feed_scroll, len, cmd);
        return;
    }
    match cmd {
        c if is_vertical(c) => app.grid.row = step_by(app.grid.row, rows, c),
        Cmd::Left => app.grid.col = app.grid.col.saturating_sub(1),
        Cmd::Right => app.grid.col = (app.grid.col + 1).min(cols.saturating_sub(1)),
        Cmd::NextPane => app.grid.feed_focus = !app.grid.feed_focus,
        Cmd::Filter => {
            app.grid.filtering = true;
            app.grid.feed_focus = false;
        }
        Cmd::Back => {
            app.grid.filter.reset();
            app.grid.row = 0;
        }
        Cmd::Open => {
            let Some((svc, stage)) = app.selected() else {
                return;
            };
            let run = match stage {
                None => cells::build_cell(&app.state, svc).run,
                Some(st) => svc
                    .stages
                    .iter()
                    .find(|s| s.name == st)
                    .and_then(|s| cells::focus_deployment(&app.state, s))
                    .map(|d| RunRef::Deployment(d.id.clone())),
            };
            match run {
                Some(run) => open_detail(app, run, out),
                None => app.toast(false, "nothing has run there yet", now),
            }
        }
        Cmd::Rollback | Cmd::History | Cmd::CancelRun | Cmd::Promote => {
            let Some((svc, Some(stage))) = app.selected() else {
                app.toast(
                    false,
                    "select a stage cell (not the build column) first",
                    now,
                );
                return;
            };
            let svc = svc.name.clone();
            match cmd {
                Cmd::Rollback => open_rollback(app, &svc, &stage, now),
                Cmd::CancelRun => actions::open_cancel(app, &svc, &stage, now),
                Cmd::Promote => actions::open_promote(app, &svc, &stage, now),
                _ => open_history(app, &svc, &stage, out),
            }
        }
        Cmd::Approve | Cmd::Reject => {
            let waiting = app.selected().and_then(|(svc, stage)| {
                let st = svc
                    .stages
                    .iter()
                    .find(|s| Some(&s.name) == stage.as_ref())?;
                cells::awaiting(&app.state, st).map(|d| d.id.clone())
            });
            match waiting {
                Some(id) => open_decision(app, &id, decision(cmd), now),
                None => app.toast(false, "nothing awaits approval in this cell", now),
            }
        }
        _ => {}
    }
}

fn decision(cmd: Cmd) -> Decision {
    if cmd == Cmd::Approve {
        Decision::Approve
    } else {
        Decision::Reject
    }
}

pub fn detail_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Action>) {
    let Some(Screen::Detail(d)) = app.screens.last_mut() else {
        return;
    };
    let steps = match &d.run {
        RunRef::Deployment(id) => app.state.deployments.get(id).map(|x| x.steps.len()),
        RunRef::Build(id) => app.state.builds.get(id).map(|x| x.steps.len()),
    }
    .unwrap_or(0);
    match cmd {
        Cmd::Back => {
            app.screens.pop();
        }
        Cmd::NextPane => d.steps_focus = !d.steps_focus,
        Cmd::Follow => {
            if let Some(log) = &mut d.log {
                log.follow = true;
                log.from_bottom = 0;
            }
        }
        c if is_vertical(c) && d.steps_focus => {
            let next = step_by(d.step, steps, c);
            if next != d.step {
                select_step(app, next, out);
            }
        }
        c if is_vertical(c) => {
            let Some(log) = &mut d.log else { return };
            let len = log.lines.len();
            match c {
                Cmd::Bottom => {
                    log.follow = true;
                    log.from_bottom = 0;
                }
                Cmd::Top => {
                    log.follow = false;
                    log.from_bottom = len;
                }
                Cmd::Up | Cmd::HalfPageUp => {
                    let n = if c == Cmd::Up { 1 } else { HALF_PAGE * 2 };
                    log.follow = false;
                    log.from_bottom = (log.from_bottom + n).min(len);
                }
                _ => {
                    let n = if c == Cmd::Down { 1 } else { HALF_PAGE * 2 };
                    log.from_bottom = log.from_bottom.saturating_sub(n);
                }
            }
        }
        Cmd::Approve | Cmd::Reject => {
            let RunRef::Deployment(id) = &d.run else {
                return;
            };
            let id = id.clone();
            open_decision(app, &id, decision(cmd), now);
        }
        _ => {}
    }
}

pub fn approvals_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Action>) {
    let pending: Vec<String> = app
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
                open_detail(app, RunRef::Deployment(id), out);
            } else {
                open_decision(app, &id, decision(cmd), now);
            }
        }
        _ => {}
    }
}

/// Deployments of a stage newest first: the state's, then older pages.
pub fn history_rows<'a>(
    app: &'a App,
    h: &'a super::app::HistoryState,
) -> Vec<&'a crate::model::Deployment> {
    let mut rows: Vec<&crate::model::Deployment> = app
        .state
        .stage(&h.service, &h.stage)
        .map(|st| {
            st.history
                .iter()
                .rev()
                .filter_map(|id| app.state.deployments.get(id))
                .collect()
        })
        .unwrap_or_default();
    for d in &h.older {
        if !rows.iter().any(|r| r.id == d.id) {
            rows.push(d);
        }
    }
    rows
}

pub fn history_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Action>) {
    let Some(Screen::History(h)) = app.screens.last() else {
        return;
    };
    let rows: Vec<(String, String, DeploymentStatus, Millis, String)> = history_rows(app, h)
        .iter()
        .map(|d| {
            (
                d.id.clone(),
                d.artifact.clone(),
                d.status,
                d.finished_at.unwrap_or(d.created_at),
                d.requested_by.0.clone(),
            )
        })
        .collect();
    let (service, stage) = (h.service.clone(), h.stage.clone());
    let id = app.next_id();
    let Some(Screen::History(h)) = app.screens.last_mut() else {
        return;
    };
    h.selected = h.selected.min(rows.len().saturating_sub(1));
    match cmd {
        Cmd::Back => {
            app.screens.pop();
        }
        c if is_vertical(c) => {
            h.selected = step_by(h.selected, rows.len(), c);
            // Reaching the end asks for the next older page.
            if h.selected + 1 >= rows.len() && !h.exhausted && h.request.is_none() {
                h.request = Some(id);
                out.push(Action::FetchHistory {
                    id,
                    service,
                    stage,
                    before: h
                        .next_before
                        .clone()
                        .or_else(|| rows.last().map(|r| r.0.clone())),
                });
            }
        }
        Cmd::Open => {
            if let Some((id, ..)) = rows.get(h.selected).cloned() {
                if app.state.deployments.contains_key(&id) {
                    open_detail(app, RunRef::Deployment(id), out);
                } else {
                    app.toast(
                        false,
                        format!("{id} is older than what the console holds"),
                        now,
                    );
                }
            }
        }
        Cmd::Pick => {
            let Some((_, artifact, status, at, by)) = rows.get(h.selected).cloned() else {
                return;
            };
            let current = app
                .state
                .stage(&service, &stage)
                .and_then(|s| s.current.clone());
            if status != DeploymentStatus::Succeeded {
                app.toast(
                    false,
                    "only an artifact that was deployed successfully can be a rollback target",
                    now,
                );
                return;
            }
            if current.as_deref() == Some(artifact.as_str()) {
                app.toast(false, "that artifact is what runs there now", now);
                return;
            }
            let last_good = app
                .state
                .stage(&service, &stage)
                .and_then(|s| s.rollback_target(&app.state))
                .is_some_and(|g| g.artifact == artifact);
            let dlg = dialog(
                app,
                &service,
                &stage,
                &artifact,
                last_good,
                Some(at),
                Some(by),
            );
            app.modal = dlg.map(super::app::Modal::Rollback);
        }
        _ => {}
    }
}
