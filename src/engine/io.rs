//! What goes into the engine and what comes out of it.
//!
//! # The contract
//!
//! The engine is a deterministic state machine without I/O, in the manner of
//! quinn-proto's `Connection`: the edge (the server's driver) feeds it one
//! [`Input`] at a time through [`Engine::handle`](super::Engine::handle) and
//! acts on the [`Output`] it returns.
//!
//! - **In**: an [`Input`]: a [`Command`] from a person or CI together with the
//!   [`Principal`] who sent it, a step's output or result from the runner, a
//!   notification that was sent, [`Input::Recover`] after a restart, or
//!   [`Input::Tick`] when a deadline the engine asked for has come.
//! - **Out**: either a [`Rejection`] (a command refused: *nothing* was applied,
//!   the state is as before), or an [`Output`]: the events decided on, in
//!   order, and the [`Effect`]s to perform (run a step, kill a step, notify).
//!   What follows from an accepted input (the next step, the next stage, an
//!   automatic rollback) cannot fail.
//! - **The time rule**: every input is handed over with its `now` (epoch
//!   milliseconds). The engine reads no clock, spawns nothing and touches no
//!   file, so one input always gives the same output, and every rule of
//!   promotion is testable in microseconds. Time-based rules (freeze
//!   windows) ask for a wake-up with `Engine::next_deadline()`; the edge
//!   sleeps until then and feeds `Input::Tick { now }`.
//! - **The sequence rule**: the engine applies each event to its state as it
//!   decides it, numbering it provisionally after `state.seq`. The edge must
//!   make the events durable in that order, numbered the same way (the store
//!   appends after the same last sequence), *before* publishing them or
//!   performing any effect. When the store numbers them otherwise, or fails,
//!   the stored events are the truth and the engine is rebuilt from them.
//! - **The fold**: the state changes only by [`State::apply`](super::State::apply);
//!   a server restarted from the store, or a console fed from the event
//!   stream, folds exactly the same state.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::HealthCheck;
use crate::model::{
    Actor, ArtifactId, BuildId, DeploymentId, Millis, NewEvent, Notification, RunId, StepKind,
    StepOutcome, Verdict,
};

/// Who is asking: a user and their roles (resolved from the token by the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub roles: Vec<String>,
}

impl Principal {
    /// ferry itself (the git poller, the recovery after a restart).
    pub fn ferry() -> Self {
        Principal {
            name: Actor::FERRY.to_string(),
            roles: vec![crate::model::roles::ADMIN.to_string()],
        }
    }
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
    pub fn is_admin(&self) -> bool {
        self.has_role(crate::model::roles::ADMIN)
    }
    pub fn actor(&self) -> Actor {
        Actor(self.name.clone())
    }
}

/// How a command names an artifact: by id ("a-12") or by version ("1.4.2").
pub type ArtifactRef = String;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Command {
    /// The git poller (or a push webhook) saw a new commit: build it.
    NewCommit {
        service: String,
        commit: String,
        subject: Option<String>,
        author: String,
    },
    /// An external CI registers an artifact it built.
    RegisterArtifact {
        service: String,
        version: String,
        commit: Option<String>,
        subject: Option<String>,
        digest: String,
        uri: String,
        #[serde(default)]
        metadata: BTreeMap<String, String>,
        /// The commit's time (epoch ms), when the CI knows it.
        #[serde(default)]
        committed_at: Option<Millis>,
    },
    /// Put an artifact into a stage; it must have succeeded in the stage before.
    Promote {
        service: String,
        stage: String,
        artifact: ArtifactRef,
    },
    Approve {
        deployment: DeploymentId,
        comment: Option<String>,
        /// When given, the approval is refused unless it matches the deployment's artifact.
        digest: Option<String>,
    },
    Reject {
        deployment: DeploymentId,
        comment: Option<String>,
    },
    Cancel {
        deployment: DeploymentId,
    },
    /// A lesson or comment on a deployment (one line, at most 500 characters).
    Note {
        deployment: DeploymentId,
        text: String,
    },
    /// Mark a release bad (`add`) or release it again (`lift`); by artifact id.
    Quarantine {
        artifact: ArtifactId,
        reason: String,
        add: bool,
    },
    /// End the hold a manual rollback put on a stage.
    LiftHold {
        service: String,
        stage: String,
        reason: String,
    },
    /// A person's verdict on a sign-off step a running deployment waits at
    /// (user acceptance). A fail needs a comment, and fails the deployment
    /// like a failing test.
    SignOff {
        deployment: DeploymentId,
        /// The step's name (`uat`).
        step: String,
        verdict: Verdict,
        comment: Option<String>,
    },
    /// Roll a stage back to its last good artifact, or to a named earlier good one.
    Rollback {
        service: String,
        stage: String,
        to: Option<ArtifactRef>,
    },
    /// Break-glass: promote into a frozen stage (a role the freeze names,
    /// and a reason; recorded and notified).
    PromoteOverride {
        service: String,
        stage: String,
        artifact: ArtifactRef,
        reason: String,
    },
    /// `ferry freeze`: promotions into `stage` (of every service, or of
    /// `service`) wait until `until` (epoch ms); rollbacks still run.
    Freeze {
        stage: String,
        #[serde(default)]
        service: Option<String>,
        until: Millis,
        reason: String,
    },
    /// `ferry unfreeze`: end the ad-hoc freeze of `stage`.
    Unfreeze {
        stage: String,
        #[serde(default)]
        service: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    },
}

