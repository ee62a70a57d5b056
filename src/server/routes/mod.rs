//! The route table of the README's "HTTP API" section, under /api/v1.

mod actions;
mod evidence;
mod hooks;
mod logs;
mod read;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use super::Shared;
use super::auth::authorize;
use super::error::{ApiErr, jsonify_errors};
use super::sse;

/// Requests carry commands and metadata, never artifacts.
const BODY_LIMIT: usize = 1024 * 1024;

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
        .route("/runs/{run}/steps/{step}/log", get(logs::step_log))
        .route("/promote", post(actions::promote))
        .route("/rollback", post(actions::rollback))
        .route("/hooks/push/{service}", post(actions::push_hook))
        .route("/hooks/github", post(hooks::github))
        .route("/hooks/gitlab", post(hooks::gitlab))
        .route("/events", get(sse::events));
    Router::new()
        .nest("/api/v1", api)
        .fallback(not_found)
        // Layers run bottom-up for requests: limits and auth before handlers,
        // and every error answer leaves as JSON.
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(middleware::map_response(jsonify_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(shared)
}

async fn not_found() -> ApiErr {
    ApiErr::not_found("no such API route")
        .hint("the API lives under /api/v1; see the route table in the README")
}
