//! `[safety]`: who may lift a quarantine, and whether four-eyes applies.
//!
//! ```toml
//! [safety]
//! quarantine_lift_roles = ["release-manager"]   # default: ["deployer"]
//! quarantine_lift_allow_self = false             # default: true
//! ```

use super::UserConfig;
use super::error::Result;
use super::walk::{At, Table};

/// The resolved `[safety]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyConfig {
    /// Roles that may lift a quarantine (admins always may). Default: deployer.
    pub quarantine_lift_roles: Vec<String>,
    /// `false`: whoever put the quarantine in force by hand (a `quarantine
    /// add`, or the manual rollback that caused it) may not lift it.
    pub quarantine_lift_allow_self: bool,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig {
            quarantine_lift_roles: vec![crate::model::roles::DEPLOYER.to_string()],
            quarantine_lift_allow_self: true,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct RawSafety {
    roles: Vec<At<String>>,
    allow_self: Option<bool>,
}

const ROLES_HELP: &str =
    "a list of role names users hold, e.g. quarantine_lift_roles = [\"release-manager\"]";

pub(super) fn read_safety(t: &Table) -> Result<RawSafety> {
    t.allow(&["quarantine_lift_roles", "quarantine_lift_allow_self"])?;
    let roles = t.strings("quarantine_lift_roles", ROLES_HELP)?;
    if let Some(empty) = roles.iter().find(|r| r.value.trim().is_empty()) {
        return Err(empty.fault("a role name must not be empty", ROLES_HELP));
    }
    let allow_self = t
        .get("quarantine_lift_allow_self")
        .map(|i| i.bool())
        .transpose()?;
    Ok(RawSafety { roles, allow_self })
}

/// Every role named must be held by a user (when there are users).
pub(super) fn resolve_safety(raw: RawSafety, users: &[UserConfig]) -> Result<SafetyConfig> {
    let mut safety = SafetyConfig::default();
    if !users.is_empty() {
        for role in &raw.roles {
            if !users.iter().any(|u| u.roles.contains(&role.value)) {
                return Err(role.fault(
                    format!(
                        "no user has the role `{}` that may lift a quarantine",
                        role.value
                    ),
                    format!(
                        "add `{}` to the roles of a [[users]] entry, or name a role users have",
                        role.value
                    ),
                ));
            }
        }
    }
    if !raw.roles.is_empty() {
        safety.quarantine_lift_roles = raw.roles.into_iter().map(|r| r.value).collect();
    }
    // Without users every request is the one local admin: four-eyes could
    // never be met, so it does not apply (as for approval gates).
    safety.quarantine_lift_allow_self = users.is_empty() || raw.allow_self.unwrap_or(true);
    Ok(safety)
}
