//! Insights (issue 10): DORA's metrics, where the time goes and flaky gates,
//! folded incrementally from the event log. [`Insights::apply`] takes each
//! event once (O(1) amortised, no clock), [`Insights::report`] answers an
//! [`InsightsQuery`] from what the fold kept, in time proportional to the
//! deployments of the services asked about.
//!
//! # Definitions, exactly as implemented
//!
//! For a service S and a stage T (default: S's last stage in the query's
//! `stage_order`, else in the order its stages first received a deployment)
//! over the window `[from, to)` in epoch ms, the **deployments** are those of
//! kind `promote` to (S, T) whose `DeploymentFinished` (the first with a final
//! status, for the deployment) is succeeded or failed with `at` in the window.
//! Cancelled, rejected and superseded ones are not deployments here.
//!
//! - **Deployment frequency**: `succeeded` = how many of them succeeded;
//!   `deployment_days` = distinct UTC days (`at.div_euclid(86_400_000)`) of
//!   their finishes; `per_week` and `deployment_days_per_week` divide by the
//!   window length in weeks (`(to - from) / 7 days`). `weekly` and `daily`
//!   list every Monday-based UTC week and every UTC day overlapping the
//!   series range, which is the window cut to its last 366 days; a partial
//!   week counts only its days inside that range.
//! - **Change lead time**: for each succeeded one, its finish minus its
//!   artifact's commit time ([`commit_time`]: its `committed_at`, else its
//!   `created_at`), the artifact being the
//!   first `ArtifactRegistered` with that id anywhere in the log. Values ≤ 0,
//!   and deployments whose artifact was never registered, are `ignored`.
//!   Median and p90 are nearest-rank (the median of an even count is the
//!   lower middle).
//! - **Change fail rate**: `failures` = the deployments that failed, plus the
//!   succeeded ones that a rollback undid (a `DeploymentCreated` of kind
//!   rollback, later in the log than the deployment's creation, whose
//!   `rolls_back` names it; it need not have succeeded nor be in the
//!   window), over `deployments`; shown as "2 of 9" with both counts.
//! - **Failed deployment recovery time**: for each failure, from its finish
//!   (for a succeeded one undone by a rollback: from the first such
//!   rollback's creation) to the earliest finish, at or after that instant,
//!   of a succeeded deployment of any kind in (S, T) other than itself; the
//!   recovering one may finish after `to`. Failures with none are
//!   `unrecovered`. Median and p90 over the recovered ones.
//! - **Deployment rework rate**: deployments of kind rollback or redeploy of
//!   (S, T) whose `DeploymentStarted` is in the window, over all deployments
//!   of (S, T) (any kind) whose `DeploymentStarted` is in the window.
//! - **Where the time goes**: for each succeeded deployment D of artifact A,
//!   the segments below; each is reported as the median over the
//!   deployments where it is known and ≥ 0, with that count.
//!   - `build`: for an artifact built by ferry, from its `BuildStarted` to
//!     the artifact's `created_at`;
//!   - for each stage E before T, with X the first (by finish) deployment of kind
//!     promote of A to (S, E) that succeeded: `waiting` in E, from the
//!     moment A was ready for E (A's `created_at` for the first stage, the
//!     finish of X in the stage before E otherwise) to X's start, and
//!     `running` in E, X's start to X's finish;
//!   - in T: `promotion_wait`, from the moment A was ready for T to D's
//!     creation; `approval_wait`, D's creation to its `DeploymentApproved`
//!     (0 when D needed no approval); `queue_wait`, from that approval (or
//!     the creation) to D's start; `run`, D's start to its finish.
//!
//!   A segment whose endpoints are unknown (no X in a stage, an artifact
//!   never registered) is left out for that deployment.
//! - **Flaky gates**: a run of a verification step (kind `verify`) of
//!   (S, stage, step name) that ended failed or timed out (not interrupted:
//!   a restart is no verdict) on digest X is a flaky failure when a later
//!   run of the same step of the same (S, stage) on the same digest passed.
//!   The digest is the one in `DeploymentCreated` (older events without one
//!   are not tracked). `count` per step = its flaky failures whose failure
//!   is in the window; `last` = the one of them that failed last.
//!   [`Insights::flaky_failure`] tells whether a deployment's failure was
//!   flaky.
//!
//! The all-services summary pools the deployments of every listed service
//! (each at its own T) and applies the same definitions to the pool.

