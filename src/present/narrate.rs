//! The one narrator: what an event means, in words, from the state after it
//! was applied (so the things it names exist). `narrate` returns a
//! structured line (where, about what, what happened, in which tone); the
//! console's activity feed (`describe`) and the headless demo's log
//! (`event_line`) only format it. The feed leaves step starts, step output
//! and delivered notifications to the detail screen; the demo prints all.

use crate::engine::State;
use crate::model::{
    ApprovalRule, BuildStatus, Decision, DeploymentId, DeploymentKind, DeploymentStatus, Event,
    EventKind, Millis, StepOutcome, StepStatus, sanitize_text, short_sha,
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
    /// The run it is about (`d-5`, `b-2`), which the console opens on Enter.
    pub run: Option<String>,
}

/// One event told once: the structured line both tellings format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narration {
    /// The service it happened in, if any.
    pub service: Option<String>,
    /// The stage it happened in (`build` for builds and artifacts), if any.
    pub stage: Option<String>,
    /// The run it is about (`d-5`, `b-2`), if any.
    pub id: Option<String>,
    /// The version that run carries, if known.
    pub version: Option<String>,
    /// What happened: "succeeded: all steps passed".
    pub what: String,
    pub tone: Level,
    /// Worth a line in the console's feed (step starts, step output and
    /// delivered notifications are not).
    pub in_feed: bool,
}

impl Narration {
    fn new(tone: Level, what: impl Into<String>) -> Self {
        Narration {
            service: None,
            stage: None,
            id: None,
            version: None,
            what: what.into(),
            tone,
            in_feed: true,
        }
    }
    fn at(mut self, service: &str, stage: Option<&str>) -> Self {
        self.service = Some(service.to_string());
        self.stage = stage.map(str::to_string);
        self
    }
    /// About a run: its place and version come from the state.
    fn run(self, state: &State, run: &str) -> Self {
        let mut n = if let Some(d) = state.deployments.get(run) {
            let mut n = self.at(&d.service, Some(&d.stage));
            n.version = Some(d.version.clone()).filter(|v| !v.is_empty());
            n
        } else if let Some(b) = state.builds.get(run) {
            self.at(&b.service, Some("build"))
        } else {
            self
        };
        n.id = Some(run.to_string());
        n
    }
    fn quiet(mut self) -> Self {
        self.in_feed = false;
        self
    }

    /// `service/stage` (or the service, or `-`): the demo log's place column.
    pub fn place(&self) -> String {
        match (&self.service, &self.stage) {
            (Some(svc), Some(st)) => format!("{svc}/{st}"),
            (Some(svc), None) => svc.clone(),
            _ => "-".to_string(),
        }
    }

    /// The line as the console's feed shows it: `checkout 1.4.3 → prod: started`.
    pub fn feed_text(&self) -> String {
        let subject = match (&self.service, &self.stage, &self.id, &self.version) {
            (Some(svc), Some(st), Some(id), _) if st == "build" => {
                format!("{svc} build {id}")
            }
            (Some(svc), Some(st), _, Some(v)) => format!("{svc} {v} → {st}"),
            (Some(svc), Some(st), _, None) if st != "build" => format!("{svc} {st}"),
            (Some(svc), ..) => svc.clone(),
            (None, _, Some(id), _) => id.clone(),
            (None, _, None, _) => return sanitize_text(&self.what),
        };
        sanitize_text(&format!("{subject}: {}", self.what))
    }

