//! The route table of the README's "HTTP API" section, under /api/v1.

mod actions;
mod evidence;
mod freeze;
mod hooks;
mod insights;
mod logs;
mod plan;
mod read;
mod safety;
mod signoff;
mod travel;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use super::Shared;
use super::auth::authorize;
use super::error::{ApiErr, jsonify_errors};
use super::sse;
use super::{health, metrics, openapi, request_id};

/// Requests carry commands and metadata, never artifacts.
const BODY_LIMIT: usize = 1024 * 1024;
/// A client that stops sending its body midway must not hold a connection.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/healthz", get(read::healthz))
        .route("/dashboard", get(read::dashboard))
        .route("/services", get(read::services))
        .route(
            "/artifacts",
            get(read::artifacts).post(actions::register_artifact),
        )
        .route("/artifacts/{id}", get(read::artifact))
        .route("/builds/{id}", get(read::build))
        .route("/deployments", get(read::deployments))
        .route("/deployments/{id}", get(read::deployment))
        .route("/deployments/{id}/evidence", get(evidence::evidence))
        .route("/deployments/{id}/approve", post(actions::approve))
        .route("/deployments/{id}/reject", post(actions::reject))
        .route("/deployments/{id}/cancel", post(actions::cancel))
        .route("/deployments/{id}/notes", post(actions::note))
        .route("/deployments/{id}/sign-off", post(signoff::sign_off))
        .route("/deployments/{id}/review", get(insights::review))
        .route("/runs/{run}/steps/{step}/log", get(logs::step_log))
        .route("/promote", post(actions::promote))
        .route("/rollback", post(actions::rollback))
        .route("/quarantine/add", post(safety::quarantine_add))
        .route("/quarantine/lift", post(safety::quarantine_lift))
        .route("/hold/lift", post(safety::hold_lift))
        .route("/why", get(safety::why))
        .route("/plan", get(plan::plan_route))
        .route("/freeze", post(freeze::freeze))
        .route("/unfreeze", post(freeze::unfreeze))
        .route("/hooks/push/{service}", post(actions::push_hook))
        .route("/hooks/github", post(hooks::github))
        .route("/hooks/gitlab", post(hooks::gitlab))
        .route("/events", get(sse::events))
        .route("/replicas", get(super::forward::replicas))
        .route("/openapi.json", get(openapi::serve))
        .route("/insights", get(insights::insights));
    Router::new()
        // Operations: probes (no token) and metrics, at the root.
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .nest("/api/v1", api)
        .fallback(not_found)
        // Replicas: a follower forwards writes to the leader (after auth).
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            super::forward::forward_writes,
        ))
        // Layers run bottom-up for requests: limits and auth before handlers,
        // and every error answer leaves as JSON.
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .layer(middleware::from_fn(super::faults::after_2xx))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
        .layer(middleware::map_response(jsonify_errors))
        .layer(middleware::from_fn(request_id::stamp_errors))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            metrics::count_requests,
        ))
        .layer(PropagateRequestIdLayer::new(request_id::HEADER))
        .layer(TraceLayer::new_for_http().make_span_with(request_id::span))
        .layer(SetRequestIdLayer::new(
            request_id::HEADER,
            request_id::MakeUuid,
        ))
        .with_state(shared)
}

async fn not_found() -> ApiErr {
    ApiErr::not_found("no such API route")
        .hint("the API lives under /api/v1; see the route table in the README")
}