pub mod parse;
mod report;
pub mod stats;
mod types;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{
    Artifact, ArtifactId, ArtifactOrigin, BuildId, DeploymentId, DeploymentKind, DeploymentStatus,
    Event, EventKind, Millis, StepKind, StepStatus,
};

pub use types::{
    ChangeFailRate, DayFigure, Durations, FlakyFailure, FlakyNote, FlakyStep, Frequency,
    InsightsQuery, InsightsReport, Metrics, Recovery, Rework, Segment, ServiceInsights, Summary,
    WeekFigure,
};

/// The commit time lead time counts from: the artifact's `committed_at`
/// (from git for built artifacts, from the CI for registered ones), else its
/// `created_at`.
pub fn commit_time(artifact: &Artifact) -> Millis {
    artifact.committed_at.unwrap_or(artifact.created_at)
}

/// Index into one of the fold's arenas.
type Ix = u32;

/// Strings seen many times (services, stages, step names, digests) are kept
/// once and compared as numbers.
#[derive(Debug, Clone, Default)]
struct Names {
    /// Shared with `names`: each name is one allocation.
    ids: HashMap<Arc<str>, Ix>,
    names: Vec<Arc<str>>,
}

impl Names {
    fn id(&mut self, name: &str) -> Ix {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as Ix;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }
    fn get(&self, name: &str) -> Option<Ix> {
        self.ids.get(name).copied()
    }
    fn name(&self, id: Ix) -> &str {
        &self.names[id as usize]
    }
}

/// An artifact, created on its first mention (registration or deployment).
#[derive(Debug, Clone, Default)]
struct Art {
    /// Set by the first `ArtifactRegistered`.
    registered: Option<Registered>,
    /// Per lane, the first succeeded promotion of it there.
    first_success: Vec<(Ix, Ix)>,
}

#[derive(Debug, Clone)]
struct Registered {
    created_at: Millis,
    commit_time: Millis,
    build: Option<BuildId>,
}

#[derive(Debug, Clone)]
struct Dep {
    /// Shared with `dep_ids`: one allocation per deployment.
    id: Arc<str>,
    lane: Ix,
    artifact: Ix,
    /// Name id of the digest, `None` when the event had none.
    digest: Option<Ix>,
    kind: DeploymentKind,
    created: Millis,
    approved: Option<Millis>,
    started: Option<Millis>,
    finished: Option<(Millis, DeploymentStatus)>,
    /// Creation of the first rollback naming it.
    undone_at: Option<Millis>,
    /// Name id and kind of each planned step.
    /// Its step plan, interned (`Insights::plans`): a lane's deployments share one.
    steps: Ix,
}

/// One (service, stage).
#[derive(Debug, Clone)]
struct Lane {
    service: Ix,
    stage: Ix,
    /// Deployments in the order they finished.
    finished: Vec<Ix>,
    /// Deployments in the order they started.
    started: Vec<Ix>,
    /// Finish times of the succeeded ones, sorted (ties in log order).
    succeeded: Vec<(Millis, Ix)>,
}

#[derive(Debug, Clone)]
struct Svc {
    name: Ix,
    /// Stage name ids in the order they first received a deployment.
    stages: Vec<Ix>,
}

#[derive(Debug, Clone)]
struct Flaky {
    failed: Ix,
    step: Ix,
    failed_at: Millis,
    passed_in: Ix,
    passed_at: Millis,
}

/// The incremental fold behind every insight. Feed it every event once, in
/// log order; ask it with [`Insights::report`].
#[derive(Debug, Clone, Default)]
pub struct Insights {
    names: Names,
    services: Vec<Svc>,
    service_ids: HashMap<Ix, Ix>,
    lanes: Vec<Lane>,
    lane_ids: HashMap<(Ix, Ix), Ix>,
    arts: Vec<Art>,
    art_ids: HashMap<ArtifactId, Ix>,
    build_started: HashMap<BuildId, Millis>,
    deps: Vec<Dep>,
    dep_ids: HashMap<Arc<str>, Ix>,
    /// Step plans (name, kind), each once; `Dep::steps` indexes them.
    plans: Vec<Vec<(Ix, StepKind)>>,
    plan_ids: HashMap<Vec<(Ix, StepKind)>, Ix>,
    /// A deployment's flaky failures (indices into `flaky`), for the few
    /// that have any.
    flaky_of: HashMap<Ix, Vec<Ix>>,
    /// Failed verification runs not yet followed by a pass, per
    /// (digest, lane, step name): (deployment, failed at).
    open_failures: HashMap<(Ix, Ix, Ix), Vec<(Ix, Millis)>>,
    flaky: Vec<Flaky>,
    events: u64,
}

