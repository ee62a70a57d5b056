//! `ferry wait`: follow the event stream until a deployment ends, for CI
//! pipelines. Exit 0 when it succeeded, 1 when it failed (or was rejected,
//! cancelled, superseded, or the artifact failed an earlier stage), 2 when the
//! time ran out; always with one line saying why.
//!
//! The stream only says *that* something changed; the answer is always read
//! back from the API, so a missed or reordered event cannot give a wrong
//! verdict. The snapshot's `seq` is taken before the first look, so nothing
//! that happens between the look and the stream is lost.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::api::DeploymentQuery;
use crate::backend::{Client, WatchMessage};
use crate::errors::Error;
use crate::model::{Deployment, DeploymentStatus, EventKind};

use super::views::DeploymentView;

/// Exit code when the deployment did not succeed.
pub const FAILED: u8 = 1;
/// Exit code when the time ran out first.
pub const TIMED_OUT: u8 = 2;

/// What to wait for.
#[derive(Debug, Clone)]
pub enum Target {
    Deployment(String),
    /// The artifact's newest deployment to this stage.
    Artifact {
        artifact: String,
        stage: String,
    },
}

/// How the wait ended, before it is printed.
#[derive(Debug)]
enum Verdict {
    Done(Box<Deployment>),
    /// The artifact can no longer reach the stage: (reason, the deployment that ended it).
    Blocked(String, Option<Box<Deployment>>),
}

pub(super) async fn run(
    client: &Client,
    target: Target,
    timeout: Duration,
    json: bool,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let verdict = match tokio::time::timeout_at(deadline, follow(client, &target)).await {
        Ok(v) => v?,
        Err(_) => {
            let what = match &target {
                Target::Deployment(id) => describe_pending(client, id).await,
                Target::Artifact { artifact, stage } => {
                    match artifact_progress(client, artifact, stage).await {
                        Ok(Progress::Deployment(id)) => describe_pending(client, &id).await,
                        _ => format!("{artifact} has not reached {stage}"),
                    }
                }
            };
            let secs = humantime::format_duration(Duration::from_secs(timeout.as_secs()));
            return Err(Error::new(format!("timed out after {secs}: {what}"))
                .with_hint("raise --timeout, or look at it with `ferry show`")
                .with_code(TIMED_OUT));
        }
    };
    match verdict {
        Verdict::Done(d) => {
            if json {
                super::output::print_json(&DeploymentView::new(&d))?;
            }
            let line = line_for(&d);
            if d.status == DeploymentStatus::Succeeded {
                if !json {
                    super::output::say(&line);
                }
                Ok(())
            } else {
                Err(Error::new(line)
                    .with_hint(format!("its logs: `ferry logs {}`", d.id))
                    .with_code(FAILED))
            }
        }
        Verdict::Blocked(reason, d) => {
            if json && let Some(d) = &d {
                super::output::print_json(&DeploymentView::new(d))?;
            }
            Err(Error::new(reason).with_code(FAILED))
        }
    }
}

/// "d-17 succeeded: app 1.4.2 in prod" or "d-17 failed: app 1.4.2 in prod: health check failed".
fn line_for(d: &Deployment) -> String {
    let mut line = format!(
        "{} {}: {} {} in {}",
        d.id,
        d.status.as_str(),
        d.service,
        crate::model::sanitize_text(&d.version),
        d.stage
    );
    if d.status != DeploymentStatus::Succeeded
        && let Some(why) = d.outcome.as_deref().filter(|o| !o.is_empty())
    {
        line.push_str(": ");
        line.push_str(&crate::model::sanitize_text(why));
    }
    line
}

async fn describe_pending(client: &Client, id: &str) -> String {
    match client.deployment(id).await {
        Ok(d) => {
            let step = d
                .running_step()
                .and_then(|i| d.steps.get(i).map(|s| format!(", step {i} {}", s.name)))
                .unwrap_or_default();
            format!("{id} is still {}{step}", d.status.as_str())
        }
        Err(_) => format!("{id} has not finished"),
    }
}

