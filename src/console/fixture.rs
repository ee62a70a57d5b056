//! Fixed data for the console's tests: a hand-made resolved config and a
//! story told as events, folded through the same `State::apply` the server
//! uses. Times are fixed relative to `NOW`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::{Dashboard, ServerInfo};
use crate::config::{
    CommandStep, Config, ConsoleConfig, Gate, NotifyConfig, RollbackPolicy, ServerConfig,
    ServiceConfig, Source, StageConfig, VerifyStep,
};
use crate::engine::{Principal, State};
use crate::model::{
    Actor, Approval, ApprovalRule, Artifact, ArtifactOrigin, BuildStatus, Decision, DeploymentKind,
    DeploymentStatus, Event, EventKind, Millis, StepKind, StepOutcome, StepPlan, StepStatus,
    TestCounts,
};

use super::app::App;
use super::update::{Msg, update};

/// 2025-11-24 16:00 UTC: the fixed "now" of every test frame.
pub const NOW: Millis = 1_764_000_000_000;
const MIN: Millis = 60_000;

fn stage(name: &str, gate: Gate) -> StageConfig {
    StageConfig {
        name: name.into(),
        deploy: CommandStep {
            command: "./deploy.sh".into(),
            timeout: Duration::from_secs(60),
        },
        verify: vec![VerifyStep {
            name: "integration".into(),
            command: "./it.sh".into(),
            timeout: Duration::from_secs(60),
            report: None,
        }],
        gate,
        health: None,
        rollback: RollbackPolicy::Auto,
    }
}

fn service(name: &str, git: bool) -> ServiceConfig {
    let approval = Gate::Approval(ApprovalRule {
        required: 1,
        roles: vec!["release-manager".into()],
        allow_self: false,
    });
    ServiceConfig {
        name: name.into(),
        source: if git {
            Source::Git {
                repo: format!("/srv/git/{name}"),
                branch: "main".into(),
                poll_interval: Duration::from_secs(10),
            }
        } else {
            Source::External
        },
        build: None,
        stages: vec![
            stage("test", Gate::Auto),
            stage("preprod", Gate::Auto),
            stage("prod", approval),
        ],
        workdir: PathBuf::from("/srv"),
        env: BTreeMap::new(),
        secrets: vec![],
    }
}

pub fn config(names: &[(&str, bool)]) -> Config {
    Config {
        path: None,
        server: ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7474)),
            data_dir: PathBuf::from("/tmp/ferry"),
            base_dir: PathBuf::from("/srv"),
            store: None,
        },
        console: ConsoleConfig::default(),
        services: names.iter().map(|(n, g)| service(n, *g)).collect(),
        users: vec![],
        notify: NotifyConfig::default(),
    }
}

/// Builds numbered events; ids follow the engine's b-N / a-N / d-N.
pub struct Story {
    pub events: Vec<Event>,
    builds: u64,
    artifacts: u64,
    deployments: u64,
}

fn plan(names: &[(&str, StepKind)]) -> Vec<StepPlan> {
    names
        .iter()
        .map(|(n, k)| StepPlan {
            name: (*n).into(),
            kind: *k,
        })
        .collect()
}

fn passed(tests: Option<(u32, u32)>) -> StepOutcome {
    StepOutcome {
        status: StepStatus::Passed,
        exit_code: Some(0),
        tests: tests.map(|(p, f)| TestCounts {
            passed: p,
            failed: f,
            skipped: 0,
        }),
        message: "exit code 0".into(),
    }
}

impl Story {
    pub fn new() -> Self {
        Story {
            events: Vec::new(),
            builds: 0,
            artifacts: 0,
            deployments: 0,
        }
    }

