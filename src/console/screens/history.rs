//! The history of one stage: its deployments newest first, older pages
//! fetched on the way down; `Enter` opens one, `r` picks it as the rollback
//! target.

use crate::api::DeploymentPage;
use crate::backend::ClientError;
use crate::model::{ArtifactId, DeploymentId, DeploymentStatus, Millis};
use crate::present::cells::RunRef;

use super::super::app::{App, HistoryState, Screen};
use super::super::dialogs::rollback;
use super::super::keymap::Cmd;
use super::super::msg::{Request, error_text};
use super::{detail, is_vertical, step_by};

/// Open the history screen of a stage and ask for what the state lacks.
pub fn open(app: &mut App, service: &str, stage: &str, out: &mut Vec<Request>) {
    let Some(st) = app.state.stage(service, stage) else {
        return;
    };
    let before = st.history.first().cloned();
    let id = app.next_id();
    app.screens.push(Screen::History(HistoryState {
        service: service.to_string(),
        stage: stage.to_string(),
        older: Vec::new(),
        next_before: None,
        request: Some(id),
        exhausted: false,
        selected: 0,
    }));
    out.push(Request::FetchHistory {
        id,
        service: service.to_string(),
        stage: stage.to_string(),
        before,
    });
}
pub fn history_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) {
    let Some(Screen::History(h)) = app.screens.last() else {
        return;
    };
    let rows: Vec<(DeploymentId, ArtifactId, DeploymentStatus, Millis, String)> = app
        .history_rows(h)
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
                out.push(Request::FetchHistory {
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
                    detail::open(app, RunRef::Deployment(id), out);
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
                    true,
                    "only an artifact that was deployed successfully can be a rollback target",
                    now,
                );
                return;
            }
            if current.as_deref() == Some(artifact.as_str()) {
                app.toast(true, "that artifact is what runs there now", now);
                return;
            }
            let last_good = app
                .state
                .stage(&service, &stage)
                .and_then(|s| s.rollback_target(&app.state))
                .is_some_and(|g| g.artifact == artifact);
            rollback::open(
                app,
                &service,
                &stage,
                &artifact,
                last_good,
                Some(at),
                Some(by),
                now,
            );
        }
        _ => {}
    }
}

/// A page of older deployments arrived for the history on screen.
pub fn on_page(
    app: &mut App,
    (id, service, stage): (u64, &str, &str),
    result: Result<DeploymentPage, ClientError>,
    now: Millis,
) {
    let Some(Screen::History(h)) = app.screens.last_mut() else {
        return;
    };
    if h.request != Some(id) || h.service != service || h.stage != stage {
        return;
    }
    h.request = None;
    match result {
        Ok(page) => {
            for d in page.items {
                if !h.older.iter().any(|o| o.id == d.id) {
                    h.older.push(d);
                }
            }
            h.exhausted = page.next_before.is_none();
            h.next_before = page.next_before;
        }
        Err(e) => {
            h.exhausted = true;
            app.toast(
                true,
                format!("history of {stage} refused: {}", error_text(&e)),
                now,
            );
        }
    }
}
