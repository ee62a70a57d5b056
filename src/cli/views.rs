//! The stable `--json` shapes of `status`, `show`, `wait` and `logs`
//! (documented in docs/cli-json.md). They are built from the domain types
//! but do not follow them: a field here is renamed or removed only with a
//! major version. Every time is an RFC 3339 string (`*_at`) beside its epoch
//! milliseconds (`*_at_ms`); versions and digests are strings as given.

use serde::Serialize;

use crate::engine::{ServiceState, State};
use crate::model::{Artifact, Deployment, Millis, Step};
use crate::present::cells;

/// The version of these shapes; bumped only on an incompatible change.
pub const SCHEMA: u32 = 1;

/// An RFC 3339 UTC time, or None for a time out of range.
pub fn rfc3339(ms: Millis) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub index: usize,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub message: Option<String>,
    pub exit_code: Option<i32>,
    pub tests: Option<crate::model::TestCounts>,
    pub started_at: Option<String>,
    pub started_at_ms: Option<Millis>,
    pub finished_at: Option<String>,
    pub finished_at_ms: Option<Millis>,
    pub log_lines: u64,
    /// The failed tests of its JUnit report (at most 50; `tests.failed`
    /// counts them all); empty when none failed.
    pub failed_tests: Vec<crate::model::FailedTest>,
}

impl StepView {
    pub fn new(index: usize, s: &Step) -> StepView {
        StepView {
            index,
            name: s.name.clone(),
            kind: serde_plain(&s.kind),
            status: s.status.as_str().to_string(),
            message: s.message.clone(),
            exit_code: s.exit_code,
            tests: s.tests,
            started_at: s.started_at.and_then(rfc3339),
            started_at_ms: s.started_at,
            finished_at: s.finished_at.and_then(rfc3339),
            finished_at_ms: s.finished_at,
            log_lines: s.log_lines,
            failed_tests: s.failed_tests.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeploymentView {
    pub schema: u32,
    pub id: String,
    pub service: String,
    pub stage: String,
    pub artifact: String,
    pub version: String,
    pub digest: String,
    pub kind: String,
    pub status: String,
    pub finished: bool,
    pub requested_by: String,
    pub reason: String,
    pub outcome: Option<String>,
    pub approvals_needed: u32,
    pub approved_by: Vec<String>,
    pub created_at: Option<String>,
    pub created_at_ms: Millis,
    pub started_at: Option<String>,
    pub started_at_ms: Option<Millis>,
    pub finished_at: Option<String>,
    pub finished_at_ms: Option<Millis>,
    pub rolls_back: Option<String>,
    pub steps: Vec<StepView>,
}

impl DeploymentView {
    pub fn new(d: &Deployment) -> DeploymentView {
        DeploymentView {
            schema: SCHEMA,
            id: d.id.to_string(),
            service: d.service.clone(),
            stage: d.stage.clone(),
            artifact: d.artifact.to_string(),
            version: d.version.clone(),
            digest: d.digest.clone(),
            kind: d.kind.as_str().to_string(),
            status: d.status.as_str().to_string(),
            finished: d.status.is_finished(),
            requested_by: d.requested_by.0.clone(),
            reason: d.reason.clone(),
            outcome: d.outcome.clone(),
            approvals_needed: d.approvals_needed(),
            approved_by: d.approvers().iter().map(|a| a.0.clone()).collect(),
            created_at: rfc3339(d.created_at),
            created_at_ms: d.created_at,
            started_at: d.started_at.and_then(rfc3339),
            started_at_ms: d.started_at,
            finished_at: d.finished_at.and_then(rfc3339),
            finished_at_ms: d.finished_at,
            rolls_back: d.rolls_back.as_ref().map(|r| r.to_string()),
            steps: d
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| StepView::new(i, s))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactView {
    pub schema: u32,
    pub id: String,
    pub service: String,
    pub version: String,
    pub digest: String,
    pub uri: String,
    pub commit: Option<String>,
    pub subject: Option<String>,
    pub created_by: String,
    pub created_at: Option<String>,
    pub created_at_ms: Millis,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The deployments of this artifact, oldest first (only with `show`).
    pub deployments: Vec<DeploymentView>,
}

impl ArtifactView {
    pub fn new(a: &Artifact, deployments: &[Deployment]) -> ArtifactView {
        ArtifactView {
            schema: SCHEMA,
            id: a.id.to_string(),
            service: a.service.clone(),
            version: a.version.clone(),
            digest: a.digest.clone(),
            uri: a.uri.clone(),
            commit: a.commit.clone(),
            subject: a.subject.clone(),
            created_by: a.created_by.0.clone(),
            created_at: rfc3339(a.created_at),
            created_at_ms: a.created_at,
            metadata: a.metadata.clone(),
            deployments: deployments.iter().map(DeploymentView::new).collect(),
        }
    }
}

/// An artifact as a stage refers to it.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactRef {
    pub id: String,
    pub version: String,
    pub digest: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    pub name: String,
    pub current: Option<ArtifactRef>,
    pub last_good: Option<ArtifactRef>,
    /// The deployment a person looks at first: what runs, else what waits,
    /// else the last one that finished.
    pub deployment: Option<String>,
    pub status: Option<String>,
    pub queued: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub stages: Vec<StageView>,
}

/// `status --json` and `status SERVICE --json`: the same shape, the second
/// with one service.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub schema: u32,
    pub seq: u64,
    pub services: Vec<ServiceView>,
    pub awaiting_approval: Vec<DeploymentView>,
}

impl StatusView {
    pub fn new(state: &State, services: &[&ServiceState]) -> StatusView {
        let aref = |id: Option<&crate::model::ArtifactId>| {
            id.and_then(|a| state.artifacts.get(a))
                .map(|a| ArtifactRef {
                    id: a.id.to_string(),
                    version: a.version.clone(),
                    digest: a.digest.clone(),
                })
        };
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        StatusView {
            schema: SCHEMA,
            seq: state.seq,
            services: services
                .iter()
                .map(|svc| ServiceView {
                    name: svc.name.clone(),
                    stages: svc
                        .stages
                        .iter()
                        .map(|st| {
                            let focus = cells::focus_deployment(state, st);
                            StageView {
                                name: st.name.clone(),
                                current: aref(st.current.as_ref()),
                                last_good: aref(st.last_good().map(|g| &g.artifact)),
                                deployment: focus.map(|d| d.id.to_string()),
                                status: focus.map(|d| d.status.as_str().to_string()),
                                queued: st.queue.len(),
                            }
                        })
                        .collect(),
                })
                .collect(),
            awaiting_approval: state
                .pending_approvals()
                .into_iter()
                .filter(|d| names.contains(&d.service.as_str()))
                .map(DeploymentView::new)
                .collect(),
        }
    }
}

/// A unit enum's serde name ("deploy", "health").
fn serde_plain<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_strings() {
        assert_eq!(
            rfc3339(1_764_063_000_000).as_deref(),
            Some("2025-11-25T09:30:00Z")
        );
        assert_eq!(
            serde_plain(&crate::model::StepKind::Health),
            "health".to_string()
        );
    }
}
