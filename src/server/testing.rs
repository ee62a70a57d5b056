//! Test doubles for the server's own tests: an in-memory store and a small
//! scripted decider standing in for the engine, so the HTTP, auth, driver
//! and SSE plumbing is tested on its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use color_eyre::eyre::{Result, eyre};
use futures::future::BoxFuture;

use crate::config::{
    CommandStep, Config, ConsoleConfig, Gate, NotifyConfig, RollbackPolicy, ServerConfig,
    ServiceConfig, Source, StageConfig, UserConfig,
};
use crate::engine::{Command, Input, Output, Rejection, RejectionKind, State};
use crate::model::{
    Actor, ApprovalRule, Artifact, ArtifactOrigin, DeploymentKind, DeploymentStatus, Event,
    EventKind, Millis, NewEvent, Seq, StepKind, StepPlan,
};
use crate::store::Store;

use super::driver::Decide;
use super::{ServerHandle, start_with};

/// Events in a vector; `fail` makes the next appends fail like a full disk.
#[derive(Default)]
pub struct MemStore {
    pub events: Mutex<Vec<Event>>,
    pub fail: AtomicBool,
}

impl MemStore {
    pub fn all(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
    /// Append as another process would (used to fill a gap while a server is down).
    pub fn push(&self, kind: EventKind) -> Event {
        let mut events = self.events.lock().unwrap();
        let seq = events.len() as Seq + 1;
        let event = NewEvent {
            at: 1,
            actor: Actor::ferry(),
            reason: "test".into(),
            kind,
        }
        .numbered(seq);
        events.push(event.clone());
        event
    }
}

impl Store for MemStore {
    fn append(&self, new: Vec<NewEvent>) -> BoxFuture<'_, Result<Vec<Event>>> {
        Box::pin(async move {
            if self.fail.load(Ordering::SeqCst) {
                return Err(eyre!("disk full (test)"));
            }
            let mut events = self.events.lock().unwrap();
            let mut out = Vec::new();
            for e in new {
                let numbered = e.numbered(events.len() as Seq + 1);
                events.push(numbered.clone());
                out.push(numbered);
            }
            Ok(out)
        })
    }
    fn events_after(&self, after: Seq, limit: usize) -> BoxFuture<'_, Result<Vec<Event>>> {
        Box::pin(async move {
            let events = self.events.lock().unwrap();
            Ok(events
                .iter()
                .filter(|e| e.seq > after)
                .take(limit)
                .cloned()
                .collect())
        })
    }
    fn last_seq(&self) -> BoxFuture<'_, Result<Seq>> {
        Box::pin(async move { Ok(self.events.lock().unwrap().len() as Seq) })
    }
}

/// Knows just enough promotion to produce events: register, promote
/// (queued, or awaiting approval on an approval-gated stage), cancel, approve.
pub struct FakeDecider {
    pub config: Arc<Config>,
    pub state: State,
}

impl FakeDecider {
    pub fn new(config: Arc<Config>, events: &[Event]) -> Self {
        let mut d = FakeDecider {
            state: State::new(&config),
            config,
        };
        d.reset();
        d.replay(events);
        d
    }

    fn emit(&mut self, out: &mut Output, actor: &str, kind: EventKind, now: Millis) {
        let e = NewEvent {
            at: now,
            actor: Actor::user(actor),
            reason: "test".into(),
            kind,
        };
        self.state.apply(&e.clone().numbered(self.state.seq + 1));
        out.events.push(e);
    }
}

