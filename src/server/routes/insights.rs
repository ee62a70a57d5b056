//! `GET /insights`: DORA's metrics, where the time goes and flaky gates,
//! answered from the insights fold beside the read model.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::config::Config;
use crate::insights::parse::{INSTANT_FORMS, instant};
use crate::insights::{InsightsQuery, InsightsReport};
use crate::model::Millis;

use super::super::Shared;
use super::super::error::ApiErr;

/// The query string as it comes: every value is checked by `query`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InsightsParams {
    pub service: Option<String>,
    pub stage: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

pub(super) async fn insights(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<InsightsParams>,
) -> Result<Json<InsightsReport>, ApiErr> {
    let query = query(&params, &shared.config, crate::now_millis())?;
    Ok(Json(shared.read_model.insights().await.report(&query)))
}

/// The insights query of a request: the window defaults to the last 30 days
/// before `now`, the stage order comes from the configuration. A bad value is
/// a 400 that names the parameter and what it may be.
pub(crate) fn query(
    params: &InsightsParams,
    config: &Config,
    now: Millis,
) -> Result<InsightsQuery, ApiErr> {
    let stage_order: BTreeMap<String, Vec<String>> = config
        .services
        .iter()
        .map(|s| {
            let stages = s.stages.iter().map(|t| t.name.clone()).collect();
            (s.name.clone(), stages)
        })
        .collect();
    let blank = |v: &Option<String>| v.as_ref().filter(|s| !s.trim().is_empty()).cloned();
    let service = blank(&params.service);
    if let Some(s) = &service
        && !stage_order.contains_key(s)
    {
        let known: Vec<&str> = stage_order.keys().map(String::as_str).collect();
        return Err(bad(
            "service",
            format!("no service {s:?}"),
            format!("one of: {}", known.join(", ")),
        ));
    }
    let stage = blank(&params.stage);
    if let Some(t) = &stage {
        let allowed: Vec<&str> = match &service {
            Some(s) => stage_order[s].iter().map(String::as_str).collect(),
            None => {
                let mut all: Vec<&str> =
                    stage_order.values().flatten().map(String::as_str).collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        };
        if !allowed.contains(&t.as_str()) {
            return Err(bad(
                "stage",
                format!("no stage {t:?}"),
                format!("one of: {}", allowed.join(", ")),
            ));
        }
    }
    let at = |name: &str, value: &Option<String>| -> Result<Option<Millis>, ApiErr> {
        match blank(value) {
            None => Ok(None),
            Some(v) => instant(&v)
                .map(Some)
                .map_err(|e| bad(name, e, INSTANT_FORMS.to_string())),
        }
    };
    let to = at("to", &params.to)?.unwrap_or(now);
    let from = at("from", &params.from)?
        .unwrap_or_else(|| to.saturating_sub(InsightsQuery::DEFAULT_DAYS * 86_400_000));
    if from >= to {
        return Err(bad(
            "from",
            format!("`from` ({from}) is not before `to` ({to})"),
            "a window [from, to) with from before to".to_string(),
        ));
    }
    Ok(InsightsQuery {
        service,
        stage,
        from,
        to,
        stage_order,
    }
    .clamped())
}

fn bad(parameter: &str, problem: impl std::fmt::Display, allowed: String) -> ApiErr {
    ApiErr::bad_request(format!(
        "invalid `{parameter}`: {}",
        crate::model::sanitize_text(&problem.to_string())
    ))
    .hint(format!("`{parameter}` may be {allowed}"))
}

/// `GET /deployments/{id}/review`: the Markdown draft of `present::review`,
/// with the last lines of the failing step's log.
pub(super) async fn review(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::response::Response, ApiErr> {
    use crate::present::review::{EXCERPT_LINES, failing_step, review};
    // A deployment the fold has forgotten is read back into a copy.
    let restored = crate::server::archive::state_with(&shared, &id).await?;
    let failing = crate::server::archive::on(&shared, &restored, |state| {
        state
            .deployments
            .get(id.as_str())
            .map(failing_step)
            .ok_or_else(|| super::read::no_deployment(&id))
    })?;
    let excerpt = match failing {
        None => Vec::new(),
        Some(step) => {
            let path = crate::runner::Runner::log_path(&shared.data_dir, &id, step);
            tokio::task::spawn_blocking(move || {
                super::logs::read_chunk(&path, 0, Some(EXCERPT_LINES))
            })
            .await
            .map_err(|e| ApiErr::internal(format!("could not read the log: {e}")))?
            .map(|c| c.lines)
            // A missing or unreadable log leaves the excerpt out, not the review.
            .unwrap_or_default()
        }
    };
    let flaky = shared.read_model.insights().await.flaky_failure(&id);
    let text = crate::server::archive::on(&shared, &restored, |state| {
        review(state, &id, &excerpt, flaky.as_ref())
    })
    .ok_or_else(|| super::read::no_deployment(&id))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/markdown; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
