//! Sign off a UAT step (user acceptance): `S` on a deployment that waits
//! at a sign-off step asks for a comment, then opens the one confirmation
//! holding the request; `v` in it switches between pass and fail (a fail
//! needs the comment). The server decides who may sign (four-eyes): a
//! refusal comes back as an error toast.

use crate::model::{DeploymentId, Millis, StepKind, Verdict, sanitize_text, sign_off_label};

use super::super::app::{
    App, CommentInput, ConfirmText, Modal, SignOffDialog, Subject, ToastLevel,
};
use super::super::msg::Request;
use super::{open_confirm, pending};

/// The sign-off step `deployment` waits at: its name and roles.
fn waiting_step(app: &App, deployment: &str) -> Option<(String, String)> {
    let d = app.state.deployments.get(deployment)?;
    let step = d.steps.get(d.running_step()?)?;
    let rule = step
        .sign_off
        .as_ref()
        .filter(|_| step.kind == StepKind::SignOff)?;
    Some((step.name.clone(), rule.roles_text()))
}

/// `S`: ask for the comment, or say why there is nothing to sign.
pub fn open(app: &mut App, deployment: &DeploymentId, now: Millis) {
    let Some((step, _)) = waiting_step(app, deployment) else {
        app.toast_at(
            ToastLevel::Warning,
            format!("{deployment} waits for no sign-off"),
            now,
        );
        return;
    };
    let Some(d) = app.state.deployments.get(deployment) else {
        return;
    };
    app.modal = Some(Modal::Comment(CommentInput {
        decision: None,
        sign_off: Some(step.clone()),
        deployment: d.id.clone(),
        digest: d.digest.clone(),
        subject: format!(
            "{} sign-off of {} {} in {}",
            sign_off_label(&step),
            d.service,
            d.version,
            d.stage
        ),
        input: Default::default(),
    }));
}

/// The comment was entered: confirm a pass (`v` switches to fail).
pub fn commented(
    app: &mut App,
    deployment: &DeploymentId,
    step: &str,
    comment: Option<String>,
    now: Millis,
) {
    let Some((_, roles)) = waiting_step(app, deployment) else {
        app.toast_at(
            ToastLevel::Warning,
            format!("{deployment} no longer waits for a sign-off"),
            now,
        );
        return;
    };
    let Some(d) = app.state.deployments.get(deployment) else {
        return;
    };
    let dialog = SignOffDialog {
        deployment: d.id.clone(),
        service: d.service.clone(),
        stage: d.stage.clone(),
        version: d.version.clone(),
        step: step.to_string(),
        roles,
        comment,
        verdict: Verdict::Pass,
    };
    confirm(app, dialog);
}

/// `v` in a sign-off confirmation: pass ↔ fail (a fail needs a comment).
pub fn switch_verdict(app: &mut App, now: Millis) {
    let Some(Modal::Confirm(c)) = &app.modal else {
        return;
    };
    let Subject::SignOff(d) = &c.subject else {
        return;
    };
    let mut d = d.clone();
    d.verdict = match d.verdict {
        Verdict::Pass => Verdict::Fail,
        Verdict::Fail => Verdict::Pass,
    };
    if d.verdict == Verdict::Fail && d.comment.is_none() {
        app.toast_at(
            ToastLevel::Warning,
            "a fail needs a comment: close this (Esc) and press S again",
            now,
        );
        return;
    }
    confirm(app, d);
}

/// Open (or replace) the confirmation holding the sign-off request.
fn confirm(app: &mut App, d: SignOffDialog) {
    let id = app.next_id();
    let label = sign_off_label(&d.step);
    let what = format!(
        "{label} sign-off of {} ({} {} in {})",
        d.deployment, d.service, d.version, d.stage
    );
    let verb = match d.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
    };
    // `since` is set when the confirmation sends it.
    let pending = pending(
        id,
        format!("signing off ({verb}) {what}"),
        format!("{label} {verb} recorded on {}", d.deployment),
        format!("{label} {verb} on {}", d.deployment),
        0,
    );
    let request = Request::SignOff {
        id,
        deployment: d.deployment.clone(),
        step: d.step.clone(),
        verdict: d.verdict,
        comment: d.comment.clone(),
    };
    let text = ConfirmText {
        title: " sign off? ",
        danger: d.verdict == Verdict::Fail,
        headline: sanitize_text(&format!(
            "{}: {verb} the {label} of {} {} ({})?",
            d.stage, d.service, d.version, d.deployment
        )),
        body: sanitize_text(&effects(&d)),
        buttons: ["Cancel".into(), format!("{} {label}", capitalized(verb))],
        hint: "y send · v pass/fail · n/Esc close",
    };
    open_confirm(app, request, pending, Subject::SignOff(d), text);
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// What the verdict does, as the engine does it.
fn effects(d: &SignOffDialog) -> String {
    let comment = d
        .comment
        .as_ref()
        .map(|c| format!("Comment: \"{c}\". "))
        .unwrap_or_default();
    match d.verdict {
        Verdict::Pass => format!(
            "{comment}With enough passes by {} the step passes and {} goes on; \
             who requested or approved it, or pushed it, may not sign (four-eyes).",
            d.roles, d.deployment
        ),
        Verdict::Fail => format!(
            "{comment}{} fails like a failing test: the stage's failure policy applies.",
            d.deployment
        ),
    }
}
