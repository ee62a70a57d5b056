//! One test per rule of promotion, and property tests over random input
//! sequences that check the rules can never be broken.

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
    ApprovalRule, DeploymentKind, DeploymentStatus, Event, EventKind, NotificationKind,
    StepOutcome, StepStatus,
};

fn stage(
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

fn approval(required: u32) -> Gate {
    Gate::Approval(ApprovalRule {
        required,
        roles: vec!["release-manager".into()],
        allow_self: false,
    })
}

/// test (auto) → preprod (auto, auto rollback) → prod (approval, auto rollback, health).
fn config_with(prod_gate: Gate) -> Arc<Config> {
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
    };
    Arc::new(Config {
        path: None,
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: PathBuf::from("/tmp/ferry-test"),
            base_dir: PathBuf::from("/tmp"),
        },
        console: ConsoleConfig::default(),
        services: vec![
            service("checkout", Source::External),
            service("search", Source::External),
        ],
        users: vec![],
        notify: NotifyConfig::default(),
    })
}

fn user(name: &str, roles: &[&str]) -> Principal {
    Principal {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn dev() -> Principal {
    user("dev", &["deployer"])
}
fn alice() -> Principal {
    user("alice", &["release-manager", "deployer"])
}
fn bob() -> Principal {
    user("bob", &["release-manager"])
}

/// Drives an engine and keeps every numbered event, checking on each input
/// that folding the emitted events from scratch gives the engine's state.
struct Harness {
    engine: Engine,
    now: i64,
    log: Vec<Event>,
    effects: Vec<Effect>,
}

impl Harness {
    fn new(config: Arc<Config>) -> Self {
        Harness {
            engine: Engine::new(config),
            now: 1_000,
            log: Vec::new(),
            effects: Vec::new(),
        }
    }

    fn input(&mut self, input: Input) -> Result<Output, Rejection> {
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

    fn cmd(&mut self, by: &Principal, command: Command) -> Result<Output, Rejection> {
        self.input(Input::Command {
            by: by.clone(),
            command,
        })
    }

    fn register(&mut self, service: &str, version: &str) -> String {
        let digest = format!("{:0>64}", hex::encode(version.as_bytes()));
        let digest = digest[digest.len() - 64..].to_string();
        self.cmd(
            &dev(),
            Command::RegisterArtifact {
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

    fn state(&self) -> &State {
        self.engine.state()
    }

    fn stage(&self, service: &str, stage: &str) -> &StageState {
        self.state().stage(service, stage).expect("stage")
    }

    /// The running step of the active deployment of a stage.
    fn running(&self, service: &str, stage: &str) -> Option<(String, usize)> {
        let id = self.stage(service, stage).active.clone()?;
        let step = self.state().deployments[&id].running_step()?;
        Some((id, step))
    }

    fn finish(&mut self, run: &str, step: usize, status: StepStatus) {
        self.input(Input::StepFinished {
            run: run.into(),
            step,
            outcome: StepOutcome {
                status,
                exit_code: Some(if status == StepStatus::Passed { 0 } else { 1 }),
                tests: None,
                message: format!("step {}", status.as_str()),
            },
            built: None,
        })
        .expect("step results are never rejected");
    }

    /// Pass every step of the active deployment of a stage.
    fn pass_stage(&mut self, service: &str, stage: &str) {
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
    fn fail_at(&mut self, service: &str, stage: &str, name: &str) {
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

    fn version_in(&self, service: &str, stage: &str) -> Option<String> {
        let id = self.stage(service, stage).current.clone()?;
        Some(self.state().artifacts[&id].version.clone())
    }

    fn pending(&self, service: &str, stage: &str) -> Option<String> {
        self.stage(service, stage).queue.first().cloned()
    }

    fn approve(&mut self, by: &Principal, deployment: &str) -> Result<Output, Rejection> {
        self.cmd(
            by,
            Command::Approve {
                deployment: deployment.into(),
                comment: None,
                digest: None,
            },
        )
    }

    /// Carry an artifact from registration to prod: pass test and preprod, approve, pass prod.
    fn release(&mut self, version: &str) -> String {
        let id = self.register("checkout", version);
        self.pass_stage("checkout", "test");
        self.pass_stage("checkout", "preprod");
        let d = self.pending("checkout", "prod").expect("awaiting approval");
        self.approve(&alice(), &d).expect("approve");
        self.pass_stage("checkout", "prod");
        id
    }
}

#[test]
fn an_artifact_flows_through_auto_gates_and_waits_for_approval_at_prod() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    assert!(h.stage("checkout", "test").active.is_some());
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").expect("pending at prod");
    assert_eq!(
        h.state().deployments[&d].status,
        DeploymentStatus::AwaitingApproval
    );
    assert!(
        h.stage("checkout", "prod").active.is_none(),
        "nothing runs without approval"
    );
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Notify(n) if n.kind == NotificationKind::ApprovalNeeded))
    );
    h.approve(&alice(), &d).unwrap();
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
    assert_eq!(
        h.stage("checkout", "prod")
            .last_good()
            .map(|g| g.deployment.clone()),
        Some(d)
    );
}

#[test]
fn every_event_names_an_actor_and_a_reason() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.register("checkout", "1.1.0");
    h.fail_at("checkout", "test", "integration");
    assert!(!h.log.is_empty());
    for e in &h.log {
        assert!(!e.actor.name().is_empty(), "{e:?}");
        assert!(!e.reason.is_empty(), "{e:?}");
    }
}

#[test]
fn at_most_one_active_deployment_and_a_newer_queued_one_supersedes_the_older() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    let first = h.stage("checkout", "test").active.clone().unwrap();
    h.register("checkout", "1.1.0");
    let queued = h.pending("checkout", "test").unwrap();
    assert_eq!(
        h.stage("checkout", "test").active.as_ref(),
        Some(&first),
        "queued behind the running one"
    );
    h.register("checkout", "1.2.0");
    assert_eq!(
        h.state().deployments[&queued].status,
        DeploymentStatus::Superseded
    );
    assert_eq!(h.stage("checkout", "test").queue.len(), 1);
    h.pass_stage("checkout", "test");
    let next = h.stage("checkout", "test").active.clone().unwrap();
    assert_eq!(h.state().deployments[&next].version, "1.2.0");
}

#[test]
fn an_artifact_enters_a_stage_only_after_succeeding_in_the_one_before() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    let err = h
        .cmd(
            &dev(),
            Command::Promote {
                service: "checkout".into(),
                stage: "preprod".into(),
                artifact: "1.0.0".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    assert!(
        err.message.contains("has not succeeded in test"),
        "{}",
        err.message
    );
    h.fail_at("checkout", "test", "integration");
    assert!(
        h.stage("checkout", "preprod").history.is_empty(),
        "a failure halts the promotion"
    );
    let err = h
        .cmd(
            &dev(),
            Command::Promote {
                service: "checkout".into(),
                stage: "preprod".into(),
                artifact: "1.0.0".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
}

#[test]
fn approvals_are_bound_to_the_deployment_and_void_when_superseded() {
    let mut h = Harness::new(config_with(approval(2)));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let old = h.pending("checkout", "prod").unwrap();
    h.approve(&alice(), &old).unwrap();
    // The same person twice is one approval.
    assert_eq!(
        h.approve(&alice(), &old).unwrap_err().kind,
        RejectionKind::Conflict
    );
    h.register("checkout", "1.1.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    assert_eq!(
        h.state().deployments[&old].status,
        DeploymentStatus::Superseded
    );
    let err = h.approve(&bob(), &old).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    assert!(err.message.contains("superseded"), "{}", err.message);
    let new = h.pending("checkout", "prod").unwrap();
    assert_ne!(old, new);
    h.approve(&bob(), &new).unwrap();
    assert_eq!(
        h.state().deployments[&new].status,
        DeploymentStatus::AwaitingApproval,
        "alice's old approval does not count"
    );
    h.approve(&alice(), &new).unwrap();
    assert!(h.stage("checkout", "prod").active.as_ref() == Some(&new));
}

#[test]
fn an_approval_for_another_digest_is_refused() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    let err = h
        .cmd(
            &alice(),
            Command::Approve {
                deployment: d.clone(),
                comment: None,
                digest: Some("f".repeat(64)),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    let digest = h.state().deployments[&d].digest.clone();
    h.cmd(
        &alice(),
        Command::Approve {
            deployment: d,
            comment: Some("ok".into()),
            digest: Some(digest),
        },
    )
    .unwrap();
}

#[test]
fn whoever_caused_a_deployment_cannot_approve_it_and_approvers_need_the_role() {
    let mut h = Harness::new(config_with(approval(1)));
    let author = user("carol", &["release-manager", "deployer"]);
    h.cmd(
        &author,
        Command::RegisterArtifact {
            service: "checkout".into(),
            version: "2.0.0".into(),
            commit: None,
            subject: None,
            digest: "a".repeat(64),
            uri: "file:///x".into(),
            metadata: BTreeMap::new(),
        },
    )
    .unwrap();
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    let err = h.approve(&author, &d).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Forbidden);
    assert_eq!(err.message, "you can't approve your own deployment");
    let err = h.approve(&dev(), &d).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Forbidden);
    assert!(err.hint.unwrap().contains("release-manager"));
    h.approve(&bob(), &d).unwrap();
}

#[test]
fn a_rejection_ends_the_deployment() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    h.cmd(
        &bob(),
        Command::Reject {
            deployment: d.clone(),
            comment: Some("not today".into()),
        },
    )
    .unwrap();
    let dep = &h.state().deployments[&d];
    assert_eq!(dep.status, DeploymentStatus::Rejected);
    assert_eq!(dep.outcome.as_deref(), Some("rejected by bob: not today"));
    assert!(h.stage("checkout", "prod").queue.is_empty());
}

#[test]
fn a_failed_health_check_rolls_back_to_the_last_good_artifact() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.register("checkout", "1.1.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    h.approve(&alice(), &d).unwrap();
    h.fail_at("checkout", "prod", "health");
    assert_eq!(h.state().deployments[&d].status, DeploymentStatus::Failed);
    let rollback = h
        .stage("checkout", "prod")
        .active
        .clone()
        .expect("rollback running");
    let rb = &h.state().deployments[&rollback];
    assert_eq!(rb.kind, DeploymentKind::Rollback);
    assert_eq!(rb.version, "1.0.0");
    assert_eq!(rb.rolls_back.as_ref(), Some(&d));
    assert!(
        rb.steps.iter().all(|s| s.name != "perf"),
        "a rollback skips verification"
    );
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
    let last_good = h
        .stage("checkout", "prod")
        .last_good()
        .unwrap()
        .artifact
        .clone();
    assert_eq!(h.state().artifacts[&last_good].version, "1.0.0");
    let kinds: Vec<_> = h
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(n) => Some(n.kind),
            _ => None,
        })
        .collect();
    assert!(kinds.contains(&NotificationKind::DeploymentFailed));
    assert!(kinds.contains(&NotificationKind::RolledBack));
}

#[test]
fn a_failure_without_a_last_good_artifact_stays_failed_and_says_so() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    h.fail_at("checkout", "test", "integration");
    assert!(
        h.stage("checkout", "test").active.is_none(),
        "nothing is deployed"
    );
    assert!(h.log.iter().any(
        |e| matches!(&e.kind, EventKind::RollbackImpossible { stage, .. } if stage == "test")
    ));
    assert!(
        h.effects.iter().any(
            |e| matches!(e, Effect::Notify(n) if n.kind == NotificationKind::RollbackImpossible)
        )
    );
}

