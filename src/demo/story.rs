//! The release bot (a scripted release manager, not the developer) and the
//! story checker of `--until-idle`: has every scripted outcome happened?

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::Client;
use crate::engine::State;
use crate::model::{
    Artifact, BuildStatus, Decision, Deployment, DeploymentId, DeploymentKind, DeploymentStatus,
    StepKind, StepStatus,
};

use super::developer::{Commit, Intent};
use super::observe::{Snapshot, StateRx};
use super::workspace::Workspace;

/// Which prod approvals the bot gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotPolicy {
    /// Headless: every promotion waiting at prod.
    All,
    /// In the console: every service's first release (so prod runs
    /// something the operator can roll back to), and every release of one
    /// service (billing, so its prod rollback happens without anyone); the
    /// operator decides the rest.
    FirstAndService(&'static str),
}

impl BotPolicy {
    fn approves(self, state: &State, d: &Deployment) -> bool {
        match self {
            BotPolicy::All => true,
            BotPolicy::FirstAndService(s) => {
                d.service == s
                    || state
                        .stage(&d.service, &d.stage)
                        .is_some_and(|st| st.last_good().is_none())
            }
        }
    }
}

/// Approve waiting prod promotions as `release-bot`, after a short look at the evidence.
pub async fn release_bot(client: Client, mut state: StateRx, policy: BotPolicy, review: Duration) {
    let mut handled: HashSet<DeploymentId> = HashSet::new();
    // Owned here, so stopping the bot also stops its pending approvals.
    let mut reviews = tokio::task::JoinSet::new();
    loop {
        let waiting: Vec<Deployment> = {
            let snap = state.borrow_and_update();
            snap.state
                .pending_approvals()
                .into_iter()
                .filter(|d| d.kind == DeploymentKind::Promote && d.stage == "prod")
                .filter(|d| policy.approves(&snap.state, d))
                .filter(|d| !handled.contains(&d.id))
                .cloned()
                .collect()
        };
        for d in waiting {
            handled.insert(d.id.clone());
            let client = client.clone();
            reviews.spawn(async move {
                tokio::time::sleep(review).await;
                // Read what the console shows a person before approving.
                let evidence = client.evidence(&d.id).await;
                let comment = match evidence {
                    Ok(_) => format!(
                        "{} {}: tests green in test and preprod, evidence reviewed",
                        d.service, d.version
                    ),
                    Err(_) => format!(
                        "{} {}: tests green in test and preprod",
                        d.service, d.version
                    ),
                };
                if let Err(e) = client
                    .approve(&d.id, Some(comment), Some(d.digest.clone()))
                    .await
                {
                    // A superseded or already decided deployment is not an error of the demo.
                    tracing::info!("release-bot could not approve {}: {e}", d.id);
                }
            });
        }
        // Reap finished reviews so the set does not grow with the story.
        while reviews.try_join_next().is_some() {}
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// One line of the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Nothing runs or waits, and every scripted commit's build is over.
pub fn is_idle(state: &State, commits: &[Commit]) -> bool {
    let builds_over = commits.iter().all(|c| {
        state
            .builds
            .values()
            .any(|b| b.commit == c.sha && b.status != BuildStatus::Running)
    });
    let stages_quiet = state
        .services
        .iter()
        .flat_map(|s| s.stages.iter())
        .all(|st| st.active.is_none() && st.queue.is_empty());
    builds_over && stages_quiet
}

/// Wait until the story is idle and the stream has been quiet for `quiet`.
/// Returns false when `deadline` passed first.
pub async fn wait_idle(
    state: &mut StateRx,
    commits: &[Commit],
    quiet: Duration,
    deadline: Instant,
) -> bool {
    loop {
        let (idle, since) = {
            let snap = state.borrow_and_update();
            (is_idle(&snap.state, commits), snap.last_event)
        };
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        if idle && now.duration_since(since) >= quiet {
            return true;
        }
        let wake = if idle { since + quiet } else { deadline }.min(deadline);
        let _ = tokio::time::timeout_at(wake.into(), state.changed()).await;
    }
}

fn artifact_of<'a>(state: &'a State, commit: &Commit) -> Option<&'a Artifact> {
    state
        .artifacts
        .values()
        .find(|a| a.service == commit.service && a.commit.as_deref() == Some(commit.sha.as_str()))
}

