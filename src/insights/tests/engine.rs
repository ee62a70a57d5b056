//! The definitions on logs the real engine writes: the stories of the issue
//! (a built release carried to prod, a failed health check rolled back, a
//! manual rollback of a good release, a flaky gate), each checked by hand
//! and against the from-scratch computation.

use std::path::Path;

use proptest::prelude::*;
use std::sync::Arc;

use super::scratch::from_scratch;
use super::*;
use crate::config::Config;
use crate::engine::{BuiltArtifact, Command, Engine, Input, Principal};
use crate::model::{ArtifactId, DeploymentId, RunId};

const PIPELINE: &str = r#"
[services.web]
source = { git = "/repo", branch = "main" }
build = { command = "make", artifact = "app.tar" }
[[services.web.stages]]
name = "test"
deploy = { command = "./deploy test" }
verify = [ { name = "unit", command = "./t unit" }, { name = "e2e", command = "./t e2e" } ]
rollback = "auto"
[[services.web.stages]]
name = "prod"
deploy = { command = "./deploy prod" }
gate = { approval = { required = 1, roles = ["release-manager"] } }
health = { command = "./check", retries = 1 }
rollback = "auto"

[services.billing]
source = "external"
[[services.billing.stages]]
name = "staging"
deploy = { command = "./ship staging" }
verify = [ { name = "smoke", command = "./smoke" } ]
[[services.billing.stages]]
name = "prod"
deploy = { command = "./ship prod" }
rollback = "auto"
"#;

/// Drives a real engine, one second per input, and keeps its numbered events.
struct Run {
    engine: Engine,
    now: Millis,
    log: Vec<Event>,
}

fn admin() -> Principal {
    Principal {
        name: "alice".into(),
        roles: vec!["admin".into()],
    }
}

impl Run {
    fn new() -> Self {
        let config = Config::parse(PIPELINE, Path::new("/srv/ferry/ferry.toml"))
            .unwrap_or_else(|e| panic!("the test pipeline loads:\n{e}"));
        Run {
            engine: Engine::new(Arc::new(config)),
            now: T0,
            log: Vec::new(),
        }
    }

    /// Let `ms` pass before the next input.
    fn wait(&mut self, ms: Millis) {
        self.now += ms;
    }

    fn input(&mut self, input: Input) -> crate::engine::Output {
        self.now += 1_000;
        let out = self
            .engine
            .handle(input, self.now)
            .unwrap_or_else(|r| panic!("rejected: {r:?}"));
        for e in &out.events {
            let seq = self.log.len() as u64 + 1;
            self.log.push(e.clone().numbered(seq));
        }
        out
    }

    fn cmd(&mut self, command: Command) -> crate::engine::Output {
        self.input(Input::Command {
            by: admin(),
            command,
        })
    }

    fn register(&mut self, version: &str) -> ArtifactId {
        self.cmd(Command::RegisterArtifact {
            committed_at: None,
            service: "billing".into(),
            version: version.into(),
            commit: None,
            subject: None,
            digest: format!("{:0>64}", version.replace('.', "")),
            uri: format!("file:///{version}"),
            metadata: Default::default(),
        })
        .artifact
        .expect("an artifact")
    }

    /// A commit of web, built in `build_ms`.
    fn commit(&mut self, version: &str, build_ms: Millis) {
        let build = self
            .cmd(Command::NewCommit {
                service: "web".into(),
                commit: format!("c{version}"),
                subject: None,
                author: "dev".into(),
            })
            .build
            .expect("a build");
        self.wait(build_ms - 1_000);
        self.input(Input::StepFinished {
            run: build.into(),
            step: 0,
            outcome: outcome(StepStatus::Passed),
            built: Some(BuiltArtifact {
                committed_at: None,
                version: version.into(),
                digest: format!("{:0>64}", version.replace('.', "")),
                uri: format!("file:///{version}"),
            }),
        });
    }

    fn running(&self, service: &str, stage: &str) -> Option<(DeploymentId, usize, String)> {
        let id = self.engine.state().stage(service, stage)?.active.clone()?;
        let d = &self.engine.state().deployments[&id];
        let step = d.running_step()?;
        Some((id, step, d.steps[step].name.clone()))
    }

    /// Finish the running steps of (service, stage), each after `step_ms`:
    /// pass them, but for the one named `fail` (failed).
    fn run_stage(&mut self, service: &str, stage: &str, step_ms: Millis, fail: Option<&str>) {
        while let Some((run, step, name)) = self.running(service, stage) {
            self.wait(step_ms - 1_000);
            let status = if Some(name.as_str()) == fail {
                StepStatus::Failed
            } else {
                StepStatus::Passed
            };
            self.input(Input::StepFinished {
                run: run.into(),
                step,
                outcome: outcome(status),
                built: None,
            });
            if status == StepStatus::Failed {
                return;
            }
        }
    }