#[test]
fn a_manual_rollback_preempts_the_running_step() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    for s in ["test", "preprod", "prod"] {
        h.pass_stage("checkout", s);
    }
    h.register("checkout", "1.1.0");
    for s in ["test", "preprod"] {
        h.pass_stage("checkout", s);
    }
    let (running, step) = h.running("checkout", "prod").unwrap();
    h.effects.clear();
    let out = h
        .cmd(
            &dev(),
            Command::Rollback {
                service: "checkout".into(),
                stage: "prod".into(),
                to: None,
            },
        )
        .unwrap();
    assert!(h.effects.contains(&Effect::CancelStep {
        run: running.clone(),
        step
    }));
    assert_eq!(
        h.stage("checkout", "prod").active.as_ref(),
        Some(&running),
        "waits for the kill"
    );
    h.finish(&running, step, StepStatus::Cancelled);
    assert_eq!(
        h.state().deployments[&running].status,
        DeploymentStatus::Cancelled
    );
    let rollback = out.deployment.unwrap();
    assert_eq!(h.stage("checkout", "prod").active.as_ref(), Some(&rollback));
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
}

#[test]
fn a_manual_rollback_of_a_healthy_stage_goes_to_the_previous_good_release() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.release("1.1.0");
    let out = h
        .cmd(
            &dev(),
            Command::Rollback {
                service: "checkout".into(),
                stage: "prod".into(),
                to: None,
            },
        )
        .unwrap();
    let d = out.deployment.unwrap();
    assert!(h.state().deployments[&d].reason.contains("1.1.0 → 1.0.0"));
    h.pass_stage("checkout", "prod");
    // 1.1.0 was rolled back: it is no longer a good release.
    let good: Vec<_> = h
        .stage("checkout", "prod")
        .good
        .iter()
        .map(|g| h.state().artifacts[&g.artifact].version.clone())
        .collect();
    assert_eq!(good, vec!["1.0.0"]);
    let err = h
        .cmd(
            &dev(),
            Command::Rollback {
                service: "checkout".into(),
                stage: "prod".into(),
                to: Some("1.1.0".into()),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
}

#[test]
fn a_step_running_at_a_restart_is_interrupted_and_fails_its_deployment() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    for s in ["test", "preprod", "prod"] {
        h.pass_stage("checkout", s);
    }
    h.register("checkout", "1.1.0");
    for s in ["test", "preprod"] {
        h.pass_stage("checkout", s);
    }
    let (running, _) = h.running("checkout", "prod").unwrap();
    // Restart: a new engine folded from the log.
    let config = h.engine.config().clone();
    let restarted = Engine::from_events(config, h.log.iter());
    assert_eq!(restarted.state(), h.state());
    h.engine = restarted;
    h.input(Input::Recover).unwrap();
    let d = &h.state().deployments[&running];
    assert_eq!(d.status, DeploymentStatus::Failed);
    assert!(d.steps.iter().any(|s| s.status == StepStatus::Interrupted));
    let rollback = h
        .stage("checkout", "prod")
        .active
        .clone()
        .expect("auto rollback");
    assert_eq!(h.state().deployments[&rollback].version, "1.0.0");
}

