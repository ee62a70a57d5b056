//! Cancel and promote from the dashboard, and the confirmation dialogs of
//! roll back, cancel and promote (pure, like `update`): what each would do,
//! worked out from the state so the dialog can say it exactly.

use crate::config::{Gate, RollbackPolicy};
use crate::engine::{StageState, State};
use crate::model::{Deployment, DeploymentKind, DeploymentStatus, Millis};

use super::app::{App, Button, CancelDialog, Modal, Pending, PromoteDialog};
use super::keymap::Cmd;
use super::update::Action;

/// The deployment `c` cancels in a stage: the running one (unless it is
/// already being cancelled), else the next pending one. `Err` says why
/// there is none.
pub fn cancel_target<'a>(state: &'a State, st: &StageState) -> Result<&'a Deployment, String> {
    let active = st.active.as_ref().and_then(|id| state.deployments.get(id));
    if let Some(d) = active
        && !state.cancelling.contains_key(&d.id)
    {
        return Ok(d);
    }
    if let Some(d) = st.queue.first().and_then(|id| state.deployments.get(id)) {
        return Ok(d);
    }
    Err(match active {
        Some(d) => format!("{} is already being cancelled", d.id),
        None => format!("nothing runs or waits in {}", st.name),
    })
}

/// The artifact `p` promotes into a stage: the newest that succeeded in the
/// stage before (for the first stage, the service's newest artifact), when
/// it neither runs healthy here already nor is deploying or pending here.
/// `Err` says why there is none.
pub fn promote_candidate(state: &State, service: &str, stage: &str) -> Result<String, String> {
    let svc = state
        .service(service)
        .ok_or_else(|| format!("no service {service}"))?;
    let index = svc
        .stages
        .iter()
        .position(|s| s.name == stage)
        .ok_or_else(|| format!("{service} has no stage {stage}"))?;
    let st = &svc.stages[index];
    let newest = match index.checked_sub(1).map(|i| &svc.stages[i]) {
        None => svc
            .artifacts
            .last()
            .ok_or(format!("{service} has no artifact yet"))?,
        Some(prev) => svc
            .artifacts
            .iter()
            .rev()
            .find(|a| prev.passed.contains(*a))
            .ok_or(format!("nothing of {service} has passed {} yet", prev.name))?,
    };
    let version = state
        .artifacts
        .get(newest)
        .map_or(newest.as_str(), |a| a.version.as_str());
    let healthy_here = st.current.as_ref() == Some(newest)
        && st
            .last_finished(state)
            .is_some_and(|d| d.status == DeploymentStatus::Succeeded && d.artifact == *newest);
    if healthy_here && st.active.is_none() {
        return Err(format!(
            "{stage} already runs {service} {version}, the newest"
        ));
    }
    let busy = st
        .active
        .iter()
        .chain(st.queue.iter())
        .filter_map(|id| state.deployments.get(id))
        .find(|d| d.artifact == *newest && d.kind != DeploymentKind::Rollback);
    if let Some(d) = busy {
        return Err(format!(
            "{service} {version} is already {} in {stage} ({})",
            status_words(d),
            d.id
        ));
    }
    Ok(newest.clone())
}

fn status_words(d: &Deployment) -> String {
    d.status.as_str().replace('_', " ")
}

/// "running step 2/3 health", "awaiting approval 0/1", "queued".
fn progress_words(d: &Deployment) -> String {
    match d.status {
        DeploymentStatus::Running => match d.running_step() {
            Some(i) => format!(
                "running step {}/{} {}",
                i + 1,
                d.steps.len(),
                d.steps[i].name
            ),
            None => "running".into(),
        },
        DeploymentStatus::AwaitingApproval => format!(
            "awaiting approval {}/{}",
            d.approvers().len(),
            d.approvals_needed()
        ),
        _ => status_words(d),
    }
}

/// Open the cancel confirmation for the selected stage, or say why not.
pub fn open_cancel(app: &mut App, service: &str, stage: &str, now: Millis) {
    let Some(st) = app.state.stage(service, stage) else {
        return;
    };
    let d = match cancel_target(&app.state, st) {
        Ok(d) => d,
        Err(why) => {
            app.toast(false, format!("{stage}: nothing to cancel ({why})"), now);
            return;
        }
    };
    let running = d.status == DeploymentStatus::Running;
    let version_of = |id: &String| {
        app.state
            .artifacts
            .get(id)
            .map_or(id.clone(), |a| a.version.clone())
    };
    // The engine starts the next queued deployment once the stage is free.
    let next = st
        .queue
        .iter()
        .filter(|id| **id != d.id)
        .filter_map(|id| app.state.deployments.get(id))
        .find(|q| q.status == DeploymentStatus::Queued && (running || st.active.is_none()))
        .map(|q| format!("{} ({}) starts next", q.id, q.version));
    let after = if running {
        let mut s = "what it deployed so far stays".to_string();
        if let Some(n) = &next {
            s = format!("{s}, and {n}");
        }
        s
    } else {
        let keeps = match st.current.as_ref() {
            Some(cur) if st.active.is_some() => {
                format!("the running deployment of {} goes on", version_of(cur))
            }
            Some(cur) => format!("{} keeps running in {stage}", version_of(cur)),
            None => format!("nothing else changes in {stage}"),
        };
        match &next {
            Some(n) => format!("{keeps}, and {n}"),
            None => keeps,
        }
    };
    let rollback_auto = matches!(st.rollback, RollbackPolicy::Auto);
    app.modal = Some(Modal::Cancel(CancelDialog {
        service: service.to_string(),
        stage: stage.to_string(),
        deployment: d.id.clone(),
        version: d.version.clone(),
        running,
        status: progress_words(d),
        after,
        rollback_auto,
        focus: Button::Cancel,
    }));
}

