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

/// `/readyz`: the verdict; replicas also say which role this one has and
/// how far behind the log it is. Nothing else: the probe is unauthenticated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready` or `not ready`.
    pub status: String,
    /// Only with a PostgreSQL store (replicas): this replica's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// `leader` or `follower`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// `ok` or `unreachable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind: Option<u64>,
}

/// Ready: the event store answers in time and, on the leader, the engine's
/// driver runs; a follower is ready while it can tail the log.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "ready to serve", body = Ready),
        (status = 503, description = "not ready (store or engine)", body = Ready),
    ))]
pub(crate) async fn readyz(State(shared): State<Arc<Shared>>) -> (StatusCode, Json<Ready>) {
    let replica = shared.replica.status();
    let applied = shared.read_model.read().seq;
    // A replica's own loop watches the store (and marks reads stale when it
    // is gone): report that one verdict; a single node asks the store now.
    let store_ok = if shared.replica.replicated {
        replica.store_ok
    } else {
        store_answers(&shared).await
    };
    let engine_ok = !shared.requests.is_closed();
    let ready = store_ok && engine_ok;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let log_seq = replica.log_seq.max(applied);
    let replicated = shared.replica.replicated;
    let only = |v| replicated.then_some(v);
    (
        code,
        Json(Ready {
            status: if ready { "ready" } else { "not ready" }.to_string(),
            replica: only(shared.replica.id.clone()),
            role: only(replica.role.to_string()),
            epoch: replicated.then_some(replica.epoch),
            store: only(if store_ok { "ok" } else { "unreachable" }.to_string()),
            applied_seq: replicated.then_some(applied),
            log_seq: replicated.then_some(log_seq),
            behind: replicated.then_some(log_seq - applied),
        }),
    )
}

/// Whether the event store answers within `STORE_PROBE_TIMEOUT`; why not
/// stays in the log, since the probe is unauthenticated.
async fn store_answers(shared: &Shared) -> bool {
    match tokio::time::timeout(STORE_PROBE_TIMEOUT, shared.store.last_seq()).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the event store failed");
            false
        }
        Err(_) => {
            tracing::warn!("readiness: the event store did not answer in time");
            false
        }
    }
}
