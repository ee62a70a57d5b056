//! Wire types of the HTTP API, shared by the server and its clients.
//! Domain objects (`Deployment`, `Artifact`, `State`, ...) travel as they are
//! defined in `model` and `engine`; the types here are the envelopes around them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::{Principal, State};
use crate::model::{Artifact, ArtifactId, BuildId, Deployment, DeploymentId, Seq};

/// Everything the console needs to draw its first screen; it then watches
/// the event stream from `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub seq: Seq,
    pub server: ServerInfo,
    /// Who the server thinks is asking.
    #[schema(value_type = Object)]
    pub user: Principal,
    /// Services, stages, artifacts, builds and deployments as the engine folds them.
    #[schema(value_type = Object)]
    pub state: State,
    /// Git sources whose last fetch failed, by service (only on the leader,
    /// which runs the pollers; empty when every source fetches fine).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<String, SourceStatus>,
    /// Every stage with something waiting, and why (`engine::blocked`).
    #[serde(default)]
    pub blocked: Vec<BlockedNote>,
    /// Configured `[[freezes]]` windows open now, for clients that have no
    /// configuration (the console's banner); ad-hoc freezes are in `state`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freezes: Vec<FreezeNote>,
}

/// A configured freeze window open now: what it covers and until when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FreezeNote {
    pub name: String,
    /// The stages it covers (in every service, or in `services`).
    pub stages: Vec<String>,
    /// Empty: every service.
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub reason: String,
    /// When this window opened (epoch ms).
    pub from: crate::model::Millis,
    /// When it closes (epoch ms).
    pub until: crate::model::Millis,
    /// Roles that may override it with a reason (admins always can).
    #[serde(default)]
    pub override_roles: Vec<String>,
}

impl FreezeNote {
    pub fn covers(&self, service: &str, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
            && (self.services.is_empty() || self.services.iter().any(|s| s == service))
    }
}

/// One stage's "why is this blocked", as a client reads it: the reason code
/// stays a string, so a code a newer server adds does not break the read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockedNote {
    pub service: String,
    pub stage: String,
    /// `awaiting_approval`, `frozen`, `awaiting_sign_off`, `quarantined`, …
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub deployment: Option<String>,
    #[serde(default)]
    pub who: Vec<String>,
    #[serde(default)]
    pub until: Option<crate::model::Millis>,
}

/// A git source that cannot be fetched right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceStatus {
    /// The last fetch's error, credentials masked.
    pub error: String,
    /// When it failed (epoch ms), and as RFC 3339.
    pub at: crate::model::Millis,
    pub at_time: String,
    /// When the current run of failures began (epoch ms).
    pub failing_since: crate::model::Millis,
    /// Failed fetches in a row.
    pub failures: u32,
    /// Seconds until the next try (the interval, backed off while failing).
    pub retry_in_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServerInfo {
    pub version: String,
    /// Set when the server runs `ferry demo`'s workspace.
    pub demo_workspace: Option<String>,
}

/// The answer to an accepted command: what it created or acted on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionReply {
    pub message: String,
    pub deployment: Option<DeploymentId>,
    pub artifact: Option<ArtifactId>,
    pub build: Option<BuildId>,
}

/// Every non-2xx answer carries this body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiError {
    /// Machine-readable: not_found, conflict, forbidden, invalid, bad_request,
    /// unauthorized, payload_too_large, unavailable, internal.
    pub error: String,
    /// One line for people.
    pub message: String,
    pub hint: Option<String>,
    /// The request's `x-request-id`, to find it in the server's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisterArtifact {
    pub service: String,
    pub version: String,
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// Lowercase hex sha256 of the artifact's bytes.
    pub digest: String,
    pub uri: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The commit's time in epoch ms, when the CI knows it: change lead
    /// time counts from it (else from the registration).
    #[serde(default)]
    pub committed_at: Option<crate::model::Millis>,
}

/// `POST /deployments/{id}/notes`: a lesson or comment, kept as an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoteRequest {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromoteRequest {
    pub service: String,
    pub stage: String,
    /// Artifact id (a-12) or version (1.4.2).
    pub artifact: String,
    /// Break-glass: start inside a freeze window (needs a role the freeze
    /// names, and `reason`; 403/422 otherwise, and nothing changes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub override_freeze: bool,
    /// Why, with `override_freeze`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /freeze`: promotions into `stage` (of every service that has it,
/// or of `service`) wait until `until`; rollbacks still run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FreezeRequest {
    pub stage: String,
    #[serde(default)]
    pub service: Option<String>,
    /// RFC 3339, in the future.
    pub until: String,
    /// Required: why (422 when empty).
    #[serde(default)]
    pub reason: String,
}