async fn follow(client: &Client, target: &Target) -> Result<Verdict, Error> {
    let seq = client.dashboard().await?.seq;
    let mut watching = target.clone();
    if let Some(v) = look(client, &mut watching).await? {
        return Ok(v);
    }
    let mut events = Box::pin(client.watch(seq));
    while let Some(msg) = events.next().await {
        let relevant = match &msg {
            WatchMessage::Event(e) => matters(&watching, &e.kind),
            // After a reconnect, events may have been missed: look again.
            WatchMessage::Connected => true,
            WatchMessage::Reconnecting { .. } => false,
        };
        if relevant && let Some(v) = look(client, &mut watching).await? {
            return Ok(v);
        }
    }
    Err(Error::new(
        "the event stream ended before the deployment did",
    ))
}

fn matters(target: &Target, kind: &EventKind) -> bool {
    match (target, kind) {
        (Target::Deployment(id), EventKind::DeploymentFinished { deployment, .. }) => {
            *deployment == *id
        }
        (Target::Deployment(_), _) => false,
        (
            Target::Artifact { .. },
            EventKind::DeploymentCreated { .. } | EventKind::DeploymentFinished { .. },
        ) => true,
        (Target::Artifact { .. }, _) => false,
    }
}

/// Read the current answer; an artifact target turns into a deployment
/// target once its deployment exists.
async fn look(client: &Client, target: &mut Target) -> Result<Option<Verdict>, Error> {
    if let Target::Artifact { artifact, stage } = target.clone() {
        match artifact_progress(client, &artifact, &stage).await? {
            Progress::Deployment(id) => *target = Target::Deployment(id),
            Progress::Blocked(reason, d) => return Ok(Some(Verdict::Blocked(reason, d))),
            Progress::NotYet => return Ok(None),
        }
    }
    let Target::Deployment(id) = target else {
        return Ok(None);
    };
    let d = client.deployment(id).await?;
    Ok(d.status.is_finished().then(|| Verdict::Done(Box::new(d))))
}

enum Progress {
    Deployment(String),
    Blocked(String, Option<Box<Deployment>>),
    NotYet,
}

async fn artifact_progress(
    client: &Client,
    artifact: &str,
    stage: &str,
) -> Result<Progress, Error> {
    let a = client.artifact(artifact).await?;
    let services = client.services().await?;
    let Some(svc) = services.iter().find(|s| s.name == a.service) else {
        return Err(Error::new(format!(
            "no service {:?} on this server",
            a.service
        )));
    };
    let Some(pos) = svc.stages.iter().position(|s| s.name == stage) else {
        let names: Vec<&str> = svc.stages.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::usage(
            format!("{} has no stage {stage:?}", a.service),
            format!("its stages: {}", names.join(", ")),
        ));
    };
    let q = DeploymentQuery {
        service: Some(a.service.clone()),
        limit: Some(200),
        ..DeploymentQuery::default()
    };
    // Newest first: the first one per stage is the one that counts.
    let page = client.deployments(&q).await?;
    let mine: Vec<&Deployment> = page
        .items
        .iter()
        .filter(|d| d.artifact == artifact)
        .collect();
    if let Some(d) = mine.iter().find(|d| d.stage == stage) {
        return Ok(Progress::Deployment(d.id.to_string()));
    }
    // Not there yet: did it fail in the stage before, with nothing retrying it?
    if pos > 0 {
        let before = &svc.stages[pos - 1].name;
        if let Some(d) = mine.iter().find(|d| &d.stage == before)
            && d.status.is_finished()
            && d.status != DeploymentStatus::Succeeded
        {
            let reason = format!("{artifact} will not reach {stage}: {}", line_for(d));
            return Ok(Progress::Blocked(reason, Some(Box::new((*d).clone()))));
        }
    }
    Ok(Progress::NotYet)
}
