//! `GET /api/v1/plan?service=&stage=&artifact=`: what promoting a release
//! into a stage would do now (`present::plan`), with the commits it brings
//! read from the service's git mirror, bounded in count and time.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;

use crate::engine::Principal;
use crate::model::Millis;
use crate::present::plan::{Plan, PlanError, PlanQuery, plan};

use super::super::Shared;
use super::super::error::{ApiErr, QueryArgs};
use super::evidence::commits_for;

/// Enough commits to read; more means "a lot changed".
pub(crate) const PLAN_COMMITS: usize = 50;
/// A plan answers quickly or says git was too slow.
const GIT_BUDGET: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
pub(super) struct PlanArgs {
    service: Option<String>,
    stage: Option<String>,
    artifact: Option<String>,
}

const USAGE: &str = "GET /api/v1/plan?service=SERVICE&stage=STAGE[&artifact=ID_OR_VERSION]";

pub(super) async fn plan_route(
    State(shared): State<Arc<Shared>>,
    Extension(by): Extension<Principal>,
    QueryArgs(q): QueryArgs<PlanArgs>,
) -> Result<Json<Plan>, ApiErr> {
    let required = |v: Option<String>, name: &str| {
        v.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            ApiErr::bad_request(format!("the query parameter `{name}` is required")).hint(USAGE)
        })
    };
    let service = required(q.service, "service")?;
    let stage = required(q.stage, "stage")?;
    let artifact = q.artifact.filter(|a| !a.trim().is_empty());
    let now = Millis::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(Millis::MAX);
    // Everything from the state first: git runs without the lock.
    let (mut answer, current, candidate) = {
        let state = shared.read_model.read();
        let query = PlanQuery {
            service: &service,
            stage: &stage,
            artifact: artifact.as_deref(),
            asker: &by.name,
            now,
            freezes: crate::present::plan::freezes_in_way(
                &shared.config,
                &state,
                &service,
                &stage,
                now,
            ),
        };
        let answer = plan(&state, &shared.config.users, &query).map_err(|e| match e {
            PlanError::NotFound(m) => {
                ApiErr::not_found(m).hint("`ferry status` lists services, stages and artifacts")
            }
            PlanError::NothingToPromote(m) => ApiErr::not_found(format!(
                "nothing to promote into {stage}: {m}"
            ))
            .hint("name a release: `ferry plan SERVICE STAGE VERSION` (artifact= in the API)"),
        })?;
        let artifact_of = |id: &str| state.artifacts.get(id).cloned();
        let current = answer.current.as_ref().and_then(|c| artifact_of(&c.id));
        let candidate = artifact_of(&answer.artifact.id);
        (answer, current, candidate)
    };
    let commits = commits_for(
        &shared,
        &service,
        current.as_ref(),
        candidate.as_ref(),
        PLAN_COMMITS,
    );
    // Dropping the future kills git (its child is `kill_on_drop`).
    let (commits, note) = match tokio::time::timeout(GIT_BUDGET, commits).await {
        Ok(found) => found,
        Err(_) => (
            Vec::new(),
            Some(format!(
                "git took longer than {}s to list the commits",
                GIT_BUDGET.as_secs()
            )),
        ),
    };
    answer.commits = commits;
    answer.commits_note = note;
    Ok(Json(answer))
}
