//! Names of things: ids, sequence numbers, times, and who acted.
//!
//! The ids are `String` aliases for now; they are one file away from
//! becoming newtypes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;
/// Position of an event in the one ordered log; the first event is 1.
pub type Seq = u64;
pub type ArtifactId = String;
pub type DeploymentId = String;
pub type BuildId = String;
/// A build or a deployment: both are runs made of steps.
pub type RunId = String;

/// Who caused a state change: a user, or ferry itself.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct Actor(pub String);

impl Actor {
    pub const FERRY: &'static str = "ferry";

    pub fn ferry() -> Self {
        Actor(Self::FERRY.to_string())
    }
    pub fn user(name: impl Into<String>) -> Self {
        Actor(name.into())
    }
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Roles a user can hold. Stage gates name further, free-form roles
/// (e.g. "release-manager"); these four are the built-in ones.
pub mod roles {
    pub const VIEWER: &str = "viewer";
    pub const DEPLOYER: &str = "deployer";
    pub const APPROVER: &str = "approver";
    pub const ADMIN: &str = "admin";
}