impl Decide for FakeDecider {
    fn handle(&mut self, input: Input, now: Millis) -> Result<Output, Rejection> {
        let mut out = Output::default();
        let Input::Command { by, command } = input else {
            return Ok(out);
        };
        match command {
            Command::RegisterArtifact {
                service,
                version,
                digest,
                uri,
                ..
            } => {
                let id = format!("a-{}", self.state.next_artifact + 1);
                let artifact = Artifact {
                    id: id.clone(),
                    service,
                    version,
                    commit: None,
                    subject: None,
                    digest,
                    uri,
                    origin: ArtifactOrigin::Registered,
                    created_by: by.actor(),
                    created_at: now,
                    metadata: Default::default(),
                };
                self.emit(
                    &mut out,
                    &by.name,
                    EventKind::ArtifactRegistered { artifact },
                    now,
                );
                out.artifact = Some(id);
            }
            Command::Promote {
                service,
                stage,
                artifact,
            } => {
                let a = self
                    .state
                    .find_artifact(&service, &artifact)
                    .ok_or_else(|| {
                        Rejection::new(RejectionKind::NotFound, format!("no artifact {artifact}"))
                            .hint("list them with ferry status")
                    })?
                    .id
                    .clone();
                let gated = self.state.stage(&service, &stage).map(|s| s.gate.clone());
                let Some(gate) = gated else {
                    return Err(Rejection::new(RejectionKind::Invalid, "no such stage"));
                };
                let id = format!("d-{}", self.state.next_deployment + 1);
                let (status, approval) = match gate {
                    Gate::Approval(rule) => (DeploymentStatus::AwaitingApproval, Some(rule)),
                    Gate::Auto => (DeploymentStatus::Queued, None),
                };
                let kind = EventKind::DeploymentCreated {
                    deployment: id.clone(),
                    service,
                    stage,
                    artifact: a,
                    kind: DeploymentKind::Promote,
                    status,
                    requested_by: by.actor(),
                    approval,
                    steps: vec![
                        StepPlan {
                            name: "deploy".into(),
                            kind: StepKind::Deploy,
                        },
                        StepPlan {
                            name: "smoke".into(),
                            kind: StepKind::Verify,
                        },
                    ],
                    rolls_back: None,
                    version: String::new(),
                    digest: String::new(),
                };
                self.emit(&mut out, &by.name, kind, now);
                out.deployment = Some(id);
            }
            Command::Cancel { deployment } => {
                if !self.state.deployments.contains_key(&deployment) {
                    return Err(Rejection::new(
                        RejectionKind::NotFound,
                        format!("no deployment {deployment}"),
                    ));
                }
                let kind = EventKind::DeploymentFinished {
                    deployment: deployment.clone(),
                    status: DeploymentStatus::Cancelled,
                    message: "cancelled".into(),
                };
                self.emit(&mut out, &by.name, kind, now);
                out.deployment = Some(deployment);
            }
            Command::Approve { deployment, .. } => {
                let Some(d) = self.state.deployments.get(&deployment) else {
                    return Err(Rejection::new(
                        RejectionKind::NotFound,
                        "no such deployment",
                    ));
                };
                if d.status != DeploymentStatus::AwaitingApproval {
                    return Err(Rejection::new(
                        RejectionKind::Conflict,
                        format!("{deployment} is not awaiting approval"),
                    )
                    .hint("only deployments awaiting approval can be approved"));
                }
                let kind = EventKind::DeploymentApproved {
                    deployment: deployment.clone(),
                };
                self.emit(&mut out, &by.name, kind, now);
                out.deployment = Some(deployment);
            }
            Command::Rollback { service, .. } if service == "panic" => {
                // Change the state first, as a buggy engine might.
                self.state.next_deployment += 100;
                panic!("scripted engine bug");
            }
            _ => return Err(Rejection::new(RejectionKind::Invalid, "not scripted")),
        }
        Ok(out)
    }
    fn state(&self) -> &State {
        &self.state
    }
    fn reset(&mut self) {
        self.state = State::new(&self.config);
    }
    fn replay(&mut self, events: &[Event]) {
        for e in events {
            self.state.apply(e);
        }
    }
}

/// One external service with an auto `test` stage and an approval-gated `prod`.
pub fn config(data_dir: &Path, users: Vec<UserConfig>) -> Arc<Config> {
    let stage = |name: &str, gate: Gate| StageConfig {
        name: name.into(),
        deploy: CommandStep {
            command: "true".into(),
            timeout: Duration::from_secs(5),
        },
        verify: Vec::new(),
        gate,
        health: None,
        rollback: RollbackPolicy::Auto,
    };
    Arc::new(Config {
        path: None,
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_path_buf(),
            base_dir: data_dir.to_path_buf(),
            store: None,
        },
        console: ConsoleConfig::default(),
        services: vec![ServiceConfig {
            name: "web".into(),
            source: Source::External,
            build: None,
            stages: vec![
                stage("test", Gate::Auto),
                stage(
                    "prod",
                    Gate::Approval(ApprovalRule {
                        required: 1,
                        roles: vec!["approver".into()],
                        allow_self: true,
                    }),
                ),
            ],
            workdir: data_dir.to_path_buf(),
            env: Default::default(),
            secrets: Vec::new(),
        }],
        users,
        notify: NotifyConfig::default(),
    })
}

pub fn user(name: &str, roles: &[&str], token: &str) -> UserConfig {
    UserConfig {
        authors: Vec::new(),
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        token_sha256: super::token_sha256(token),
    }
}

/// A server on `listen` over `store`, its decider rebuilt from the store.
pub async fn serve(
    config: Arc<Config>,
    store: Arc<MemStore>,
    listen: SocketAddr,
    data_dir: PathBuf,
) -> Result<ServerHandle> {
    let decider = FakeDecider::new(config.clone(), &store.all());
    start_with(config, store, Box::new(decider), listen, data_dir, None).await
}
