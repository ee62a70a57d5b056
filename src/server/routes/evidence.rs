//! What an approver looks at: what runs in the stage now, what would
//! replace it, the commits in between, and where the candidate passed before.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};

use crate::api::{CommitInfoDto, Evidence, StageEvidence, StageSignOff};
use crate::config::Source;
use crate::model::{Artifact, DeploymentStatus};
use crate::runner::git::commits_between;

use super::super::Shared;
use super::super::error::ApiErr;
use super::read::no_deployment;

/// Enough commits for a person to read; more means "a lot changed".
const MAX_COMMITS: usize = 200;

pub(super) async fn evidence(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Evidence>, ApiErr> {
    // A deployment the fold has forgotten is read back into a copy.
    // Gathered from the state first: git runs without the lock.
    let mut evidence =
        crate::server::archive::with_state_of(&shared, &id, |state| gather(state, &id)).await??;
    let (commits, note) = commits_for(
        &shared,
        &evidence.deployment.service,
        evidence.current.as_ref(),
        evidence.candidate.as_ref(),
        MAX_COMMITS,
    )
    .await;
    evidence.commits = commits;
    evidence.note = note;
    Ok(Json(evidence))
}

/// Commits in the candidate and not in the current artifact, at most
/// `max`. Evidence (and a plan) is still worth showing without them, so
/// failures become a note.
pub(super) async fn commits_for(
    shared: &Shared,
    service: &str,
    current: Option<&Artifact>,
    candidate: Option<&Artifact>,
    max: usize,
) -> (Vec<CommitInfoDto>, Option<String>) {
    let is_git = shared
        .config
        .service(service)
        .is_some_and(|s| matches!(s.source, Source::Git { .. }));
    if !is_git {
        return (
            Vec::new(),
            Some("the service has no git source: no commit list".to_string()),
        );
    }
    let Some(to) = candidate.and_then(|c| c.commit.as_deref()) else {
        return (
            Vec::new(),
            Some("the candidate artifact names no commit".to_string()),
        );
    };
    let from = current.and_then(|c| c.commit.as_deref());
    match commits_between(&shared.data_dir, service, from, to, max).await {
        Ok(list) => {
            let note =
                (list.len() >= max).then(|| format!("showing the newest {max} commits only"));
            let commits = list
                .into_iter()
                .map(|c| CommitInfoDto {
                    sha: c.sha,
                    subject: crate::model::sanitize_text(&c.subject),
                    author: crate::model::sanitize_text(&c.author),
                })
                .collect();
            (commits, note)
        }
        Err(e) => (
            Vec::new(),
            Some(format!("could not list the commits: {e:#}")),
        ),
    }
}

/// What the state says about deployment `id`: the evidence but its commits.
fn gather(state: &crate::engine::State, id: &str) -> Result<Evidence, ApiErr> {
    let d = state
        .deployments
        .get(id)
        .cloned()
        .ok_or_else(|| no_deployment(id))?;
    let candidate = state.artifacts.get(&d.artifact).cloned();
    let stage = state.stage(&d.service, &d.stage);
    // Once this deployment ran, "current" is itself; compare with what
    // was good there before it instead.
    let current_id = stage.and_then(|st| match &st.current {
        Some(c) if c != &d.artifact => Some(c.clone()),
        _ => st.good_before(&d.artifact).map(|g| g.artifact.clone()),
    });
    let current = current_id.and_then(|a| state.artifacts.get(&a).cloned());
    let earlier_stages: Vec<StageEvidence> = state
        .service(&d.service)
        .map(|svc| {
            svc.stages
                .iter()
                .take_while(|st| st.name != d.stage)
                .map(|st| StageEvidence {
                    stage: st.name.clone(),
                    deployment: st
                        .history
                        .iter()
                        .rev()
                        .filter_map(|h| state.deployments.get(h))
                        .find(|h| {
                            h.artifact == d.artifact && h.status == DeploymentStatus::Succeeded
                        })
                        .cloned(),
                })
                .collect()
        })
        .unwrap_or_default();
    // What people said in user acceptance before this stage.
    let sign_offs = earlier_stages
        .iter()
        .filter_map(|e| e.deployment.as_ref().map(|d| (&e.stage, d)))
        .flat_map(|(stage, d)| {
            d.sign_offs.iter().map(|s| StageSignOff {
                stage: stage.clone(),
                deployment: d.id.clone(),
                sign_off: s.clone(),
            })
        })
        .collect();
    Ok(Evidence {
        deployment: d,
        current,
        candidate,
        commits: Vec::new(),
        earlier_stages,
        note: None,
        sign_offs,
    })
}
