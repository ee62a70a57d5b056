//! Ad-hoc freezes over HTTP: `POST /freeze` and `POST /unfreeze`, decided
//! by the engine (`engine/decide/freeze.rs`).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;

use crate::api::{FreezeRequest, UnfreezeRequest};
use crate::engine::{Command, Principal};

use super::super::Shared;
use super::super::error::{ApiErr, JsonBody};

use super::actions::{Reply, submit_with as submit};

pub(super) async fn freeze(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    JsonBody(req): JsonBody<FreezeRequest>,
) -> Reply {
    let until = time::OffsetDateTime::parse(
        req.until.trim(),
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|e| {
        ApiErr::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`until` ({:?}) is not an RFC 3339 time: {e}", req.until),
        )
        .hint("e.g. \"2026-12-24T18:00:00Z\"")
    })?;
    let until_ms = (until.unix_timestamp_nanos() / 1_000_000) as crate::model::Millis;
    let scope = match &req.service {
        Some(s) => format!("{s} {}", req.stage),
        None => req.stage.clone(),
    };
    let message = format!(
        "{} froze {scope} until {}: {}",
        by.name,
        crate::model::format_millis(until_ms),
        req.reason
    );
    let command = Command::Freeze {
        stage: req.stage,
        service: req.service,
        until: until_ms,
        reason: req.reason,
    };
    submit(&shared, by, command, message).await
}

pub(super) async fn unfreeze(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    JsonBody(req): JsonBody<UnfreezeRequest>,
) -> Reply {
    let scope = match &req.service {
        Some(s) => format!("{s} {}", req.stage),
        None => req.stage.clone(),
    };
    let message = format!("{} unfroze {scope}", by.name);
    let command = Command::Unfreeze {
        stage: req.stage,
        service: req.service,
        reason: req.reason,
    };
    submit(&shared, by, command, message).await
}
