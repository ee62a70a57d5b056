//! Approve or reject: the comment input, and the request it sends.

use crate::model::{Decision, DeploymentStatus, Millis};

use super::super::app::{App, CommentInput, Modal, ToastLevel};
use super::super::freezes::{banner, over};
use super::super::keymap::Cmd;
use super::super::msg::Request;
use super::{breakglass, pending};

/// Open the approve/reject comment input for a deployment awaiting approval.
pub fn open(app: &mut App, deployment: &str, decision: Decision, now: Millis) {
    let Some(d) = app.state.deployments.get(deployment) else {
        return;
    };
    // Approved already, it waits for a freeze window: `a` offers break-glass.
    if decision == Decision::Approve
        && breakglass::frozen_waiting(app, &d.service, &d.stage, now).as_ref() == Some(&d.id)
    {
        let id = d.id.clone();
        breakglass::open_waiting(app, &id, now);
        return;
    }
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
    if decision == Decision::Approve
        && let Some(f) = over(app, &d.service, &d.stage, now).first()
    {
        // Approving does not break the freeze: say so before the comment.
        app.toast_at(
            ToastLevel::Warning,
            format!(
                "{}: once approved, {} waits for it; a on it then offers break-glass",
                banner(&d.stage, f, now),
                d.id
            ),
            now,
        );
    }
    let Some(d) = app.state.deployments.get(deployment) else {
        return;
    };
    app.modal = Some(Modal::Comment(CommentInput {
        decision: Some(decision),
        sign_off: None,
        deployment: d.id.clone(),
        digest: d.digest.clone(),
        subject: format!("{} {} → {}", d.service, d.version, d.stage),
        input: Default::default(),
    }));
}

/// Open the note input (one line) for any deployment.
pub fn open_note(app: &mut App, deployment: &str) {
    let Some(d) = app.state.deployments.get(deployment) else {
        return;
    };
    app.modal = Some(Modal::Comment(CommentInput {
        decision: None,
        sign_off: None,
        deployment: d.id.clone(),
        digest: d.digest.clone(),
        subject: format!("{} {} → {}", d.service, d.version, d.stage),
        input: Default::default(),
    }));
}

/// Keys of the comment input: Enter sends the decision, Esc drops it.
/// Returns false when no comment input is open.
pub fn comment_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) -> bool {
    let Some(Modal::Comment(c)) = &app.modal else {
        return false;
    };
    match cmd {
        Cmd::Submit => {
            let c = c.clone();
            app.modal = None;
            let comment = Some(c.input.value().trim().to_string()).filter(|s| !s.is_empty());
            if let Some(step) = &c.sign_off {
                super::signoff::commented(app, &c.deployment, step, comment, now);
                return true;
            }
            let id = app.next_id();
            let (verbs, request) = match c.decision {
                None if comment.is_none() => return true,
                None => (
                    ["note on", "noting on", "noted on"],
                    Request::Note {
                        id,
                        deployment: c.deployment.to_string(),
                        text: comment.unwrap_or_default(),
                    },
                ),
                Some(Decision::Approve) => (
                    ["approve", "approving", "approved"],
                    Request::Approve {
                        id,
                        deployment: c.deployment.clone(),
                        comment,
                        digest: Some(c.digest.clone()),
                    },
                ),
                Some(Decision::Reject) => (
                    ["reject", "rejecting", "rejected"],
                    Request::Reject {
                        id,
                        deployment: c.deployment.clone(),
                        comment,
                    },
                ),
            };
            app.pending.push(pending(
                id,
                format!("{} {} ({})", verbs[1], c.deployment, c.subject),
                format!("{} {}", verbs[2], c.deployment),
                format!("{} {} ({})", verbs[0], c.deployment, c.subject),
                now,
            ));
            out.push(request);
        }
        Cmd::CancelInput => app.modal = None,
        _ => {}
    }
    true
}
