//! The demo's view of the server: the dashboard snapshot, then every event
//! from the stream folded with the engine's own `State::apply`, published to
//! the scripted developer, the release bot and the story checker. In
//! headless mode each event is also printed as one line for people.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::{Client, WatchMessage};
use crate::engine::State;
use crate::model::{
    Decision, DeploymentKind, DeploymentStatus, Event, EventKind, Millis, StepOutcome, TestCounts,
    sanitize_text,
};

/// What the demo's tasks see: the folded state and when it last moved.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: State,
    pub last_event: Instant,
}

pub type StateRx = watch::Receiver<Arc<Snapshot>>;

/// Start folding the event stream from `state` (with `State::new(config)`
/// and seq 0: from the server's first event, so the printed story is whole).
pub fn spawn(client: &Client, mut state: State, print: bool) -> (StateRx, JoinHandle<()>) {
    let (tx, rx) = watch::channel(Arc::new(Snapshot {
        state: state.clone(),
        last_event: Instant::now(),
    }));
    let stream = client.watch(state.seq);
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(msg) = stream.next().await {
            match msg {
                WatchMessage::Connected => {}
                WatchMessage::Reconnecting { attempt, error } => {
                    if print {
                        eprintln!("event stream lost ({error}); reconnecting, attempt {attempt}");
                    }
                }
                WatchMessage::Event(event) => {
                    // The client promises no repeats; stay safe if a
                    // reconnect ever replays one.
                    if event.seq <= state.seq {
                        continue;
                    }
                    state.apply(&event);
                    if print {
                        println!("{}", event_line(&state, &event));
                    }
                    tx.send_replace(Arc::new(Snapshot {
                        state: state.clone(),
                        last_event: Instant::now(),
                    }));
                }
            }
        }
    });
    (rx, task)
}

/// `HH:MM:SS  #seq  service/stage  what happened`, from the state after the
/// event was applied (so a deployment's version and service are known).
pub fn event_line(state: &State, event: &Event) -> String {
    let (place, what) = describe(state, event);
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

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn describe(state: &State, event: &Event) -> (String, String) {
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
                short(commit),
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
                short(&artifact.digest),
                artifact
                    .commit
                    .as_deref()
                    .map(short)
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
    }
}
