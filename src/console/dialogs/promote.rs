//! The words and the request of the promote confirmation: promote an
//! artifact into a stage.

use crate::config::Gate;
use crate::model::{
    ArtifactId, Deployment, DeploymentId, DeploymentKind, DeploymentStatus, Millis, sanitize_text,
};
use crate::present::plan::{self, PlanQuery};
use crate::present::{cells, targets};

use super::super::facts::candidate;

use super::super::app::{App, ConfirmText, PromoteDialog, Subject};
use super::super::freezes::{banner, over};
use super::super::msg::Request;
use super::{breakglass, open_confirm, pending};

/// Open the promote confirmation for the selected stage (`p`): the newest
/// release that may go, skipping quarantined ones (a toast says which and
/// why), or say why there is none.
pub fn open(app: &mut App, service: &str, stage: &str, now: Millis) {
    use super::super::app::ToastLevel::Warning;
    let waiting = breakglass::frozen_waiting(app, service, stage, now);
    let (artifact, skipped) = match candidate(&app.state, service, stage) {
        // What waits for the window is what `p` would promote: break-glass.
        Ok((a, _)) if waiting.as_ref().is_some_and(|w| waits_with(app, w, &a)) => {
            if let Some(w) = waiting {
                breakglass::open_waiting(app, &w, now);
            }
            return;
        }
        Err(_) if waiting.is_some() => {
            if let Some(w) = waiting {
                breakglass::open_waiting(app, &w, now);
            }
            return;
        }
        Ok(c) => c,
        Err(why) => {
            app.toast_at(Warning, format!("{stage}: nothing to promote ({why})"), now);
            return;
        }
    };
    if !skipped.is_empty() {
        app.toast_at(
            Warning,
            format!("p skipped {service} {}", skipped.join("; ")),
            now,
        );
    }
    open_artifact(app, service, stage, &artifact, skipped, now);
}

/// Whether deployment `id` is of `artifact`.
fn waits_with(app: &App, id: &DeploymentId, artifact: &ArtifactId) -> bool {
    app.state
        .deployments
        .get(id)
        .is_some_and(|d| d.artifact == *artifact)
}

/// Open the promote confirmation for one artifact (from `p` or `:promote`).
pub fn open_artifact(
    app: &mut App,
    service: &str,
    stage: &str,
    artifact: &ArtifactId,
    skipped: Vec<String>,
    now: Millis,
) {
    let artifact = artifact.clone();
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
    let deployments = |ids: &mut dyn Iterator<Item = &DeploymentId>| -> Vec<&Deployment> {
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
    let version_of = |id: &ArtifactId| {
        app.state
            .artifacts
            .get(id)
            .map_or(id.to_string(), |a| a.version.clone())
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
        .map(|d| format!("{} ({}, {})", d.id, d.version, targets::status_words(d)))
        .collect();
    let behind = st
        .active
        .as_ref()
        .and_then(|id| app.state.deployments.get(id))
        .map(|d| format!("{} ({}, {})", d.id, d.version, targets::progress_words(d)));
    let d = PromoteDialog {
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
        skipped,
    };
    let id = app.next_id();
    let what = format!("{} {} → {}", d.service, d.version, d.stage);
    let pending = pending(
        id,
        format!("promoting {what}"),
        "promotion requested".into(),
        format!("promotion of {what}"),
        now,
    );
    let request = Request::Promote {
        id,
        service: d.service.clone(),
        stage: d.stage.clone(),
        artifact: d.artifact.clone(),
    };
    // The plan's short form (gates, approvers, blockers, expected time),
    // from the console's state: it knows no users, so approvers are roles.
    let asker = app.header.user.as_ref().map_or("", |u| u.name.as_str());
    let query = PlanQuery {
        service,
        stage,
        artifact: Some(d.artifact.as_str()),
        asker,
        now,
        // The console knows ad-hoc freezes, what waits for a window, and
        // the configured windows the server said are open.
        freezes: over(app, service, stage, now)
            .into_iter()
            .map(|f| plan::PlanFreeze {
                name: f.name,
                reason: f.reason,
                until: Some(f.until),
            })
            .collect(),
    };
    let body = match plan::plan(&app.state, &[], &query) {
        Ok(p) => format!(
            "{}\n{}",
            promote_effects(&d),
            plan::plan_short(&p).join("\n")
        ),
        Err(_) => promote_effects(&d),
    };
    // Into a frozen stage: it would wait; `o` offers break-glass instead.
    let frozen = over(app, service, stage, now);
    let (body, hint) = match frozen.first() {
        None => (body, "y confirm · n/Esc cancel · Tab switch"),
        Some(f) => (
            format!(
                "{body}\n{}: y promotes and it waits until then; o overrides the freeze \
                 (break-glass, asks why).",
                banner(stage, f, now)
            ),
            "y promote (waits) · o break-glass · n/Esc cancel",
        ),
    };
    let text = ConfirmText {
        title: " promote? ",
        danger: false,
        headline: promote_sentence(&d, now),
        body,
        buttons: ["Cancel".into(), "Promote".into()],
        hint,
    };
    open_confirm(app, request, pending, Subject::Promote(d), text);
}

/// "preprod: promote checkout 1.4.4 (passed test 3 minutes ago)?"
pub fn promote_sentence(d: &PromoteDialog, now: Millis) -> String {
    let why = match (&d.passed_in, d.at) {
        (Some(prev), Some(at)) => format!("passed {prev} {} ago", cells::age_words(now, at)),
        (Some(prev), None) => format!("passed {prev}"),
        (None, Some(at)) => format!("the newest artifact, {} old", cells::age_words(now, at)),
        (None, None) => "the newest artifact".to_string(),
    };
    sanitize_text(&format!(
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
    if !d.skipped.is_empty() {
        text += &format!(" Skipped as quarantined: {}.", d.skipped.join("; "));
    }
    sanitize_text(&text)
}
