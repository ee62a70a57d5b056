//! Opening screens and dialogs, and the requests that fill them (pure, like `update`).

use crate::model::{Decision, DeploymentStatus, Millis, StepStatus};

use super::app::{
    App, Button, CommentInput, DetailState, HistoryState, LOG_TAIL, LogView, Modal, RollbackDialog,
    Screen,
};
use super::cells::RunRef;
use super::update::Action;

/// Open the rollback confirmation for a stage's default target.
pub fn open_rollback(app: &mut App, service: &str, stage: &str, now: Millis) {
    let Some(st) = app.state.stage(service, stage) else {
        return;
    };
    let Some(target) = st.rollback_target(&app.state) else {
        app.toast(
            true,
            format!("{stage}: {service} has no earlier good release to roll back to"),
            now,
        );
        return;
    };
    let dlg = dialog(
        app,
        service,
        stage,
        &target.artifact,
        true,
        Some(target.at),
        Some(target.by.0.clone()),
    );
    app.modal = dlg.map(Modal::Rollback);
}

pub fn dialog(
    app: &App,
    service: &str,
    stage: &str,
    artifact: &str,
    last_good: bool,
    at: Option<Millis>,
    by: Option<String>,
) -> Option<RollbackDialog> {
    let st = app.state.stage(service, stage)?;
    let version_of = |id: &str| app.state.artifacts.get(id).map(|a| a.version.clone());
    Some(RollbackDialog {
        service: service.to_string(),
        stage: stage.to_string(),
        from_version: st.current.as_deref().and_then(version_of),
        to_artifact: artifact.to_string(),
        to_version: version_of(artifact).unwrap_or_else(|| artifact.to_string()),
        last_good,
        deployed_at: at,
        deployed_by: by,
        focus: Button::Cancel,
    })
}

/// Open the approve/reject comment input for a deployment awaiting approval.
pub fn open_decision(app: &mut App, deployment: &str, decision: Decision, now: Millis) {
    let Some(d) = app.state.deployments.get(deployment) else {
        return;
    };
    if d.status != DeploymentStatus::AwaitingApproval {
        app.toast(
            false,
            format!(
                "{deployment} is {}, not awaiting approval",
                d.status.as_str()
            ),
            now,
        );
        return;
    }
    app.modal = Some(Modal::Comment(CommentInput {
        decision,
        deployment: d.id.clone(),
        digest: d.digest.clone(),
        subject: format!("{} {} → {}", d.service, d.version, d.stage),
        input: Default::default(),
    }));
}

/// Push the detail screen for a run and ask for what it shows.
pub fn open_detail(app: &mut App, run: RunRef, out: &mut Vec<Action>) {
    let steps = match &run {
        RunRef::Deployment(id) => app.state.deployments.get(id).map(|d| d.steps.clone()),
        RunRef::Build(id) => app.state.builds.get(id).map(|b| b.steps.clone()),
    }
    .unwrap_or_default();
    // The step worth reading first: the running one, else the first that
    // failed, else the last that ran.
    let step = steps
        .iter()
        .position(|s| s.status == StepStatus::Running)
        .or_else(|| steps.iter().position(|s| s.status.is_failure()))
        .or_else(|| steps.iter().rposition(|s| s.started_at.is_some()))
        .unwrap_or(0);
    let awaiting = match &run {
        RunRef::Deployment(id) => app
            .state
            .deployments
            .get(id)
            .is_some_and(|d| d.status.is_pending()),
        RunRef::Build(_) => false,
    };
    if awaiting && let RunRef::Deployment(id) = &run {
        out.push(Action::FetchEvidence {
            deployment: id.clone(),
        });
    }
    app.screens.push(Screen::Detail(Box::new(DetailState {
        run,
        step,
        steps_focus: true,
        log: None,
        evidence: None,
    })));
    select_step(app, step, out);
}

/// Show the log of `step` of the run on screen, fetching its tail.
pub fn select_step(app: &mut App, step: usize, out: &mut Vec<Action>) {
    let id = app.next_id();
    let Some(Screen::Detail(d)) = app.screens.last_mut() else {
        return;
    };
    let (run, started) = {
        let run = d.run.id().to_string();
        let steps = match &d.run {
            RunRef::Deployment(r) => app.state.deployments.get(r).map(|x| &x.steps),
            RunRef::Build(r) => app.state.builds.get(r).map(|x| &x.steps),
        };
        let started = steps
            .and_then(|s| s.get(step))
            .is_some_and(|s| s.started_at.is_some());
        (run, started)
    };
    d.step = step;
    if !started {
        d.log = None;
        return;
    }
    let mut log = LogView::new(&run, step);
    log.request = Some(id);
    d.log = Some(log);
    out.push(Action::FetchLog {
        id,
        run,
        step,
        offset: 0,
        tail: Some(LOG_TAIL),
    });
}

/// Open the history screen of a stage and ask for what the state lacks.
pub fn open_history(app: &mut App, service: &str, stage: &str, out: &mut Vec<Action>) {
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
    out.push(Action::FetchHistory {
        id,
        service: service.to_string(),
        stage: stage.to_string(),
        before,
    });
}
