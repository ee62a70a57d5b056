//! One test per rule of promotion (`rules`), and property tests over random
//! input sequences that check the rules can never be broken (`properties`).
//! This module holds the pipeline they share and a harness that drives it.

mod bounded;
mod freeze;
mod hardening;
mod lift;
mod outbox;
mod properties;
mod rollbacks;
mod rules;
mod safety;
mod signoff;
mod travel;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::config::{
    CommandStep, Config, ConsoleConfig, Gate, HealthCheck, HealthProbe, NotifyConfig,
    RollbackPolicy, ServerConfig, ServiceConfig, Source, StageConfig, VerifyStep,
};
use crate::model::{
    ApprovalRule, ArtifactId, DeploymentId, DeploymentKind, DeploymentStatus, Event, EventKind,
    NotificationKind, StepOutcome, StepStatus,
};

pub(super) fn stage(
    name: &str,
    gate: Gate,
    rollback: RollbackPolicy,
    verify: &[&str],
    health: bool,
) -> StageConfig {
    StageConfig {
        name: name.into(),
        deploy: CommandStep {
            command: format!("deploy {name}"),
            timeout: Duration::from_secs(60),
        },
        verify: verify
            .iter()
            .map(|v| VerifyStep {
                name: (*v).into(),
                command: format!("test {v}"),
                timeout: Duration::from_secs(60),
                report: None,
                sign_off: None,
            })
            .collect(),
        gate,
        health: health.then(|| HealthCheck {
            probe: HealthProbe::Command {
                command: "true".into(),
            },
            interval: Duration::from_secs(1),
            retries: 2,
            bake: Duration::from_secs(3),
            timeout: Duration::from_secs(1),
        }),
        rollback,
    }
}

pub(super) fn approval(required: u32) -> Gate {
    Gate::Approval(ApprovalRule {
        required,
        roles: vec!["release-manager".into()],
        allow_self: false,
    })
}

/// test (auto) → preprod (auto, auto rollback) → prod (approval, auto rollback, health).
pub(super) fn config_with(prod_gate: Gate) -> Arc<Config> {
    let service = |name: &str, source: Source| ServiceConfig {
        name: name.into(),
        source,
        build: None,
        stages: vec![
            stage(
                "test",
                Gate::Auto,
                RollbackPolicy::Auto,
                &["unit", "integration"],
                false,
            ),
            stage("preprod", Gate::Auto, RollbackPolicy::Auto, &["perf"], true),
            stage("prod", prod_gate.clone(), RollbackPolicy::Auto, &[], true),
        ],
        workdir: PathBuf::from("/tmp"),
        env: BTreeMap::new(),
        secrets: vec![],
        pass_env: Vec::new(),
    };
    Arc::new(Config {
        path: None,
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: PathBuf::from("/tmp/ferry-test"),
            base_dir: PathBuf::from("/tmp"),
            store: None,
            replica: Default::default(),
            ops: Default::default(),
        },
        console: ConsoleConfig::default(),
        services: vec![
            service("checkout", Source::External),
            service("search", Source::External),
        ],
        users: vec![],
        notify: NotifyConfig::default(),
        safety: Default::default(),
        freezes: Vec::new(),
    })
}

/// `config_with(gate)` whose first service (checkout) is built by ferry from git.
pub(super) fn git_config(prod_gate: Gate) -> Config {
    let mut config = (*config_with(prod_gate)).clone();
    config.services[0].source = Source::Git {
        repo: "/repo".into(),
        branch: "main".into(),
        poll_interval: Duration::from_secs(1),
        access: Default::default(),
    };
    config.services[0].build = Some(crate::config::BuildConfig {
        command: "make".into(),
        artifact: "app.tar".into(),
        timeout: Duration::from_secs(60),
        version_file: Some("VERSION".into()),
        report: None,
    });
    config
}

