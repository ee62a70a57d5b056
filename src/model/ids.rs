//! Names of things: ids, sequence numbers, times, and who acted.
//!
//! Ids are newtypes over `String` so the compiler catches a deployment id
//! passed where an artifact id belongs. Each one serialises as its plain
//! string (`#[serde(transparent)]`), derefs to `str`, and compares with
//! `str`, so the wire format and most call sites read as before.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;
/// Position of an event in the one ordered log; the first event is 1.
pub type Seq = u64;

/// Defines a string id newtype with the conversions and comparisons that let
/// it stand in for a `&str` wherever only the text matters.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        // On the wire an id is its text (e.g. "d-17").
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_string())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                $name(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

string_id!(
    /// Names one artifact: the thing a build produced and stages deploy.
    ArtifactId
);
string_id!(
    /// Names one deployment of an artifact to a stage.
    DeploymentId
);
string_id!(
    /// Names one build of a service.
    BuildId
);
string_id!(
    /// A build or a deployment: both are runs made of steps.
    RunId
);

/// A deployment is a run; its steps are found under the same id.
impl From<DeploymentId> for RunId {
    fn from(id: DeploymentId) -> Self {
        RunId(id.0)
    }
}

/// A build is a run; its steps are found under the same id.
impl From<BuildId> for RunId {
    fn from(id: BuildId) -> Self {
        RunId(id.0)
    }
}

impl From<&DeploymentId> for RunId {
    fn from(id: &DeploymentId) -> Self {
        RunId(id.0.clone())
    }
}

impl From<&BuildId> for RunId {
    fn from(id: &BuildId) -> Self {
        RunId(id.0.clone())
    }
}

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
