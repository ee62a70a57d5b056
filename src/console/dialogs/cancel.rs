//! The words and the request of the cancel confirmation: cancel one
//! deployment of a stage, the running one, else the next pending.

use crate::config::RollbackPolicy;
use crate::model::{ArtifactId, DeploymentStatus, Millis, sanitize_text};
use crate::present::targets;

use super::super::app::{App, CancelDialog, ConfirmText, Subject};
use super::super::msg::Request;
use super::{open_confirm, pending};

/// Open the cancel confirmation for the selected stage, or say why not.
pub fn open(app: &mut App, service: &str, stage: &str, now: Millis) {
    let Some(st) = app.state.stage(service, stage) else {
        return;
    };
    let d = match targets::cancel_target(&app.state, st) {
        Ok(d) => d,
        Err(why) => {
            app.toast_at(
                super::super::app::ToastLevel::Warning,
                format!("{stage}: nothing to cancel ({why})"),
                now,
            );
            return;
        }
    };
    let running = d.status == DeploymentStatus::Running;
    let version_of = |id: &ArtifactId| {
        app.state
            .artifacts
            .get(id)
            .map_or(id.to_string(), |a| a.version.clone())
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
    let d = CancelDialog {
        service: service.to_string(),
        stage: stage.to_string(),
        deployment: d.id.clone(),
        version: d.version.clone(),
        running,
        status: targets::progress_words(d),
        after,
        rollback_auto,
    };
    let id = app.next_id();
    let what = format!(
        "{} ({} {} → {})",
        d.deployment, d.service, d.version, d.stage
    );
    let done = if d.running {
        format!("cancel of {} requested", d.deployment)
    } else {
        format!("cancelled {}", d.deployment)
    };
    let pending = pending(
        id,
        format!("cancelling {what}"),
        done,
        format!("cancel of {what}"),
        now,
    );
    let request = Request::Cancel {
        id,
        deployment: d.deployment.clone(),
    };
    let text = ConfirmText {
        title: " cancel? ",
        danger: true,
        headline: cancel_sentence(&d),
        body: cancel_effects(&d),
        buttons: [
            "Keep".into(),
            format!("Cancel {}", sanitize_text(&d.deployment)),
        ],
        hint: "y cancel it · n/Esc keep · Tab switch",
    };
    open_confirm(app, request, pending, Subject::Cancel(d), text);
}

/// "prod: cancel d-17 (checkout 1.4.4, running step 2/3 health)?"
pub fn cancel_sentence(d: &CancelDialog) -> String {
    sanitize_text(&format!(
        "{}: cancel {} ({} {}, {})?",
        d.stage, d.deployment, d.service, d.version, d.status
    ))
}

/// What the cancel does, as the engine does it.
pub fn cancel_effects(d: &CancelDialog) -> String {
    let text = if d.running {
        let policy = if d.rollback_auto {
            "with rollback = auto nothing is rolled back by a cancel"
        } else {
            "a cancel rolls nothing back"
        };
        format!(
            "The step's processes are killed and {} ends cancelled; {} ({policy}).",
            d.deployment, d.after
        )
    } else if d.status.starts_with("awaiting approval") {
        format!(
            "{} ends cancelled at once and approvals given for it are void; {}.",
            d.deployment, d.after
        )
    } else {
        format!("{} ends cancelled at once; {}.", d.deployment, d.after)
    };
    sanitize_text(&text)
}
