//! What cancel, promote and roll back would act on, worked out from the
//! state alone, so the console's keys, its footer and its dialogs agree.
//! (Roll back's target is the stage's own `StageState::rollback_target`.)

use crate::engine::{StageState, State};
use crate::model::{ArtifactId, Deployment, DeploymentKind, DeploymentStatus};

/// The deployment `c` cancels in a stage: the running one (unless it is
/// already being cancelled), else the next pending one. `Err` says why
/// there is none.
pub fn cancel_target<'a>(state: &'a State, st: &StageState) -> Result<&'a Deployment, String> {
    let active = st.active.as_ref().and_then(|id| state.deployments.get(id));
    if let Some(d) = active
        && !state.cancelling.contains_key(&d.id)
    {
        return Ok(d);
    }
    if let Some(d) = st.queue.first().and_then(|id| state.deployments.get(id)) {
        return Ok(d);
    }
    Err(match active {
        Some(d) => format!("{} is already being cancelled", d.id),
        None => format!("nothing runs or waits in {}", st.name),
    })
}

/// The artifact `p` promotes into a stage: the newest that succeeded in the
/// stage before (for the first stage, the service's newest artifact), when
/// it neither runs healthy here already nor is deploying or pending here.
/// `Err` says why there is none.
pub fn promote_candidate(state: &State, service: &str, stage: &str) -> Result<ArtifactId, String> {
    let svc = state
        .service(service)
        .ok_or_else(|| format!("no service {service}"))?;
    let index = svc
        .stages
        .iter()
        .position(|s| s.name == stage)
        .ok_or_else(|| format!("{service} has no stage {stage}"))?;
    let st = &svc.stages[index];
    let newest = match index.checked_sub(1).map(|i| &svc.stages[i]) {
        None => svc
            .artifacts
            .last()
            .ok_or(format!("{service} has no artifact yet"))?,
        Some(prev) => svc
            .artifacts
            .iter()
            .rev()
            .find(|a| prev.passed.contains(*a))
            .ok_or(format!("nothing of {service} has passed {} yet", prev.name))?,
    };
    may_offer(state, service, st, newest)?;
    Ok(newest.clone())
}

/// Whether `artifact` may be offered for promotion into `st`: not already
/// healthy there, and not already deploying or pending there. `Err` says why.
pub fn may_offer(
    state: &State,
    service: &str,
    st: &StageState,
    artifact: &ArtifactId,
) -> Result<(), String> {
    let version = state
        .artifacts
        .get(artifact)
        .map_or(artifact.as_str(), |a| a.version.as_str());
    let stage = &st.name;
    let healthy_here = st.current.as_ref() == Some(artifact)
        && st
            .last_finished(state)
            .is_some_and(|d| d.status == DeploymentStatus::Succeeded && d.artifact == *artifact);
    if healthy_here && st.active.is_none() {
        return Err(format!(
            "{stage} already runs {service} {version}, the newest"
        ));
    }
    let busy = st
        .active
        .iter()
        .chain(st.queue.iter())
        .filter_map(|id| state.deployments.get(id))
        .find(|d| d.artifact == *artifact && d.kind != DeploymentKind::Rollback);
    if let Some(d) = busy {
        return Err(format!(
            "{service} {version} is already {} in {stage} ({})",
            status_words(d),
            d.id
        ));
    }
    Ok(())
}

/// A deployment's status in words: "awaiting approval", "queued".
pub fn status_words(d: &Deployment) -> String {
    d.status.as_str().replace('_', " ")
}

/// What a deployment is doing, in words: "running step 2/3 health", "awaiting approval 0/1", "queued".
pub fn progress_words(d: &Deployment) -> String {
    match d.status {
        DeploymentStatus::Running => match d.running_step() {
            Some(i) => format!(
                "running step {}/{} {}",
                i + 1,
                d.steps.len(),
                d.steps[i].name
            ),
            None => "running".into(),
        },
        DeploymentStatus::AwaitingApproval => format!(
            "awaiting approval {}/{}",
            d.approvers().len(),
            d.approvals_needed()
        ),
        _ => status_words(d),
    }
}
