//! `POST /deployments/{id}/sign-off`: a person's verdict on a sign-off
//! step (user acceptance). The body's required fields are checked here
//! (422 naming what is missing); who may sign, and whether the deployment
//! waits for that sign-off, is the engine's rule (`decide/signoff.rs`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use crate::api::{ActionReply, SignOffRequest};
use crate::engine::{Command, Input, Principal, Rejection, RejectionKind};
use crate::model::DeploymentId;

use super::super::Shared;
use super::super::error::{ApiErr, JsonBody};

pub(super) async fn sign_off(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    Path(id): Path<DeploymentId>,
    JsonBody(req): JsonBody<SignOffRequest>,
) -> Result<(StatusCode, Json<ActionReply>), ApiErr> {
    let missing = |field: &str, hint: &str| -> ApiErr {
        Rejection::new(
            RejectionKind::Invalid,
            format!("the sign-off has no `{field}`"),
        )
        .hint(hint)
        .into()
    };
    let step = req
        .step
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| missing("step", "name the sign-off step, e.g. \"step\": \"uat\""))?;
    let verdict = req.verdict.ok_or_else(|| {
        missing(
            "verdict",
            "say \"verdict\": \"pass\" or \"verdict\": \"fail\" (with a comment)",
        )
    })?;
    let command = Command::SignOff {
        deployment: id.clone(),
        step: step.clone(),
        verdict,
        comment: req.comment,
    };
    let done = shared
        .submit(Input::Command {
            by: by.clone(),
            command,
        })
        .await?;
    let message = {
        let state = shared.read_model.read();
        let now = state
            .deployments
            .get(&id)
            .map(|d| match d.running_step().and_then(|i| d.steps.get(i)) {
                Some(s) if d.status == crate::model::DeploymentStatus::Running => {
                    format!("{} {} is at {}", d.id, d.version, s.name)
                }
                _ => format!(
                    "{} {} is {}",
                    d.id,
                    d.version,
                    d.status.as_str().replace('_', " ")
                ),
            })
            .unwrap_or_default();
        format!(
            "{} signed off {step} of {id}: {}; {now}",
            by.name,
            verdict.as_str()
        )
    };
    Ok((
        StatusCode::OK,
        Json(ActionReply {
            message,
            deployment: done.deployment.or(Some(id)),
            artifact: done.artifact,
            build: done.build,
        }),
    ))
}
