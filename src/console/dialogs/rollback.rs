//! The words and the request of the roll back confirmation.

use crate::model::{Millis, sanitize_text};
use crate::present::cells;

use super::super::app::{App, ConfirmText, RollbackDialog, Subject};
use super::super::msg::Request;
use super::{open_confirm, pending};

/// Open the rollback confirmation for a stage's default target (its last
/// good release), or say why there is none.
pub fn open_last_good(app: &mut App, service: &str, stage: &str, now: Millis) {
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
    let (artifact, at, by) = (target.artifact.clone(), target.at, target.by.0.clone());
    open(
        app,
        service,
        stage,
        &artifact,
        true,
        Some(at),
        Some(by),
        now,
    );
}

/// Open the rollback confirmation for `artifact` (the last good release, or
/// one picked from history).
#[allow(clippy::too_many_arguments)] // the facts the sentence names, each its own
pub fn open(
    app: &mut App,
    service: &str,
    stage: &str,
    artifact: &str,
    last_good: bool,
    at: Option<Millis>,
    by: Option<String>,
    now: Millis,
) {
    let Some(st) = app.state.stage(service, stage) else {
        return;
    };
    let version_of = |id: &str| app.state.artifacts.get(id).map(|a| a.version.clone());
    let d = RollbackDialog {
        service: service.to_string(),
        stage: stage.to_string(),
        from_version: st.current.as_deref().and_then(version_of),
        to_artifact: artifact.to_string(),
        to_version: version_of(artifact).unwrap_or_else(|| artifact.to_string()),
        last_good,
        deployed_at: at,
        deployed_by: by,
    };
    let id = app.next_id();
    let what = format!("{} {} to {}", d.service, d.stage, d.to_version);
    // The server's answer names the deployment it created.
    let pending = pending(
        id,
        format!("rolling back {what}"),
        "rollback requested".into(),
        format!("rollback of {what}"),
        now,
    );
    let request = Request::Rollback {
        id,
        service: d.service.clone(),
        stage: d.stage.clone(),
        to: Some(d.to_artifact.clone()),
    };
    let text = ConfirmText {
        title: " roll back? ",
        danger: true,
        headline: rollback_sentence(&d, now),
        body: format!(
            "The running deployment of {} (if any) is cancelled first.",
            d.stage
        ),
        buttons: ["Cancel".into(), "Roll back".into()],
        hint: "y confirm · n/Esc cancel · Tab switch",
    };
    open_confirm(app, request, pending, Subject::Rollback(d), text);
}

/// "prod: checkout 1.4.3 → 1.4.2 (last good, deployed 2 days ago by alice)"
pub fn rollback_sentence(d: &RollbackDialog, now: Millis) -> String {
    let from = d.from_version.as_deref().unwrap_or("nothing");
    let which = if d.last_good {
        "last good"
    } else {
        "picked from history"
    };
    let when = match (d.deployed_at, &d.deployed_by) {
        (Some(at), Some(by)) => format!(", deployed {} ago by {by}", cells::age_words(now, at)),
        (Some(at), None) => format!(", deployed {} ago", cells::age_words(now, at)),
        _ => String::new(),
    };
    sanitize_text(&format!(
        "{}: {} {from} → {} ({which}{when})",
        d.stage, d.service, d.to_version
    ))
}