fn deployments_of<'a>(
    state: &'a State,
    artifact: &'a str,
    stage: &'a str,
) -> impl Iterator<Item = &'a Deployment> + 'a {
    state
        .deployments
        .values()
        .filter(move |d| d.artifact == artifact && d.stage == stage)
}

/// Hold the final state (and the prod target on disk) against the script.
pub fn evaluate(snap: &Snapshot, commits: &[Commit], ws: &Workspace) -> Vec<Check> {
    let state = &snap.state;
    vec![
        check_approved_prod(state),
        check_halted_at_test(state, commits),
        check_prod_rollback(state, commits, ws),
        check_signed_off(state, super::workspace::UAT_SERVICE),
    ]
}

fn check_approved_prod(state: &State) -> Check {
    let name = "an artifact reached prod after an approval";
    let found = state.deployments.values().find(|d| {
        d.stage == "prod"
            && d.kind == DeploymentKind::Promote
            && d.status == DeploymentStatus::Succeeded
            && d.approvals.iter().any(|a| a.decision == Decision::Approve)
    });
    match found {
        Some(d) => Check {
            name,
            ok: true,
            detail: format!(
                "{} {} ({}), approved by {}",
                d.service,
                d.version,
                d.id,
                d.approvers()
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        None => Check {
            name,
            ok: false,
            detail: "no approved promotion to prod succeeded".into(),
        },
    }
}

fn check_halted_at_test(state: &State, commits: &[Commit]) -> Check {
    let name = "the commit that breaks an integration test halted at test";
    let fail = |detail: String| Check {
        name,
        ok: false,
        detail,
    };
    let Some(commit) = commits
        .iter()
        .find(|c| c.intent == Intent::BreaksIntegration)
    else {
        return fail("the developer never made the breaking commit".into());
    };
    let Some(artifact) = artifact_of(state, commit) else {
        return fail(format!(
            "{} {} was never built into an artifact",
            commit.service, commit.version
        ));
    };
    let failed_at_test = deployments_of(state, &artifact.id, "test")
        .find(|d| d.status == DeploymentStatus::Failed && d.kind == DeploymentKind::Promote);
    let later: Vec<&Deployment> = state
        .deployments
        .values()
        .filter(|d| d.artifact == artifact.id && d.stage != "test")
        .collect();
    match (failed_at_test, later.first()) {
        (Some(d), None) => Check {
            name,
            ok: true,
            detail: format!(
                "{} {} failed at test ({}: {}) and never reached preprod",
                commit.service,
                commit.version,
                d.id,
                d.outcome.as_deref().unwrap_or("failed")
            ),
        },
        (_, Some(d)) => fail(format!(
            "{} {} went on to {} ({})",
            commit.service, commit.version, d.stage, d.id
        )),
        (None, None) => fail(format!(
            "{} {} did not fail at test",
            commit.service, commit.version
        )),
    }
}

fn check_prod_rollback(state: &State, commits: &[Commit], ws: &Workspace) -> Check {
    let name = "the prod health failure was rolled back to the previous release";
    let fail = |detail: String| Check {
        name,
        ok: false,
        detail,
    };
    let Some(commit) = commits.iter().find(|c| c.intent == Intent::UnhealthyInProd) else {
        return fail("the developer never made the unhealthy commit".into());
    };
    let Some(artifact) = artifact_of(state, commit) else {
        return fail(format!(
            "{} {} was never built into an artifact",
            commit.service, commit.version
        ));
    };
    let Some(bad) = deployments_of(state, &artifact.id, "prod").find(|d| {
        d.status == DeploymentStatus::Failed
            && d.steps
                .iter()
                .any(|s| s.kind == StepKind::Health && s.status.is_failure())
    }) else {
        return fail(format!(
            "{} {} never failed its health check in prod",
            commit.service, commit.version
        ));
    };
    let Some(rollback) = state.deployments.values().find(|d| {
        d.kind == DeploymentKind::Rollback
            && d.service == commit.service
            && d.stage == "prod"
            && d.created_at >= bad.created_at
            && d.status == DeploymentStatus::Succeeded
    }) else {
        return fail(format!("{} was not rolled back successfully", bad.id));
    };
    // The previous release: the newest approved promotion that succeeded in prod before it.
    let previous = state
        .deployments
        .values()
        .filter(|d| {
            d.service == commit.service
                && d.stage == "prod"
                && d.kind == DeploymentKind::Promote
                && d.status == DeploymentStatus::Succeeded
                && d.created_at <= bad.created_at
                && d.id != bad.id
        })
        .max_by_key(|d| (d.finished_at, d.created_at));
    if let Some(prev) = previous
        && prev.artifact != rollback.artifact
    {
        return fail(format!(
            "{} went back to {}, not to the previous release {}",
            rollback.id, rollback.version, prev.version
        ));
    }
    let stage = state.stage(&commit.service, "prod");
    if stage.and_then(|s| s.current.as_deref()) != Some(rollback.artifact.as_str()) {
        return fail(format!(
            "{}/prod no longer runs {} after the rollback",
            commit.service, rollback.version
        ));
    }
    match current_points_at(ws, &commit.service, "prod", &rollback.version) {
        Ok(()) => Check {
            name,
            ok: true,
            detail: format!(
                "{} {} failed health in prod ({}); {} put {} back, and targets/{}/prod/current points at releases/{}",
                commit.service,
                commit.version,
                bad.id,
                rollback.id,
                rollback.version,
                commit.service,
                rollback.version
            ),
        },
        Err(e) => fail(e),
    }
}

/// The story checker's line: a person signed `service`'s UAT off in preprod
/// and the deployment went on to succeed there.
fn check_signed_off(state: &State, service: &str) -> Check {
    let name = "a person signed off user acceptance in preprod";
    let found = state.deployments.values().find(|d| {
        d.service == service
            && d.stage == "preprod"
            && d.status == DeploymentStatus::Succeeded
            && d.steps
                .iter()
                .any(|s| s.kind == StepKind::SignOff && s.status == StepStatus::Passed)
    });
    match found.and_then(|d| d.sign_offs.first().map(|s| (d, s))) {
        Some((d, s)) => Check {
            name,
            ok: true,
            detail: format!(
                "{} {} ({}) waited at {}; {} signed it off",
                d.service,
                d.version,
                d.id,
                s.step,
                s.by.name()
            ),
        },
        None => Check {
            name,
            ok: false,
            detail: format!("no {service} deployment passed its UAT sign-off in preprod"),
        },
    }
}

/// The `current` symlink resolves to the release directory of `version`, and
/// the files there are that version's.
pub fn current_points_at(
    ws: &Workspace,
    service: &str,
    stage: &str,
    version: &str,
) -> Result<(), String> {
    let link = ws.current_link(service, stage);
    let expected = ws.release_dir(service, stage, version);
    let resolved = link
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", link.display()))?;
    let expected = expected
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", expected.display()))?;
    if resolved != expected {
        return Err(format!(
            "{} points at {}, not at {}",
            link.display(),
            resolved.display(),
            expected.display()
        ));
    }
    let shipped = std::fs::read_to_string(resolved.join("VERSION")).unwrap_or_default();
    if shipped.trim() != version {
        return Err(format!(
            "{} holds version {:?}, not {version}",
            resolved.display(),
            shipped.trim()
        ));
    }
    Ok(())
}

/// What still runs or waits, for the deadline message.
pub fn still_busy(state: &State) -> String {
    let mut busy: Vec<String> = state
        .services
        .iter()
        .flat_map(|s| s.stages.iter().map(move |st| (s, st)))
        .flat_map(|(s, st)| {
            st.active
                .iter()
                .chain(st.queue.iter())
                .filter_map(|id| state.deployments.get(id))
                .map(move |d| format!("{}/{} {} {}", s.name, st.name, d.id, d.status.as_str()))
        })
        .collect();
    busy.extend(
        state
            .builds
            .values()
            .filter(|b| b.status == BuildStatus::Running)
            .map(|b| format!("{}/build {} running", b.service, b.id)),
    );
    if busy.is_empty() {
        "nothing runs; some scripted commit was never built".into()
    } else {
        busy.join(", ")
    }
}

/// Lines of the notifications log, for the summary.
pub fn notification_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}
