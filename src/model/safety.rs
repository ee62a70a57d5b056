//! Release safety: quarantined releases and held stages, as folded from the
//! events (`ArtifactQuarantined`, `QuarantineLifted`, `StageHeld`,
//! `HoldLifted`).

use serde::{Deserialize, Serialize};

use super::{Actor, ArtifactId, DeploymentId, Millis};

/// Why a release was quarantined automatically: the rollback away from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    /// The stage it was rolled back in.
    pub stage: String,
    /// The deployment that put it there (failed, or undone by hand), if known.
    pub deployment: Option<DeploymentId>,
    /// The rollback away from it.
    pub rollback: DeploymentId,
    pub at: Millis,
    /// Why, in one line ("automatic rollback after d-7 failed: …").
    pub why: String,
}

/// One change of a release's quarantine, for its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuarantineChange {
    /// `added` or `lifted`.
    pub action: String,
    pub at: Millis,
    pub by: Actor,
    pub reason: String,
    pub incident: Option<Incident>,
}

/// A release's quarantine: whether it is in force now, and every change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quarantine {
    pub artifact: ArtifactId,
    pub service: String,
    pub active: bool,
    /// Oldest first; the last `added` one is the quarantine in force.
    pub history: Vec<QuarantineChange>,
}

impl Quarantine {
    /// The change that put the quarantine in force, when it is.
    pub fn current(&self) -> Option<&QuarantineChange> {
        if !self.active {
            return None;
        }
        self.history.iter().rev().find(|c| c.action == "added")
    }

    /// One line naming the incident, for refusals and `ferry why`.
    pub fn describe(&self) -> String {
        match self.current() {
            Some(QuarantineChange {
                incident: Some(i), ..
            }) => format!(
                "quarantined since it was rolled back in {} by {} ({}{}): {}",
                i.stage,
                i.rollback,
                i.deployment
                    .as_ref()
                    .map(|d| format!("undoing {d}, "))
                    .unwrap_or_default(),
                format_millis(i.at),
                i.why
            ),
            Some(c) => format!(
                "quarantined by {} at {}: {}",
                c.by.name(),
                format_millis(c.at),
                c.reason
            ),
            None => "not quarantined".to_string(),
        }
    }
}

/// A stage held after a manual rollback: automatic promotions into it wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    pub at: Millis,
    pub by: Actor,
    pub reason: String,
    /// The rollback that placed it.
    pub rollback: Option<DeploymentId>,
}

/// An epoch-millisecond time as RFC 3339 (UTC), or the number when out of range.
pub fn format_millis(ms: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
