//! The OpenAPI 3.1 description served at `GET /api/v1/openapi.json`.
//!
//! Bodies and parameters are the handlers' own wire types (`api`, `model`)
//! through `utoipa::ToSchema`. The operations are described here, on empty
//! functions, rather than on the handlers: the route files stay about
//! behaviour, and this file is the one place the contract is written down.
//! `tests::openapi` parses the router's route table and fails when a route
//! is missing here.

#![allow(dead_code)] // The functions below exist only to carry `#[utoipa::path]`.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{
    ActionReply, ApiError, ArtifactView, CommitInfoDto, Dashboard, DecisionRequest, DeploymentPage,
    DeploymentQuery, Evidence, FreezeRequest, Health, HoldLiftRequest, LogChunk, NoteRequest,
    PromoteRequest, QuarantineRequest, RegisterArtifact, RollbackRequest, ServerInfo,
    SignOffRequest, StageEvidence, StageSignOff, UnfreezeRequest,
};
use crate::engine::{Blocked, BlockedReason};
use crate::model::{
    Actor, Approval, ApprovalRule, Artifact, ArtifactOrigin, Build, BuildStatus, Decision,
    Deployment, DeploymentKind, DeploymentStatus, Hold, Incident, Quarantine, QuarantineChange,
    SignOff, SignOffRule, Step, StepKind, StepStatus, TestCounts, Verdict,
};
use crate::present::plan::{
    BlockerEffect, Eta, Plan, PlanBlocker, PlanDeployment, PlanFreeze, PlanGate, PlanQuarantine,
    PlanRelease, PlanVerdict,
};

use super::health::{Probe, Ready};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ferry",
        description = "Environment promotion: builds flow through stages, gated by tests and approvals, with automatic rollback. \
                       Every call but the probes needs `Authorization: Bearer <token>` when the server has users. \
                       Every error answer is an `ApiError`.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        root_healthz, root_readyz, metrics, openapi_json,
        healthz, dashboard, services, artifacts, register_artifact, artifact, build,
        deployments, deployment, evidence, approve, reject, cancel, step_log,
        promote, rollback, push_hook, events, note, review, insights, replicas, github_hook, gitlab_hook,
        quarantine_add, quarantine_lift, hold_lift, why, sign_off, plan, freeze, unfreeze,
    ),
    components(schemas(
        ActionReply, ApiError, crate::api::AsOf, CommitInfoDto, Dashboard, DecisionRequest, DeploymentPage,
        Evidence, Health, LogChunk, PromoteRequest, RegisterArtifact, RollbackRequest,
        ServerInfo, StageEvidence, Probe, Ready, Actor, Approval, ApprovalRule, Artifact,
        ArtifactOrigin, Build, BuildStatus, Decision, Deployment, DeploymentKind,
        DeploymentStatus, Step, StepKind, StepStatus, TestCounts, NoteRequest,
        ArtifactView, QuarantineRequest, HoldLiftRequest, Quarantine, QuarantineChange, Incident,
        Blocked, BlockedReason, SignOffRequest, StageSignOff, SignOff, SignOffRule, Verdict,
        Plan, PlanRelease, PlanVerdict, PlanGate, PlanBlocker,
        BlockerEffect, PlanFreeze, PlanQuarantine, PlanDeployment, Eta, Hold,
        FreezeRequest, UnfreezeRequest,
    )),
    modifiers(&BearerToken),
    security(("bearer" = [])),
    tags(
        (name = "ops", description = "Probes, metrics and this document"),
        (name = "read", description = "Answered from the server's read model"),
        (name = "actions", description = "Commands the engine decides on"),
        (name = "stream", description = "Server-sent events"),
    ),
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as JSON text.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"internal\",\"message\":\"{e}\"}}"))
}

/// `GET /api/v1/openapi.json`.
pub(crate) async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}

// ---- operations ------------------------------------------------------------
// `default` carries the error shape of every non-2xx answer (400, 401, 403,
// 404, 409, 413, 422, 503, ...).

#[utoipa::path(get, path = "/healthz", tag = "ops", security(()),
    responses((status = 200, description = "alive", body = Probe)))]
fn root_healthz() {}

#[utoipa::path(get, path = "/readyz", tag = "ops", security(()),
    responses(
        (status = 200, description = "the store answers and the engine runs", body = Ready),
        (status = 503, description = "not ready", body = Ready)))]
