//! Artifacts: the immutable outputs that travel through the stages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Actor, ArtifactId, BuildId, Millis};

/// An immutable build output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Artifact {
    pub id: ArtifactId,
    pub service: String,
    pub version: String,
    pub commit: Option<String>,
    /// First line of the commit message, when known.
    pub subject: Option<String>,
    /// Lowercase hex sha256 of the artifact's bytes.
    pub digest: String,
    /// Where the bytes are: a path under the data directory or a URL.
    pub uri: String,
    pub origin: ArtifactOrigin,
    /// The person the change belongs to (commit author, or who registered it);
    /// used for the `allow_self = false` rule.
    pub created_by: Actor,
    pub created_at: Millis,
    /// When the commit was made (epoch ms): from git for built artifacts,
    /// as the CI said for registered ones. Change lead time counts from it.
    #[serde(default)]
    pub committed_at: Option<Millis>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ArtifactOrigin {
    /// Built by ferry from its git source.
    Built { build: BuildId },
    /// Registered through the API by an external CI.
    Registered,
}
