//! The one stage summary: what a stage (or a service's builds) says, derived
//! from the state alone (no clock, no terminal). The console's grid cells and
//! the CLI's status table only format a `StageSummary`, so they agree.

use crate::config::Gate;
use crate::engine::{ServiceState, StageState, State};
use crate::model::{
    BuildId, BuildStatus, Deployment, DeploymentId, DeploymentKind, DeploymentStatus, Millis,
    StepKind, StepStatus, TestCounts, short_sha,
};

/// The state of a cell, readable without colour: each has a glyph and a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Empty,
    Healthy,
    Running,
    /// Running, but a cancel was asked for: the step is being killed.
    Cancelling,
    Awaiting,
    Queued,
    Failed,
    RolledBack,
    Cancelled,
}

impl CellKind {
    pub fn glyph(self) -> &'static str {
        match self {
            CellKind::Empty => "·",
            CellKind::Healthy => "●",
            CellKind::Running => "◐",
            CellKind::Cancelling => "◌",
            CellKind::Awaiting => "⏸",
            CellKind::Queued => "…",
            CellKind::Failed => "✗",
            CellKind::RolledBack => "↺",
            CellKind::Cancelled => "⊘",
        }
    }
}

/// A stage in a few words: its version, state word and tone (`kind`), why,
/// since when, and the run behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSummary {
    /// What runs there (or was built last), "—" when nothing.
    pub version: String,
    pub kind: CellKind,
    /// "healthy", "deploying 2/5", "awaiting approval 0/1"...
    pub word: String,
    /// A shorter word for narrow columns.
    pub short: String,
    pub tests: Option<TestCounts>,
    /// When the cell last changed, for its age.
    pub since: Option<Millis>,
    /// One line saying why it is blocked or what went wrong.
    pub reason: Option<String>,
    /// The deployment (or build) Enter opens.
    pub run: Option<RunRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunRef {
    Deployment(DeploymentId),
    Build(BuildId),
}

impl RunRef {
    pub fn id(&self) -> &str {
        match self {
            RunRef::Deployment(id) => id,
            RunRef::Build(id) => id,
        }
    }
}

fn empty(word: &str) -> StageSummary {
    StageSummary {
        version: "—".into(),
        kind: CellKind::Empty,
        word: word.into(),
        short: word.into(),
        tests: None,
        since: None,
        reason: None,
        run: None,
    }
}

/// The deployment a cell is about: the running one, else the next pending
/// one, else the last that finished.
pub fn focus_deployment<'a>(state: &'a State, stage: &StageState) -> Option<&'a Deployment> {
    stage
        .active
        .as_ref()
        .and_then(|id| state.deployments.get(id))
        .or_else(|| stage.queue.first().and_then(|id| state.deployments.get(id)))
        .or_else(|| stage.last_finished(state))
}

/// The deployment waiting for approval in this stage, if any.
pub fn awaiting<'a>(state: &'a State, stage: &StageState) -> Option<&'a Deployment> {
    stage
        .queue
        .iter()
        .filter_map(|id| state.deployments.get(id))
        .find(|d| d.status == DeploymentStatus::AwaitingApproval)
}

fn progress(d: &Deployment) -> (String, String) {
    let total = d.steps.len();
    let Some(i) = d.running_step() else {
        return ("starting".into(), "starting".into());
    };
    let n = format!("{}/{}", i + 1, total);
    // "waiting for UAT sign-off by qa": people, not a process, are next.
    if let (StepKind::SignOff, Some(rule)) = (d.steps[i].kind, &d.steps[i].sign_off) {
        let label = crate::model::sign_off_label(&d.steps[i].name);
        let word = format!("waiting for {label} sign-off by {}", rule.roles_text());
        // The short form drops the step count: at 80 columns a cell has 16,
        // and "◐ UAT sign-off" must not be cut (the status line has the rest).
        return (word, format!("{label} sign-off"));
    }
    let verb = match (d.kind, d.steps[i].kind) {
        (DeploymentKind::Rollback, _) => "rolling back",
        (_, StepKind::Deploy) | (_, StepKind::Build) => "deploying",
        (_, StepKind::Verify) => "verifying",
        (_, StepKind::SignOff) => "sign-off",
        (_, StepKind::Health) => "health check",
    };
    (format!("{verb} {n}"), format!("{verb} {n}"))
}

fn approval_roles(d: &Deployment) -> String {
    match &d.approval {
        Some(rule) if !rule.roles.is_empty() => rule.roles.join(" or "),
        _ => "anyone".into(),
    }
}

