//! Notifications: what ferry tells people about failures, approvals and rollbacks.

use serde::{Deserialize, Serialize};

use super::{BuildId, DeploymentId, FailedTest, Millis};

/// Which notification a failure, an approval request or a rollback sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    BuildFailed,
    DeploymentFailed,
    ApprovalNeeded,
    RolledBack,
    RollbackImpossible,
    /// A deployment to the last stage of its service succeeded.
    DeploymentSucceeded,
    /// An automatic rollback failed: the stage runs a bad release.
    RollbackFailed,
    /// A release was quarantined: automatically when it was rolled back
    /// away from, or by hand (`ferry quarantine add`).
    Quarantined,
    /// Break-glass: someone promoted into a frozen stage (who and why in the message).
    FreezeOverridden,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::BuildFailed => "build_failed",
            NotificationKind::DeploymentFailed => "deployment_failed",
            NotificationKind::ApprovalNeeded => "approval_needed",
            NotificationKind::RolledBack => "rolled_back",
            NotificationKind::RollbackImpossible => "rollback_impossible",
            NotificationKind::DeploymentSucceeded => "deployment_succeeded",
            NotificationKind::RollbackFailed => "rollback_failed",
            NotificationKind::Quarantined => "quarantined",
            NotificationKind::FreezeOverridden => "freeze_overridden",
        }
    }
}

/// The payload POSTed to webhooks (and given to notify commands as JSON on stdin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The outbox id (`n-<seq>`, the seq of its `NotificationQueued`):
    /// the same on every retry and after a restart, so receivers can drop
    /// duplicates. Empty only in events written before the outbox.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub kind: NotificationKind,
    pub service: String,
    pub stage: Option<String>,
    pub version: Option<String>,
    pub commit: Option<String>,
    pub deployment: Option<DeploymentId>,
    pub build: Option<BuildId>,
    /// One line for people.
    pub message: String,
    pub at: Millis,
    /// `deployment_failed`: the failed tests of the failed step, when its
    /// report had any. Boxed: most notifications have none, and events
    /// (which hold notifications) stay small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_tests: Option<Box<FailedTests>>,
}

/// The failed tests a notification names: the first `NOTIFIED_TESTS`, and
/// how many more failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTests {
    pub named: Vec<FailedTest>,
    #[serde(default)]
    pub more: u32,
}

/// How many failed tests a notification names; the rest are counted.
pub const NOTIFIED_TESTS: usize = 5;
