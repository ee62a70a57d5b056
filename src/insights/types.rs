//! The question (`InsightsQuery`) and the answer (`InsightsReport`): the
//! future JSON of `GET /api/v1/insights`. Every ratio carries the counts
//! behind it, every duration is in epoch ms with a human string beside it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::{self, DAY_MS};
use crate::model::{DeploymentId, Millis};

/// What to report on: one service or all, one stage or each service's last,
/// over the window `[from, to)` in epoch ms.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InsightsQuery {
    /// `None`: every service known from the events or from `stage_order`.
    pub service: Option<String>,
    /// `None`: each service's last stage.
    pub stage: Option<String>,
    pub from: Millis,
    pub to: Millis,
    /// Stage order per service, from the configuration. A service missing here
    /// takes the order in which its stages first received a deployment, which
    /// is the pipeline's order because a promotion needs the previous stage.
    #[serde(default)]
    pub stage_order: BTreeMap<String, Vec<String>>,
}

impl InsightsQuery {
    /// The default window of the issue: the last 30 days.
    pub const DEFAULT_DAYS: i64 = 30;

    /// All services over the `days` days before `now`.
    pub fn last_days(now: Millis, days: i64) -> Self {
        InsightsQuery {
            from: now.saturating_sub(days.saturating_mul(DAY_MS)),
            to: now,
            ..InsightsQuery::default()
        }
    }
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }
    pub fn stage(mut self, stage: impl Into<String>) -> Self {
        self.stage = Some(stage.into());
        self
    }
    /// The query with `from` and `to` within ±2^52 ms (±142,000 years), so
    /// that no figure derived from them can overflow, whatever a URL said.
    pub fn clamped(&self) -> Self {
        const LIMIT: Millis = 1 << 52;
        InsightsQuery {
            from: self.from.clamp(-LIMIT, LIMIT),
            to: self.to.clamp(-LIMIT, LIMIT),
            ..self.clone()
        }
    }
    /// The configured stage order of one service.
    pub fn stages(mut self, service: impl Into<String>, stages: Vec<String>) -> Self {
        self.stage_order.insert(service.into(), stages);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsightsReport {
    pub from: Millis,
    pub to: Millis,
    pub from_utc: String,
    pub to_utc: String,
    pub services: Vec<ServiceInsights>,
    /// Every deployment of the listed services pooled (medians over all of
    /// them, not a mean of the services' medians).
    pub all_services: Summary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInsights {
    pub service: String,
    /// The stage T the metrics are about.
    pub stage: String,
    /// The stage order used (T's earlier stages are the ones before it).
    pub stages: Vec<String>,
    pub metrics: Metrics,
    /// Flaky verification steps of every stage of the service.
    pub flaky_steps: Vec<FlakyStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub services: u64,
    pub metrics: Metrics,
    /// Flaky failures (failed runs that later passed) over all services.
    pub flaky_failures: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Promotions to T that finished (succeeded or failed) in the window.
    pub deployments: u64,
    pub frequency: Frequency,
    pub lead_time: Durations,
    pub change_fail_rate: ChangeFailRate,
    pub recovery_time: Recovery,
    pub rework_rate: Rework,
    /// Medians of the segments from commit to live, for the succeeded ones.
    pub time_breakdown: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frequency {
    pub succeeded: u64,
    /// Distinct UTC days with at least one succeeded deployment.
    pub deployment_days: u64,
    /// Window length in weeks (two decimals).
    pub weeks: f64,
    pub per_week: f64,
    pub deployment_days_per_week: f64,
    /// Monday-based UTC weeks over the series range (see the module doc).
    pub weekly: Vec<WeekFigure>,
    /// UTC days over the series range, for sparklines.
    pub daily: Vec<DayFigure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekFigure {
    pub week_start_ms: Millis,
    pub week_start: String,
    pub deployments: u64,
    pub deployment_days: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayFigure {
    pub day_start_ms: Millis,
    pub day: String,
    pub deployments: u64,
    pub lead_time_median_ms: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// Values the median and p90 are taken over.
    pub count: u64,
    /// Candidates left out (no known start, or a value ≤ 0).
    pub ignored: u64,
    pub median_ms: Option<Millis>,
    pub p90_ms: Option<Millis>,
    pub median: Option<String>,
    pub p90: Option<String>,
}

impl Durations {
    pub fn from_values(mut values: Vec<Millis>, ignored: u64) -> Self {
        values.sort_unstable();
        let median_ms = stats::percentile(&values, 50);
        let p90_ms = stats::percentile(&values, 90);
        Durations {
            count: values.len() as u64,
            ignored,
            median_ms,
            p90_ms,
            median: median_ms.map(stats::human),
            p90: p90_ms.map(stats::human),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeFailRate {
    /// Failed, or undone by a later rollback.
    pub failures: u64,
    pub deployments: u64,
    pub failed: u64,
    /// Succeeded, then named by a rollback.
    pub undone: u64,
    pub rate: Option<f64>,
    /// "2 of 9".
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// Over the recovered failures.
    #[serde(flatten)]
    pub durations: Durations,
    /// Failures no succeeded deployment of (S, T) has followed yet.
    pub unrecovered: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rework {
    pub rollbacks: u64,
    pub redeploys: u64,
    pub reworks: u64,
    /// Deployments of (S, T) of any kind that started in the window.
    pub started: u64,
    pub rate: Option<f64>,
    pub text: String,
}

/// One segment of the way from commit to live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// build, waiting, running, promotion_wait, approval_wait, queue_wait, run.
    pub segment: String,
    /// The stage it was spent in (none for build).
    pub stage: Option<String>,
    pub count: u64,
    pub median_ms: Option<Millis>,
    pub median: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlakyStep {
    pub service: String,
    pub stage: String,
    pub step: String,
    /// Failed runs of the step, in the window, that later passed on the same digest.
    pub count: u64,
    /// The one of them that failed last.
    pub last: FlakyFailure,
}

/// A verification step that failed in `deployment` and later passed on the
/// same artifact digest in `passed_in`: flaky, not a regression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlakyFailure {
    pub deployment: DeploymentId,
    pub service: String,
    pub stage: String,
    pub step: String,
    pub digest: String,
    pub failed_at: Millis,
    pub passed_at: Millis,
    pub passed_in: DeploymentId,
}

impl FlakyFailure {
    /// The line the failing deployment's detail shows.
    pub fn detail(&self) -> String {
        format!(
            "{} later passed on the same artifact ({})",
            self.step, self.passed_in
        )
    }
}

/// What a failed deployment's detail says of a flaky failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlakyNote {
    /// "e2e later passed on the same artifact (d-9)".
    pub text: String,
    #[serde(flatten)]
    pub failure: FlakyFailure,
}

impl From<FlakyFailure> for FlakyNote {
    fn from(failure: FlakyFailure) -> Self {
        FlakyNote {
            text: format!("flaky: {}", failure.detail()),
            failure,
        }
    }
}