fn failed_step(d: &Deployment) -> Option<&str> {
    d.steps
        .iter()
        .find(|s| s.status.is_failure())
        .map(|s| s.name.as_str())
}

/// Tests of the newest deployment here that reported any.
fn last_tests(state: &State, stage: &StageState) -> Option<TestCounts> {
    stage
        .history
        .iter()
        .rev()
        .filter_map(|id| state.deployments.get(id))
        .find_map(|d| d.tests())
}

pub fn stage_summary(state: &State, stage: &StageState) -> StageSummary {
    let version = stage
        .current
        .as_ref()
        .and_then(|a| state.artifacts.get(a))
        .map(|a| a.version.clone())
        .unwrap_or_else(|| "—".into());
    let tests = last_tests(state, stage);
    let queued_behind = |skip: usize| stage.queue.len().saturating_sub(skip);
    let base = |kind, word: String, short: String, since, reason, d: &Deployment| StageSummary {
        version: version.clone(),
        kind,
        word,
        short,
        tests,
        since,
        reason,
        run: Some(RunRef::Deployment(d.id.clone())),
    };

    if let Some(d) = stage
        .active
        .as_ref()
        .and_then(|id| state.deployments.get(id))
    {
        let (word, short) = progress(d);
        let reason = match queued_behind(0) {
            0 if d.kind == DeploymentKind::Rollback => {
                Some(format!("to {}: {}", d.version, d.reason))
            }
            0 => None,
            n => Some(format!("{n} queued behind {}", d.version)),
        };
        // What is being deployed matters more than what ran before.
        let mut c = match state.cancelling.get(&d.id) {
            Some((actor, _)) => base(
                CellKind::Cancelling,
                "cancelling".into(),
                "cancelling".into(),
                d.started_at,
                Some(format!("cancel asked by {actor}")),
                d,
            ),
            None => base(CellKind::Running, word, short, d.started_at, reason, d),
        };
        c.version = d.version.clone();
        return c;
    }
    if let Some(d) = stage.queue.first().and_then(|id| state.deployments.get(id)) {
        let more = queued_behind(1);
        let plus = if more > 0 {
            format!(" +{more}")
        } else {
            String::new()
        };
        // Show where it is going: "1.4.3 → 1.4.4".
        let version = format!("{version} → {}", d.version);
        let base =
            |kind, word: String, short: String, since, reason, d: &Deployment| StageSummary {
                version: version.clone(),
                ..base(kind, word, short, since, reason, d)
            };
        return if d.status == DeploymentStatus::AwaitingApproval {
            let n = format!("{}/{}", d.approvers().len(), d.approvals_needed());
            base(
                CellKind::Awaiting,
                format!("awaiting approval {n}{plus}"),
                format!("approval {n}"),
                Some(d.created_at),
                Some(format!("waiting for approval by {}", approval_roles(d))),
                d,
            )
        } else if let Some(w) = state.freeze.frozen.get(&d.id) {
            // Waiting for a freeze window to close (rollbacks still run).
            base(
                CellKind::Queued,
                format!("❄ frozen{plus}"),
                "❄ frozen".into(),
                Some(d.created_at),
                Some(format!(
                    "frozen until {}: {}",
                    crate::model::short_time(w.until, 0),
                    w.reason
                )),
                d,
            )
        } else {
            base(
                CellKind::Queued,
                format!("queued{plus}"),
                format!("queued{plus}"),
                Some(d.created_at),
                Some(format!("{} next", d.version)),
                d,
            )
        };
    }
    let Some(d) = stage.last_finished(state) else {
        return empty("never deployed");
    };
    let since = d.finished_at.or(Some(d.created_at));
    match (d.status, d.kind) {
        (DeploymentStatus::Succeeded, DeploymentKind::Rollback) => {
            let from = d
                .rolls_back
                .as_ref()
                .and_then(|id| state.deployments.get(id));
            let reason = from.map(|f| match (&f.outcome, failed_step(f)) {
                (_, Some(step)) => format!("{} rolled back: {step} failed", f.version),
                (Some(o), None) => format!("{} rolled back: {o}", f.version),
                (None, None) => format!("{} rolled back", f.version),
            });
            base(
                CellKind::RolledBack,
                "rolled back".into(),
                "rolled back".into(),
                since,
                reason,
                d,
            )
        }
        (DeploymentStatus::Succeeded, _) => base(
            CellKind::Healthy,
            "healthy".into(),
            "healthy".into(),
            since,
            None,
            d,
        ),
        (DeploymentStatus::Failed, _) => {
            let reason = match failed_step(d) {
                Some(step) => format!("halted: {step} failed"),
                None => format!("halted: {}", d.outcome.clone().unwrap_or_default()),
            };
            let mut c = base(
                CellKind::Failed,
                "failed".into(),
                "failed".into(),
                since,
                Some(reason),
                d,
            );
            c.version = d.version.clone();
            c
        }
        (DeploymentStatus::Rejected, _) => {
            let by = d
                .approvals
                .iter()
                .rev()
                .find(|a| a.decision == crate::model::Decision::Reject);
            let reason = by.map(|a| match &a.comment {
                Some(c) => format!("{} rejected by {}: {c}", d.version, a.by),
                None => format!("{} rejected by {}", d.version, a.by),
            });
            base(
                CellKind::Cancelled,
                "rejected".into(),
                "rejected".into(),
                since,
                reason,
                d,
            )
        }
        _ => base(
            CellKind::Cancelled,
            d.status.as_str().into(),
            d.status.as_str().into(),
            since,
            d.outcome.clone(),
            d,
        ),
    }
}

