//! Domain types shared by the server, the engine, the store, the runner and
//! the console. Everything that crosses a process boundary is defined here so
//! that the server and the console fold the very same events.
//!
//! Times are epoch milliseconds (`Millis`): the engine reads no clock, every
//! input carries its own `now`, and integers survive JSON and SQLite intact.

use std::collections::BTreeMap;
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

/// The short form of a commit sha (or digest) shown to people: its first 7
/// characters, cut on a char boundary so odd input never panics.
pub fn short_sha(commit: &str) -> &str {
    match commit.char_indices().nth(7) {
        Some((end, _)) => &commit[..end],
        None => commit,
    }
}

/// Who caused a state change: a user, or ferry itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

/// An immutable build output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ArtifactOrigin {
    /// Built by ferry from its git source.
    Built { build: BuildId },
    /// Registered through the API by an external CI.
    Registered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Build,
    Deploy,
    Verify,
    Health,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Passed,
    Failed,
    TimedOut,
    Cancelled,
    /// The server stopped while the step ran; counts as a failure.
    Interrupted,
    Skipped,
}

impl StepStatus {
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted
        )
    }
    pub fn is_done(self) -> bool {
        !matches!(self, StepStatus::Pending | StepStatus::Running)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Passed => "passed",
            StepStatus::Failed => "failed",
            StepStatus::TimedOut => "timed_out",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Interrupted => "interrupted",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// Test results from a JUnit XML report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl TestCounts {
    pub fn total(&self) -> u32 {
        self.passed + self.failed + self.skipped
    }
    pub fn add(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// What the runner reports when a step ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutcome {
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub tests: Option<TestCounts>,
    /// One line for people: "exit code 3", "timed out after 30s", "2 tests failed".
    pub message: String,
}

/// One step of a run as the state knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
    pub status: StepStatus,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub exit_code: Option<i32>,
    pub tests: Option<TestCounts>,
    pub message: Option<String>,
    /// Number of output lines seen so far (the log file has them all).
    #[serde(default)]
    pub log_lines: u64,
}

impl Step {
    pub fn new(name: impl Into<String>, kind: StepKind) -> Self {
        Step {
            name: name.into(),
            kind,
            status: StepStatus::Pending,
            started_at: None,
            finished_at: None,
            exit_code: None,
            tests: None,
            message: None,
            log_lines: 0,
        }
    }
}

/// The name and kind of a step, fixed when its run is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPlan {
    pub name: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// A person's yes or no on one deployment, bound to its artifact's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: Actor,
    pub decision: Decision,
    pub digest: String,
    pub comment: Option<String>,
    pub at: Millis,
}

/// What a gate asks for, copied into the deployment when it is created so
/// that a later config change cannot move the goalposts of a pending one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRule {
    pub required: u32,
    pub roles: Vec<String>,
    pub allow_self: bool,
}

/// One attempt to put one artifact into one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Turning one commit of a git source into an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    pub id: BuildId,
    pub service: String,
    pub commit: String,
    pub subject: Option<String>,
    pub author: Actor,
    pub status: BuildStatus,
    pub steps: Vec<Step>,
    pub artifact: Option<ArtifactId>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    pub outcome: Option<String>,
}

impl Build {
    /// Cut short by a server restart, not failed on its merits: worth building again.
    pub fn was_interrupted(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.status == StepStatus::Interrupted)
    }
}

/// Which notification a failure, an approval request or a rollback sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    BuildFailed,
    DeploymentFailed,
    ApprovalNeeded,
    RolledBack,
    RollbackImpossible,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::BuildFailed => "build_failed",
            NotificationKind::DeploymentFailed => "deployment_failed",
            NotificationKind::ApprovalNeeded => "approval_needed",
            NotificationKind::RolledBack => "rolled_back",
            NotificationKind::RollbackImpossible => "rollback_impossible",
        }
    }
}

/// The payload POSTed to webhooks (and given to notify commands as JSON on stdin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
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
}

/// An immutable, numbered fact. `seq` is given by the store on append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: Seq,
    pub at: Millis,
    pub actor: Actor,
    pub reason: String,
    pub kind: EventKind,
}

/// An event the engine decided on, before the store numbers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub at: Millis,
    pub actor: Actor,
    pub reason: String,
    pub kind: EventKind,
}