impl Insights {
    pub fn new() -> Self {
        Insights::default()
    }

    /// A fold of a whole log.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut insights = Insights::new();
        for e in events {
            insights.apply(e);
        }
        insights
    }

    /// Give back the spare capacity the fold's growth left (after folding a
    /// whole log, the vectors and maps hold up to twice what they use).
    pub fn shrink_to_fit(&mut self) {
        self.deps.shrink_to_fit();
        self.dep_ids.shrink_to_fit();
        self.arts.shrink_to_fit();
        self.art_ids.shrink_to_fit();
        self.names.ids.shrink_to_fit();
        self.names.names.shrink_to_fit();
        self.build_started.shrink_to_fit();
        for lane in &mut self.lanes {
            lane.finished.shrink_to_fit();
            lane.started.shrink_to_fit();
            lane.succeeded.shrink_to_fit();
        }
    }

    /// How many events were applied.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn apply(&mut self, event: &Event) {
        self.events += 1;
        let at = event.at;
        match &event.kind {
            EventKind::BuildStarted { build, .. } => {
                self.build_started.entry(build.clone()).or_insert(at);
            }
            EventKind::ArtifactRegistered { artifact } => {
                let ix = self.art(&artifact.id);
                let art = &mut self.arts[ix as usize];
                if art.registered.is_none() {
                    art.registered = Some(Registered {
                        created_at: artifact.created_at,
                        commit_time: commit_time(artifact),
                        build: match &artifact.origin {
                            ArtifactOrigin::Built { build } => Some(build.clone()),
                            ArtifactOrigin::Registered => None,
                        },
                    });
                }
            }
            EventKind::DeploymentCreated {
                deployment,
                service,
                stage,
                artifact,
                kind,
                steps,
                rolls_back,
                digest,
                ..
            } => {
                if self.dep_ids.contains_key(deployment.as_str()) {
                    return;
                }
                if *kind == DeploymentKind::Rollback
                    && let Some(target) = rolls_back
                        .as_ref()
                        .and_then(|t| self.dep_ids.get(t.as_str()))
                {
                    let target = &mut self.deps[*target as usize];
                    target.undone_at.get_or_insert(at);
                }
                let lane = self.lane(service, stage);
                let artifact = self.art(artifact);
                let digest = (!digest.is_empty()).then(|| self.names.id(digest));
                let plan: Vec<(Ix, StepKind)> = steps
                    .iter()
                    .map(|s| (self.names.id(&s.name), s.kind))
                    .collect();
                let steps = match self.plan_ids.get(&plan) {
                    Some(&p) => p,
                    None => {
                        let p = self.plans.len() as Ix;
                        self.plans.push(plan.clone());
                        self.plan_ids.insert(plan, p);
                        p
                    }
                };
                let ix = self.deps.len() as Ix;
                let id: Arc<str> = Arc::from(deployment.as_str());
                self.deps.push(Dep {
                    id: id.clone(),
                    lane,
                    artifact,
                    digest,
                    kind: *kind,
                    created: at,
                    approved: None,
                    started: None,
                    finished: None,
                    undone_at: None,
                    steps,
                });
                self.dep_ids.insert(id, ix);
            }
            EventKind::DeploymentApproved { deployment } => {
                if let Some(&d) = self.dep_ids.get(deployment.as_str()) {
                    self.deps[d as usize].approved.get_or_insert(at);
                }
            }
            EventKind::DeploymentStarted { deployment } => {
                if let Some(&d) = self.dep_ids.get(deployment.as_str()) {
                    let dep = &mut self.deps[d as usize];
                    if dep.started.is_none() {
                        dep.started = Some(at);
                        self.lanes[dep.lane as usize].started.push(d);
                    }
                }
            }
            EventKind::DeploymentFinished {
                deployment, status, ..
            } => {
                if let Some(&d) = self.dep_ids.get(deployment.as_str()) {
                    self.finish(d, at, *status);
                }
            }
            EventKind::StepFinished { run, step, outcome } => {
                if let Some(&d) = self.dep_ids.get(run.as_str()) {
                    self.step_finished(d, *step, outcome.status, at);
                }
            }
            // Everything else (output, notifications, ...) says nothing about insights.
            _ => {}
        }
    }

    fn art(&mut self, id: &ArtifactId) -> Ix {
        if let Some(&ix) = self.art_ids.get(id) {
            return ix;
        }
        let ix = self.arts.len() as Ix;
        self.arts.push(Art::default());
        self.art_ids.insert(id.clone(), ix);
        ix
    }

    fn lane(&mut self, service: &str, stage: &str) -> Ix {
        let service = self.names.id(service);
        let stage = self.names.id(stage);
        if let Some(&lane) = self.lane_ids.get(&(service, stage)) {
            return lane;
        }
        let svc = match self.service_ids.get(&service) {
            Some(&svc) => svc,
            None => {
                let svc = self.services.len() as Ix;
                self.services.push(Svc {
                    name: service,
                    stages: Vec::new(),
                });
                self.service_ids.insert(service, svc);
                svc
            }
        };
        self.services[svc as usize].stages.push(stage);
        let lane = self.lanes.len() as Ix;
        self.lanes.push(Lane {
            service,
            stage,
            finished: Vec::new(),
            started: Vec::new(),
            succeeded: Vec::new(),
        });
        self.lane_ids.insert((service, stage), lane);
        lane
    }

    fn finish(&mut self, d: Ix, at: Millis, status: DeploymentStatus) {
        let dep = &mut self.deps[d as usize];
        if dep.finished.is_some() || !status.is_finished() {
            return;
        }
        dep.finished = Some((at, status));
        let lane = &mut self.lanes[dep.lane as usize];
        lane.finished.push(d);
        if status != DeploymentStatus::Succeeded {
            return;
        }
        // Finishes arrive in time order, so this is a push but for clock skew.
        let pos = lane.succeeded.partition_point(|&(t, _)| t <= at);
        lane.succeeded.insert(pos, (at, d));
        if dep.kind == DeploymentKind::Promote {
            let lane = dep.lane;
            let art = &mut self.arts[dep.artifact as usize];
            if !art.first_success.iter().any(|&(l, _)| l == lane) {
                art.first_success.push((lane, d));
            }
        }
    }

    fn step_finished(&mut self, d: Ix, step: usize, status: StepStatus, at: Millis) {
        let dep = &self.deps[d as usize];
        let Some(&(name, StepKind::Verify)) = self.plans[dep.steps as usize].get(step) else {
            return;
        };
        let Some(digest) = dep.digest else {
            return;
        };
        let key = (digest, dep.lane, name);
        match status {
            StepStatus::Failed | StepStatus::TimedOut => {
                self.open_failures.entry(key).or_default().push((d, at));
            }
            StepStatus::Passed => {
                let Some(open) = self.open_failures.remove(&key) else {
                    return;
                };
                for (failed, failed_at) in open {
                    let ix = self.flaky.len() as Ix;
                    self.flaky.push(Flaky {
                        failed,
                        step: name,
                        failed_at,
                        passed_in: d,
                        passed_at: at,
                    });
                    self.flaky_of.entry(failed).or_default().push(ix);
                }
            }
            _ => {}
        }
    }

    fn flaky_failure_at(&self, ix: Ix) -> FlakyFailure {
        let f = &self.flaky[ix as usize];
        let dep = &self.deps[f.failed as usize];
        let lane = &self.lanes[dep.lane as usize];
        FlakyFailure {
            deployment: DeploymentId::from(&*dep.id),
            service: self.names.name(lane.service).to_string(),
            stage: self.names.name(lane.stage).to_string(),
            step: self.names.name(f.step).to_string(),
            digest: dep
                .digest
                .map(|d| self.names.name(d).to_string())
                .unwrap_or_default(),
            failed_at: f.failed_at,
            passed_at: f.passed_at,
            passed_in: DeploymentId::from(&*self.deps[f.passed_in as usize].id),
        }
    }

    /// Was this deployment's failure flaky? Its failed verification steps
    /// that later passed on the same digest, in the order they were found.
    pub fn flaky_failures(&self, deployment: &str) -> Vec<FlakyFailure> {
        self.dep_ids
            .get(deployment)
            .and_then(|d| self.flaky_of.get(d))
            .map(|found| found.iter().map(|&ix| self.flaky_failure_at(ix)).collect())
            .unwrap_or_default()
    }

    /// The first flaky failure of a deployment, if its failure was flaky.
    pub fn flaky_failure(&self, deployment: &str) -> Option<FlakyFailure> {
        self.flaky_failures(deployment).into_iter().next()
    }
}
