//! How fast the insights fold takes events and answers a report: folds
//! 1,000,000 events of a realistic mix (four services, three stages, steps
//! with output, approvals, failures, rollbacks, flaky gates, notifications),
//! then answers the default report (all services, last 30 days) and one over
//! the whole log. Prints the time per event beside a baseline from the same
//! run (a bare loop that only matches each event's kind) and their ratio.
//!
//! Run: `cargo bench --bench insights` (well under a minute). `cargo test
//! --all-targets` also runs this binary (without `--bench`): then it folds
//! 20,000 events, only to check that it works.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ferry::insights::{Insights, InsightsQuery};
use ferry::model::{
    Actor, Artifact, ArtifactOrigin, DeploymentKind, DeploymentStatus, Event, EventKind, Millis,
    Notification, NotificationKind, StepKind, StepOutcome, StepPlan, StepStatus,
};

const SERVICES: [&str; 4] = ["shop", "blog", "api", "billing"];
const STAGES: [&str; 3] = ["test", "preprod", "prod"];
const MINUTE: Millis = 60_000;

/// Appends numbered events with a clock that moves a few minutes per event.
struct Gen {
    events: Vec<Event>,
    at: Millis,
    deployments: u64,
}

impl Gen {
    fn push(&mut self, kind: EventKind) {
        self.at += 3 * MINUTE;
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            at: self.at,
            actor: Actor::ferry(),
            reason: String::new(),
            kind,
        });
    }

    fn deploy(
        &mut self,
        service: &str,
        stage: usize,
        artifact: &str,
        kind: DeploymentKind,
        rolls_back: Option<String>,
        fail_step: Option<usize>,
    ) -> (String, bool) {
        self.deployments += 1;
        let id = format!("d-{}", self.deployments);
        let verify = if kind == DeploymentKind::Rollback {
            vec![]
        } else {
            vec!["unit", "e2e"]
        };
        let steps: Vec<StepPlan> = std::iter::once(StepPlan {
            name: "deploy".into(),
            kind: StepKind::Deploy,
        })
        .chain(verify.iter().map(|v| StepPlan {
            name: (*v).into(),
            kind: StepKind::Verify,
        }))
        .collect();
        let n = steps.len();
        let gated = stage == 2 && kind == DeploymentKind::Promote;
        self.push(EventKind::DeploymentCreated {
            deployment: id.clone().into(),
            service: service.into(),
            stage: STAGES[stage].into(),
            artifact: artifact.into(),
            kind,
            status: if gated {
                DeploymentStatus::AwaitingApproval
            } else {
                DeploymentStatus::Queued
            },
            requested_by: Actor::user("dev"),
            approval: None,
            steps,
            rolls_back: rolls_back.map(Into::into),
            version: artifact.into(),
            digest: format!("sha-{artifact}"),
        });
        if gated {
            self.push(EventKind::DeploymentApproved {
                deployment: id.clone().into(),
            });
        }
        self.push(EventKind::DeploymentStarted {
            deployment: id.clone().into(),
        });
        for step in 0..n {
            self.push(EventKind::StepStarted {
                run: id.clone().into(),
                step,
            });
            for _ in 0..3 {
                self.push(EventKind::StepOutput {
                    run: id.clone().into(),
                    step,
                    lines: vec!["ok 1 - it works".into(), "ok 2 - it still works".into()],
                    dropped: 0,
                });
            }
            let failed = fail_step == Some(step);
            self.push(EventKind::StepFinished {
                run: id.clone().into(),
                step,
                outcome: StepOutcome {
                    status: if failed {
                        StepStatus::Failed
                    } else {
                        StepStatus::Passed
                    },
                    exit_code: Some(i32::from(failed)),
                    tests: None,
                    message: String::new(),
                    failed_tests: Vec::new(),
                },
            });
            if failed {
                self.push(EventKind::DeploymentFinished {
                    deployment: id.clone().into(),
                    status: DeploymentStatus::Failed,
                    message: "failed".into(),
                });
                self.push(EventKind::NotificationSent {
                    notification: Notification {
                        id: String::new(),
                        kind: NotificationKind::DeploymentFailed,
                        service: service.into(),
                        stage: Some(STAGES[stage].into()),
                        version: Some(artifact.into()),
                        commit: None,
                        deployment: Some(id.clone().into()),
                        build: None,
                        message: "failed".into(),
                        at: self.at,
                        failed_tests: None,
                    },
                    channel: "webhook".into(),
                    ok: true,
                    detail: "200".into(),
                    attempts: 1,
                });
                return (id, false);
            }
        }
        self.push(EventKind::DeploymentFinished {
            deployment: id.clone().into(),
            status: DeploymentStatus::Succeeded,
            message: String::new(),
        });
        (id, true)
    }
}