pub(super) fn user(name: &str, roles: &[&str]) -> Principal {
    Principal {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

pub(super) fn dev() -> Principal {
    user("dev", &["deployer"])
}
pub(super) fn alice() -> Principal {
    user("alice", &["release-manager", "deployer"])
}
pub(super) fn bob() -> Principal {
    user("bob", &["release-manager"])
}

/// Drives an engine and keeps every numbered event, checking on each input
/// that folding the emitted events from scratch gives the engine's state.
pub(super) struct Harness {
    pub(super) engine: Engine,
    pub(super) now: i64,
    pub(super) log: Vec<Event>,
    pub(super) effects: Vec<Effect>,
}

impl Harness {
    pub(super) fn new(config: Arc<Config>) -> Self {
        Harness {
            engine: Engine::new(config),
            now: 1_000,
            log: Vec::new(),
            effects: Vec::new(),
        }
    }

    pub(super) fn input(&mut self, input: Input) -> Result<Output, Rejection> {
        self.now += 1_000;
        let before = self.engine.state().clone();
        let result = self.engine.handle(input, self.now);
        match &result {
            Ok(out) => {
                let first = self.log.len() as u64 + 1;
                for (i, e) in out.events.iter().enumerate() {
                    self.log.push(e.clone().numbered(first + i as u64));
                }
                self.effects.extend(out.effects.iter().cloned());
            }
            Err(_) => assert_eq!(
                &before,
                self.engine.state(),
                "a rejection changed the state"
            ),
        }
        result
    }

    pub(super) fn cmd(&mut self, by: &Principal, command: Command) -> Result<Output, Rejection> {
        self.input(Input::Command {
            by: by.clone(),
            command,
        })
    }

    pub(super) fn register(&mut self, service: &str, version: &str) -> ArtifactId {
        let digest = format!("{:0>64}", hex::encode(version.as_bytes()));
        let digest = digest[digest.len() - 64..].to_string();
        self.cmd(
            &dev(),
            Command::RegisterArtifact {
                committed_at: None,
                service: service.into(),
                version: version.into(),
                commit: Some(format!("c{version}")),
                subject: None,
                digest,
                uri: format!("file:///{version}"),
                metadata: BTreeMap::new(),
            },
        )
        .expect("register")
        .artifact
        .expect("artifact id")
    }

    pub(super) fn state(&self) -> &State {
        self.engine.state()
    }

    pub(super) fn stage(&self, service: &str, stage: &str) -> &StageState {
        self.state().stage(service, stage).expect("stage")
    }

    /// The running step of the active deployment of a stage.
    pub(super) fn running(&self, service: &str, stage: &str) -> Option<(DeploymentId, usize)> {
        let id = self.stage(service, stage).active.clone()?;
        let step = self.state().deployments[&id].running_step()?;
        Some((id, step))
    }

    pub(super) fn finish(&mut self, run: &str, step: usize, status: StepStatus) {
        self.input(Input::StepFinished {
            run: run.into(),
            step,
            outcome: StepOutcome {
                status,
                exit_code: Some(if status == StepStatus::Passed { 0 } else { 1 }),
                tests: None,
                message: format!("step {}", status.as_str()),
                failed_tests: Vec::new(),
            },
            built: None,
        })
        .expect("step results are never rejected");
    }

    /// Pass every step of the active deployment of a stage.
    pub(super) fn pass_stage(&mut self, service: &str, stage: &str) {
        let id = self
            .stage(service, stage)
            .active
            .clone()
            .expect("a running deployment");
        while let Some((run, step)) = self.running(service, stage) {
            if run != id {
                break;
            }
            self.finish(&run, step, StepStatus::Passed);
        }
    }

    /// Fail the step named `name` of the active deployment, passing those before it.
    pub(super) fn fail_at(&mut self, service: &str, stage: &str, name: &str) {
        loop {
            let (run, step) = self.running(service, stage).expect("running");
            let step_name = self.state().deployments[&run].steps[step].name.clone();
            if step_name == name {
                self.finish(&run, step, StepStatus::Failed);
                return;
            }
            self.finish(&run, step, StepStatus::Passed);
        }
    }

    pub(super) fn version_in(&self, service: &str, stage: &str) -> Option<String> {
        let id = self.stage(service, stage).current.clone()?;
        Some(self.state().artifacts[&id].version.clone())
    }

    pub(super) fn pending(&self, service: &str, stage: &str) -> Option<DeploymentId> {
        self.stage(service, stage).queue.first().cloned()
    }

    pub(super) fn approve(
        &mut self,
        by: &Principal,
        deployment: &str,
    ) -> Result<Output, Rejection> {
        self.cmd(
            by,
            Command::Approve {
                deployment: deployment.into(),
                comment: None,
                digest: None,
            },
        )
    }

    /// A restart: a new engine folded from the log (which must give the very
    /// same state), then told to recover.
    pub(super) fn restart(&mut self) -> Result<Output, Rejection> {
        let config = self.engine.config().clone();
        let restarted = Engine::from_events(config, self.log.iter());
        assert_eq!(
            restarted.state(),
            self.state(),
            "the fold differs from the live state"
        );
        self.engine = restarted;
        self.input(Input::Recover { not_begun: vec![] })
    }

    pub(super) fn promote(
        &mut self,
        by: &Principal,
        stage: &str,
        artifact: &str,
    ) -> Result<Output, Rejection> {
        self.cmd(
            by,
            Command::Promote {
                service: "checkout".into(),
                stage: stage.into(),
                artifact: artifact.into(),
            },
        )
    }

    /// With auto gates everywhere: 1.0.0 is good in prod and 1.1.0 is being
    /// deployed over it. Returns the running deployment and step.
    pub(super) fn deploying_over_good_prod(&mut self) -> (DeploymentId, usize) {
        self.register("checkout", "1.0.0");
        for s in ["test", "preprod", "prod"] {
            self.pass_stage("checkout", s);
        }
        self.register("checkout", "1.1.0");
        for s in ["test", "preprod"] {
            self.pass_stage("checkout", s);
        }
        self.running("checkout", "prod")
            .expect("1.1.0 deploys to prod")
    }

    pub(super) fn rollback(
        &mut self,
        by: &Principal,
        stage: &str,
        to: Option<&str>,
    ) -> Result<Output, Rejection> {
        self.cmd(
            by,
            Command::Rollback {
                service: "checkout".into(),
                stage: stage.into(),
                to: to.map(String::from),
            },
        )
    }

    /// Register an artifact and pass test and preprod: the deployment that
    /// then waits at prod.
    pub(super) fn waiting_at_prod(&mut self, version: &str) -> DeploymentId {
        self.register("checkout", version);
        self.pass_stage("checkout", "test");
        self.pass_stage("checkout", "preprod");
        self.pending("checkout", "prod").expect("waiting at prod")
    }

    /// Carry an artifact from registration to prod: pass test and preprod, approve, pass prod.
    pub(super) fn release(&mut self, version: &str) -> ArtifactId {
        let id = self.register("checkout", version);
        self.pass_stage("checkout", "test");
        self.pass_stage("checkout", "preprod");
        let d = self.pending("checkout", "prod").expect("awaiting approval");
        self.approve(&alice(), &d).expect("approve");
        self.pass_stage("checkout", "prod");
        id
    }
}
