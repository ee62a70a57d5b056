//! Test support: a builder of event stories, numbering events and ids as
//! the engine does (b-N / a-N / d-N).

use std::collections::BTreeMap;

use super::support::MIN;
use crate::model::{
    Actor, Approval, ApprovalRule, Artifact, ArtifactId, ArtifactOrigin, BuildId, BuildStatus,
    Decision, DeploymentId, DeploymentKind, DeploymentStatus, Event, EventKind, Millis, StepKind,
    StepOutcome, StepPlan, StepStatus, TestCounts,
};

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
        failed_tests: Vec::new(),
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
    ) -> ArtifactId {
        self.builds += 1;
        self.artifacts += 1;
        let (b, a) = (
            BuildId::from(format!("b-{}", self.builds)),
            ArtifactId::from(format!("a-{}", self.artifacts)),
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
                    run: (&b).into(),
                    step,
                },
            );
            let tests = (step == 1).then_some((128, 0));
            self.push(
                at + MIN,
                "ferry",
                EventKind::StepFinished {
                    run: (&b).into(),
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
                    committed_at: None,
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
        rolls_back: Option<DeploymentId>,
    ) -> DeploymentId {
        self.deployments += 1;
        let d = DeploymentId::from(format!("d-{}", self.deployments));
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
                    failed_tests: Vec::new(),
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