/// An artifact the runner built and stored for a build step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltArtifact {
    pub version: String,
    pub digest: String,
    pub uri: String,
    /// The commit time from git, when it could be read.
    #[serde(default)]
    pub committed_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Command {
        by: Principal,
        command: Command,
    },
    StepOutput {
        run: RunId,
        step: usize,
        lines: Vec<String>,
        dropped: u64,
    },
    StepFinished {
        run: RunId,
        step: usize,
        outcome: StepOutcome,
        built: Option<BuiltArtifact>,
    },
    /// One channel's final outcome (see `EventKind::NotificationSent`).
    NotificationSent {
        notification: Notification,
        channel: String,
        ok: bool,
        detail: String,
        attempts: u32,
    },
    /// The server (re)started: steps recorded as running were interrupted.
    /// `not_begun` names the running steps the runner knows never started a
    /// process (no durable mark): their deployment is queued again, with
    /// its approvals, when none of its steps had an effect.
    Recover {
        not_begun: Vec<(RunId, usize)>,
    },
    /// The clock, fed by the driver at `Engine::next_deadline()` (as
    /// quinn-proto's `handle_timeout`): deployments waiting for a freeze
    /// window that has closed by `now` start.
    Tick {
        now: Millis,
    },
}

/// Something the edge must do after the events are durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    RunStep(StepJob),
    CancelStep {
        run: RunId,
        step: usize,
    },
    /// Deliver a queued notification (its id set) to every channel that wants it.
    Notify(Notification),
    /// After a restart: deliver a queued notification to the channels still owed it.
    Redeliver {
        notification: Notification,
        channels: Vec<String>,
    },
}

/// Everything the runner needs to run one step, so it keeps no state of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct StepJob {
    pub run: RunId,
    pub step: usize,
    pub service: String,
    pub stage: Option<String>,
    pub name: String,
    pub kind: StepKind,
    pub action: StepAction,
    pub timeout: Duration,
    /// FERRY_* variables plus the service's `env`; the runner adds FERRY_REPORT and secrets.
    pub env: BTreeMap<String, String>,
    /// Names of server environment variables to pass through and mask.
    pub secrets: Vec<String>,
    /// Server environment variables (names or `PREFIX_*`) passed as they are.
    pub pass_env: Vec<String>,
    /// Working directory of the step (build steps run in their own worktree instead).
    pub workdir: std::path::PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// `sh -c command`; `report` is a JUnit XML path relative to the workdir.
    Shell {
        command: String,
        report: Option<String>,
    },
    /// Check out `commit` of `repo` in a clean worktree, run `command`, store `artifact`.
    Build {
        repo: String,
        commit: String,
        command: String,
        artifact: String,
        version_file: Option<String>,
        report: Option<String>,
        /// The source's credentials (names and paths only, no secrets).
        /// Boxed: rarely set, and it would make every effect larger.
        access: Box<crate::config::SourceAccess>,
    },
    Health(HealthCheck),
}

/// The answer to an input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub events: Vec<NewEvent>,
    pub effects: Vec<Effect>,
    /// What a command created or acted on, for the API's reply.
    pub deployment: Option<DeploymentId>,
    pub artifact: Option<ArtifactId>,
    pub build: Option<BuildId>,
}

/// Why a command was refused; the API maps `kind` to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionKind {
    /// 404
    NotFound,
    /// 409: the state does not allow it now.
    Conflict,
    /// 403: this person may not.
    Forbidden,
    /// 422: the request is well-formed but wrong.
    Invalid,
}

impl Rejection {
    pub fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        Rejection {
            kind,
            message: message.into(),
            hint: None,
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}
