//! Answering a query: gather, for each service's stage T, the facts the
//! definitions need ([`LaneFacts`]), then turn facts into metrics
//! ([`metrics`]). The tests gather the same facts from scratch and share
//! only the second half, so the property test checks the fold itself.

use std::collections::{BTreeMap, BTreeSet};

use super::stats::{self, DAY_MS, WEEK_MS};
use super::types::*;
use super::{Insights, Ix};
use crate::model::{DeploymentKind, DeploymentStatus, Millis};

/// A segment's place in the breakdown: (stage position, rank in the stage,
/// segment name, stage name).
pub(crate) type SegmentKey = (usize, u8, &'static str, Option<String>);

/// One promotion to (S, T) that finished succeeded or failed in the window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FinishedFact {
    pub succeeded: bool,
    pub finished_at: Millis,
    /// Finish minus commit time, when the artifact was registered.
    pub lead: Option<Millis>,
    /// Succeeded, then named by a rollback.
    pub undone: bool,
    /// For a failure: the recovery time, `None` when not recovered.
    pub recovery: Option<Millis>,
    /// For a succeeded one: the known segments (values may be negative; the
    /// metrics leave those out).
    pub segments: Vec<(SegmentKey, Millis)>,
}

/// Everything the metrics of one (S, T) over one window need.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LaneFacts {
    pub finished: Vec<FinishedFact>,
    /// Kinds of the deployments of (S, T) that started in the window.
    pub started: Vec<DeploymentKind>,
}

/// The segments of T for a succeeded deployment; `ready` is when its
/// artifact was ready for T.
pub(crate) fn stage_segments(
    position: usize,
    stage: &str,
    ready: Option<Millis>,
    created: Millis,
    approved: Option<Millis>,
    started: Option<Millis>,
    finished: Millis,
) -> Vec<(SegmentKey, Millis)> {
    let key = |rank, name| (position, rank, name, Some(stage.to_string()));
    let mut out = Vec::new();
    if let Some(ready) = ready {
        out.push((key(2, "promotion_wait"), created - ready));
    }
    out.push((key(3, "approval_wait"), approved.map_or(0, |a| a - created)));
    if let Some(started) = started {
        out.push((key(4, "queue_wait"), started - approved.unwrap_or(created)));
        out.push((key(5, "run"), finished - started));
    }
    out
}

/// Segments of an earlier stage E: waiting (ready → start) and running.
pub(crate) fn earlier_segments(
    position: usize,
    stage: &str,
    ready: Option<Millis>,
    started: Option<Millis>,
    finished: Millis,
) -> Vec<(SegmentKey, Millis)> {
    let key = |rank, name| (position, rank, name, Some(stage.to_string()));
    let mut out = Vec::new();
    if let Some(started) = started {
        if let Some(ready) = ready {
            out.push((key(0, "waiting"), started - ready));
        }
        out.push((key(1, "running"), finished - started));
    }
    out
}

pub(crate) fn build_segment(value: Millis) -> (SegmentKey, Millis) {
    ((0, 0, "build", None), value)
}