    fn pending(&self, service: &str, stage: &str) -> DeploymentId {
        self.engine
            .state()
            .stage(service, stage)
            .and_then(|s| s.queue.first().cloned())
            .expect("pending")
    }

    fn approve(&mut self, deployment: &str) {
        self.cmd(Command::Approve {
            deployment: deployment.into(),
            comment: None,
            digest: None,
        });
    }

    fn deployment(&self, id: &str) -> &crate::model::Deployment {
        &self.engine.state().deployments[id]
    }
}

fn outcome(status: StepStatus) -> StepOutcome {
    StepOutcome {
        status,
        exit_code: Some(i32::from(status != StepStatus::Passed)),
        tests: None,
        message: status.as_str().into(),
        failed_tests: Vec::new(),
    }
}

/// The window of a day from T0, with the configured stage order.
fn day() -> InsightsQuery {
    InsightsQuery {
        from: T0,
        to: T0 + DAY,
        ..InsightsQuery::default()
    }
    .stages("web", vec!["test".into(), "prod".into()])
    .stages("billing", vec!["staging".into(), "prod".into()])
}

fn check_against_scratch(run: &Run, query: &InsightsQuery) -> InsightsReport {
    let report = Insights::from_events(&run.log).report(query);
    assert_eq!(
        report,
        from_scratch(&run.log, query),
        "the fold and the scratch agree"
    );
    report
}

#[test]
fn committed_at_comes_from_the_ci_or_from_git_and_lead_time_starts_there() {
    let mut run = Run::new();
    let out = run.cmd(Command::RegisterArtifact {
        committed_at: Some(T0 - H),
        service: "billing".into(),
        version: "9.9".into(),
        commit: None,
        subject: None,
        digest: "9".repeat(64),
        uri: "file:///9.9".into(),
        metadata: Default::default(),
    });
    let id = out.artifact.expect("an artifact");
    assert_eq!(run.engine.state().artifacts[&id].committed_at, Some(T0 - H));
    let build = run
        .cmd(Command::NewCommit {
            service: "web".into(),
            commit: "c1".into(),
            subject: None,
            author: "dev".into(),
        })
        .build
        .expect("a build");
    let out = run.input(Input::StepFinished {
        run: build.into(),
        step: 0,
        outcome: outcome(StepStatus::Passed),
        built: Some(BuiltArtifact {
            committed_at: Some(T0 - 2 * H),
            version: "1.0".into(),
            digest: "1".repeat(64),
            uri: "file:///1.0".into(),
        }),
    });
    let built = out.artifact.expect("a built artifact");
    let artifact = &run.engine.state().artifacts[&built];
    assert_eq!(artifact.committed_at, Some(T0 - 2 * H));
    assert_eq!(commit_time(artifact), T0 - 2 * H);
}

#[test]
fn a_built_release_a_failed_health_check_and_its_rollback() {
    let mut run = Run::new();
    let m = 60_000;
    // 1.0: built in 5m, test steps 1m each, approved after 20m, prod steps 2m each.
    run.commit("1.0", 5 * m);
    run.run_stage("web", "test", m, None);
    let d1 = run.pending("web", "prod");
    run.wait(20 * m);
    run.approve(&d1);
    run.run_stage("web", "prod", 2 * m, None);
    assert_eq!(run.deployment(&d1).status, DeploymentStatus::Succeeded);
    // 1.1 fails its health check in prod: ferry rolls back to 1.0.
    run.wait(H);
    run.commit("1.1", 5 * m);
    run.run_stage("web", "test", m, None);
    let d2 = run.pending("web", "prod");
    run.approve(&d2);
    run.run_stage("web", "prod", 2 * m, Some("health"));
    assert_eq!(run.deployment(&d2).status, DeploymentStatus::Failed);
    let failed_at = run.deployment(&d2).finished_at.expect("finished");
    run.run_stage("web", "prod", 2 * m, None);
    let rollback = run
        .log
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::DeploymentFinished {
                deployment,
                status: DeploymentStatus::Succeeded,
                ..
            } => Some(deployment.clone()),
            _ => None,
        })
        .expect("the rollback finished");
    assert_eq!(run.deployment(&rollback).kind, DeploymentKind::Rollback);
    let restored_at = run.deployment(&rollback).finished_at.expect("finished");

    let report = check_against_scratch(&run, &day().service("web"));
    let web = only(&report, "web");
    assert_eq!(web.stage, "prod");
    let metrics = &web.metrics;
    assert_eq!(metrics.deployments, 2);
    assert_eq!(metrics.frequency.succeeded, 1);
    assert_eq!(metrics.change_fail_rate.text, "1 of 2");
    assert_eq!(
        metrics.recovery_time.durations.median_ms,
        Some(restored_at - failed_at)
    );
    assert_eq!(metrics.rework_rate.text, "1 of 3");
    // Lead time of 1.0: from its artifact (the build's end) to live.
    let d1 = run.deployment(&d1);
    let a1 = &run.engine.state().artifacts[&d1.artifact];
    assert_eq!(
        metrics.lead_time.median_ms,
        Some(d1.finished_at.expect("finished") - a1.created_at)
    );
    let seg = |name: &str| {
        metrics
            .time_breakdown
            .iter()
            .find(|s| s.segment == name)
            .and_then(|s| s.median_ms)
    };
    assert_eq!(seg("build"), Some(5 * m));
    assert_eq!(seg("running"), Some(3 * m), "deploy, unit and e2e in test");
    assert_eq!(seg("approval_wait"), Some(20 * m + 1_000));
    assert_eq!(seg("run"), Some(4 * m), "deploy and health in prod");
}

