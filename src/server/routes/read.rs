//! GET handlers answered from the read model, without waiting for the driver.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use crate::api::{DeploymentPage, DeploymentQuery, Health};
use crate::engine::{Principal, ServiceState};
use crate::model::{Artifact, Build, Deployment};

use super::super::Shared;
use super::super::error::{ApiErr, QueryArgs};

const DEFAULT_LIMIT: usize = 50;
/// Finished deployments per stage (and builds and artifacts per service) in a dashboard.
const DASHBOARD_HISTORY: usize = super::super::snapshots::VIEW_KEEP;
const MAX_LIMIT: usize = 500;

/// Ok only while the driver (the one task that decides and stores) is
/// alive: a server that can only answer reads is not healthy.
pub(super) async fn healthz(
    State(shared): State<Arc<Shared>>,
) -> (axum::http::StatusCode, Json<Health>) {
    let (code, status) = if shared.requests.is_closed() {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "driver stopped",
        )
    } else {
        (axum::http::StatusCode::OK, "ok")
    };
    let health = Health {
        status: status.to_string(),
        seq: shared.read_model.read().seq,
    };
    (code, Json(health))
}

/// The `Dashboard` (same JSON shape), its `state` serialised once per seq
/// and shared among readers; `ETag` is the seq, and `If-None-Match` with it
/// answers 304 without a body. `?service=` narrows it to one service.
/// With `Accept-Encoding: gzip` the body is gzip: the shared part is
/// compressed once per seq and each caller's own fields are appended to it
/// uncompressed (see `server::gzip`), so a request costs no compression.
pub(super) async fn dashboard(
    State(shared): State<Arc<Shared>>,
    Extension(user): Extension<Principal>,
    Query(q): Query<DashboardQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiErr> {
    if let Some(at) = &q.at {
        // Time travel: folded for this request, never cached (`travel`).
        return super::travel::dashboard_at(
            &shared,
            &user,
            at,
            q.service.as_deref(),
            DASHBOARD_HISTORY,
        )
        .await;
    }
    let failed =
        |e: color_eyre::Report| ApiErr::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"));
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(super::super::gzip::accepts_gzip);
    // Everything live plus recent history; older deployments are paged
    // through /deployments, so the snapshot stays small however old the server.
    let bytes = match &q.service {
        None => shared
            .read_model
            .dashboard_state(&shared.config, DASHBOARD_HISTORY, gzip)
            .await
            .map_err(failed)?,
        Some(name) => Arc::new(
            shared
                .read_model
                .dashboard_service(&shared.config, DASHBOARD_HISTORY, name)
                .ok_or_else(|| unknown_service(name))?
                .map_err(failed)?,
        ),
    };
    let seq = bytes.seq;
    let (sources, generation) = shared.poller.sources(q.service.as_deref());
    // The fetch errors change without a new event: they are part of the tag.
    let mut etag = match generation {
        0 => format!("{seq}"),
        g => format!("{seq}-{g}"),
    };
    // So do the configured freeze windows open now: they open and close with time.
    let freezes = open_freezes(&shared.config, q.service.as_deref());
    if !freezes.is_empty() {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for f in &freezes {
            (&f.name, f.from, f.until).hash(&mut h);
        }
        etag = format!("{etag}-f{:x}", h.finish());
    }
    let etag = format!("\"{etag}\"");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    // The body names the caller, so a cache must key on who asks, and on
    // the encoding it accepts.
    let common = [
        (header::ETAG, etag.clone()),
        (header::VARY, "Authorization, Accept-Encoding".to_string()),
    ];
    if fresh {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    // Made with the view, once per seq (it is the same for every caller).
    let blocked = &bytes.blocked;
    let head = serde_json::to_vec(&DashboardHead {
        seq,
        server: &shared.info,
        user: &user,
        sources: &sources,
        blocked,
        freezes: &freezes,
    })
    .map_err(|e| ApiErr::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    // `{"state":<shared bytes>,` then `"seq":..,"server":..,"user":..}`:
    // the head without its opening brace.
    let tail = head.get(1..).unwrap_or_default();
    let json = [(header::CONTENT_TYPE, "application/json")];
    if gzip {
        let (shared_part, own_part) = bytes.gzip().parts(tail);
        return Ok((
            StatusCode::OK,
            common,
            json,
            [(header::CONTENT_ENCODING, "gzip")],
            two_parts(shared_part, own_part.into()),
        )
            .into_response());
    }
    Ok((
        StatusCode::OK,
        common,
        json,
        two_parts(bytes.prefix.clone(), tail.to_vec().into()),
    )
        .into_response())
}

/// A body of the shared bytes then the caller's own, sent without copying
/// the shared part, with its `Content-Length` (hyper sends a header set on
/// a body of unknown length as it is).
fn two_parts(shared: axum::body::Bytes, own: axum::body::Bytes) -> Response {
    let len = shared.len() + own.len();
    let chunks = futures::stream::iter([Ok::<_, std::convert::Infallible>(shared), Ok(own)]);
    let mut response = axum::body::Body::from_stream(chunks).into_response();
    if let Ok(value) = header::HeaderValue::from_str(&len.to_string()) {
        response.headers_mut().insert(header::CONTENT_LENGTH, value);
    }
    response
}

#[derive(Debug, Deserialize)]
pub(super) struct DashboardQuery {
    service: Option<String>,
    /// `seq:N` or an RFC 3339 time: the dashboard as it was then.
    at: Option<String>,
}

/// `Dashboard` without its `state`, which is spliced in as shared bytes.
#[derive(serde::Serialize)]
struct DashboardHead<'a> {
    seq: crate::model::Seq,
    server: &'a crate::api::ServerInfo,
    user: &'a Principal,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    sources: &'a std::collections::BTreeMap<String, crate::api::SourceStatus>,
    /// Every stage with something waiting, and why (`engine::blocked`).
    blocked: &'a [crate::engine::Blocked],
    /// Configured freeze windows open now (the console has no configuration).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    freezes: &'a [crate::api::FreezeNote],
}

/// The configured `[[freezes]]` windows open now (of `service`'s stages).
fn open_freezes(
    config: &crate::config::Config,
    service: Option<&str>,
) -> Vec<crate::api::FreezeNote> {
    let now = crate::now_millis();
    config
        .freezes
        .iter()
        .filter(|f| {
            service.is_none_or(|s| f.services.is_empty() || f.services.iter().any(|x| x == s))
        })
        .filter_map(|f| {
            let (from, until) = f.window.window_at(now)?;
            Some(crate::api::FreezeNote {
                name: f.name.clone(),
                stages: f.stages.clone(),
                services: f.services.clone(),
                reason: f.reason.clone(),
                from,
                until,
                override_roles: f.override_roles.clone(),
            })
        })
        .collect()
}

pub(super) async fn services(State(shared): State<Arc<Shared>>) -> Json<Vec<ServiceState>> {
    Json(shared.read_model.read().services.clone())
}

#[derive(Debug, Deserialize)]
pub(super) struct ArtifactQuery {
    service: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn artifacts(
    State(shared): State<Arc<Shared>>,
    QueryArgs(q): QueryArgs<ArtifactQuery>,
) -> Result<Json<Vec<Artifact>>, ApiErr> {
    let state = shared.read_model.read();
    if let Some(s) = &q.service
        && state.service(s).is_none()
    {
        return Err(unknown_service(s));
    }
    let mut items: Vec<&Artifact> = state
        .artifacts
        .values()
        .filter(|a| q.service.as_ref().is_none_or(|s| &a.service == s))
        .collect();
    items.sort_by_key(|a| std::cmp::Reverse(id_number(&a.id)));
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    Ok(Json(items.into_iter().take(limit).cloned().collect()))
}

/// The artifact, with its quarantine (in force or lifted) and its history.
pub(super) async fn artifact(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<crate::api::ArtifactView>, ApiErr> {
    let quarantine = shared
        .read_model
        .read()
        .quarantine
        .get(id.as_str())
        .cloned();
    let artifact = crate::server::archive::artifact(&shared, &id)
        .await?
        .ok_or_else(|| ApiErr::not_found(format!("no artifact {id}")))?;
    Ok(Json(crate::api::ArtifactView {
        artifact,
        quarantine,
    }))
}

pub(super) async fn build(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Build>, ApiErr> {
    crate::server::archive::build(&shared, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiErr::not_found(format!("no build {id}")))
}

/// A deployment, plus `flaky` when its failure was flaky (a verification
/// step that later passed on the same artifact).
#[derive(Debug, serde::Serialize)]
pub(super) struct DeploymentDetail {
    #[serde(flatten)]
    deployment: Deployment,
    #[serde(skip_serializing_if = "Option::is_none")]
    flaky: Option<crate::insights::FlakyNote>,
}

pub(super) async fn deployment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<DeploymentDetail>, ApiErr> {
    let deployment = crate::server::archive::deployment(&shared, &id)
        .await?
        .ok_or_else(|| no_deployment(&id))?;
    let flaky = shared
        .read_model
        .insights()
        .await
        .flaky_failure(&id)
        .map(crate::insights::FlakyNote::from);
    Ok(Json(DeploymentDetail { deployment, flaky }))
}

pub(super) async fn deployments(
    State(shared): State<Arc<Shared>>,
    QueryArgs(q): QueryArgs<DeploymentQuery>,
) -> Result<Json<DeploymentPage>, ApiErr> {
    let before = match &q.before {
        None => None,
        Some(b) => Some(id_number(b).ok_or_else(|| {
            ApiErr::bad_request(format!(
                "`before` must be a deployment id like d-12, not {b:?}"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let wanted = |d: &Deployment| {
        q.service.as_ref().is_none_or(|s| &d.service == s)
            && q.stage.as_ref().is_none_or(|s| &d.stage == s)
            && q.status.as_ref().is_none_or(|s| d.status.as_str() == s)
    };
    // Ids are handed out in order (d-1 upwards), so a page walks them
    // downward from `before`: those in memory from the read model, those
    // the fold has forgotten from the store, one by one.
    let mut top = {
        let state = shared.read_model.read();
        if let Some(s) = &q.service
            && state.service(s).is_none()
        {
            return Err(unknown_service(s));
        }
        before.map_or(state.next_deployment, |b| {
            b.saturating_sub(1).min(state.next_deployment)
        })
    };
    let mut items: Vec<Deployment> = Vec::new();
    let mut read_back = 0;
    while top >= 1 && items.len() <= limit {
        let id = format!("d-{top}");
        let found = match crate::server::archive::held_deployment(&shared, &id) {
            Some(d) => Some(d),
            None if read_back < MAX_READ_BACK => {
                read_back += 1;
                crate::server::archive::forgotten_deployment(&shared, &id).await?
            }
            // Enough store reads for one request: the page ends here, and
            // `next_before` continues below this id.
            None => break,
        };
        if let Some(d) = found.filter(|d| wanted(d)) {
            items.push(d);
        }
        top -= 1;
    }
    let more = items.len() > limit || (top >= 1 && items.len() <= limit);
    items.truncate(limit);
    let next_before = match (more, items.len() == limit) {
        (false, _) => None,
        (true, true) => items.last().map(|d| d.id.clone()),
        // A short page cut by the read-back budget: go on below what was read.
        (true, false) => Some(format!("d-{}", top + 1).into()),
    };
    Ok(Json(DeploymentPage { items, next_before }))
}

/// Deployments the fold has forgotten that one page may read back from
/// the store (one indexed query each); a filtered page over a long history
/// may come back short, with `next_before` to go on.
const MAX_READ_BACK: usize = 200;

/// The number in a short id (`d-12` -> 12), which orders ids by creation;
/// string order would put d-10 before d-9.
pub(super) fn id_number(id: &str) -> Option<u64> {
    id.rsplit_once('-').and_then(|(_, n)| n.parse().ok())
}

pub(super) fn no_deployment(id: &str) -> ApiErr {
    ApiErr::not_found(format!("no deployment {id}"))
        .hint("`ferry history SERVICE` lists deployments")
}

fn unknown_service(name: &str) -> ApiErr {
    ApiErr::not_found(format!("no service {name:?}"))
        .hint("`ferry status` lists the configured services")
}
