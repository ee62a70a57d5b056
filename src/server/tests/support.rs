//! Test support for the server's tests: an in-memory store, the fixture
//! pipeline, events to seed a store with, and a server over them (always the
//! real engine; an engine bug is simulated through the driver's `Fault`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use color_eyre::eyre::{Result, eyre};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::api::RegisterArtifact;
use crate::config::{
    CommandStep, Config, ConsoleConfig, Gate, NotifyConfig, RollbackPolicy, ServerConfig,
    ServiceConfig, Source, StageConfig, UserConfig,
};
use crate::engine::Engine;
use crate::model::{
    Actor, ApprovalRule, Artifact, ArtifactOrigin, DeploymentKind, DeploymentStatus, Event,
    EventKind, NewEvent, Seq, StepKind, StepPlan,
};
use crate::server::{ServerHandle, start_with};
use crate::store::Store;

/// Events in a vector; `fail` makes the next appends fail like a full disk.
#[derive(Default)]
pub struct MemStore {
    pub events: Mutex<Vec<Event>>,
    pub fail: AtomicBool,
    /// How many appends (transactions) succeeded.
    pub appends: std::sync::atomic::AtomicUsize,
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
            self.appends.fetch_add(1, Ordering::SeqCst);
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

/// How the fixture service `web` is staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipeline {
    /// An auto `test` stage, then `prod` gated by one `release-manager`.
    AutoTest,
    /// As `AutoTest`, but `test` too waits for an approval: a promotion to
    /// it is one event and runs nothing.
    GatedTest,
    /// No stages: registering an artifact is one event.
    NoStages,
}

/// One external service with an auto `test` stage and an approval-gated `prod`.
pub fn config(data_dir: &Path, users: Vec<UserConfig>) -> Arc<Config> {
    config_for(Pipeline::AutoTest, data_dir, users)
}

pub fn config_for(pipeline: Pipeline, data_dir: &Path, users: Vec<UserConfig>) -> Arc<Config> {
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
    let approval = || {
        Gate::Approval(ApprovalRule {
            required: 1,
            roles: vec!["release-manager".into()],
            allow_self: true,
        })
    };
    let stages = match pipeline {
        Pipeline::AutoTest => vec![stage("test", Gate::Auto), stage("prod", approval())],
        Pipeline::GatedTest => vec![stage("test", approval()), stage("prod", approval())],
        Pipeline::NoStages => Vec::new(),
    };
    Arc::new(Config {
        path: None,
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_path_buf(),
            base_dir: data_dir.to_path_buf(),
            store: None,
            replica: Default::default(),
            ops: Default::default(),
        },
        console: ConsoleConfig::default(),
        services: vec![ServiceConfig {
            name: "web".into(),
            source: Source::External,
            build: None,
            stages,
            workdir: data_dir.to_path_buf(),
            env: Default::default(),
            secrets: Vec::new(),
            pass_env: Vec::new(),
        }],
        users,
        notify: NotifyConfig::default(),
        safety: Default::default(),
        freezes: Vec::new(),
    })
}

/// An artifact of `web` as a CI would have registered it: the same as the
/// API's `RegisterArtifact` with digest `digest` gives, so that registering
/// it again through the API is a no-op answering its id.
pub fn registered(id: &str, version: &str, digest: &str) -> EventKind {
    EventKind::ArtifactRegistered {
        artifact: Artifact {
            committed_at: None,
            id: id.into(),
            service: "web".into(),
            version: version.into(),
            commit: None,
            subject: None,
            digest: digest.into(),
            uri: format!("file:///tmp/web-{version}.tar"),
            origin: ArtifactOrigin::Registered,
            created_by: Actor::user("ci"),
            created_at: 1,
            metadata: Default::default(),
        },
    }
}

/// A promotion of `artifact` to `stage` of `web`, as stored.
pub fn created(id: &str, stage: &str, artifact: &str, status: DeploymentStatus) -> EventKind {
    EventKind::DeploymentCreated {
        deployment: id.into(),
        service: "web".into(),
        stage: stage.into(),
        artifact: artifact.into(),
        kind: DeploymentKind::Promote,
        status,
        requested_by: Actor::user("ci"),
        approval: None,
        steps: vec![StepPlan {
            name: "deploy".into(),
            kind: StepKind::Deploy,
        }],
        rolls_back: None,
        version: String::new(),
        digest: String::new(),
    }
}

pub fn user(name: &str, roles: &[&str], token: &str) -> UserConfig {
    UserConfig {
        authors: Vec::new(),
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        token_sha256: crate::server::token_sha256(token),
    }
}

/// A server on `listen` over `store`, its engine rebuilt from the store.
pub async fn serve(
    config: Arc<Config>,
    store: Arc<MemStore>,
    listen: SocketAddr,
    data_dir: PathBuf,
) -> Result<ServerHandle> {
    let engine = Engine::from_events(config.clone(), &store.all());
    start_with(config, store, engine, None, listen, data_dir, None).await
}

/// As `serve`, with `fault` run before each decision (see `driver::Fault`).
pub async fn serve_with_fault(
    config: Arc<Config>,
    store: Arc<MemStore>,
    listen: SocketAddr,
    data_dir: PathBuf,
    fault: crate::server::driver::Fault,
) -> Result<ServerHandle> {
    let engine = Engine::from_events(config.clone(), &store.all());
    start_with(config, store, engine, Some(fault), listen, data_dir, None).await
}

pub const DEADLINE: Duration = Duration::from_secs(10);
pub const VIEWER: &str = "viewer-token";
pub const DEPLOYER: &str = "deployer-token";
pub const ADMIN: &str = "admin-token";

/// A server over a seeded store, and what a test needs of it.
pub struct Fixture {
    pub server: ServerHandle,
    pub store: Arc<MemStore>,
    pub dir: tempfile::TempDir,
}

/// A server for `web` staged as `pipeline`, over a store holding `seed`.
pub async fn with_users(pipeline: Pipeline, seed: Vec<EventKind>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let users = vec![
        // A viewer who may still approve: prod's gate names her role.
        user("vera", &["viewer", "release-manager"], VIEWER),
        user("dan", &["deployer", "approver"], DEPLOYER),
        user("ada", &["admin"], ADMIN),
    ];
    let cfg = config_for(pipeline, dir.path(), users);
    let store = Arc::new(MemStore::default());
    for kind in seed {
        store.push(kind);
    }
    let server = serve(
        cfg,
        store.clone(),
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
    )
    .await
    .unwrap();
    Fixture { server, store, dir }
}

/// Version 1.0 of `web` (a-1) as registered before the server started:
/// registering `artifact("1.0")` again answers a-1 and decides nothing.
pub fn one_artifact() -> Vec<EventKind> {
    vec![registered("a-1", "1.0", &"ab".repeat(32))]
}

pub fn artifact(version: &str) -> RegisterArtifact {
    RegisterArtifact {
        committed_at: None,
        service: "web".into(),
        version: version.into(),
        commit: None,
        subject: None,
        digest: "ab".repeat(32),
        uri: format!("file:///tmp/web-{version}.tar"),
        metadata: Default::default(),
    }
}

pub async fn raw(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}
