//! The one narrator: what an event means, in words, from the state after it
//! was applied (so the things it names exist). Two tellings share its
//! helpers: the console's activity feed (`describe`, one short line per event
//! worth a person's attention; step output and step starts are left to the
//! detail screen) and the headless demo's log (`event_line`, every event with
//! its time, sequence number and place).

use crate::engine::State;
use crate::model::{
    BuildStatus, Decision, DeploymentKind, DeploymentStatus, Event, EventKind, Millis, StepOutcome,
    StepStatus, TestCounts, sanitize_text, short_sha,
};

/// How an activity line is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Good,
    Warn,
    Bad,
}

/// One line of the console's activity feed.
#[derive(Debug, Clone)]
pub struct FeedItem {
    pub seq: u64,
    pub at: Millis,
    pub level: Level,
    pub text: String,
}

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
            let short = short_sha(commit);
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
            let name = step_name(state, run, *step);
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
        K::NoteAdded {
            deployment,
            author,
            text,
        } => (
            Level::Info,
            format!(
                "{} noted by {}: {text}",
                deployment_label(state, deployment),
                author.name()
            ),
        ),
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
        let short = short_sha(&b.commit);
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

/// `HH:MM:SS  #seq  service/stage  what happened`, from the state after the
/// event was applied (so a deployment's version and service are known).
pub fn event_line(state: &State, event: &Event) -> String {
    let (place, what) = place_and_words(state, event);
    format!(
        "{}  #{:<4} {:<16} {}",
        clock(event.at),
        event.seq,
        place,
        sanitize_text(&what)
    )
}

