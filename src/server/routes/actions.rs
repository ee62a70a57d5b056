//! POST handlers: each turns a request into an engine command, hands it to
//! the driver, and answers once the resulting events are durable.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use crate::api::{ActionReply, DecisionRequest, PromoteRequest, RegisterArtifact, RollbackRequest};
use crate::config::Source;
use crate::engine::{Command, Input, Principal};
use crate::model::DeploymentId;

use super::super::Shared;
use super::super::driver::Applied;
use super::super::error::{ApiErr, JsonBody};

pub(super) type Reply = Result<(StatusCode, Json<ActionReply>), ApiErr>;

async fn submit(shared: &Shared, by: Principal, command: Command) -> Result<Applied, ApiErr> {
    Ok(shared.submit(Input::Command { by, command }).await?)
}

/// Submit `command` and answer 200 with `message` and what it led to.
pub(super) async fn submit_with(
    shared: &Shared,
    by: Principal,
    command: Command,
    message: String,
) -> Reply {
    let done = submit(shared, by, command).await?;
    replied(StatusCode::OK, message, done)
}

/// The reply of a command: `message`, and the ids of what it led to.
fn replied(status: StatusCode, message: String, done: Applied) -> Reply {
    Ok((
        status,
        Json(ActionReply {
            message,
            deployment: done.deployment,
            artifact: done.artifact,
            build: done.build,
        }),
    ))
}

/// The reply names what the command led to, with its state right after:
/// `prefix` says what was done ("approved "), then the deployment, or the
/// registered artifact and the deployment it started.
fn reply(
    shared: &Shared,
    status: StatusCode,
    done: Applied,
    prefix: &str,
    fallback: String,
) -> Reply {
    let message = {
        let state = shared.read_model.read();
        let deployment = done
            .deployment
            .as_ref()
            .and_then(|id| state.deployments.get(id))
            .map(|d| {
                format!(
                    "{} {} of {} {} to {}: {}",
                    d.id,
                    d.kind.as_str(),
                    d.service,
                    d.version,
                    d.stage,
                    d.status.as_str().replace('_', " ")
                )
            });
        let artifact = done
            .artifact
            .as_ref()
            .and_then(|id| state.artifacts.get(id))
            .map(|a| format!("registered {} ({} {})", a.id, a.service, a.version));
        match (artifact, deployment) {
            (Some(a), Some(d)) => format!("{a}; {d}"),
            (Some(a), None) => a,
            (None, Some(d)) => format!("{prefix}{d}"),
            (None, None) => fallback,
        }
    };
    replied(status, message, done)
}

pub(super) async fn promote(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    JsonBody(req): JsonBody<PromoteRequest>,
) -> Reply {
    let fallback = format!(
        "promotion of {} to {}/{} accepted",
        req.artifact, req.service, req.stage
    );
    let command = if req.override_freeze {
        Command::PromoteOverride {
            service: req.service,
            stage: req.stage,
            artifact: req.artifact,
            reason: req.reason.unwrap_or_default(),
        }
    } else {
        Command::Promote {
            service: req.service,
            stage: req.stage,
            artifact: req.artifact,
        }
    };
    let done = submit(&shared, by, command).await?;
    reply(&shared, StatusCode::ACCEPTED, done, "", fallback)
}

pub(super) async fn approve(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    Path(id): Path<DeploymentId>,
    JsonBody(req): JsonBody<DecisionRequest>,
) -> Reply {
    let command = Command::Approve {
        deployment: id.clone(),
        comment: req.comment,
        digest: req.digest,
    };
    let mut done = submit(&shared, by.clone(), command).await?;
    done.deployment.get_or_insert(id.clone());
    let fallback = format!("{} approved {id}", by.name);
    reply(&shared, StatusCode::OK, done, "approved ", fallback)
}

pub(super) async fn reject(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    Path(id): Path<DeploymentId>,
    JsonBody(req): JsonBody<DecisionRequest>,
) -> Reply {
    let command = Command::Reject {
        deployment: id.clone(),
        comment: req.comment,
    };
    let mut done = submit(&shared, by.clone(), command).await?;
    done.deployment.get_or_insert(id.clone());
    let fallback = format!("{} rejected {id}", by.name);
    reply(&shared, StatusCode::OK, done, "rejected ", fallback)
}

pub(super) async fn cancel(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    Path(id): Path<DeploymentId>,
) -> Reply {
    let command = Command::Cancel {
        deployment: id.clone(),
    };
    let mut done = submit(&shared, by, command).await?;
    done.deployment.get_or_insert(id.clone());
    reply(
        &shared,
        StatusCode::OK,
        done,
        "cancel requested: ",
        format!("{id} cancel requested"),
    )
}

pub(super) async fn rollback(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    JsonBody(req): JsonBody<RollbackRequest>,
) -> Reply {
    let fallback = format!("rollback of {}/{} accepted", req.service, req.stage);
    let command = Command::Rollback {
        service: req.service,
        stage: req.stage,
        to: req.to,
    };
    let done = submit(&shared, by, command).await?;
    reply(&shared, StatusCode::ACCEPTED, done, "", fallback)
}

pub(super) async fn register_artifact(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    JsonBody(req): JsonBody<RegisterArtifact>,
) -> Reply {
    let fallback = format!("artifact {} {} registered", req.service, req.version);
    let command = Command::RegisterArtifact {
        service: req.service,
        version: req.version,
        commit: req.commit,
        subject: req.subject,
        digest: req.digest,
        uri: req.uri,
        metadata: req.metadata,
        committed_at: req.committed_at,
    };
    let done = submit(&shared, by, command).await?;
    reply(&shared, StatusCode::CREATED, done, "", fallback)
}

/// A push notification from a git host: poll that service's branch now.
pub(super) async fn push_hook(
    State(shared): State<Arc<Shared>>,
    Path(service): Path<String>,
) -> Result<(StatusCode, Json<ActionReply>), ApiErr> {
    let Some(svc) = shared.config.service(&service) else {
        return Err(ApiErr::not_found(format!("no service {service:?}"))
            .hint("`ferry status` lists the configured services"));
    };
    if !matches!(svc.source, Source::Git { .. }) {
        return Err(ApiErr::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("service {service:?} has no git source to poll"),
        )
        .hint("register its artifacts with `ferry artifact push` instead"));
    }
    shared.poller.poke(&service);
    Ok((
        StatusCode::ACCEPTED,
        Json(ActionReply {
            message: format!("polling {service} now"),
            ..ActionReply::default()
        }),
    ))
}

pub(super) async fn note(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<crate::api::NoteRequest>,
) -> Reply {
    let fallback = format!("noted on {id}");
    let command = Command::Note {
        deployment: id.into(),
        text: req.text,
    };
    let done = submit(&shared, by, command).await?;
    reply(&shared, StatusCode::CREATED, done, "", fallback)
}
