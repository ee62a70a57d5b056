//! Freeze windows as folded from the events: ad-hoc freezes (`StageFrozen`,
//! `StageUnfrozen`), deployments waiting for a window to close
//! (`DeploymentFrozen`) and break-glass overrides (`FreezeOverridden`).
//! Configured windows live in the configuration (`config::FreezeConfig`).

use serde::{Deserialize, Serialize};

use super::{Actor, Millis};

/// A freeze set by hand with `ferry freeze`, until it ends or is lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdhocFreeze {
    /// The stage it covers, in every service that has it (or only `service`).
    pub stage: String,
    pub service: Option<String>,
    pub until: Millis,
    pub at: Millis,
    pub by: Actor,
    pub reason: String,
}

impl AdhocFreeze {
    pub fn covers(&self, service: &str, stage: &str) -> bool {
        self.stage == stage && self.service.as_deref().is_none_or(|s| s == service)
    }

    /// The name freezes set by hand go by in messages and events.
    pub fn name(&self) -> String {
        match &self.service {
            Some(s) => format!("ad-hoc freeze of {s} {}", self.stage),
            None => format!("ad-hoc freeze of {}", self.stage),
        }
    }
}

/// Why a deployment waits for a freeze window to close, and who may
/// override it: recorded when it would have started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FrozenWait {
    /// The freeze's name (a configured `[[freezes]]` name, or "ad-hoc freeze of …").
    pub freeze: String,
    /// The freeze's reason.
    pub reason: String,
    /// When every window in the way has closed (epoch ms).
    pub until: Millis,
    /// Roles that may override it (admins always can).
    pub override_roles: Vec<String>,
}

/// "18:00 UTC" within a day of `now`, else "Dec 24 18:00 UTC".
pub fn short_time(ms: Millis, now: Millis) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000) else {
        return ms.to_string();
    };
    let within_day = (ms - now).abs() < 24 * 3600 * 1000;
    let fmt = if within_day {
        time::macros::format_description!("[hour]:[minute] UTC")
    } else {
        time::macros::format_description!("[month repr:short] [day] [hour]:[minute] UTC")
    };
    t.format(&fmt).unwrap_or_else(|_| ms.to_string())
}