/// Wall-clock time of day (UTC) of an event.
pub fn clock(at: Millis) -> String {
    let secs = at.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Where a run happens: `service/stage` for a deployment, `service/build` for a build.
fn run_place(state: &State, run: &str) -> (String, String) {
    if let Some(d) = state.deployments.get(run) {
        return (
            format!("{}/{}", d.service, d.stage),
            format!("{} {}", d.id, d.version),
        );
    }
    if let Some(b) = state.builds.get(run) {
        return (format!("{}/build", b.service), b.id.clone());
    }
    ("-".to_string(), run.to_string())
}

fn step_name(state: &State, run: &str, step: usize) -> String {
    let steps = state
        .deployments
        .get(run)
        .map(|d| &d.steps)
        .or_else(|| state.builds.get(run).map(|b| &b.steps));
    steps
        .and_then(|s| s.get(step))
        .map(|s| s.name.clone())
        .unwrap_or_else(|| format!("step {step}"))
}

fn tests_text(t: Option<TestCounts>) -> String {
    match t {
        Some(t) if t.total() > 0 => format!(
            " (tests: {} passed, {} failed, {} skipped)",
            t.passed, t.failed, t.skipped
        ),
        _ => String::new(),
    }
}

fn outcome_text(o: &StepOutcome) -> String {
    format!(
        "{}: {}{}",
        o.status.as_str(),
        o.message,
        tests_text(o.tests)
    )
}

/// The demo log's place (`service/stage`) and words for an event.
fn place_and_words(state: &State, event: &Event) -> (String, String) {
    match &event.kind {
        EventKind::ServerStarted { version } => {
            ("-".into(), format!("server started (ferry {version})"))
        }
        EventKind::BuildStarted {
            build,
            service,
            commit,
            subject,
            author,
            ..
        } => (
            format!("{service}/build"),
            format!(
                "{build} started: {} \"{}\" by {author}",
                short_sha(commit),
                subject.as_deref().unwrap_or("")
            ),
        ),
        EventKind::BuildFinished {
            build,
            status,
            message,
        } => {
            let (place, _) = run_place(state, build);
            let status = serde_json::to_value(status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            (place, format!("{build} {status}: {message}"))
        }
        EventKind::ArtifactRegistered { artifact } => (
            format!("{}/build", artifact.service),
            format!(
                "artifact {} version {} (sha256 {}) from {}",
                artifact.id,
                artifact.version,
                short_sha(&artifact.digest),
                artifact
                    .commit
                    .as_deref()
                    .map(short_sha)
                    .unwrap_or("outside CI")
            ),
        ),
        EventKind::DeploymentCreated {
            deployment,
            service,
            stage,
            kind,
            status,
            approval,
            rolls_back,
            ..
        } => {
            let version = state
                .deployments
                .get(deployment)
                .map(|d| d.version.clone())
                .unwrap_or_default();
            let mut what = match kind {
                DeploymentKind::Rollback => format!(
                    "{deployment} {version} created: rollback to {version}{}",
                    rolls_back
                        .as_ref()
                        .map(|d| format!(" (undoing {d})"))
                        .unwrap_or_default()
                ),
                k => format!("{deployment} {version} created: {} {version}", k.as_str()),
            };
            match (status, approval) {
                (DeploymentStatus::AwaitingApproval, Some(rule)) => what.push_str(&format!(
                    ", awaiting approval ({} by {})",
                    rule.required,
                    rule.roles.join(" or ")
                )),
                (s, _) => what.push_str(&format!(", {}", s.as_str())),
            }
            (format!("{service}/{stage}"), what)
        }
        EventKind::ApprovalRecorded {
            deployment,
            approval,
        } => {
            let (place, id) = run_place(state, deployment);
            let verb = match approval.decision {
                Decision::Approve => "approved",
                Decision::Reject => "rejected",
            };
            let comment = approval
                .comment
                .as_ref()
                .map(|c| format!(": \"{c}\""))
                .unwrap_or_default();
            (place, format!("{id} {verb} by {}{comment}", approval.by))
        }
        EventKind::DeploymentApproved { deployment } => {
            let (place, id) = run_place(state, deployment);
            (place, format!("{id} gate holds: approvals complete"))
        }
        EventKind::DeploymentStarted { deployment } => {
            let (place, id) = run_place(state, deployment);
            (place, format!("{id} started"))
        }
        EventKind::StepStarted { run, step } => {
            let (place, id) = run_place(state, run);
            (
                place,
                format!("{id} step {step} {} started", step_name(state, run, *step)),
            )
        }
        EventKind::StepOutput {
            run,
            step,
            lines,
            dropped,
        } => {
            let (place, id) = run_place(state, run);
            let last = lines.last().map(String::as_str).unwrap_or("");
            let more = lines.len().saturating_sub(1) as u64 + dropped;
            let more = if more > 0 {
                format!("  (+{more} lines)")
            } else {
                String::new()
            };
            (place, format!("{id} step {step} | {last}{more}"))
        }
        EventKind::StepFinished { run, step, outcome } => {
            let (place, id) = run_place(state, run);
            (
                place,
                format!(
                    "{id} step {step} {} {}",
                    step_name(state, run, *step),
                    outcome_text(outcome)
                ),
            )
        }
        EventKind::CancelRequested { deployment } => {
            let (place, id) = run_place(state, deployment);
            (place, format!("{id} cancel requested"))
        }
        EventKind::DeploymentFinished {
            deployment,
            status,
            message,
        } => {
            let (place, id) = run_place(state, deployment);
            (place, format!("{id} {}: {message}", status.as_str()))
        }
        EventKind::RollbackImpossible {
            service,
            stage,
            deployment,
        } => (
            format!("{service}/{stage}"),
            format!("{deployment} failed and there is no earlier good release to roll back to"),
        ),
        EventKind::NotificationSent {
            notification,
            channel,
            ok,
            detail,
        } => {
            let place = match &notification.stage {
                Some(stage) => format!("{}/{stage}", notification.service),
                None => notification.service.clone(),
            };
            let result = if *ok {
                String::new()
            } else {
                format!(" FAILED: {detail}")
            };
            (
                place,
                format!(
                    "notified {channel} ({}): {}{result}",
                    notification.kind.as_str(),
                    notification.message
                ),
            )
        }
        EventKind::NoteAdded {
            deployment,
            author,
            text,
        } => {
            let place = state
                .deployments
                .get(deployment)
                .map(|d| format!("{}/{}", d.service, d.stage))
                .unwrap_or_else(|| "-".into());
            (
                place,
                format!("{deployment} noted by {}: {text}", author.name()),
            )
        }
    }
}
