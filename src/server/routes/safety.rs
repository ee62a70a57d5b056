//! Release safety over HTTP: quarantine add/lift, hold lift, and "why is
//! this blocked" (`GET /why`), answered by `engine::blocked`.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;

use crate::api::{HoldLiftRequest, QuarantineRequest};
use crate::engine::{Blocked, Command, Principal};

use super::super::Shared;
use super::super::error::{ApiErr, JsonBody, QueryArgs};

use super::actions::{Reply, submit_with as submit};

pub(super) async fn quarantine_add(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    JsonBody(req): JsonBody<QuarantineRequest>,
) -> Reply {
    let message = format!("{} quarantined {}: {}", by.name, req.artifact, req.reason);
    let command = Command::Quarantine {
        artifact: req.artifact.into(),
        reason: req.reason,
        add: true,
    };
    submit(&shared, by, command, message).await
}

pub(super) async fn quarantine_lift(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    JsonBody(req): JsonBody<QuarantineRequest>,
) -> Reply {
    let message = format!(
        "{} lifted the quarantine of {}: {}",
        by.name, req.artifact, req.reason
    );
    let command = Command::Quarantine {
        artifact: req.artifact.into(),
        reason: req.reason,
        add: false,
    };
    submit(&shared, by, command, message).await
}

pub(super) async fn hold_lift(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    JsonBody(req): JsonBody<HoldLiftRequest>,
) -> Reply {
    let message = format!(
        "{} lifted the hold on {} {}: {}",
        by.name, req.service, req.stage, req.reason
    );
    let command = Command::LiftHold {
        service: req.service,
        stage: req.stage,
        reason: req.reason,
    };
    submit(&shared, by, command, message).await
}

#[derive(Debug, Deserialize)]
pub(super) struct WhyQuery {
    service: String,
    stage: Option<String>,
}

/// Why the stages of a service (or one of them) wait; empty when nothing does.
pub(super) async fn why(
    State(shared): State<Arc<Shared>>,
    QueryArgs(q): QueryArgs<WhyQuery>,
) -> Result<Json<Vec<Blocked>>, ApiErr> {
    let state = shared.read_model.read();
    let svc = state
        .service(&q.service)
        .ok_or_else(|| ApiErr::not_found(format!("no service named `{}`", q.service)))?;
    if let Some(stage) = &q.stage
        && !svc.stages.iter().any(|s| &s.name == stage)
    {
        return Err(ApiErr::not_found(format!(
            "service `{}` has no stage `{stage}`",
            q.service
        )));
    }
    let answer = svc
        .stages
        .iter()
        .filter(|s| q.stage.as_ref().is_none_or(|want| &s.name == want))
        .filter_map(|s| crate::engine::blocked(&shared.config, &state, &q.service, &s.name))
        .collect();
    Ok(Json(answer))
}