    pub fn push(&mut self, at: Millis, actor: &str, kind: EventKind) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            at,
            actor: Actor::user(actor),
            reason: "test".into(),
            kind,
        });
    }

    /// A successful build and its artifact; returns the artifact id.
    pub fn build(
        &mut self,
        at: Millis,
        service: &str,
        version: &str,
        author: &str,
        subject: &str,
    ) -> String {
        self.builds += 1;
        self.artifacts += 1;
        let (b, a) = (
            format!("b-{}", self.builds),
            format!("a-{}", self.artifacts),
        );
        let commit = format!(
            "{:0>40}",
            format!("{}{}", self.builds, version.replace('.', ""))
        );
        self.push(
            at,
            "ferry",
            EventKind::BuildStarted {
                build: b.clone(),
                service: service.into(),
                commit: commit.clone(),
                subject: Some(subject.into()),
                author: Actor::user(author),
                steps: plan(&[("build", StepKind::Build), ("unit tests", StepKind::Verify)]),
            },
        );
        for step in 0..2 {
            self.push(
                at + MIN / 2,
                "ferry",
                EventKind::StepStarted {
                    run: b.clone(),
                    step,
                },
            );
            let tests = (step == 1).then_some((128, 0));
            self.push(
                at + MIN,
                "ferry",
                EventKind::StepFinished {
                    run: b.clone(),
                    step,
                    outcome: passed(tests),
                },
            );
        }
        self.push(
            at + MIN,
            "ferry",
            EventKind::BuildFinished {
                build: b.clone(),
                status: BuildStatus::Succeeded,
                message: "built".into(),
            },
        );
        self.push(
            at + MIN,
            "ferry",
            EventKind::ArtifactRegistered {
                artifact: Artifact {
                    id: a.clone(),
                    service: service.into(),
                    version: version.into(),
                    commit: Some(commit),
                    subject: Some(subject.into()),
                    digest: format!("{:x<64}", self.artifacts),
                    uri: format!("/data/artifacts/{a}"),
                    origin: ArtifactOrigin::Built { build: b },
                    created_by: Actor::user(author),
                    created_at: at + MIN,
                    metadata: BTreeMap::new(),
                },
            },
        );
        a
    }

    /// Create a deployment; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        at: Millis,
        by: &str,
        service: &str,
        stage: &str,
        artifact: &str,
        kind: DeploymentKind,
        awaiting: bool,
        rolls_back: Option<String>,
    ) -> String {
        self.deployments += 1;
        let d = format!("d-{}", self.deployments);
        self.push(
            at,
            by,
            EventKind::DeploymentCreated {
                deployment: d.clone(),
                service: service.into(),
                stage: stage.into(),
                artifact: artifact.into(),
                kind,
                status: if awaiting {
                    DeploymentStatus::AwaitingApproval
                } else {
                    DeploymentStatus::Queued
                },
                requested_by: Actor::user(by),
                approval: awaiting.then(|| ApprovalRule {
                    required: 1,
                    roles: vec!["release-manager".into()],
                    allow_self: false,
                }),
                steps: plan(&[
                    ("deploy", StepKind::Deploy),
                    ("integration", StepKind::Verify),
                ]),
                rolls_back,
                version: String::new(),
                digest: String::new(),
            },
        );
        d
    }

    /// Run steps of a deployment: `fail_at` fails that step.
    pub fn run(&mut self, at: Millis, d: &str, steps: usize, fail_at: Option<usize>, finish: bool) {
        self.push(
            at,
            "ferry",
            EventKind::DeploymentStarted {
                deployment: d.into(),
            },
        );
        for step in 0..steps {
            self.push(
                at + MIN / 4,
                "ferry",
                EventKind::StepStarted {
                    run: d.into(),
                    step,
                },
            );
            self.push(
                at + MIN / 3,
                "ferry",
                EventKind::StepOutput {
                    run: d.into(),
                    step,
                    lines: vec![
                        format!("step {step} working"),
                        "\u{1b}[31mcoloured\u{1b}[0m line".into(),
                    ],
                    dropped: 0,
                },
            );
            let outcome = if fail_at == Some(step) {
                StepOutcome {
                    status: StepStatus::Failed,
                    exit_code: Some(1),
                    tests: Some(TestCounts {
                        passed: 120,
                        failed: 8,
                        skipped: 0,
                    }),
                    message: "8 tests failed".into(),
                }
            } else {
                passed((step == 1).then_some((128, 0)))
            };
            self.push(
                at + MIN / 2,
                "ferry",
                EventKind::StepFinished {
                    run: d.into(),
                    step,
                    outcome,
                },
            );
        }
        if finish {
            let (status, message) = match fail_at {
                Some(_) => (DeploymentStatus::Failed, "integration failed"),
                None => (DeploymentStatus::Succeeded, "deployed"),
            };
            self.push(
                at + MIN,
                "ferry",
                EventKind::DeploymentFinished {
                    deployment: d.into(),
                    status,
                    message: message.into(),
                },
            );
        }
    }

    pub fn approve(&mut self, at: Millis, d: &str, by: &str, digest: &str) {
        self.push(
            at,
            by,
            EventKind::ApprovalRecorded {
                deployment: d.into(),
                approval: Approval {
                    by: Actor::user(by),
                    decision: Decision::Approve,
                    digest: digest.into(),
                    comment: Some("lgtm".into()),
                    at,
                },
            },
        );
        self.push(
            at,
            by,
            EventKind::DeploymentApproved {
                deployment: d.into(),
            },
        );
    }

    /// Promote through test and preprod (and prod, approved by bob).
    pub fn release(&mut self, at: Millis, service: &str, artifact: &str, by: &str, to_prod: bool) {
        for (i, st) in ["test", "preprod"].iter().enumerate() {
            let t = at + i as Millis * 5 * MIN;
            let d = self.create(
                t,
                by,
                service,
                st,
                artifact,
                DeploymentKind::Promote,
                false,
                None,
            );
            self.run(t, &d, 2, None, true);
        }
        if to_prod {
            let t = at + 10 * MIN;
            let d = self.create(
                t,
                by,
                service,
                "prod",
                artifact,
                DeploymentKind::Promote,
                true,
                None,
            );
            let digest = format!("{:x<64}", artifact.trim_start_matches("a-"));
            self.approve(t + MIN, &d, "bob", &digest);
            self.run(t + 2 * MIN, &d, 2, None, true);
        }
    }
}

