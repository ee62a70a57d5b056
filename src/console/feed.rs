//! One activity line per event worth a person's attention (step output and
//! step starts are left to the detail screen).

use crate::engine::State;
use crate::model::{
    BuildStatus, Decision, DeploymentStatus, Event, EventKind, StepStatus, sanitize_text,
};

use super::app::{FeedItem, Level};

fn deployment_label(state: &State, id: &str) -> String {
    match state.deployments.get(id) {
        Some(d) => format!("{} {} → {}", d.service, d.version, d.stage),
        None => id.to_string(),
    }
}

fn run_label(state: &State, run: &str) -> String {
    if let Some(b) = state.builds.get(run) {
        return format!("{} build {}", b.service, run);
    }
    deployment_label(state, run)
}

/// Called after the event was applied, so the things it names exist.
pub fn describe(state: &State, e: &Event) -> Option<FeedItem> {
    use EventKind as K;
    let (level, text) = match &e.kind {
        K::ServerStarted { version } => (Level::Info, format!("server {version} started")),
        K::BuildStarted {
            build,
            service,
            commit,
            subject,
            ..
        } => {
            let short: String = commit.chars().take(7).collect();
            let subject = subject.as_deref().unwrap_or("");
            (
                Level::Info,
                format!("{service}: build {build} of {short} started {subject}"),
            )
        }
        K::BuildFinished {
            build,
            status,
            message,
        } => {
            let svc = state
                .builds
                .get(build)
                .map(|b| b.service.as_str())
                .unwrap_or("?");
            let level = if *status == BuildStatus::Succeeded {
                Level::Good
            } else {
                Level::Bad
            };
            let word = match status {
                BuildStatus::Running => "running",
                BuildStatus::Succeeded => "succeeded",
                BuildStatus::Failed => "failed",
                BuildStatus::Cancelled => "cancelled",
            };
            (level, format!("{svc}: build {build} {word}: {message}"))
        }
        K::ArtifactRegistered { artifact } => (
            Level::Info,
            format!(
                "{}: artifact {} ready ({})",
                artifact.service, artifact.version, artifact.id
            ),
        ),
        K::DeploymentCreated {
            deployment,
            kind,
            status,
            ..
        } => {
            let what = if *status == DeploymentStatus::AwaitingApproval {
                "awaits approval"
            } else {
                "queued"
            };
            let level = if *status == DeploymentStatus::AwaitingApproval {
                Level::Warn
            } else {
                Level::Info
            };
            (
                level,
                format!(
                    "{}: {} {what}",
                    deployment_label(state, deployment),
                    kind.as_str()
                ),
            )
        }
        K::ApprovalRecorded {
            deployment,
            approval,
        } => {
            let verb = match approval.decision {
                Decision::Approve => "approved",
                Decision::Reject => "rejected",
            };
            let comment = approval
                .comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            (
                Level::Info,
                format!(
                    "{} {verb} {}{comment}",
                    approval.by,
                    deployment_label(state, deployment)
                ),
            )
        }
        K::DeploymentApproved { deployment } => (
            Level::Good,
            format!("{}: approved", deployment_label(state, deployment)),
        ),
        K::DeploymentStarted { deployment } => (
            Level::Info,
            format!("{}: started", deployment_label(state, deployment)),
        ),
        K::StepStarted { .. } | K::StepOutput { .. } => return None,
        K::StepFinished { run, step, outcome } => {
            let name = state
                .deployments
                .get(run)
                .map(|d| &d.steps)
                .or_else(|| state.builds.get(run).map(|b| &b.steps))
                .and_then(|s| s.get(*step))
                .map(|s| s.name.clone())
                .unwrap_or_else(|| format!("step {step}"));
            let tests = outcome
                .tests
                .map(|t| format!(" {}/{}", t.passed, t.total()))
                .unwrap_or_default();
            let level = match outcome.status {
                StepStatus::Passed => Level::Good,
                s if s.is_failure() => Level::Bad,
                _ => Level::Info,
            };
            (
                level,
                format!(
                    "{}: {name} {}{tests}",
                    run_label(state, run),
                    outcome.status.as_str()
                ),
            )
        }
        K::CancelRequested { deployment } => (
            Level::Warn,
            format!("{}: cancel requested", deployment_label(state, deployment)),
        ),
        K::DeploymentFinished {
            deployment,
            status,
            message,
        } => {
            let level = match status {
                DeploymentStatus::Succeeded => Level::Good,
                DeploymentStatus::Failed | DeploymentStatus::Rejected => Level::Bad,
                _ => Level::Warn,
            };
            // "superseded: superseded by d-6" says it twice; keep one.
            let tail = if message.is_empty()
                || *status == DeploymentStatus::Succeeded
                || message.starts_with(status.as_str())
            {
                String::new()
            } else {
                format!(": {message}")
            };
            let head = if message.starts_with(status.as_str()) {
                message.clone()
            } else {
                status.as_str().to_string()
            };
            (
                level,
                format!("{}: {head}{tail}", deployment_label(state, deployment)),
            )
        }
        K::RollbackImpossible { service, stage, .. } => (
            Level::Bad,
            format!("{service} {stage}: rollback impossible, no earlier good release"),
        ),
        K::NotificationSent {
            notification,
            channel,
            ok,
            detail,
        } => {
            if *ok {
                return None;
            }
            (
                Level::Warn,
                format!(
                    "notification {} via {channel} failed: {detail}",
                    notification.kind.as_str()
                ),
            )
        }
    };
    Some(FeedItem {
        seq: e.seq,
        at: e.at,
        level,
        text: sanitize_text(&text),
    })
}

/// Recent activity as told by a state (newest first): the last builds and
/// deployments, with when they last changed.
pub fn from_state(state: &State, limit: usize) -> Vec<FeedItem> {
    let mut items: Vec<FeedItem> = Vec::new();
    for d in state.deployments.values() {
        let at = d.finished_at.or(d.started_at).unwrap_or(d.created_at);
        let level = match d.status {
            DeploymentStatus::Succeeded => Level::Good,
            DeploymentStatus::Failed | DeploymentStatus::Rejected => Level::Bad,
            DeploymentStatus::AwaitingApproval => Level::Warn,
            _ => Level::Info,
        };
        let status = d.status.as_str().replace('_', " ");
        let text = format!(
            "{} {} → {}: {} {status}",
            d.service,
            d.version,
            d.stage,
            d.kind.as_str()
        );
        items.push(FeedItem {
            seq: 0,
            at,
            level,
            text: sanitize_text(&text),
        });
    }
    for b in state.builds.values() {
        let level = match b.status {
            BuildStatus::Succeeded => Level::Good,
            BuildStatus::Failed => Level::Bad,
            _ => Level::Info,
        };
        let short: String = b.commit.chars().take(7).collect();
        let status = format!("{:?}", b.status).to_lowercase();
        let text = format!("{}: build {} of {short} {status}", b.service, b.id);
        items.push(FeedItem {
            seq: 0,
            at: b.finished_at.unwrap_or(b.created_at),
            level,
            text: sanitize_text(&text),
        });
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.at));
    items.truncate(limit);
    items
}
