//! Deployments: one artifact into one stage, with its gate and approvals.

use serde::{Deserialize, Serialize};

use super::{Actor, ArtifactId, DeploymentId, Millis, Step, StepStatus, TestCounts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    Promote,
    Rollback,
    Redeploy,
}

impl DeploymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentKind::Promote => "promote",
            DeploymentKind::Rollback => "rollback",
            DeploymentKind::Redeploy => "redeploy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Waiting for the stage to be free (its gate already holds).
    Queued,
    /// Waiting for the approvals its gate requires.
    AwaitingApproval,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Rejected,
    /// A newer promotion to the same stage replaced it before it started.
    Superseded,
}

impl DeploymentStatus {
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Queued | DeploymentStatus::AwaitingApproval
        )
    }
    pub fn is_finished(self) -> bool {
        !self.is_pending() && self != DeploymentStatus::Running
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Queued => "queued",
            DeploymentStatus::AwaitingApproval => "awaiting_approval",
            DeploymentStatus::Running => "running",
            DeploymentStatus::Succeeded => "succeeded",
            DeploymentStatus::Failed => "failed",
            DeploymentStatus::Cancelled => "cancelled",
            DeploymentStatus::Rejected => "rejected",
            DeploymentStatus::Superseded => "superseded",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// A person's yes or no on one deployment, bound to its artifact's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    pub by: Actor,
    pub decision: Decision,
    pub digest: String,
    pub comment: Option<String>,
    pub at: Millis,
}

/// What a gate asks for, copied into the deployment when it is created so
/// that a later config change cannot move the goalposts of a pending one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalRule {
    pub required: u32,
    pub roles: Vec<String>,
    pub allow_self: bool,
}

/// One attempt to put one artifact into one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deployment {
    pub id: DeploymentId,
    pub service: String,
    pub stage: String,
    pub artifact: ArtifactId,
    pub digest: String,
    pub version: String,
    pub kind: DeploymentKind,
    pub status: DeploymentStatus,
    /// Whoever caused it (for auto promotions, the artifact's author).
    pub requested_by: Actor,
    pub reason: String,
    pub approval: Option<ApprovalRule>,
    pub approvals: Vec<Approval>,
    pub steps: Vec<Step>,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// Why it ended, when it did not succeed.
    pub outcome: Option<String>,
    /// The deployment this one rolled back, when `kind` is rollback.
    pub rolls_back: Option<DeploymentId>,
    /// Lessons and comments recorded on it (`ferry note`), oldest first.
    #[serde(default)]
    pub notes: Vec<Note>,
    /// Verdicts on its sign-off steps (user acceptance), oldest first.
    #[serde(default)]
    pub sign_offs: Vec<super::SignOff>,
}

/// A lesson or comment on a deployment, with who wrote it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Note {
    pub at: Millis,
    pub author: Actor,
    pub text: String,
}

impl Note {
    /// The longest note, in characters.
    pub const MAX_CHARS: usize = 500;
}

impl Deployment {
    /// People whose approval counts (distinct, approvals only).
    pub fn approvers(&self) -> Vec<&Actor> {
        let mut seen: Vec<&Actor> = Vec::new();
        for a in &self.approvals {
            if a.decision == Decision::Approve && a.digest == self.digest && !seen.contains(&&a.by)
            {
                seen.push(&a.by);
            }
        }
        seen
    }
    pub fn approvals_needed(&self) -> u32 {
        self.approval.as_ref().map(|r| r.required).unwrap_or(0)
    }
    pub fn is_approved(&self) -> bool {
        self.approvers().len() as u32 >= self.approvals_needed()
    }
    /// Sum of test counts over the verification steps that reported any.
    pub fn tests(&self) -> Option<TestCounts> {
        let mut total: Option<TestCounts> = None;
        for s in &self.steps {
            if let Some(t) = s.tests {
                total.get_or_insert_with(TestCounts::default).add(t);
            }
        }
        total
    }
    /// Index of the step currently running, if any.
    pub fn running_step(&self) -> Option<usize> {
        self.steps
            .iter()
            .position(|s| s.status == StepStatus::Running)
    }
    pub fn steps_done(&self) -> usize {
        self.steps.iter().filter(|s| s.status.is_done()).count()
    }
}