#[test]
fn a_manual_rollback_of_a_good_release_and_a_flaky_gate() {
    let mut run = Run::new();
    let m = 60_000;
    let a1 = run.register("1.0");
    run.run_stage("billing", "staging", m, None);
    run.run_stage("billing", "prod", m, None);
    // 1.1: smoke fails once in staging, passes on a second promotion of the same artifact.
    let a2 = run.register("1.1");
    run.run_stage("billing", "staging", m, Some("smoke"));
    let failed = run
        .log
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::DeploymentFinished {
                deployment,
                status: DeploymentStatus::Failed,
                ..
            } => Some(deployment.clone()),
            _ => None,
        })
        .expect("the staging failure");
    assert_eq!(Insights::from_events(&run.log).flaky_failure(&failed), None);
    run.cmd(Command::Promote {
        service: "billing".into(),
        stage: "staging".into(),
        artifact: a2.to_string(),
    });
    run.run_stage("billing", "staging", m, None);
    // prod's gate is auto: 1.1 went on by itself.
    run.run_stage("billing", "prod", m, None);
    // A bad surprise in prod after all: roll back by hand to 1.0.
    run.wait(H);
    let rollback = run
        .cmd(Command::Rollback {
            service: "billing".into(),
            stage: "prod".into(),
            to: None,
        })
        .deployment
        .expect("a rollback");
    let rollback_created = run.deployment(&rollback).created_at;
    run.run_stage("billing", "prod", m, None);
    assert_eq!(
        run.deployment(&rollback).status,
        DeploymentStatus::Succeeded
    );
    assert_eq!(
        run.engine
            .state()
            .stage("billing", "prod")
            .and_then(|s| s.current.clone()),
        Some(a1)
    );

    let insights = Insights::from_events(&run.log);
    let flaky = insights.flaky_failure(&failed).expect("smoke was flaky");
    assert_eq!(
        (flaky.stage.as_str(), flaky.step.as_str()),
        ("staging", "smoke")
    );

    let report = check_against_scratch(&run, &day());
    let billing = only(&report, "billing");
    let cfr = &billing.metrics.change_fail_rate;
    assert_eq!((cfr.failures, cfr.deployments, cfr.undone), (1, 2, 1));
    assert_eq!(
        billing.metrics.recovery_time.durations.median_ms,
        run.deployment(&rollback)
            .finished_at
            .map(|f| f - rollback_created)
    );
    assert_eq!(billing.flaky_steps.len(), 1);
    assert_eq!(billing.flaky_steps[0].count, 1);
    assert_eq!(report.all_services.flaky_failures, 1);
    // Staging as T: the failure counts there, and no rollback undid anything.
    let staging = check_against_scratch(&run, &day().service("billing").stage("staging"));
    assert_eq!(
        only(&staging, "billing").metrics.change_fail_rate.text,
        "1 of 3"
    );
}

