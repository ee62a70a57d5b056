//! What replicas add to the HTTP side: writes sent to a follower are
//! reverse-proxied to the leader (with the caller's Authorization), reads
//! are marked stale while the store is unreachable, and `/api/v1/replicas`
//! lists the lease and the heartbeats (`/readyz`'s role and lag are in
//! `health.rs`).

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::Shared;
use super::error::ApiErr;

/// A forwarded request's body limit: the same as the API's.
const BODY_LIMIT: usize = 1024 * 1024;
/// Set on a forwarded request: a replica that is not the leader either
/// answers 503 rather than forwarding again, so a request never loops
/// between replicas whose views of the lease differ for a moment.
const FORWARDED_HEADER: &str = "ferry-forwarded-by";
/// How long finding the leader may take before a write is answered 503.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// What to do while the store is unreachable (said with every such 503).
const STORE_DOWN_HINT: &str =
    "writes resume once the database is back; reads serve the last known state";
/// Marks a read served while the store is unreachable.
pub(crate) const STALE_HEADER: &str = "ferry-stale";

/// Middleware: forward writes from a follower to the leader; mark reads stale.
pub(crate) async fn forward_writes(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let replica = &shared.replica;
    if !replica.replicated {
        return next.run(req).await;
    }
    let status = replica.status();
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !write || status.role == "leader" {
        let mut resp = next.run(req).await;
        if !status.store_ok {
            resp.headers_mut()
                .insert(STALE_HEADER, HeaderValue::from_static("store unreachable"));
        }
        return resp;
    }
    if !status.store_ok {
        return unavailable("the event store is unreachable: nothing can be recorded now".into())
            .hint(STORE_DOWN_HINT)
            .into_response();
    }
    if req.headers().contains_key(FORWARDED_HEADER) {
        return unavailable("this replica is taking over or standing down as leader".into())
            .hint("retry in a few seconds")
            .into_response();
    }
    match proxy(&shared, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn unavailable(message: String) -> ApiErr {
    ApiErr::new(StatusCode::SERVICE_UNAVAILABLE, message)
}

/// Where the leader listens, from the lease and the heartbeat rows.
async fn leader_address(shared: &Shared) -> Result<String, ApiErr> {
    let lease = shared.store.lease();
    let hint = "retry in a few seconds: a replica takes over within the lease TTL";
    let current = lease.current().await.map_err(|e| {
        unavailable(format!("the event store is unreachable: {e:#}")).hint(STORE_DOWN_HINT)
    })?;
    let Some(holder) = current.leader() else {
        return Err(unavailable("no replica leads right now".into()).hint(hint));
    };
    let replicas = lease
        .replicas()
        .await
        .map_err(|e| unavailable(format!("the event store is unreachable: {e:#}")))?;
    replicas
        .into_iter()
        .find(|r| r.beat.replica == holder)
        .map(|r| r.beat.address)
        .ok_or_else(|| {
            unavailable(format!("the leader {holder} has not said where it listens")).hint(hint)
        })
}

async fn proxy(shared: &Shared, req: Request) -> Result<Response, ApiErr> {
    // The store's own pool waits longer than a caller should.
    let address = tokio::time::timeout(LOOKUP_TIMEOUT, leader_address(shared))
        .await
        .map_err(|_| {
            unavailable("the event store did not answer in time".into()).hint(STORE_DOWN_HINT)
        })??;
    if address == shared.replica.address {
        return Err(
            unavailable("this replica is becoming the leader".into()).hint("retry in a moment")
        );
    }
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        ApiErr::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("could not read the request: {e}"),
        )
    })?;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut out = shared
        .http
        .request(parts.method.clone(), format!("{address}{path}"))
        .body(body);
    for (name, value) in &parts.headers {
        // The connection's own headers belong to this hop only.
        if name == "host" || name == "content-length" || name == "connection" {
            continue;
        }
        out = out.header(name, value);
    }
    out = out.header(FORWARDED_HEADER, &shared.replica.id);
    let answer = out.send().await.map_err(|e| {
        unavailable(format!("could not reach the leader at {address}: {e}"))
            .hint("retry in a few seconds: if the leader is gone, a replica takes over within the lease TTL")
    })?;
    let mut resp = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name == "content-length" || name == "transfer-encoding" || name == "connection" {
            continue;
        }
        resp = resp.header(name, value);
    }
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| unavailable(format!("the leader's answer broke off: {e}")))?;
    resp.header("ferry-forwarded-to", address)
        .body(Body::from(bytes))
        .map_err(|e| unavailable(format!("could not relay the leader's answer: {e}")))
}

#[derive(Debug, Serialize)]
pub(crate) struct ReplicaRow {
    pub replica: String,
    pub address: String,
    pub role: &'static str,
    pub leader: bool,
    pub applied_seq: u64,
    pub heartbeat_age_ms: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Replicas {
    pub leader: Option<String>,
    pub epoch: u64,
    pub lease_expires_in_ms: Option<u64>,
    pub replicas: Vec<ReplicaRow>,
}

/// `GET /api/v1/replicas`: the lease and every replica's heartbeat.
pub(crate) async fn replicas(State(shared): State<Arc<Shared>>) -> Result<Json<Replicas>, ApiErr> {
    let lease = shared.store.lease();
    let down =
        |e: color_eyre::Report| unavailable(format!("the event store is unreachable: {e:#}"));
    let current = lease.current().await.map_err(down)?;
    let rows = lease.replicas().await.map_err(down)?;
    let leader = current.leader().map(str::to_string);
    Ok(Json(Replicas {
        epoch: current.epoch,
        lease_expires_in_ms: current
            .expires_in
            .map(|d| d.as_millis().min(u64::MAX as u128) as u64),
        replicas: rows
            .into_iter()
            .map(|r| ReplicaRow {
                leader: leader.as_deref() == Some(r.beat.replica.as_str()),
                replica: r.beat.replica,
                address: r.beat.address,
                role: r.beat.role.as_str(),
                applied_seq: r.beat.applied_seq,
                heartbeat_age_ms: r.age.as_millis().min(u64::MAX as u128) as u64,
            })
            .collect(),
        leader,
    }))
}