    /// The line as the demo log shows it after time and sequence number:
    /// `checkout/prod    d-5 1.4.3 started`.
    pub fn log_text(&self) -> String {
        let subject: Vec<&str> = [self.id.as_deref(), self.version.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let what = if subject.is_empty() {
            self.what.clone()
        } else {
            format!("{} {}", subject.join(" "), self.what)
        };
        format!("{:<16} {}", self.place(), sanitize_text(&what))
    }
}

/// What an event means; called after the event was applied.
pub fn narrate(state: &State, e: &Event) -> Narration {
    use EventKind as K;
    match &e.kind {
        K::ServerStarted { version } => {
            Narration::new(Level::Info, format!("server started (ferry {version})"))
        }
        K::BuildStarted {
            build,
            service,
            commit,
            subject,
            author,
            ..
        } => {
            let mut n = Narration::new(
                Level::Info,
                format!(
                    "started: {} \"{}\" by {author}",
                    short_sha(commit),
                    subject.as_deref().unwrap_or("")
                ),
            )
            .at(service, Some("build"));
            n.id = Some(build.to_string());
            n
        }
        K::BuildFinished {
            build,
            status,
            message,
        } => {
            let tone = if *status == BuildStatus::Succeeded {
                Level::Good
            } else {
                Level::Bad
            };
            Narration::new(tone, format!("{}: {message}", build_word(*status))).run(state, build)
        }
        K::ArtifactRegistered { artifact } => Narration::new(
            Level::Info,
            format!(
                "artifact {} ready ({}, sha256 {}, from {})",
                artifact.version,
                artifact.id,
                short_sha(&artifact.digest),
                artifact
                    .commit
                    .as_deref()
                    .map(short_sha)
                    .unwrap_or("outside CI")
            ),
        )
        .at(&artifact.service, Some("build")),
        K::DeploymentCreated {
            deployment,
            kind,
            status,
            approval,
            rolls_back,
            ..
        } => created(
            state,
            deployment,
            *kind,
            *status,
            approval.as_ref(),
            rolls_back.as_ref(),
        ),
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
                .as_ref()
                .map(|c| format!(": \"{c}\""))
                .unwrap_or_default();
            Narration::new(Level::Info, format!("{verb} by {}{comment}", approval.by))
                .run(state, deployment)
        }
        K::DeploymentApproved { deployment } => {
            Narration::new(Level::Good, "approvals complete").run(state, deployment)
        }
        K::DeploymentStarted { deployment } => {
            Narration::new(Level::Info, "started").run(state, deployment)
        }
        K::StepStarted { run, step } => Narration::new(
            Level::Info,
            format!("step {step} {} started", step_name(state, run, *step)),
        )
        .run(state, run)
        .quiet(),
        K::StepOutput {
            run,
            step,
            lines,
            dropped,
        } => {
            let last = lines.last().map(String::as_str).unwrap_or("");
            let more = lines.len().saturating_sub(1) as u64 + dropped;
            let more = if more > 0 {
                format!("  (+{more} lines)")
            } else {
                String::new()
            };
            Narration::new(Level::Info, format!("step {step} | {last}{more}"))
                .run(state, run)
                .quiet()
        }
        K::StepFinished { run, step, outcome } => {
            let tone = match outcome.status {
                StepStatus::Passed => Level::Good,
                s if s.is_failure() => Level::Bad,
                _ => Level::Info,
            };
            Narration::new(
                tone,
                format!("{} {}", step_name(state, run, *step), outcome_text(outcome)),
            )
            .run(state, run)
        }
        K::CancelRequested { deployment } => {
            Narration::new(Level::Warn, "cancel requested").run(state, deployment)
        }
        K::DeploymentFinished {
            deployment,
            status,
            message,
        } => finished(state, deployment, *status, message),
        K::RollbackImpossible {
            service,
            stage,
            deployment,
        } => {
            let mut n = Narration::new(
                Level::Bad,
                "failed, and there is no earlier good release to roll back to",
            )
            .at(service, Some(stage));
            n.id = Some(deployment.to_string());
            n
        }
        K::GateReevaluated {
            deployment, status, ..
        } => Narration::new(
            Level::Info,
            format!(
                "gate re-evaluated against the current config, now {}",
                status.as_str().replace('_', " ")
            ),
        )
        .run(state, deployment),
        K::SignOffRequested {
            deployment,
            step,
            rule,
        } => Narration::new(
            Level::Warn,
            format!(
                "waiting for {} sign-off by {}",
                crate::model::sign_off_label(&step_name(state, deployment, *step)),
                rule.roles_text()
            ),
        )
        .run(state, deployment),
        K::SignOffRecorded {
            deployment,
            sign_off,
            ..
        } => {
            let comment = sign_off
                .comment
                .as_ref()
                .map(|c| format!(": \"{c}\""))
                .unwrap_or_default();
            Narration::new(
                Level::Info,
                format!(
                    "{} sign-off: {} by {}{comment}",
                    crate::model::sign_off_label(&sign_off.step),
                    sign_off.verdict.as_str(),
                    sign_off.by
                ),
            )
            .run(state, deployment)
        }
        K::DeploymentRequeued { deployment, .. } => Narration::new(
            Level::Warn,
            "queued again after a restart (no step had an effect)",
        )
        .run(state, deployment),
        K::NotificationQueued {
            id,
            notification,
            channels,
        } => Narration::new(
            Level::Info,
            format!(
                "notification {id} ({}) queued for {} channel(s)",
                notification.kind.as_str(),
                channels.len()
            ),
        )
        .quiet()
        .at(&notification.service, notification.stage.as_deref()),
        K::NotificationSent {
            notification,
            channel,
            ok,
            detail,
            attempts,
        } => {
            let n = if *ok {
                Narration::new(
                    Level::Info,
                    format!(
                        "notified {channel} ({}): {}",
                        notification.kind.as_str(),
                        notification.message
                    ),
                )
                .quiet()
            } else {
                Narration::new(
                    Level::Warn,
                    format!(
                        "notification {} via {channel} given up after {attempts} attempt(s): {detail}",
                        notification.kind.as_str()
                    ),
                )
            };
            n.at(&notification.service, notification.stage.as_deref())
        }
        K::NoteAdded {
            deployment,
            author,
            text,
        } => Narration::new(Level::Info, format!("noted by {}: {text}", author.name()))
            .run(state, deployment),
        // Release safety (engine/decide/safety.rs): the event's reason says why.
        K::ArtifactQuarantined {
            service, artifact, ..
        } => {
            let version = state.artifacts.get(artifact).map_or("", |a| &a.version);
            let what = format!("{artifact} {version} quarantined: {}", e.reason);
            Narration::new(Level::Warn, what).at(service, None)
        }
        K::QuarantineLifted { service, artifact } => {
            let what = format!(
                "quarantine of {artifact} lifted by {}: {}",
                e.actor.name(),
                e.reason
            );
            Narration::new(Level::Info, what).at(service, None)
        }
        K::StageHeld { service, stage, .. } => {
            Narration::new(Level::Warn, format!("held: {}", e.reason)).at(service, Some(stage))
        }
        K::HoldLifted { service, stage } => {
            let what = format!("hold lifted by {}: {}", e.actor.name(), e.reason);
            Narration::new(Level::Info, what).at(service, Some(stage))
        }
        // Freeze windows (engine/decide/freeze.rs).
        K::StageFrozen {
            stage,
            service,
            until,
        } => {
            let what = format!(
                "❄ frozen by {} until {}: {}",
                e.actor.name(),
                crate::model::format_millis(*until),
                e.reason
            );
            Narration::new(Level::Warn, what).at(service.as_deref().unwrap_or("*"), Some(stage))
        }
        K::StageUnfrozen { stage, service } => {
            let what = format!("unfrozen by {}: {}", e.actor.name(), e.reason);
            Narration::new(Level::Info, what).at(service.as_deref().unwrap_or("*"), Some(stage))
        }
        K::DeploymentFrozen { deployment, .. } => {
            Narration::new(Level::Warn, format!("❄ waits: {}", e.reason)).run(state, deployment)
        }
        K::FreezeOverridden {
            deployment,
            freezes,
        } => {
            let what = format!(
                "freeze {} overridden by {}: {}",
                freezes.join(", "),
                e.actor.name(),
                e.reason
            );
            Narration::new(Level::Warn, what).run(state, deployment)
        }
    }
}