/// The metrics of pooled facts over `[from, to)`.
pub(crate) fn metrics(facts: &[&LaneFacts], from: Millis, to: Millis) -> Metrics {
    let all = || facts.iter().flat_map(|f| f.finished.iter());
    let deployments = all().count() as u64;
    let succeeded: Vec<&FinishedFact> = all().filter(|f| f.succeeded).collect();

    let leads: Vec<Millis> = succeeded
        .iter()
        .filter_map(|f| f.lead)
        .filter(|&l| l > 0)
        .collect();
    let lead_ignored = succeeded.len() as u64 - leads.len() as u64;

    let failed = all().filter(|f| !f.succeeded).count() as u64;
    let undone = all().filter(|f| f.succeeded && f.undone).count() as u64;
    let failures = failed + undone;
    let recoveries: Vec<Millis> = all()
        .filter(|f| !f.succeeded || f.undone)
        .filter_map(|f| f.recovery)
        .collect();
    let unrecovered = failures - recoveries.len() as u64;

    let started = || facts.iter().flat_map(|f| f.started.iter());
    let rollbacks = started()
        .filter(|&&k| k == DeploymentKind::Rollback)
        .count() as u64;
    let redeploys = started()
        .filter(|&&k| k == DeploymentKind::Redeploy)
        .count() as u64;
    let started = started().count() as u64;

    let mut segments: BTreeMap<SegmentKey, Vec<Millis>> = BTreeMap::new();
    for f in &succeeded {
        for (key, value) in &f.segments {
            let values = segments.entry(key.clone()).or_default();
            if *value >= 0 {
                values.push(*value);
            }
        }
    }
    let time_breakdown = segments
        .into_iter()
        .map(|((_, _, name, stage), mut values)| {
            values.sort_unstable();
            let median_ms = stats::percentile(&values, 50);
            Segment {
                segment: name.to_string(),
                stage,
                count: values.len() as u64,
                median_ms,
                median: median_ms.map(stats::human),
            }
        })
        .collect();

    Metrics {
        deployments,
        frequency: frequency(&succeeded, from, to),
        lead_time: Durations::from_values(leads, lead_ignored),
        change_fail_rate: ChangeFailRate {
            failures,
            deployments,
            failed,
            undone,
            rate: stats::rate(failures, deployments),
            text: format!("{failures} of {deployments}"),
        },
        recovery_time: Recovery {
            durations: Durations::from_values(recoveries, 0),
            unrecovered,
        },
        rework_rate: Rework {
            rollbacks,
            redeploys,
            reworks: rollbacks + redeploys,
            started,
            rate: stats::rate(rollbacks + redeploys, started),
            text: format!("{} of {started}", rollbacks + redeploys),
        },
        time_breakdown,
    }
}

/// The series range: the window cut to its last 366 days.
const SERIES_DAYS: i64 = 366;

fn frequency(succeeded: &[&FinishedFact], from: Millis, to: Millis) -> Frequency {
    let days: BTreeSet<i64> = succeeded
        .iter()
        .map(|f| stats::utc_day(f.finished_at))
        .collect();
    let weeks = (to - from).max(0) as f64 / WEEK_MS as f64;
    let per = |n: usize| {
        if weeks > 0.0 {
            stats::round2(n as f64 / weeks)
        } else {
            0.0
        }
    };
    let mut daily = Vec::new();
    let mut weekly: Vec<WeekFigure> = Vec::new();
    if to > from {
        let first = stats::utc_day(from.max(to.saturating_sub(SERIES_DAYS * DAY_MS)));
        let last = stats::utc_day(to - 1);
        let mut per_day: BTreeMap<i64, Vec<Millis>> = BTreeMap::new();
        let mut count: BTreeMap<i64, u64> = BTreeMap::new();
        for f in succeeded {
            let day = stats::utc_day(f.finished_at);
            *count.entry(day).or_default() += 1;
            if let Some(lead) = f.lead.filter(|&l| l > 0) {
                per_day.entry(day).or_default().push(lead);
            }
        }
        for day in first..=last {
            let deployments = count.get(&day).copied().unwrap_or(0);
            let lead = per_day.get_mut(&day).and_then(|v| {
                v.sort_unstable();
                stats::percentile(v, 50)
            });
            daily.push(DayFigure {
                day_start_ms: day * DAY_MS,
                day: stats::date(day),
                deployments,
                lead_time_median_ms: lead,
            });
            let week = stats::week_start_day(day);
            if weekly
                .last()
                .is_none_or(|w| w.week_start_ms != week * DAY_MS)
            {
                weekly.push(WeekFigure {
                    week_start_ms: week * DAY_MS,
                    week_start: stats::date(week),
                    deployments: 0,
                    deployment_days: 0,
                });
            }
            if let Some(w) = weekly.last_mut() {
                w.deployments += deployments;
                w.deployment_days += u64::from(deployments > 0);
            }
        }
    }
    Frequency {
        succeeded: succeeded.len() as u64,
        deployment_days: days.len() as u64,
        weeks: stats::round2(weeks),
        per_week: per(succeeded.len()),
        deployment_days_per_week: per(days.len()),
        weekly,
        daily,
    }
}

