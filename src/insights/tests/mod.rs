//! One test per definition on hand-built event sequences (`metrics`), the
//! same on logs the real engine writes (`engine`), and the property that the
//! fold equals a from-scratch computation (`scratch`).

mod engine;
mod metrics;
mod readme;
mod scratch;

use std::collections::BTreeMap;

use super::*;
use crate::model::{Actor, ArtifactOrigin, StepOutcome, StepPlan};

pub(super) const H: Millis = 3_600_000;
pub(super) const DAY: Millis = 24 * H;
/// 2026-11-30T00:00:00Z, a Monday.
pub(super) const T0: Millis = 1_795_996_800_000;

/// Builds an event log by hand, the way the engine would write it.
#[derive(Default)]
pub(super) struct Log {
    pub(super) events: Vec<Event>,
}

impl Log {
    pub(super) fn push(&mut self, at: Millis, kind: EventKind) -> &mut Self {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            at,
            actor: Actor::ferry(),
            reason: String::new(),
            kind,
        });
        self
    }

    /// An artifact registered by an external CI (or built by `build`).
    pub(super) fn artifact(
        &mut self,
        at: Millis,
        id: &str,
        service: &str,
        build: Option<&str>,
    ) -> &mut Self {
        let artifact = Artifact {
            committed_at: None,
            id: id.into(),
            service: service.into(),
            version: id.into(),
            commit: None,
            subject: None,
            digest: digest_of(id),
            uri: format!("file:///{id}"),
            origin: match build {
                Some(b) => ArtifactOrigin::Built { build: b.into() },
                None => ArtifactOrigin::Registered,
            },
            created_by: Actor::user("dev"),
            created_at: at,
            metadata: BTreeMap::new(),
        };
        self.push(at, EventKind::ArtifactRegistered { artifact })
    }

    pub(super) fn build_started(&mut self, at: Millis, build: &str, service: &str) -> &mut Self {
        self.push(
            at,
            EventKind::BuildStarted {
                build: build.into(),
                service: service.into(),
                commit: "c0ffee".into(),
                subject: None,
                author: Actor::user("dev"),
                steps: vec![],
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn created(
        &mut self,
        at: Millis,
        id: &str,
        service: &str,
        stage: &str,
        artifact: &str,
        kind: DeploymentKind,
        rolls_back: Option<&str>,
        verify: &[&str],
    ) -> &mut Self {
        let mut steps = vec![StepPlan {
            name: "deploy".into(),
            kind: StepKind::Deploy,
        }];
        steps.extend(verify.iter().map(|v| StepPlan {
            name: (*v).into(),
            kind: StepKind::Verify,
        }));
        self.push(
            at,
            EventKind::DeploymentCreated {
                deployment: id.into(),
                service: service.into(),
                stage: stage.into(),
                artifact: artifact.into(),
                kind,
                status: DeploymentStatus::Queued,
                requested_by: Actor::user("dev"),
                approval: None,
                steps,
                rolls_back: rolls_back.map(Into::into),
                version: artifact.into(),
                digest: digest_of(artifact),
            },
        )
    }

    pub(super) fn approved(&mut self, at: Millis, id: &str) -> &mut Self {
        self.push(
            at,
            EventKind::DeploymentApproved {
                deployment: id.into(),
            },
        )
    }

    pub(super) fn started(&mut self, at: Millis, id: &str) -> &mut Self {
        self.push(
            at,
            EventKind::DeploymentStarted {
                deployment: id.into(),
            },
        )
    }

    pub(super) fn step(
        &mut self,
        at: Millis,
        run: &str,
        step: usize,
        status: StepStatus,
    ) -> &mut Self {
        self.push(
            at,
            EventKind::StepFinished {
                run: run.into(),
                step,
                outcome: StepOutcome {
                    status,
                    exit_code: None,
                    tests: None,
                    message: String::new(),
                    failed_tests: Vec::new(),
                },
            },
        )
    }

    pub(super) fn finished(&mut self, at: Millis, id: &str, status: DeploymentStatus) -> &mut Self {
        self.push(
            at,
            EventKind::DeploymentFinished {
                deployment: id.into(),
                status,
                message: String::new(),
            },
        )
    }

    /// A promotion of `artifact` to (service, stage): created at `at`, started
    /// a minute later, finished with `status` ten minutes after that.
    pub(super) fn promote(
        &mut self,
        at: Millis,
        id: &str,
        service: &str,
        stage: &str,
        artifact: &str,
        status: DeploymentStatus,
    ) -> &mut Self {
        self.created(
            at,
            id,
            service,
            stage,
            artifact,
            DeploymentKind::Promote,
            None,
            &[],
        )
        .started(at + 60_000, id)
        .finished(at + 660_000, id, status)
    }

    pub(super) fn insights(&self) -> Insights {
        Insights::from_events(&self.events)
    }
}

pub(super) fn digest_of(artifact: &str) -> String {
    format!("sha-{artifact}")
}

/// The window of one week from T0.
pub(super) fn week() -> InsightsQuery {
    InsightsQuery {
        from: T0,
        to: T0 + 7 * DAY,
        ..InsightsQuery::default()
    }
}

pub(super) fn only<'a>(report: &'a InsightsReport, service: &str) -> &'a ServiceInsights {
    report
        .services
        .iter()
        .find(|s| s.service == service)
        .expect("the service is in the report")
}