fn root_readyz() {}

#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses(
        (status = 200, description = "Prometheus / OpenMetrics text", body = String,
         content_type = "application/openmetrics-text"),
        (status = "default", description = "error", body = ApiError)))]
fn metrics() {}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops",
    responses(
        (status = 200, description = "this document", body = Object),
        (status = "default", description = "error", body = ApiError)))]
fn openapi_json() {}

#[utoipa::path(get, path = "/api/v1/healthz", tag = "ops", security(()),
    responses(
        (status = 200, description = "the engine's driver runs", body = Health),
        (status = 503, description = "the driver stopped", body = Health),
        (status = "default", description = "error", body = ApiError)))]
fn healthz() {}

#[utoipa::path(get, path = "/api/v1/dashboard", tag = "read",
    params(
        ("service" = Option<String>, Query, description = "only this service"),
        ("at" = Option<String>, Query, description = "time travel: `seq:N` (after event N) or an RFC 3339 time (after the last event at or before it); the answer then carries `as_of`. A seq past the log's end or a future time is a 400"),
    ),
    responses(
        (status = 200, description = "everything live plus recent history; with `at`, as it was then, plus `as_of`", body = Dashboard),
        (status = 304, description = "not modified (`If-None-Match` with the current `ETag`; live only)"),
        (status = 400, description = "a bad `at` (not `seq:N` nor RFC 3339, past the end, or in the future)", body = ApiError),
        (status = 404, description = "no such service", body = ApiError),
        (status = 503, description = "the event store could not be read (time travel)", body = ApiError),
        (status = "default", description = "error", body = ApiError)))]
fn dashboard() {}

#[utoipa::path(get, path = "/api/v1/services", tag = "read",
    responses(
        (status = 200, description = "services and their stages, in configuration order", body = Vec<Object>),
        (status = "default", description = "error", body = ApiError)))]
fn services() {}

#[utoipa::path(get, path = "/api/v1/artifacts", tag = "read",
    params(
        ("service" = Option<String>, Query, description = "only this service"),
        ("limit" = Option<u64>, Query, description = "at most this many, newest first"),
    ),
    responses(
        (status = 200, description = "artifacts, newest first", body = Vec<Artifact>),
        (status = "default", description = "error", body = ApiError)))]
fn artifacts() {}

#[utoipa::path(post, path = "/api/v1/artifacts", tag = "actions", request_body = RegisterArtifact,
    responses(
        (status = 201, description = "registered; it enters the first stage", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn register_artifact() {}

#[utoipa::path(get, path = "/api/v1/artifacts/{id}", tag = "read",
    params(("id" = String, Path, description = "artifact id (a-12)")),
    responses(
        (status = 200, description = "the artifact, with `quarantine` (in force or lifted, with its history) when it ever had one", body = ArtifactView),
        (status = "default", description = "error", body = ApiError)))]
fn artifact() {}

#[utoipa::path(get, path = "/api/v1/builds/{id}", tag = "read",
    params(("id" = String, Path, description = "build id (b-3)")),
    responses(
        (status = 200, description = "the build", body = Build),
        (status = "default", description = "error", body = ApiError)))]
fn build() {}

#[utoipa::path(get, path = "/api/v1/deployments", tag = "read", params(DeploymentQuery),
    responses(
        (status = 200, description = "one page, newest first", body = DeploymentPage),
        (status = "default", description = "error", body = ApiError)))]
fn deployments() {}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "read",
    params(("id" = String, Path, description = "deployment id (d-17)")),
    responses(
        (status = 200, description = "the deployment", body = Deployment),
        (status = "default", description = "error", body = ApiError)))]
fn deployment() {}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/evidence", tag = "read",
    params(("id" = String, Path, description = "deployment id (d-17)")),
    responses(
        (status = 200, description = "what an approver looks at", body = Evidence),
        (status = "default", description = "error", body = ApiError)))]