/// Open the promote confirmation for the selected stage, or say why not.
pub fn open_promote(app: &mut App, service: &str, stage: &str, now: Millis) {
    let artifact = match promote_candidate(&app.state, service, stage) {
        Ok(a) => a,
        Err(why) => {
            app.toast(false, format!("{stage}: nothing to promote ({why})"), now);
            return;
        }
    };
    let (Some(svc), Some(a)) = (
        app.state.service(service),
        app.state.artifacts.get(&artifact),
    ) else {
        return;
    };
    let Some(index) = svc.stages.iter().position(|s| s.name == stage) else {
        return;
    };
    let st = &svc.stages[index];
    let prev = index.checked_sub(1).map(|i| &svc.stages[i]);
    let deployments = |ids: &mut dyn Iterator<Item = &String>| -> Vec<&Deployment> {
        ids.filter_map(|id| app.state.deployments.get(id)).collect()
    };
    // When it last passed the stage before (a rollback there counts too).
    let at = match prev {
        None => Some(a.created_at),
        Some(p) => deployments(&mut p.history.iter())
            .into_iter()
            .filter(|d| d.artifact == artifact && d.status == DeploymentStatus::Succeeded)
            .filter_map(|d| d.finished_at)
            .max(),
    };
    let version_of = |id: &String| {
        app.state
            .artifacts
            .get(id)
            .map_or(id.clone(), |a| a.version.clone())
    };
    let replaces = match st.current.as_ref() {
        None => format!("Nothing runs in {stage} yet"),
        Some(cur) if *cur == artifact => {
            format!(
                "It retries {}, whose last deployment here did not succeed",
                a.version
            )
        }
        Some(cur) => format!("It replaces {}", version_of(cur)),
    };
    let gate = match &st.gate {
        Gate::Auto => format!("auto: it starts as soon as {stage} is free"),
        Gate::Approval(rule) => {
            let who = if rule.roles.is_empty() {
                "anyone".to_string()
            } else {
                rule.roles.join(" or ")
            };
            match rule.required {
                0 | 1 => format!("awaiting approval by {who}"),
                n => format!("awaiting {n} approvals by {who}"),
            }
        }
    };
    // A new promotion supersedes the pending ones (rollbacks excepted).
    let supersedes = deployments(&mut st.queue.iter())
        .into_iter()
        .filter(|d| d.kind != DeploymentKind::Rollback)
        .map(|d| format!("{} ({}, {})", d.id, d.version, status_words(d)))
        .collect();
    let behind = st
        .active
        .as_ref()
        .and_then(|id| app.state.deployments.get(id))
        .map(|d| format!("{} ({}, {})", d.id, d.version, progress_words(d)));
    app.modal = Some(Modal::Promote(PromoteDialog {
        service: service.to_string(),
        stage: stage.to_string(),
        artifact,
        version: a.version.clone(),
        passed_in: prev.map(|p| p.name.clone()),
        at,
        replaces,
        gate,
        supersedes,
        behind,
        focus: Button::Cancel,
    }));
}

/// Keys in a confirmation dialog (roll back, cancel, promote). Only `y`, or
/// Enter on the confirm button, issues the request; anything else closes.
pub fn confirm_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Action>) {
    let focus = match &mut app.modal {
        Some(Modal::Rollback(d)) => &mut d.focus,
        Some(Modal::Cancel(d)) => &mut d.focus,
        Some(Modal::Promote(d)) => &mut d.focus,
        _ => return,
    };
    let confirm = match cmd {
        Cmd::Confirm => true,
        Cmd::Activate => *focus == Button::Confirm,
        Cmd::CancelDialog => false,
        Cmd::ToggleButton => {
            *focus = match *focus {
                Button::Cancel => Button::Confirm,
                Button::Confirm => Button::Cancel,
            };
            return;
        }
        _ => return,
    };
    let Some(modal) = app.modal.take() else {
        return;
    };
    if !confirm {
        return;
    }
    let id = app.next_id();
    let pending = |label: String, done: String, what: String| Pending {
        id,
        label,
        done,
        what,
        since: now,
    };
    let (pending, action) = match modal {
        Modal::Rollback(d) => {
            let what = format!("{} {} to {}", d.service, d.stage, d.to_version);
            (
                // The server's answer names the deployment it created.
                pending(
                    format!("rolling back {what}"),
                    "rollback requested".into(),
                    format!("rollback of {what}"),
                ),
                Action::Rollback {
                    id,
                    service: d.service,
                    stage: d.stage,
                    to: Some(d.to_artifact),
                },
            )
        }
        Modal::Cancel(d) => {
            let what = format!(
                "{} ({} {} → {})",
                d.deployment, d.service, d.version, d.stage
            );
            let done = if d.running {
                format!("cancel of {} requested", d.deployment)
            } else {
                format!("cancelled {}", d.deployment)
            };
            (
                pending(
                    format!("cancelling {what}"),
                    done,
                    format!("cancel of {what}"),
                ),
                Action::Cancel {
                    id,
                    deployment: d.deployment,
                },
            )
        }
        Modal::Promote(d) => {
            let what = format!("{} {} → {}", d.service, d.version, d.stage);
            (
                pending(
                    format!("promoting {what}"),
                    "promotion requested".into(),
                    format!("promotion of {what}"),
                ),
                Action::Promote {
                    id,
                    service: d.service,
                    stage: d.stage,
                    artifact: d.artifact,
                },
            )
        }
        Modal::Help(_) | Modal::Comment(_) => return,
    };
    app.pending.push(pending);
    out.push(action);
}