/// A deployment was created: its kind, and whether it queues or waits.
fn created(
    state: &State,
    deployment: &str,
    kind: DeploymentKind,
    status: DeploymentStatus,
    approval: Option<&ApprovalRule>,
    rolls_back: Option<&DeploymentId>,
) -> Narration {
    let version = state
        .deployments
        .get(deployment)
        .map(|d| d.version.clone())
        .unwrap_or_default();
    let what = match kind {
        DeploymentKind::Rollback => format!("rollback to {version}"),
        k => k.as_str().to_string(),
    };
    let undoing = rolls_back
        .as_ref()
        .map(|d| format!(" (undoing {d})"))
        .unwrap_or_default();
    let (tone, state_words) = match (status, approval) {
        (DeploymentStatus::AwaitingApproval, Some(rule)) => (
            Level::Warn,
            format!(
                "awaits approval ({} by {})",
                rule.required,
                rule.roles.join(" or ")
            ),
        ),
        (s, _) => (Level::Info, s.as_str().replace('_', " ")),
    };
    Narration::new(tone, format!("{what} {state_words}{undoing}")).run(state, deployment)
}

/// A deployment finished: its status, and why.
fn finished(state: &State, deployment: &str, status: DeploymentStatus, message: &str) -> Narration {
    let tone = match status {
        DeploymentStatus::Succeeded => Level::Good,
        DeploymentStatus::Failed | DeploymentStatus::Rejected => Level::Bad,
        _ => Level::Warn,
    };
    let word = status.as_str();
    // "superseded: superseded by d-6" says it twice; keep one. A
    // success or a failure always reads "<status>: <why>".
    let what = if message.is_empty() {
        word.to_string()
    } else if message.starts_with(word)
        && !matches!(
            status,
            DeploymentStatus::Succeeded | DeploymentStatus::Failed
        )
    {
        message.to_string()
    } else {
        format!("{word}: {message}")
    };
    Narration::new(tone, what).run(state, deployment)
}