pub fn build_summary(state: &State, svc: &ServiceState) -> StageSummary {
    let latest_artifact = svc.artifacts.last().and_then(|a| state.artifacts.get(a));
    let version = latest_artifact
        .map(|a| a.version.clone())
        .unwrap_or_else(|| "—".into());
    let Some(b) = svc.builds.last().and_then(|b| state.builds.get(b)) else {
        return match latest_artifact {
            Some(a) => StageSummary {
                version,
                kind: CellKind::Healthy,
                word: "registered".into(),
                short: "registered".into(),
                tests: None,
                since: Some(a.created_at),
                reason: None,
                run: None,
            },
            None => empty("no builds yet"),
        };
    };
    let tests = b.steps.iter().find_map(|s| s.tests);
    let (kind, word, reason) = match b.status {
        BuildStatus::Running => {
            let i = b
                .steps
                .iter()
                .position(|s| s.status == StepStatus::Running)
                .map(|i| i + 1)
                .unwrap_or(0);
            (
                CellKind::Running,
                format!("building {i}/{}", b.steps.len()),
                None,
            )
        }
        BuildStatus::Succeeded => (CellKind::Healthy, "built".into(), None),
        BuildStatus::Failed => {
            let step = b.steps.iter().find(|s| s.status.is_failure());
            let reason = match step {
                Some(s) => format!("halted: {} failed", s.name),
                None => format!("halted: {}", b.outcome.clone().unwrap_or_default()),
            };
            (CellKind::Failed, "build failed".into(), Some(reason))
        }
        BuildStatus::Cancelled => (CellKind::Cancelled, "cancelled".into(), None),
    };
    let commit = short_sha(&b.commit).to_string();
    StageSummary {
        version: if b.status == BuildStatus::Running || latest_artifact.is_none() {
            commit
        } else {
            version
        },
        kind,
        short: word.clone(),
        word,
        tests,
        since: b.finished_at.or(Some(b.created_at)),
        reason: reason.or_else(|| b.subject.clone()),
        run: Some(RunRef::Build(b.id.clone())),
    }
}

/// Gate text for a stage header or footer hint.
pub fn gate_label(stage: &StageState) -> &'static str {
    match stage.gate {
        Gate::Auto => "auto",
        Gate::Approval(_) => "approval",
    }
}

/// "3s", "4m", "2h", "5d": the age of something that happened at `then`.
pub fn age(now: Millis, then: Millis) -> String {
    let s = (now - then).max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// "2 days", "3 minutes": for sentences.
pub fn age_words(now: Millis, then: Millis) -> String {
    let s = (now - then).max(0) / 1000;
    let (n, unit) = match s {
        0..60 => (s, "second"),
        60..3600 => (s / 60, "minute"),
        3600..86400 => (s / 3600, "hour"),
        _ => (s / 86400, "day"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// "12.3s", "4m05s": how long a step took (or has run).
pub fn duration(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    if s < 60 {
        format!("{}.{}s", s, (ms.max(0) % 1000) / 100)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Whether this stage column is production: named so, or the last one.
pub fn is_prod(name: &str, index: usize, count: usize) -> bool {
    matches!(name, "prod" | "production") || index + 1 == count
}
