//! The probes orchestrators expect at the root, answered without a token and
//! revealing nothing but the verdict: `/healthz` (the process answers) and
//! `/readyz` (the event store answers and the engine's driver runs).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::Shared;

/// A store that takes longer than this to say its last seq is not ready.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The body of both probes: `{"status": "ok" | "ready" | "not ready"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Probe {
    pub status: String,
}

fn probe(code: StatusCode, status: &str) -> (StatusCode, Json<Probe>) {
    (
        code,
        Json(Probe {
            status: status.to_string(),
        }),
    )
}

/// Alive: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "the process is alive", body = Probe)))]
pub(crate) async fn healthz() -> (StatusCode, Json<Probe>) {
    probe(StatusCode::OK, "ok")
}

/// Ready: the engine's driver runs and the event store answers in time.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "ready to serve", body = Probe),
        (status = 503, description = "not ready (store or engine)", body = Probe),
    ))]
pub(crate) async fn readyz(State(shared): State<Arc<Shared>>) -> (StatusCode, Json<Probe>) {
    if shared.requests.is_closed() {
        return probe(StatusCode::SERVICE_UNAVAILABLE, "not ready");
    }
    match tokio::time::timeout(STORE_PROBE_TIMEOUT, shared.store.last_seq()).await {
        Ok(Ok(_)) => probe(StatusCode::OK, "ready"),
        // Why stays in the log: the probe is unauthenticated.
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the event store failed");
            probe(StatusCode::SERVICE_UNAVAILABLE, "not ready")
        }
        Err(_) => {
            tracing::warn!("readiness: the event store did not answer in time");
            probe(StatusCode::SERVICE_UNAVAILABLE, "not ready")
        }
    }
}
