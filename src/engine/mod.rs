//! The promotion engine, free of I/O (sans-IO): it takes one input (a command
//! from the API, a step result, a restart) together with the time it happened,
//! and returns the events it decided on and the effects to perform. It reads
//! no clock, spawns nothing and touches no file, so every rule of promotion is
//! testable in microseconds.
//!
//! The state is only ever changed by [`State::apply`]: the engine applies each
//! event as it emits it, so later decisions in the same input see it, and a
//! server restarted from the store, or a console fed from the event stream,
//! folds exactly the same state.

mod decide;
mod jobs;
mod state;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, HealthCheck};
use crate::model::{
    Actor, ArtifactId, BuildId, DeploymentId, Millis, NewEvent, Notification, RunId, StepKind,
    StepOutcome,
};

pub use state::{GoodRelease, ServiceState, SourceKind, StageState, State};

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
    /// Roll a stage back to its last good artifact, or to a named earlier good one.
    Rollback {
        service: String,
        stage: String,
        to: Option<ArtifactRef>,
    },
}

/// An artifact the runner built and stored for a build step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltArtifact {
    pub version: String,
    pub digest: String,
    pub uri: String,
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
    NotificationSent {
        notification: Notification,
        channel: String,
        ok: bool,
        detail: String,
    },
    /// The server (re)started: steps recorded as running were interrupted.
    Recover,
}

/// Something the edge must do after the events are durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    RunStep(StepJob),
    CancelStep { run: RunId, step: usize },
    Notify(Notification),
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
    /// Working directory of the step (build steps run in their own worktree instead).
    pub workdir: std::path::PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// `sh -c command`; `report` is a JUnit XML path relative to the workdir.
    Command {
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

/// The engine: the configuration it decides by and the state it decides on.
pub struct Engine {
    config: Arc<Config>,
    state: State,
}

impl Engine {
    pub fn new(config: Arc<Config>) -> Self {
        let state = State::new(&config);
        Engine { config, state }
    }

    /// Rebuild from the stored events (after a restart).
    pub fn from_events<'a>(
        config: Arc<Config>,
        events: impl IntoIterator<Item = &'a crate::model::Event>,
    ) -> Self {
        let mut engine = Engine::new(config);
        for e in events {
            engine.state.apply(e);
        }
        engine
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Fold one stored event (a restart replaying the log).
    pub fn apply(&mut self, event: &crate::model::Event) {
        self.state.apply(event);
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Decide on one input that happened at `now`. On a rejection nothing
    /// was applied. The events are applied to the state as they are decided,
    /// with provisional sequence numbers following `state.seq`; the store must
    /// number them the same way (it appends after the same last sequence).
    pub fn handle(&mut self, input: Input, now: Millis) -> Result<Output, Rejection> {
        decide::handle(&self.config, &mut self.state, input, now)
    }
}