impl NewEvent {
    pub fn numbered(self, seq: Seq) -> Event {
        Event {
            seq,
            at: self.at,
            actor: self.actor,
            reason: self.reason,
            kind: self.kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum EventKind {
    /// The server started with this pipeline (first start, or config changed).
    ServerStarted {
        version: String,
    },
    BuildStarted {
        build: BuildId,
        service: String,
        commit: String,
        subject: Option<String>,
        author: Actor,
        steps: Vec<StepPlan>,
    },
    BuildFinished {
        build: BuildId,
        status: BuildStatus,
        message: String,
    },
    ArtifactRegistered {
        artifact: Artifact,
    },
    DeploymentCreated {
        deployment: DeploymentId,
        service: String,
        stage: String,
        artifact: ArtifactId,
        kind: DeploymentKind,
        /// Queued, or awaiting approval.
        status: DeploymentStatus,
        requested_by: Actor,
        approval: Option<ApprovalRule>,
        steps: Vec<StepPlan>,
        rolls_back: Option<DeploymentId>,
        /// The artifact's version and digest, so that a client whose
        /// snapshot left an old artifact out still knows what deploys.
        #[serde(default)]
        version: String,
        #[serde(default)]
        digest: String,
    },
    ApprovalRecorded {
        deployment: DeploymentId,
        approval: Approval,
    },
    /// Its gate now holds; it waits only for the stage to be free.
    DeploymentApproved {
        deployment: DeploymentId,
    },
    DeploymentStarted {
        deployment: DeploymentId,
    },
    StepStarted {
        run: RunId,
        step: usize,
    },
    /// A batch of output lines, already sanitized and masked.
    StepOutput {
        run: RunId,
        step: usize,
        lines: Vec<String>,
        /// Lines left out of the stream by rate limiting (still in the log file).
        #[serde(default)]
        dropped: u64,
    },
    StepFinished {
        run: RunId,
        step: usize,
        outcome: StepOutcome,
    },
    /// A request to stop a running deployment; the step is being killed.
    CancelRequested {
        deployment: DeploymentId,
    },
    DeploymentFinished {
        deployment: DeploymentId,
        status: DeploymentStatus,
        message: String,
    },
    /// A failure with `rollback = "auto"` and nothing to roll back to.
    RollbackImpossible {
        service: String,
        stage: String,
        deployment: DeploymentId,
    },
    NotificationSent {
        notification: Notification,
        channel: String,
        ok: bool,
        detail: String,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::ServerStarted { .. } => "server_started",
            EventKind::BuildStarted { .. } => "build_started",
            EventKind::BuildFinished { .. } => "build_finished",
            EventKind::ArtifactRegistered { .. } => "artifact_registered",
            EventKind::DeploymentCreated { .. } => "deployment_created",
            EventKind::ApprovalRecorded { .. } => "approval_recorded",
            EventKind::DeploymentApproved { .. } => "deployment_approved",
            EventKind::DeploymentStarted { .. } => "deployment_started",
            EventKind::StepStarted { .. } => "step_started",
            EventKind::StepOutput { .. } => "step_output",
            EventKind::StepFinished { .. } => "step_finished",
            EventKind::CancelRequested { .. } => "cancel_requested",
            EventKind::DeploymentFinished { .. } => "deployment_finished",
            EventKind::RollbackImpossible { .. } => "rollback_impossible",
            EventKind::NotificationSent { .. } => "notification_sent",
        }
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

/// Strip terminal control sequences and other control characters from text
/// that came from outside (step output, commit subjects, names), so that it
/// cannot move the cursor, change colours or retitle a terminal.
pub fn sanitize_text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: ESC [ params... final byte in 0x40..=0x7e
                Some('[') => {
                    chars.next();
                    for n in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&n) {
                            break;
                        }
                    }
                }
                // OSC / DCS / APC / PM / SOS: until BEL or ESC \
                Some(']') | Some('P') | Some('_') | Some('^') | Some('X') => {
                    chars.next();
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\t' => out.push_str("    "),
            '\r' | '\n' => out.push(' '),
            c if c.is_control() => {}
            // C1 controls are covered by is_control; bidi overrides are not.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_escape_sequences_and_controls() {
        assert_eq!(sanitize_text("\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(sanitize_text("a\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(sanitize_text("x\u{8}\u{0}y"), "xy");
        assert_eq!(sanitize_text("tab\there"), "tab    here");
        assert_eq!(sanitize_text("\u{202e}evil"), "evil");
        assert_eq!(sanitize_text("plain ünïcode ✓"), "plain ünïcode ✓");
    }

    #[test]
    fn events_round_trip_through_json() {
        let e = NewEvent {
            at: 5,
            actor: Actor::ferry(),
            reason: "r".into(),
            kind: EventKind::DeploymentStarted {
                deployment: "d1".into(),
            },
        }
        .numbered(7);
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"type\":\"deployment_started\""));
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