/// One random thing that happens to a running ferry.
#[derive(Debug, Clone)]
enum Op {
    Register,
    Commit,
    /// Finish the n-th running step (builds and deployments), passed or not.
    Finish(usize, bool),
    Approve(usize),
    Rollback(usize, usize),
    Promote(usize, usize, usize),
    Wait(Millis),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Register),
        1 => Just(Op::Commit),
        8 => (0..4usize, prop::bool::weighted(0.8)).prop_map(|(n, ok)| Op::Finish(n, ok)),
        2 => (0..2usize).prop_map(Op::Approve),
        1 => (0..2usize, 0..2usize).prop_map(|(s, t)| Op::Rollback(s, t)),
        1 => (0..2usize, 0..2usize, 0..6usize).prop_map(|(s, t, a)| Op::Promote(s, t, a)),
        2 => (0..3 * H).prop_map(Op::Wait),
    ]
}

impl Run {
    /// Apply an op; what the engine refuses changes nothing.
    fn op(&mut self, op: Op, i: usize) {
        let services = ["web", "billing"];
        let state = self.engine.state();
        let input = match op {
            Op::Register => Input::Command {
                by: admin(),
                command: Command::RegisterArtifact {
                    committed_at: None,
                    service: "billing".into(),
                    version: format!("1.{i}"),
                    commit: None,
                    subject: None,
                    digest: format!("{i:0>64}"),
                    uri: String::new(),
                    metadata: Default::default(),
                },
            },
            Op::Commit => Input::Command {
                by: admin(),
                command: Command::NewCommit {
                    service: "web".into(),
                    commit: format!("c{i}"),
                    subject: None,
                    author: "dev".into(),
                },
            },
            Op::Finish(n, ok) => {
                let builds = state.builds.values().filter_map(|b| {
                    let step = b
                        .steps
                        .iter()
                        .position(|s| s.status == StepStatus::Running)?;
                    Some((RunId::from(&b.id), step, true))
                });
                let deployments = state
                    .deployments
                    .values()
                    .filter_map(|d| Some((RunId::from(&d.id), d.running_step()?, false)));
                let running: Vec<_> = builds.chain(deployments).collect();
                let Some((run, step, build)) = running.get(n % running.len().max(1)).cloned()
                else {
                    return;
                };
                let status = if ok {
                    StepStatus::Passed
                } else {
                    StepStatus::Failed
                };
                Input::StepFinished {
                    run,
                    step,
                    outcome: outcome(status),
                    built: (build && ok).then(|| BuiltArtifact {
                        committed_at: None,
                        version: format!("2.{i}"),
                        digest: format!("{i:0>64}"),
                        uri: String::new(),
                    }),
                }
            }
            Op::Approve(n) => {
                let Some(d) = state.pending_approvals().get(n).map(|d| d.id.clone()) else {
                    return;
                };
                Input::Command {
                    by: admin(),
                    command: Command::Approve {
                        deployment: d,
                        comment: None,
                        digest: None,
                    },
                }
            }
            Op::Rollback(s, t) => {
                let stage = if t == 0 {
                    ["test", "staging"][s]
                } else {
                    "prod"
                };
                Input::Command {
                    by: admin(),
                    command: Command::Rollback {
                        service: services[s].into(),
                        stage: stage.into(),
                        to: None,
                    },
                }
            }
            Op::Promote(s, t, a) => {
                let Some(artifact) = state.artifacts.keys().nth(a).cloned() else {
                    return;
                };
                let stage = if t == 0 {
                    ["test", "staging"][s]
                } else {
                    "prod"
                };
                Input::Command {
                    by: admin(),
                    command: Command::Promote {
                        service: services[s].into(),
                        stage: stage.into(),
                        artifact: artifact.to_string(),
                    },
                }
            }
            Op::Wait(ms) => {
                self.wait(ms);
                return;
            }
        };
        self.now += 1_000;
        if let Ok(out) = self.engine.handle(input, self.now) {
            for e in out.events {
                let seq = self.log.len() as u64 + 1;
                self.log.push(e.numbered(seq));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// On logs the real engine writes from random commands and step results.
    #[test]
    fn the_fold_agrees_with_the_scratch_on_engine_logs(
        ops in prop::collection::vec(arb_op(), 0..200),
        stage in prop::option::of(0..3usize),
        days in 1..30i64,
    ) {
        let mut run = Run::new();
        for (i, op) in ops.into_iter().enumerate() {
            run.op(op, i);
        }
        let mut query = InsightsQuery { from: T0, to: T0 + days * DAY, ..InsightsQuery::default() };
        query.stage = stage.map(|s| ["test", "staging", "prod"][s].to_string());
        let insights = Insights::from_events(&run.log);
        prop_assert_eq!(insights.report(&query), from_scratch(&run.log, &query));
    }
}