/// `POST /unfreeze`: end the ad-hoc freeze of `stage` (or of `service`'s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnfreezeRequest {
    pub stage: String,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /deployments/{id}/sign-off`: a verdict on a sign-off step the
/// deployment waits at. Every field is checked by the server (422 naming
/// what is missing): `step` and `verdict` always, `comment` with a fail.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignOffRequest {
    /// The sign-off step's name (`uat`).
    #[serde(default)]
    pub step: Option<String>,
    /// `pass` or `fail`.
    #[serde(default)]
    pub verdict: Option<crate::model::Verdict>,
    /// Required with a fail: what failed.
    #[serde(default)]
    pub comment: Option<String>,
}

/// One verdict on a sign-off step of an earlier stage, in the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageSignOff {
    pub stage: String,
    pub deployment: DeploymentId,
    pub sign_off: crate::model::SignOff,
}

/// `POST /quarantine/add` and `/quarantine/lift`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuarantineRequest {
    /// Artifact id (a-12).
    pub artifact: String,
    /// Required: why (422 when empty).
    #[serde(default)]
    pub reason: String,
}

/// `POST /hold/lift`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HoldLiftRequest {
    pub service: String,
    pub stage: String,
    /// Required: why (422 when empty).
    #[serde(default)]
    pub reason: String,
}

/// `GET /artifacts/{id}`: the artifact and its quarantine, if it ever had one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArtifactView {
    #[serde(flatten)]
    pub artifact: crate::model::Artifact,
    #[serde(default)]
    pub quarantine: Option<crate::model::Quarantine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionRequest {
    #[serde(default)]
    pub comment: Option<String>,
    /// When given, an approval is refused unless it matches the deployment's artifact.
    #[serde(default)]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RollbackRequest {
    pub service: String,
    pub stage: String,
    #[serde(default)]
    pub to: Option<String>,
}

/// One page of deployments, newest first; pass `next_before` as `before` for the next.
/// A page may hold fewer than `limit` (older deployments are read back from
/// the store, a bounded number per request): follow `next_before` until it is null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeploymentPage {
    pub items: Vec<Deployment>,
    pub next_before: Option<DeploymentId>,
}

/// Lines of a step's log file. `offset` is the line number of the first
/// line returned; ask again from `next_offset` for what follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogChunk {
    pub lines: Vec<String>,
    pub offset: u64,
    pub next_offset: u64,
    /// Lines in the file when it was read.
    pub total: u64,
}

/// What an approver looks at before saying yes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    pub deployment: Deployment,
    /// What runs in the stage now (or ran before this deployment).
    pub current: Option<Artifact>,
    pub candidate: Option<Artifact>,
    /// Commits in the candidate and not in the current artifact, newest first.
    pub commits: Vec<CommitInfoDto>,
    /// Earlier stages, in pipeline order, with the deployment that passed
    /// the candidate there (None when it did not).
    pub earlier_stages: Vec<StageEvidence>,
    /// Why `commits` may be incomplete (no git source, git failed, ...).
    #[serde(default)]
    pub note: Option<String>,
    /// Sign-offs (user acceptance) the candidate got in earlier stages,
    /// from the deployments in `earlier_stages`, oldest stage first.
    #[serde(default)]
    pub sign_offs: Vec<StageSignOff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommitInfoDto {
    pub sha: String,
    pub subject: String,
    pub author: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageEvidence {
    pub stage: String,
    pub deployment: Option<Deployment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
    pub seq: Seq,
}

/// Filters of `GET /api/v1/deployments`: the backend sends them as the
/// query string, the server reads them back.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    utoipa::IntoParams,
)]
pub struct DeploymentQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// Where a time-travelling dashboard (`GET /dashboard?at=`) stands in the
/// log, sent beside the usual `Dashboard` fields as `as_of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AsOf {
    /// The last event folded.
    pub seq: Seq,
    /// That event's time (epoch ms, 0 for seq 0), and as RFC 3339.
    pub at: crate::model::Millis,
    pub at_time: String,
    /// The log's last seq when this was answered (the live end).
    pub end: Seq,
    /// The nearest event before / after `seq` that created, started or
    /// finished a deployment (for stepping by deployment), if any.
    pub previous_deployment: Option<Seq>,
    pub next_deployment: Option<Seq>,
}

/// A `Dashboard` as it was at some point (`?at=`): the same fields, and `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardAt {
    #[serde(flatten)]
    pub dashboard: Dashboard,
    pub as_of: AsOf,
}