#[test]
fn registering_the_same_version_twice_is_idempotent_but_another_digest_conflicts() {
    let mut h = Harness::new(config_with(Gate::Auto));
    let a = h.register("checkout", "1.0.0");
    let events = h.log.len();
    let b = h.register("checkout", "1.0.0");
    assert_eq!(a, b);
    assert_eq!(h.log.len(), events);
    let err = h
        .cmd(
            &dev(),
            Command::RegisterArtifact {
                service: "checkout".into(),
                version: "1.0.0".into(),
                commit: None,
                subject: None,
                digest: "b".repeat(64),
                uri: "x".into(),
                metadata: BTreeMap::new(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    let err = h
        .cmd(
            &dev(),
            Command::RegisterArtifact {
                service: "checkout".into(),
                version: "2".into(),
                commit: None,
                subject: None,
                digest: "XYZ".into(),
                uri: "x".into(),
                metadata: BTreeMap::new(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Invalid);
    let err = h
        .cmd(
            &dev(),
            Command::Promote {
                service: "nope".into(),
                stage: "test".into(),
                artifact: "1".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::NotFound);
}

fn with_manual_rollback(config: &Config) -> Arc<Config> {
    let mut c = config.clone();
    for s in &mut c.services {
        for st in &mut s.stages {
            st.rollback = RollbackPolicy::Manual;
        }
    }
    Arc::new(c)
}

#[test]
fn with_manual_rollback_a_failure_leaves_the_stage_failed_for_a_person() {
    let mut h = Harness::new(with_manual_rollback(&config_with(Gate::Auto)));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.register("checkout", "1.1.0");
    h.fail_at("checkout", "test", "deploy");
    assert!(
        h.stage("checkout", "test").active.is_none(),
        "no automatic rollback"
    );
    assert_eq!(h.version_in("checkout", "test").as_deref(), Some("1.1.0"));
    assert!(
        !h.log
            .iter()
            .any(|e| matches!(e.kind, EventKind::RollbackImpossible { .. }))
    );
    // The person rolls back by hand to the last good release.
    let out = h
        .cmd(
            &dev(),
            Command::Rollback {
                service: "checkout".into(),
                stage: "test".into(),
                to: None,
            },
        )
        .unwrap();
    assert_eq!(
        h.state().deployments[&out.deployment.unwrap()].version,
        "1.0.0"
    );
}

#[test]
fn a_failed_deploy_step_rolls_back_and_a_failed_rollback_is_not_rolled_back_again() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.register("checkout", "1.1.0");
    h.fail_at("checkout", "test", "deploy");
    let rollback = h
        .stage("checkout", "test")
        .active
        .clone()
        .expect("automatic rollback");
    assert_eq!(h.state().deployments[&rollback].version, "1.0.0");
    h.fail_at("checkout", "test", "deploy");
    assert_eq!(
        h.state().deployments[&rollback].status,
        DeploymentStatus::Failed
    );
    assert!(
        h.stage("checkout", "test").active.is_none(),
        "no rollback of a rollback"
    );
    let last = h
        .effects
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::Notify(n) => Some(n.message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(last.contains("needs attention"), "{last}");
    // Retrying it by hand goes to the last good release again.
    let out = h
        .cmd(
            &dev(),
            Command::Rollback {
                service: "checkout".into(),
                stage: "test".into(),
                to: None,
            },
        )
        .unwrap();
    assert_eq!(
        h.state().deployments[&out.deployment.unwrap()].version,
        "1.0.0"
    );
}

#[test]
fn a_cancelled_deployment_takes_its_approvals_with_it_and_names_who_cancelled() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    h.cmd(
        &bob(),
        Command::Cancel {
            deployment: d.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        h.approve(&alice(), &d).unwrap_err().kind,
        RejectionKind::Conflict
    );
    let last = h.log.last().unwrap();
    assert_eq!(last.actor.name(), "bob");
    // A running one: the final event names the person, not ferry.
    h.register("checkout", "1.1.0");
    let running = h.stage("checkout", "test").active.clone().unwrap();
    h.cmd(
        &bob(),
        Command::Cancel {
            deployment: running.clone(),
        },
    )
    .unwrap();
    let (run, step) = h.running("checkout", "test").unwrap();
    h.finish(&run, step, StepStatus::Cancelled);
    let finished = h.log.iter().rev().find(|e| matches!(&e.kind, EventKind::DeploymentFinished { deployment, .. } if deployment == &running)).unwrap();
    assert_eq!(finished.actor.name(), "bob");
    assert!(
        finished.reason.contains("cancelled by bob"),
        "{}",
        finished.reason
    );
}

#[test]
fn a_rollback_voids_the_approvals_of_a_queued_newer_release() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.release("1.1.0");
    h.register("checkout", "1.2.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let candidate = h.pending("checkout", "prod").unwrap();
    h.approve(&alice(), &candidate).unwrap();
    assert!(
        h.stage("checkout", "prod").active.is_some(),
        "1.2.0 deploys"
    );
    h.cmd(
        &dev(),
        Command::Rollback {
            service: "checkout".into(),
            stage: "prod".into(),
            to: None,
        },
    )
    .unwrap();
    let (run, step) = h.running("checkout", "prod").unwrap();
    h.finish(&run, step, StepStatus::Cancelled);
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.1.0"));
    assert!(
        h.stage("checkout", "prod").active.is_none(),
        "nothing starts after a rollback by itself"
    );
}

#[test]
fn a_rollback_holds_an_approved_release_waiting_behind_it() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    // 1.1.0 deploys to prod; 1.2.0 is approved and queued behind it.
    h.register("checkout", "1.1.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d11 = h.pending("checkout", "prod").unwrap();
    h.approve(&alice(), &d11).unwrap();
    h.register("checkout", "1.2.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d12 = h.pending("checkout", "prod").unwrap();
    h.approve(&alice(), &d12).unwrap();
    assert_eq!(h.state().deployments[&d12].status, DeploymentStatus::Queued);
    h.fail_at("checkout", "prod", "health");
    assert_eq!(
        h.state().deployments[&d12].status,
        DeploymentStatus::Superseded
    );
    let fresh = h.stage("checkout", "prod").queue.last().cloned().unwrap();
    let fresh = &h.state().deployments[&fresh];
    assert_eq!(
        (fresh.version.as_str(), fresh.status),
        ("1.2.0", DeploymentStatus::AwaitingApproval)
    );
    assert!(fresh.approvals.is_empty());
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
    assert!(h.stage("checkout", "prod").active.is_none());
}

#[test]
fn asking_for_a_rollback_twice_does_not_go_two_releases_back() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.release("1.1.0");
    h.release("1.2.0");
    let first = h
        .cmd(
            &dev(),
            Command::Rollback {
                service: "checkout".into(),
                stage: "prod".into(),
                to: None,
            },
        )
        .unwrap();
    let second = h
        .cmd(
            &alice(),
            Command::Rollback {
                service: "checkout".into(),
                stage: "prod".into(),
                to: None,
            },
        )
        .unwrap();
    assert_eq!(first.deployment, second.deployment);
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.1.0"));
}

#[test]
fn a_rollback_interrupted_by_a_restart_is_tried_once_more() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.register("checkout", "1.1.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    h.approve(&alice(), &d).unwrap();
    h.fail_at("checkout", "prod", "health");
    let rollback = h.stage("checkout", "prod").active.clone().unwrap();
    let config = h.engine.config().clone();
    h.engine = Engine::from_events(config, h.log.iter());
    h.input(Input::Recover).unwrap();
    assert_eq!(
        h.state().deployments[&rollback].status,
        DeploymentStatus::Failed
    );
    let retry = h.stage("checkout", "prod").active.clone().expect("retried");
    assert_ne!(retry, rollback);
    assert_eq!(h.state().deployments[&retry].version, "1.0.0");
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
}

#[test]
fn late_or_repeated_step_results_are_ignored() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    let (run, step) = h.running("checkout", "test").unwrap();
    h.finish(&run, step, StepStatus::Passed);
    let events = h.log.len();
    h.finish(&run, step, StepStatus::Failed);
    h.finish("d-999", 0, StepStatus::Passed);
    assert_eq!(h.log.len(), events);
    assert_eq!(
        h.state().deployments[&run].status,
        DeploymentStatus::Running
    );
}

#[test]
fn the_author_of_a_change_cannot_approve_it_even_when_someone_else_promoted_it() {
    let mut h = Harness::new(with_manual_rollback(&config_with(approval(1))));
    let author = user("carol", &["release-manager"]);
    h.cmd(
        &author,
        Command::RegisterArtifact {
            service: "checkout".into(),
            version: "3.0.0".into(),
            commit: None,
            subject: None,
            digest: "c".repeat(64),
            uri: "x".into(),
            metadata: BTreeMap::new(),
        },
    )
    .unwrap();
    h.fail_at("checkout", "test", "integration");
    // Someone else retries it by hand; carol is still its author.
    h.cmd(
        &dev(),
        Command::Promote {
            service: "checkout".into(),
            stage: "test".into(),
            artifact: "3.0.0".into(),
        },
    )
    .unwrap();
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    assert_eq!(h.state().deployments[&d].requested_by.name(), "dev");
    assert_eq!(
        h.approve(&author, &d).unwrap_err().kind,
        RejectionKind::Forbidden
    );
}

#[test]
fn a_release_rolled_back_upstream_is_withdrawn_downstream() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.register("checkout", "1.1.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    h.cmd(
        &dev(),
        Command::Rollback {
            service: "checkout".into(),
            stage: "preprod".into(),
            to: None,
        },
    )
    .unwrap();
    h.pass_stage("checkout", "preprod");
    assert_eq!(
        h.state().deployments[&d].status,
        DeploymentStatus::Superseded
    );
    assert!(
        h.state().deployments[&d]
            .outcome
            .as_deref()
            .unwrap_or("")
            .contains("withdrawn")
    );
    assert_eq!(
        h.approve(&alice(), &d).unwrap_err().kind,
        RejectionKind::Conflict
    );
}

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
enum Op {
    Register {
        service: usize,
        user: usize,
    },
    Pass {
        service: usize,
        stage: usize,
    },
    Fail {
        service: usize,
        stage: usize,
    },
    Cancel {
        service: usize,
        stage: usize,
    },
    Approve {
        user: usize,
        service: usize,
    },
    Reject {
        user: usize,
        service: usize,
    },
    Promote {
        service: usize,
        stage: usize,
        artifact: usize,
    },
    Rollback {
        service: usize,
        stage: usize,
        to: Option<usize>,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let svc = 0..2usize;
    let stg = 0..3usize;
    prop_oneof![
        3 => (svc.clone(), 0..3usize).prop_map(|(service, user)| Op::Register { service, user }),
        10 => (svc.clone(), stg.clone()).prop_map(|(service, stage)| Op::Pass { service, stage }),
        3 => (svc.clone(), stg.clone()).prop_map(|(service, stage)| Op::Fail { service, stage }),
        1 => (svc.clone(), stg.clone()).prop_map(|(service, stage)| Op::Cancel { service, stage }),
        4 => (0..4usize, svc.clone()).prop_map(|(user, service)| Op::Approve { user, service }),
        1 => (0..4usize, svc.clone()).prop_map(|(user, service)| Op::Reject { user, service }),
        2 => (svc.clone(), stg.clone(), 0..6usize).prop_map(|(service, stage, artifact)| Op::Promote { service, stage, artifact }),
        2 => (svc.clone(), stg.clone(), proptest::option::of(0..6usize)).prop_map(|(service, stage, to)| Op::Rollback { service, stage, to }),
        1 => Just(Op::Restart),
    ]
}

const SERVICES: [&str; 2] = ["checkout", "search"];
const STAGES: [&str; 3] = ["test", "preprod", "prod"];

fn users() -> [Principal; 4] {
    [dev(), alice(), bob(), user("eve", &["viewer"])]
}

fn apply_op(h: &mut Harness, op: &Op, counter: &mut u32) {
    let users = users();
    let _ = match op {
        Op::Register { service, user } => {
            *counter += 1;
            h.cmd(
                &users[*user],
                Command::RegisterArtifact {
                    service: SERVICES[*service].into(),
                    version: format!("1.{counter}.0"),
                    commit: None,
                    subject: None,
                    digest: format!("{counter:064x}"),
                    uri: "file:///a".into(),
                    metadata: BTreeMap::new(),
                },
            )
        }
        Op::Pass { service, stage } | Op::Fail { service, stage } => {
            // Pick among what runs, so that random sequences get far.
            let running: Vec<(String, usize)> = SERVICES
                .iter()
                .flat_map(|s| STAGES.iter().map(move |st| (*s, *st)))
                .filter_map(|(s, st)| h.running(s, st))
                .collect();
            if !running.is_empty() {
                let (run, step) = running[(service * 3 + stage) % running.len()].clone();
                let status = if matches!(op, Op::Pass { .. }) {
                    StepStatus::Passed
                } else {
                    StepStatus::Failed
                };
                h.finish(&run, step, status);
            }
            Ok(Output::default())
        }
        Op::Cancel { service, stage } => {
            let st = h.stage(SERVICES[*service], STAGES[*stage]);
            match st.active.clone().or_else(|| st.queue.first().cloned()) {
                Some(deployment) => h.cmd(&dev(), Command::Cancel { deployment }),
                None => Ok(Output::default()),
            }
        }
        Op::Approve { user, service } | Op::Reject { user, service } => {
            match h.stage(SERVICES[*service], "prod").queue.last().cloned() {
                Some(deployment) if matches!(op, Op::Approve { .. }) => {
                    h.approve(&users[*user], &deployment)
                }
                Some(deployment) => h.cmd(
                    &users[*user],
                    Command::Reject {
                        deployment,
                        comment: None,
                    },
                ),
                None => Ok(Output::default()),
            }
        }
        Op::Promote {
            service,
            stage,
            artifact,
        } => h.cmd(
            &dev(),
            Command::Promote {
                service: SERVICES[*service].into(),
                stage: STAGES[*stage].into(),
                artifact: format!("a-{}", artifact + 1),
            },
        ),
        Op::Rollback { service, stage, to } => h.cmd(
            &dev(),
            Command::Rollback {
                service: SERVICES[*service].into(),
                stage: STAGES[*stage].into(),
                to: to.map(|a| format!("a-{}", a + 1)),
            },
        ),
        Op::Restart => {
            let config = h.engine.config().clone();
            h.engine = Engine::from_events(config, h.log.iter());
            h.input(Input::Recover)
        }
    };
}

/// Checks the rules on every event, against the state just before it.
fn check_rules(config: &Config, log: &[Event]) -> Result<(), TestCaseError> {
    let mut state = State::new(config);
    for (i, e) in log.iter().enumerate() {
        if let EventKind::DeploymentStarted { deployment } = &e.kind {
            let d = &state.deployments[deployment];
            let stages = &state.service(&d.service).unwrap().stages;
            let index = stages.iter().position(|s| s.name == d.stage).unwrap();
            prop_assert!(
                stages[index].active.is_none(),
                "two active deployments in {}/{}",
                d.service,
                d.stage
            );
            if d.kind != DeploymentKind::Rollback && index > 0 {
                prop_assert!(
                    stages[index - 1].passed.contains(&d.artifact),
                    "{} entered {} without passing {}",
                    d.version,
                    d.stage,
                    stages[index - 1].name
                );
            }
            if d.kind == DeploymentKind::Rollback {
                prop_assert!(
                    stages[index].good.iter().any(|g| g.artifact == d.artifact),
                    "rollback to a release that is not good"
                );
            }
            if let Gate::Approval(rule) = &stages[index].gate
                && d.kind != DeploymentKind::Rollback
            {
                let approvers = d.approvers();
                prop_assert!(
                    approvers.len() as u32 >= rule.required,
                    "entered {} without approvals",
                    d.stage
                );
                let author = state.artifacts[&d.artifact].created_by.clone();
                for a in approvers {
                    prop_assert!(
                        a != &d.requested_by && a != &author,
                        "self-approval counted"
                    );
                    prop_assert!(
                        ["alice", "bob"].contains(&a.name()),
                        "approval by {} without the role",
                        a.name()
                    );
                }
            }
        }
        if let EventKind::DeploymentFinished {
            deployment,
            status: DeploymentStatus::Failed,
            ..
        } = &e.kind
        {
            let d = state.deployments[deployment].clone();
            let st = state.stage(&d.service, &d.stage).unwrap().clone();
            if d.kind != DeploymentKind::Rollback && st.rollback == RollbackPolicy::Auto {
                let last_good = st.good.iter().rev().find(|g| g.artifact != d.artifact);
                let rest = &log[i + 1..];
                match last_good {
                    Some(good) => prop_assert!(
                        rest.iter().any(|e| matches!(&e.kind, EventKind::DeploymentCreated { kind: DeploymentKind::Rollback, artifact, stage, service, .. }
                            if artifact == &good.artifact && stage == &d.stage && service == &d.service)),
                        "no rollback to the last good after {} failed", d.id
                    ),
                    None => prop_assert!(
                        rest.iter().any(|e| matches!(&e.kind, EventKind::RollbackImpossible { deployment, .. } if deployment == &d.id)),
                        "a failure with no last good must say so"
                    ),
                }
            }
        }
        state.apply(e);
        for svc in &state.services {
            for st in &svc.stages {
                let running = st
                    .history
                    .iter()
                    .filter(|id| state.deployments[*id].status == DeploymentStatus::Running)
                    .count();
                prop_assert!(
                    running <= 1,
                    "{running} running deployments in {}/{}",
                    svc.name,
                    st.name
                );
                let pending_promotions = st
                    .queue
                    .iter()
                    .filter(|id| state.deployments[*id].kind != DeploymentKind::Rollback)
                    .count();
                prop_assert!(
                    pending_promotions <= 1,
                    "older pending promotions were not superseded"
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_rules_hold_over_random_inputs(ops in proptest::collection::vec(op(), 1..80), two in any::<bool>()) {
        let config = config_with(approval(if two { 2 } else { 1 }));
        let mut h = Harness::new(config.clone());
        let mut counter = 0;
        for op in &ops {
            apply_op(&mut h, op, &mut counter);
        }
        check_rules(&config, &h.log)?;
        // The state is a fold of the events: a restart rebuilds it exactly.
        let rebuilt = Engine::from_events(config.clone(), h.log.iter());
        prop_assert_eq!(rebuilt.state(), h.state());
        // Settle: pass everything that runs; with auto rollback a stage
        // whose last deployment failed ends on its last good artifact.
        for _ in 0..200 {
            let mut progressed = false;
            for s in SERVICES { for st in STAGES {
                if let Some((run, step)) = h.running(s, st) { h.finish(&run, step, StepStatus::Passed); progressed = true; }
            }}
            if !progressed { break; }
        }
        for s in SERVICES { for st in STAGES {
            let stage = h.stage(s, st);
            let last = stage.last_finished(h.state());
            if let Some(last) = last
                && last.status == DeploymentStatus::Failed && last.kind != DeploymentKind::Rollback
                && stage.active.is_none()
            {
                prop_assert!(
                    stage.good.iter().all(|g| g.artifact == last.artifact),
                    "{s}/{st} failed but did not return to its last good artifact"
                );
            }
            // A stage that settled after a success runs its last good release.
            if let Some(last) = last
                && last.status == DeploymentStatus::Succeeded
                && stage.active.is_none()
            {
                prop_assert_eq!(stage.current.as_ref(), Some(&last.artifact));
                prop_assert_eq!(stage.last_good().map(|g| &g.artifact), Some(&last.artifact));
            }
        }}
        check_rules(&config, &h.log)?;
    }
}