/// The story behind every snapshot: four services in every kind of state.
pub fn story() -> Story {
    let mut s = Story::new();
    let day = 24 * 60 * MIN;
    // checkout: 1.4.2 two days ago, 1.4.3 now in prod, 1.4.4 waits for approval.
    let a1 = s.build(
        NOW - 2 * day - 30 * MIN,
        "checkout",
        "1.4.2",
        "alice",
        "Add coupon codes",
    );
    s.release(NOW - 2 * day - 25 * MIN, "checkout", &a1, "alice", true);
    let a2 = s.build(
        NOW - 3 * 60 * MIN,
        "checkout",
        "1.4.3",
        "alice",
        "Round totals per line",
    );
    s.release(
        NOW - 2 * 60 * MIN - 50 * MIN,
        "checkout",
        &a2,
        "alice",
        true,
    );
    let a3 = s.build(
        NOW - 40 * MIN,
        "checkout",
        "1.4.4",
        "carol",
        "Faster cart \u{1b}]0;pwned\u{7}totals",
    );
    s.release(NOW - 30 * MIN, "checkout", &a3, "carol", false);
    s.create(
        NOW - 3 * MIN,
        "carol",
        "checkout",
        "prod",
        &a3,
        DeploymentKind::Promote,
        true,
        None,
    );
    // payments: 2.0.0 verifying in preprod, 2.0.1 failed its tests.
    let p1 = s.build(
        NOW - 60 * MIN,
        "payments",
        "2.0.0",
        "dave",
        "Retry declined cards",
    );
    let d = s.create(
        NOW - 50 * MIN,
        "dave",
        "payments",
        "test",
        &p1,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 50 * MIN, &d, 2, None, true);
    let d = s.create(
        NOW - 5 * MIN,
        "dave",
        "payments",
        "preprod",
        &p1,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 5 * MIN, &d, 1, None, false);
    s.push(
        NOW - 2 * MIN,
        "ferry",
        EventKind::StepStarted {
            run: d.clone(),
            step: 1,
        },
    );
    s.push(
        NOW - MIN,
        "ferry",
        EventKind::StepOutput {
            run: d,
            step: 1,
            lines: vec!["running 128 tests".into()],
            dropped: 0,
        },
    );
    let p2 = s.build(
        NOW - 20 * MIN,
        "payments",
        "2.0.1",
        "erin",
        "Drop legacy gateway",
    );
    let d = s.create(
        NOW - 15 * MIN,
        "erin",
        "payments",
        "test",
        &p2,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 15 * MIN, &d, 2, Some(1), true);
    // search: 0.9.1 failed in test and was rolled back to 0.9.0.
    let q1 = s.build(
        NOW - 5 * day,
        "search",
        "0.9.0",
        "frank",
        "Stemming for German",
    );
    let d0 = s.create(
        NOW - 5 * day + 5 * MIN,
        "frank",
        "search",
        "test",
        &q1,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 5 * day + 5 * MIN, &d0, 2, None, true);
    let q2 = s.build(NOW - 70 * MIN, "search", "0.9.1", "frank", "Bigger shards");
    let d1 = s.create(
        NOW - 65 * MIN,
        "frank",
        "search",
        "test",
        &q2,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 65 * MIN, &d1, 1, Some(0), true);
    let d2 = s.create(
        NOW - 62 * MIN,
        "ferry",
        "search",
        "test",
        &q1,
        DeploymentKind::Rollback,
        false,
        Some(d1),
    );
    s.run(NOW - 62 * MIN, &d2, 1, None, true);
    // inventory: never built.
    s
}

pub fn fixture_config() -> Config {
    config(&[
        ("checkout", true),
        ("payments", true),
        ("search", true),
        ("inventory", true),
    ])
}

/// The app after the story, fed as snapshot + streamed events like the real console.
pub fn app(size: (u16, u16)) -> App {
    let cfg = fixture_config();
    let mut app = App::new(
        "http://127.0.0.1:7474",
        Some("/tmp/ferry-demo".into()),
        size,
    );
    let snapshot = Dashboard {
        seq: 0,
        server: ServerInfo {
            version: "0.1.0".into(),
            demo_workspace: None,
        },
        user: Principal {
            name: "bob".into(),
            roles: vec!["release-manager".into(), "deployer".into()],
        },
        state: State::new(&cfg),
    };
    let _ = update(&mut app, Msg::Snapshot(Box::new(snapshot)), NOW);
    let _ = update(
        &mut app,
        Msg::Watch(crate::backend::WatchMessage::Connected),
        NOW,
    );
    for e in story().events {
        let _ = update(
            &mut app,
            Msg::Watch(crate::backend::WatchMessage::Event(e)),
            NOW,
        );
    }
    app
}