fn evidence() {}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/approve", tag = "actions",
    params(("id" = String, Path, description = "deployment id (d-17)")),
    request_body(content = Option<DecisionRequest>, description = "optional; an empty body is `{}`"),
    responses(
        (status = 200, description = "approval recorded", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn approve() {}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/sign-off", tag = "actions",
    params(("id" = String, Path, description = "deployment id (d-17)")),
    request_body(content = SignOffRequest, description = "the step, pass or fail, and a comment (required to fail)"),
    responses(
        (status = 200, description = "verdict recorded: enough passes complete the step and the deployment goes on; a fail fails it (the rollback policy applies)", body = ActionReply),
        (status = 403, description = "the user holds none of the sign-off's roles, or four-eyes excludes them (they requested or approved the deployment, or pushed its artifact)", body = ApiError),
        (status = 404, description = "no such deployment", body = ApiError),
        (status = 409, description = "the deployment does not wait for that sign-off, or this user already signed it", body = ApiError),
        (status = 422, description = "`step` or `verdict` missing, or a fail without a comment", body = ApiError),
        (status = "default", description = "error", body = ApiError)))]
fn sign_off() {}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/notes", tag = "actions",
    params(("id" = String, Path, description = "deployment id (d-17)")),
    request_body(content = NoteRequest, description = "a lesson or comment (at most 4096 bytes)"),
    responses(
        (status = 200, description = "note recorded", body = ActionReply),
        (status = 201, description = "note recorded", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn note() {}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/review", tag = "read",
    params(("id" = String, Path, description = "deployment id (d-17)")),
    responses(
        (status = 200, description = "a Markdown draft of a post-incident review",
            content_type = "text/markdown", body = String),
        (status = "default", description = "error", body = ApiError)))]
fn review() {}

#[utoipa::path(get, path = "/api/v1/insights", tag = "read",
    params(
        ("service" = Option<String>, Query, description = "one service (default: all)"),
        ("stage" = Option<String>, Query, description = "the stage measured (default: each service's last)"),
        ("from" = Option<String>, Query, description = "window start: RFC 3339 or epoch ms (default: 30 days before `to`)"),
        ("to" = Option<String>, Query, description = "window end, exclusive: RFC 3339 or epoch ms (default: now)"),
    ),
    responses(
        (status = 200, description = "DORA metrics, time breakdown and flaky gates (README: Insights and reviews)",
            body = Object),
        (status = "default", description = "error", body = ApiError)))]
fn insights() {}

#[utoipa::path(get, path = "/api/v1/replicas", tag = "read",
    responses(
        (status = 200, description = "the leader lease and every replica's heartbeat", body = Object),
        (status = "default", description = "error", body = ApiError)))]
fn replicas() {}

#[utoipa::path(post, path = "/api/v1/hooks/github", tag = "actions", security(()),
    params(
        ("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC of the body with the source's webhook secret>"),
        ("X-GitHub-Event" = Option<String>, Header, description = "push or ping"),
        ("X-GitHub-Delivery" = Option<String>, Header, description = "delivery id; a replay is ignored"),
    ),
    request_body(content = Object, description = "GitHub's push payload"),
    responses(
        (status = 200, description = "a ping, another branch or a replay: nothing to do", body = Object),
        (status = 202, description = "every service following that repository and branch polls now", body = Object),
        (status = "default", description = "error (401 names the expected header)", body = ApiError)))]
fn github_hook() {}

#[utoipa::path(post, path = "/api/v1/hooks/gitlab", tag = "actions", security(()),
    params(("X-Gitlab-Token" = String, Header, description = "the source's webhook secret")),
    request_body(content = Object, description = "GitLab's push payload"),
    responses(
        (status = 200, description = "another branch or a replay: nothing to do", body = Object),
        (status = 202, description = "every service following that repository and branch polls now", body = Object),
        (status = "default", description = "error (401 names the expected header)", body = ApiError)))]