impl Insights {
    /// The service's stage order: the query's, else first appearance.
    fn order_of(&self, service: &str, query: &InsightsQuery) -> Vec<String> {
        if let Some(order) = query.stage_order.get(service) {
            return order.clone();
        }
        self.names
            .get(service)
            .and_then(|s| self.service_ids.get(&s))
            .map(|&svc| {
                self.services[svc as usize]
                    .stages
                    .iter()
                    .map(|&s| self.names.name(s).to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn lane_of(&self, service: &str, stage: &str) -> Option<Ix> {
        let key = (self.names.get(service)?, self.names.get(stage)?);
        self.lane_ids.get(&key).copied()
    }

    /// The facts of (S, T) with the given stage order.
    fn lane_facts(
        &self,
        service: &str,
        order: &[String],
        t: usize,
        q: &InsightsQuery,
    ) -> LaneFacts {
        let Some(lane) = order.get(t).and_then(|stage| self.lane_of(service, stage)) else {
            return LaneFacts::default();
        };
        let lane = &self.lanes[lane as usize];
        let in_window = |at: Millis| q.from <= at && at < q.to;
        let started = lane
            .started
            .iter()
            .map(|&d| &self.deps[d as usize])
            .filter(|d| d.started.is_some_and(in_window))
            .map(|d| d.kind)
            .collect();
        let mut finished = Vec::new();
        for &d in &lane.finished {
            let dep = &self.deps[d as usize];
            let Some((at, status)) = dep.finished else {
                continue;
            };
            let succeeded = status == DeploymentStatus::Succeeded;
            if dep.kind != DeploymentKind::Promote
                || !(succeeded || status == DeploymentStatus::Failed)
                || !in_window(at)
            {
                continue;
            }
            let registered = self.arts[dep.artifact as usize].registered.as_ref();
            let undone = succeeded && dep.undone_at.is_some();
            let recovery = if succeeded && !undone {
                None
            } else {
                let since = if succeeded {
                    dep.undone_at.unwrap_or(at)
                } else {
                    at
                };
                let pos = lane.succeeded.partition_point(|&(t, _)| t < since);
                lane.succeeded[pos..]
                    .iter()
                    .find(|&&(_, r)| r != d)
                    .map(|&(t, _)| t - since)
            };
            finished.push(FinishedFact {
                succeeded,
                finished_at: at,
                lead: registered.map(|r| at - r.commit_time),
                undone,
                recovery,
                segments: if succeeded {
                    self.segments(dep, order, t, at)
                } else {
                    Vec::new()
                },
            });
        }
        LaneFacts { finished, started }
    }

    fn segments(
        &self,
        dep: &super::Dep,
        order: &[String],
        t: usize,
        finished: Millis,
    ) -> Vec<(SegmentKey, Millis)> {
        let art = &self.arts[dep.artifact as usize];
        let registered = art.registered.as_ref();
        let mut out = Vec::new();
        if let Some(r) = registered
            && let Some(started) = r.build.as_ref().and_then(|b| self.build_started.get(b))
        {
            out.push(build_segment(r.created_at - started));
        }
        let mut ready = registered.map(|r| r.created_at);
        for (position, stage) in order.iter().enumerate().take(t) {
            let lane = self.lanes[dep.lane as usize].service;
            let x = self
                .lane_of(self.names.name(lane), stage)
                .and_then(|l| art.first_success.iter().find(|&&(fl, _)| fl == l))
                .map(|&(_, x)| &self.deps[x as usize]);
            match x.and_then(|x| Some((x.started, x.finished?.0))) {
                Some((started, done)) => {
                    out.extend(earlier_segments(position, stage, ready, started, done));
                    ready = Some(done);
                }
                None => ready = None,
            }
        }
        out.extend(stage_segments(
            t,
            &order[t],
            ready,
            dep.created,
            dep.approved,
            dep.started,
            finished,
        ));
        out
    }

    /// The services a query is about, with their stage order and T's index.
    pub(crate) fn targets(&self, q: &InsightsQuery) -> Vec<(String, Vec<String>, Option<usize>)> {
        let mut names: BTreeSet<String> = q.stage_order.keys().cloned().collect();
        names.extend(
            self.services
                .iter()
                .map(|s| self.names.name(s.name).to_string()),
        );
        if let Some(only) = &q.service {
            names.retain(|n| n == only);
            names.insert(only.clone());
        }
        names
            .into_iter()
            .map(|service| {
                let order = self.order_of(&service, q);
                let t = match &q.stage {
                    Some(stage) => order.iter().position(|s| s == stage),
                    None => order.len().checked_sub(1),
                };
                (service, order, t)
            })
            .collect()
    }

    /// Answer a query from the fold.
    pub fn report(&self, query: &InsightsQuery) -> InsightsReport {
        let query = &query.clamped();
        let mut per_service = Vec::new();
        for (service, order, t) in self.targets(query) {
            let facts = match t {
                Some(t) => self.lane_facts(&service, &order, t, query),
                None => LaneFacts::default(),
            };
            let flaky = self.flaky_steps(&service, &order, query);
            per_service.push(ServiceFacts {
                service,
                order,
                t,
                facts,
                flaky,
            });
        }
        assemble(query, per_service)
    }

    fn flaky_steps(&self, service: &str, order: &[String], q: &InsightsQuery) -> Vec<FlakyStep> {
        let mut steps: BTreeMap<(usize, String, String), FlakyStep> = BTreeMap::new();
        for ix in 0..self.flaky.len() as Ix {
            let f = &self.flaky[ix as usize];
            let lane = &self.lanes[self.deps[f.failed as usize].lane as usize];
            if self.names.name(lane.service) != service
                || !(q.from <= f.failed_at && f.failed_at < q.to)
            {
                continue;
            }
            let failure = self.flaky_failure_at(ix);
            add_flaky(&mut steps, order, failure);
        }
        steps.into_values().collect()
    }
}

/// Count one flaky failure into its step's figure.
pub(crate) fn add_flaky(
    steps: &mut BTreeMap<(usize, String, String), FlakyStep>,
    order: &[String],
    failure: FlakyFailure,
) {
    let position = order
        .iter()
        .position(|s| *s == failure.stage)
        .unwrap_or(order.len());
    let key = (position, failure.stage.clone(), failure.step.clone());
    match steps.get_mut(&key) {
        Some(step) => {
            step.count += 1;
            if failure.failed_at >= step.last.failed_at {
                step.last = failure;
            }
        }
        None => {
            let step = FlakyStep {
                service: failure.service.clone(),
                stage: failure.stage.clone(),
                step: failure.step.clone(),
                count: 1,
                last: failure,
            };
            steps.insert(key, step);
        }
    }
}

/// What one service contributes to a report.
pub(crate) struct ServiceFacts {
    pub service: String,
    pub order: Vec<String>,
    /// T's index in `order`, `None` when the service has no such stage.
    pub t: Option<usize>,
    pub facts: LaneFacts,
    pub flaky: Vec<FlakyStep>,
}

/// Build the report from what each service contributes.
pub(crate) fn assemble(q: &InsightsQuery, per_service: Vec<ServiceFacts>) -> InsightsReport {
    let pooled: Vec<&LaneFacts> = per_service.iter().map(|s| &s.facts).collect();
    let summary = Summary {
        services: per_service.len() as u64,
        metrics: metrics(&pooled, q.from, q.to),
        flaky_failures: per_service
            .iter()
            .flat_map(|s| s.flaky.iter())
            .map(|f| f.count)
            .sum(),
    };
    let services = per_service
        .into_iter()
        .map(|s| ServiceInsights {
            stage: s
                .t
                .and_then(|t| s.order.get(t).cloned())
                .or_else(|| q.stage.clone())
                .unwrap_or_default(),
            metrics: metrics(&[&s.facts], q.from, q.to),
            service: s.service,
            stages: s.order,
            flaky_steps: s.flaky,
        })
        .collect();
    InsightsReport {
        from: q.from,
        to: q.to,
        from_utc: stats::utc(q.from),
        to_utc: stats::utc(q.to),
        services,
        all_services: summary,
    }
}
