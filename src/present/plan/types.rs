//! The plan's wire types: what `GET /api/v1/plan` and `ferry plan --json`
//! answer (documented in docs/cli-json.md).

use serde::{Deserialize, Serialize};

use crate::api::CommitInfoDto;
use crate::engine::BlockedReason;
use crate::model::{
    ApprovalRule, ArtifactId, DeploymentId, DeploymentKind, DeploymentStatus, Hold, Incident,
    Millis,
};

/// Past deployments the expected time is computed from (the newest ones).
pub const ETA_WINDOW: usize = 100;

/// The answer of `GET /api/v1/plan` and `ferry plan --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    pub service: String,
    pub stage: String,
    /// The release planned: the one asked about, or the console's `p` candidate.
    pub artifact: PlanRelease,
    /// True when no artifact was named and the candidate was picked.
    pub picked: bool,
    /// What the stage runs now, if anything.
    pub current: Option<PlanRelease>,
    /// `promote`, or `redeploy` when the stage already runs it healthy.
    pub kind: DeploymentKind,
    /// `starts` (it would start now), `waits` (it would be created and
    /// wait: approval, a running deployment, a freeze) or `refused` (the
    /// promote would be refused now: 409).
    pub verdict: PlanVerdict,
    /// One sentence for people.
    pub summary: String,
    /// Every rule the promotion must pass, in the order it meets them.
    pub gates: Vec<PlanGate>,
    /// The approval rule of the stage's gate, when it has one.
    pub approval: Option<ApprovalRule>,
    /// Who could approve it, by name: the gate's roles, four-eyes applied
    /// (not the one asking, not the release's author). Empty without users.
    pub approvers: Vec<String>,
    /// What refuses or delays it, or what this promote would end.
    pub blockers: Vec<PlanBlocker>,
    /// Freeze windows in the way (the engine's freeze rules fill it once
    /// they exist; empty until then).
    pub freezes: Vec<PlanFreeze>,
    /// The release's quarantine, when it is in force.
    pub quarantine: Option<PlanQuarantine>,
    /// The stage's hold, when it is held (an explicit promote ends it).
    pub held: Option<Hold>,
    /// Deployments that run or go before it (the running one, pending rollbacks).
    pub ahead: Vec<PlanDeployment>,
    /// Pending promotions this one would supersede.
    pub supersedes: Vec<PlanDeployment>,
    /// Commits it brings since the stage's current release, newest first
    /// (filled by the server from the service's git mirror).
    pub commits: Vec<CommitInfoDto>,
    /// Why `commits` is empty or incomplete (no mirror, no commit ids, ...).
    pub commits_note: Option<String>,
    /// The expected time to live, from this stage's past deployments.
    pub eta: Eta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanRelease {
    pub id: ArtifactId,
    pub version: String,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanVerdict {
    Starts,
    Waits,
    Refused,
}

impl PlanVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanVerdict::Starts => "starts",
            PlanVerdict::Waits => "waits",
            PlanVerdict::Refused => "refused",
        }
    }
}

/// One rule and whether it already holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanGate {
    /// `previous_stage`, `not_quarantined`, `not_pending_here`, `not_frozen`,
    /// `approval`, `stage_free`, `not_held`.
    pub name: String,
    pub holds: bool,
    pub detail: String,
}

/// What a blocker does to this promote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockerEffect {
    /// The promote is refused now (409).
    Refuses,
    /// The deployment is created and waits.
    Delays,
    /// It stands in the way of automatic promotions; this explicit one ends it.
    EndedByThis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanBlocker {
    /// The same codes as `ferry why`: quarantined, previous_stage_not_green,
    /// queued_behind, awaiting_approval, frozen, held.
    pub reason: BlockedReason,
    pub effect: BlockerEffect,
    pub message: String,
    /// Who can unblock it, by name, where known.
    pub who: Vec<String>,
    /// Until when, where a time is known (epoch ms).
    pub until: Option<Millis>,
}

/// A freeze window covering the stage (filled once freezes exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanFreeze {
    pub name: String,
    pub reason: String,
    /// When it ends (epoch ms).
    pub until: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanQuarantine {
    /// One line naming the incident.
    pub message: String,
    /// The rollback that quarantined it, when it was automatic.
    pub incident: Option<Incident>,
    /// Who quarantined it, when and why.
    pub by: String,
    pub at: Millis,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanDeployment {
    pub id: DeploymentId,
    pub version: String,
    pub kind: DeploymentKind,
    pub status: DeploymentStatus,
}

/// The expected time to live from the stage's history: of its newest
/// `ETA_WINDOW` succeeded promotions and redeploys, the run (start to
/// finish) and, for those that needed approval, the approval wait
/// (creation to the approval that completed it). Nearest-rank percentiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Eta {
    /// Deployments the run figures come from.
    pub runs: usize,
    pub run_median_ms: Option<Millis>,
    pub run_p90_ms: Option<Millis>,
    /// Deployments the approval figures come from.
    pub approvals: usize,
    pub approval_wait_median_ms: Option<Millis>,
    pub approval_wait_p90_ms: Option<Millis>,
    /// Median approval wait (when the gate asks for approval) plus median
    /// run: the expected time from now to live, if nothing runs ahead.
    pub expected_ms: Option<Millis>,
}

/// Why there is no plan: the service, stage or artifact is unknown, or
/// (with no artifact named) there is nothing to promote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    NotFound(String),
    NothingToPromote(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::NotFound(m) | PlanError::NothingToPromote(m) => f.write_str(m),
        }
    }
}
