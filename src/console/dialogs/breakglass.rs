//! Break-glass: start a release inside a freeze. Offered by `o` in the
//! promote confirmation of a frozen stage, and by `a`/`p` on a deployment
//! that waits "frozen until T". It asks for the reason (the confirmation's
//! reason line) and sends what `ferry promote --override-freeze --reason`
//! sends: for a deployment already waiting, the server lets that one start.
//! The server decides who may (a role the freeze names): a refusal (403,
//! or 422 without a reason) comes back as an error toast with its words.

use crate::model::{ArtifactId, DeploymentId, DeploymentStatus, Millis, sanitize_text};

use super::super::app::{App, BreakGlassDialog, ConfirmText, Modal, ReasonLine, Subject};
use super::super::freezes::{in_the_way, over};
use super::super::msg::Request;
use super::{open_confirm_reason, pending};

/// The deployment of `service`/`stage` that waits for a freeze window now.
pub fn frozen_waiting(app: &App, service: &str, stage: &str, now: Millis) -> Option<DeploymentId> {
    let st = app.state.stage(service, stage)?;
    st.queue
        .iter()
        .find(|id| {
            app.state
                .freeze
                .frozen
                .get(*id)
                .is_some_and(|w| w.until > now)
                && app
                    .state
                    .deployments
                    .get(*id)
                    .is_some_and(|d| d.status == DeploymentStatus::Queued)
        })
        .cloned()
}

/// Whether a freeze covers `service`/`stage` now, as far as the console knows.
pub fn frozen(app: &App, service: &str, stage: &str, now: Millis) -> bool {
    !over(app, service, stage, now).is_empty()
}

/// Break-glass for the deployment waiting for a window.
pub fn open_waiting(app: &mut App, deployment: &DeploymentId, now: Millis) {
    let Some(d) = app.state.deployments.get(deployment) else {
        return;
    };
    let (service, stage, artifact) = (d.service.clone(), d.stage.clone(), d.artifact.clone());
    open(app, &service, &stage, &artifact, now);
}

/// `o` in a promote confirmation: the same release, through the freeze.
pub fn from_promote(app: &mut App, now: Millis) {
    let Some(Modal::Confirm(c)) = &app.modal else {
        return;
    };
    let Subject::Promote(p) = &c.subject else {
        return;
    };
    let (service, stage, artifact) = (p.service.clone(), p.stage.clone(), p.artifact.clone());
    if !frozen(app, &service, &stage, now) {
        app.toast_at(
            super::super::app::ToastLevel::Warning,
            format!("{stage} is not frozen: y promotes as usual"),
            now,
        );
        return;
    }
    open(app, &service, &stage, &artifact, now);
}

/// Open the break-glass confirmation for `artifact` into `service`/`stage`:
/// the one waiting there already, else a new promotion.
pub fn open(app: &mut App, service: &str, stage: &str, artifact: &ArtifactId, now: Millis) {
    let Some(a) = app.state.artifacts.get(artifact) else {
        return;
    };
    let waiting = app.state.stage(service, stage).and_then(|st| {
        st.queue
            .iter()
            .filter_map(|id| app.state.deployments.get(id))
            .find(|d| d.artifact == *artifact && d.kind != crate::model::DeploymentKind::Rollback)
            .map(|d| d.id.clone())
    });
    let d = BreakGlassDialog {
        service: service.to_string(),
        stage: stage.to_string(),
        artifact: artifact.clone(),
        version: a.version.clone(),
        waiting,
        freezes: over(app, service, stage, now)
            .iter()
            .map(|f| in_the_way(f, now))
            .collect(),
    };
    let id = app.next_id();
    let what = format!("{} {} → {}", d.service, d.version, d.stage);
    let pending = pending(
        id,
        format!("overriding the freeze: {what}"),
        format!("freeze overridden: {what}"),
        format!("break-glass {what}"),
        now,
    );
    // The reason is filled in from the reason line on Enter.
    let request = Request::PromoteOverride {
        id,
        service: d.service.clone(),
        stage: d.stage.clone(),
        artifact: d.artifact.clone(),
        reason: String::new(),
    };
    let text = ConfirmText {
        title: " break glass: override the freeze? ",
        danger: true,
        headline: sanitize_text(&format!(
            "{}: override the freeze to deploy {} {} now?",
            d.stage, d.service, d.version
        )),
        body: body(&d),
        buttons: ["Cancel".into(), "Break glass".into()],
        hint: "Enter override · Esc cancel",
    };
    open_confirm_reason(
        app,
        request,
        pending,
        Subject::BreakGlass(d),
        text,
        ReasonLine::default(),
    );
}

/// What the override does and what is in the way, as the engine does it.
fn body(d: &BreakGlassDialog) -> String {
    let what = match &d.waiting {
        Some(id) => format!(
            "{id} waits for the freeze; it starts now (after its gate, if it still awaits approval)."
        ),
        None => format!(
            "A new promotion of {} starts inside the freeze (after {}'s gate).",
            d.version, d.stage
        ),
    };
    let way = if d.freezes.is_empty() {
        "In the way: the freeze over the stage.".to_string()
    } else {
        format!("In the way: {}.", d.freezes.join("; "))
    };
    // Sanitised line by line: a newline separates the dialog's paragraphs.
    [
        format!("Break-glass. {what}"),
        way,
        "The override is recorded with your name and reason, and notified. \
         It needs a role the freeze names (else 403) and a reason."
            .to_string(),
    ]
    .iter()
    .map(|p| sanitize_text(p))
    .collect::<Vec<_>>()
    .join("\n")
}