/// About `n` events: releases of the services in turn. Every 9th release
/// fails a prod check and is rolled back to the previous one; every 7th
/// fails e2e in test once and passes when promoted again (a flaky gate).
fn log(n: usize) -> Vec<Event> {
    let mut g = Gen {
        events: Vec::with_capacity(n + 64),
        at: 1_700_000_000_000,
        deployments: 0,
    };
    let mut release = 0usize;
    let mut last_good: BTreeMap<&str, String> = BTreeMap::new();
    while g.events.len() < n {
        release += 1;
        let service = SERVICES[release % SERVICES.len()];
        let artifact = format!("a-{release}");
        g.push(EventKind::ArtifactRegistered {
            artifact: Artifact {
                committed_at: None,
                id: artifact.clone().into(),
                service: service.into(),
                version: artifact.clone(),
                commit: Some(format!("c{release}")),
                subject: None,
                digest: format!("sha-{artifact}"),
                uri: String::new(),
                origin: ArtifactOrigin::Registered,
                created_by: Actor::user("dev"),
                created_at: g.at,
                metadata: BTreeMap::new(),
            },
        });
        if release.is_multiple_of(7) {
            g.deploy(
                service,
                0,
                &artifact,
                DeploymentKind::Promote,
                None,
                Some(2),
            );
        }
        let mut ok = true;
        for stage in 0..STAGES.len() {
            let fail = (stage == 2 && release.is_multiple_of(9)).then_some(1);
            let (id, passed) = g.deploy(
                service,
                stage,
                &artifact,
                DeploymentKind::Promote,
                None,
                fail,
            );
            if !passed {
                if let Some(good) = last_good.get(service).cloned() {
                    g.deploy(
                        service,
                        stage,
                        &good,
                        DeploymentKind::Rollback,
                        Some(id),
                        None,
                    );
                }
                ok = false;
                break;
            }
        }
        if ok {
            last_good.insert(service, artifact);
        }
    }
    g.events
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 1_000_000 } else { 20_000 };
    let t = Instant::now();
    let events = log(n);
    println!("generated {} events in {:.2?}", events.len(), t.elapsed());

    let rounds = if full { 5 } else { 1 };
    let mut baseline = Vec::new();
    let mut fold = Vec::new();
    let mut insights = Insights::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let mut count = 0u64;
        for e in &events {
            count += match black_box(&e.kind) {
                EventKind::DeploymentCreated { .. } | EventKind::DeploymentFinished { .. } => 2,
                EventKind::StepFinished { .. } => 1,
                _ => 0,
            };
        }
        black_box(count);
        baseline.push(t.elapsed());

        let t = Instant::now();
        insights = Insights::new();
        for e in &events {
            insights.apply(black_box(e));
        }
        fold.push(t.elapsed());
    }
    let per = |d: Duration| d.as_nanos() as f64 / events.len() as f64;
    let (b, f) = (median(baseline), median(fold));
    println!(
        "fold:     {:8.1} ns/event  ({:.2?} for {} events)",
        per(f),
        f,
        events.len()
    );
    println!(
        "baseline: {:8.1} ns/event  (a bare match on each event's kind)",
        per(b)
    );
    println!("ratio:    {:8.1}x the baseline", per(f) / per(b).max(0.001));

    let last = events.last().map_or(0, |e| e.at);
    let queries = [
        (
            "all services, last 30 days",
            InsightsQuery::last_days(last + 1, InsightsQuery::DEFAULT_DAYS),
        ),
        (
            "all services, whole log",
            InsightsQuery {
                from: 0,
                to: last + 1,
                ..InsightsQuery::default()
            },
        ),
        (
            "shop, whole log",
            InsightsQuery {
                from: 0,
                to: last + 1,
                ..InsightsQuery::default()
            }
            .service("shop"),
        ),
    ];
    for (name, query) in queries {
        let mut times = Vec::new();
        let mut report = None;
        for _ in 0..if full { 9 } else { 1 } {
            let t = Instant::now();
            report = Some(black_box(insights.report(&query)));
            times.push(t.elapsed());
        }
        let report = report.expect("one report at least");
        let m = &report.all_services.metrics;
        println!(
            "report ({name}): {:.2?} median; {} deployments, change fail rate {}, lead time median {}",
            median(times),
            m.deployments,
            m.change_fail_rate.text,
            m.lead_time.median.as_deref().unwrap_or("-"),
        );
        assert!(
            m.deployments > 0,
            "the generated log has deployments in the window"
        );
    }
}