/// One line of the console's feed, for events worth a person's attention.
pub fn describe(state: &State, e: &Event) -> Option<FeedItem> {
    let n = narrate(state, e);
    n.in_feed.then(|| FeedItem {
        seq: e.seq,
        at: e.at,
        level: n.tone,
        text: n.feed_text(),
        run: n.id.clone(),
    })
}

fn build_word(status: BuildStatus) -> &'static str {
    match status {
        BuildStatus::Running => "running",
        BuildStatus::Succeeded => "succeeded",
        BuildStatus::Failed => "failed",
        BuildStatus::Cancelled => "cancelled",
    }
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
            run: Some(d.id.to_string()),
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
            run: Some(b.id.to_string()),
        });
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.at));
    items.truncate(limit);
    items
}

/// `HH:MM:SS  #seq  service/stage  what happened`, from the state after the
/// event was applied (so a deployment's version and service are known).
pub fn event_line(state: &State, event: &Event) -> String {
    format!(
        "{}  #{:<4} {}",
        clock(event.at),
        event.seq,
        narrate(state, event).log_text()
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

fn step_name(state: &State, run: &str, step: usize) -> String {
    state
        .steps(run)
        .and_then(|s| s.get(step))
        .map(|s| s.name.clone())
        .unwrap_or_else(|| format!("step {step}"))
}

/// `passed 128/128`, then why when it did not pass: `failed 120/128: exit 1`.
fn outcome_text(o: &StepOutcome) -> String {
    let tests = o
        .tests
        .filter(|t| t.total() > 0)
        .map(|t| format!(" {}/{}", t.passed, t.total()))
        .unwrap_or_default();
    let why = if o.status.is_failure() && !o.message.is_empty() {
        format!(": {}", o.message)
    } else {
        String::new()
    };
    format!("{}{tests}{why}", o.status.as_str())
}