fn gitlab_hook() {}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/reject", tag = "actions",
    params(("id" = String, Path, description = "deployment id (d-17)")),
    request_body(content = Option<DecisionRequest>, description = "optional; an empty body is `{}`"),
    responses(
        (status = 200, description = "rejection recorded", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn reject() {}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/cancel", tag = "actions",
    params(("id" = String, Path, description = "deployment id (d-17)")),
    responses(
        (status = 200, description = "cancelled, or being cancelled", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn cancel() {}

#[utoipa::path(get, path = "/api/v1/runs/{run}/steps/{step}/log", tag = "read",
    params(
        ("run" = String, Path, description = "a build or deployment id"),
        ("step" = u64, Path, description = "the step's index in its run, from 0"),
        ("offset" = Option<u64>, Query, description = "first line to return"),
        ("tail" = Option<u64>, Query, description = "only the last N lines"),
    ),
    responses(
        (status = 200, description = "lines of the step's log", body = LogChunk),
        (status = "default", description = "error", body = ApiError)))]
fn step_log() {}

#[utoipa::path(post, path = "/api/v1/promote", tag = "actions", request_body = PromoteRequest,
    responses(
        (status = 202, description = "deployment created (inside a freeze it waits, unless `override_freeze` with a `reason` by a role the freeze names: 403/422 otherwise)", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn promote() {}

#[utoipa::path(post, path = "/api/v1/quarantine/add", tag = "actions", request_body = QuarantineRequest,
    responses(
        (status = 200, description = "quarantined; its pending deployments withdrawn (role deployer; 422 without a reason)", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn quarantine_add() {}

#[utoipa::path(post, path = "/api/v1/quarantine/lift", tag = "actions", request_body = QuarantineRequest,
    responses(
        (status = 200, description = "the release may be promoted again (a role `[safety] quarantine_lift_roles` names, deployer by default; with `quarantine_lift_allow_self = false` not whoever quarantined it: 403; 422 without a reason)", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn quarantine_lift() {}

#[utoipa::path(post, path = "/api/v1/hold/lift", tag = "actions", request_body = HoldLiftRequest,
    responses(
        (status = 200, description = "the stage's hold ended; waiting promotions may start (role deployer)", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn hold_lift() {}

#[utoipa::path(post, path = "/api/v1/freeze", tag = "actions", request_body = FreezeRequest,
    responses(
        (status = 200, description = "the stage is frozen until `until`: promotions wait, rollbacks run (role deployer; 422 without a reason or with a past `until`)", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn freeze() {}

#[utoipa::path(post, path = "/api/v1/unfreeze", tag = "actions", request_body = UnfreezeRequest,
    responses(
        (status = 200, description = "the ad-hoc freeze ended; waiting promotions start (role deployer; 409 when the stage is not frozen by hand)", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn unfreeze() {}

#[utoipa::path(get, path = "/api/v1/why", tag = "read",
    params(
        ("service" = String, Query, description = "the service"),
        ("stage" = Option<String>, Query, description = "only this stage"),
    ),
    responses(
        (status = 200, description = "why each waiting stage waits; empty when nothing waits", body = Vec<Blocked>),
        (status = "default", description = "error", body = ApiError)))]
fn why() {}

/// What promoting a release into a stage would do now, changing nothing:
/// gates (and which hold), who can approve (four-eyes applied), blockers,
/// freezes, quarantine, hold, what runs ahead, the commits it brings since
/// the stage's current release, and the expected time to live.
#[utoipa::path(get, path = "/api/v1/plan", tag = "read",
    params(
        ("service" = String, Query, description = "the service (required)"),
        ("stage" = String, Query, description = "the stage it would enter (required)"),
        ("artifact" = Option<String>, Query, description = "artifact id (a-12) or version; default: the newest release that passed the stage before and is not quarantined"),
    ),
    responses(
        (status = 200, description = "the plan", body = Plan),
        (status = 400, description = "`service` or `stage` missing", body = ApiError),
        (status = 404, description = "no such service, stage or artifact, or nothing to promote", body = ApiError),
        (status = "default", description = "error", body = ApiError)))]
fn plan() {}

#[utoipa::path(post, path = "/api/v1/rollback", tag = "actions", request_body = RollbackRequest,
    responses(
        (status = 202, description = "rollback deployment created", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn rollback() {}

#[utoipa::path(post, path = "/api/v1/hooks/push/{service}", tag = "actions",
    params(("service" = String, Path, description = "a service with a git source")),
    responses(
        (status = 202, description = "polling now", body = ActionReply),
        (status = "default", description = "error", body = ApiError)))]
fn push_hook() {}

/// Server-sent events: each `data:` is one JSON `Event`, its `id:` the
/// event's sequence number, its `event:` the event kind (`deployment_created`,
/// `step_finished`, ...). Reconnect with `Last-Event-ID` or `since`.
#[utoipa::path(get, path = "/api/v1/events", tag = "stream",
    params(
        ("since" = Option<u64>, Query, description = "replay events after this sequence number"),
        ("Last-Event-ID" = Option<u64>, Header, description = "wins over `since` on reconnect"),
    ),
    responses(
        (status = 200, description = "an endless event stream", body = String, content_type = "text/event-stream"),
        (status = "default", description = "error", body = ApiError)))]
fn events() {}
