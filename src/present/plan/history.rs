//! What the plan reads from the stage's past: the candidate the console's
//! `p` offers, and the expected time to live.

use crate::engine::{StageState, State};
use crate::insights::stats::percentile;
use crate::model::{ArtifactId, Deployment, DeploymentKind, DeploymentStatus, Millis};

use super::super::targets;
use super::{ETA_WINDOW, Eta};

/// The release the console's `p` offers, never a quarantined one: the
/// newest that passed the stage before (for the first stage, the newest
/// artifact) and is not quarantined, unless it already runs healthy here or
/// is already deploying or pending here. `Err` says why there is none.
pub fn candidate(state: &State, service: &str, stage: &str) -> Result<ArtifactId, String> {
    let first = targets::promote_candidate(state, service, stage)?;
    if !state.is_quarantined(&first) {
        return Ok(first);
    }
    let svc = state
        .service(service)
        .ok_or_else(|| format!("no service {service}"))?;
    let index = svc
        .stages
        .iter()
        .position(|s| s.name == stage)
        .ok_or_else(|| format!("{service} has no stage {stage}"))?;
    let st = &svc.stages[index];
    let version = |id: &ArtifactId| {
        state
            .artifacts
            .get(id)
            .map_or(id.to_string(), |a| a.version.clone())
    };
    let skipped = format!("{} is quarantined", version(&first));
    let older = svc
        .artifacts
        .iter()
        .rev()
        .filter(|a| index == 0 || svc.stages[index - 1].passed.contains(*a))
        .find(|a| !state.is_quarantined(a))
        .ok_or_else(|| format!("{skipped}, and nothing older passed"))?;
    if st.active.is_none() && st.is_healthy_on(state, Some(older)) {
        return Err(format!(
            "{skipped}; {stage} already runs {}, the newest not quarantined",
            version(older)
        ));
    }
    let busy = st
        .active
        .iter()
        .chain(st.queue.iter())
        .filter_map(|id| state.deployments.get(id))
        .find(|d| &d.artifact == older && d.kind != DeploymentKind::Rollback);
    if let Some(d) = busy {
        return Err(format!(
            "{skipped}; {} is already {} in {stage} ({})",
            version(older),
            targets::status_words(d),
            d.id
        ));
    }
    Ok(older.clone())
}

/// The stage's history as durations (see [`Eta`]).
pub(super) fn eta(state: &State, st: &StageState, gated: bool) -> Eta {
    let mut runs = Vec::new();
    let mut waits = Vec::new();
    let recent = st
        .history
        .iter()
        .rev()
        .filter_map(|id| state.deployments.get(id))
        .filter(|d| d.kind != DeploymentKind::Rollback && d.status == DeploymentStatus::Succeeded)
        .take(ETA_WINDOW);
    for d in recent {
        if let (Some(s), Some(f)) = (d.started_at, d.finished_at)
            && f >= s
        {
            runs.push(f - s);
        }
        if let Some(at) = approved_at(d)
            && at >= d.created_at
        {
            waits.push(at - d.created_at);
        }
    }
    runs.sort_unstable();
    waits.sort_unstable();
    let run_median = percentile(&runs, 50);
    let wait_median = percentile(&waits, 50);
    let expected = match (gated, run_median, wait_median) {
        (_, None, _) => None,
        (false, Some(r), _) => Some(r),
        (true, Some(r), Some(w)) => Some(r + w),
        // Gated now, but no past approval to learn the wait from.
        (true, Some(_), None) => None,
    };
    Eta {
        runs: runs.len(),
        run_median_ms: run_median,
        run_p90_ms: percentile(&runs, 90),
        approvals: waits.len(),
        approval_wait_median_ms: wait_median,
        approval_wait_p90_ms: percentile(&waits, 90),
        expected_ms: expected,
    }
}

/// When a deployment's gate was satisfied: the approval that brought its
/// distinct approvers to the number required.
fn approved_at(d: &Deployment) -> Option<Millis> {
    let rule = d.approval.as_ref()?;
    let mut approvals: Vec<_> = d
        .approvals
        .iter()
        .filter(|a| a.decision == crate::model::Decision::Approve && a.digest == d.digest)
        .collect();
    approvals.sort_by_key(|a| a.at);
    let mut seen: Vec<&str> = Vec::new();
    for a in approvals {
        if !seen.contains(&a.by.name()) {
            seen.push(a.by.name());
        }
        if seen.len() as u32 >= rule.required.max(1) {
            return Some(a.at);
        }
    }
    None
}
