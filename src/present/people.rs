//! Who did what to a deployment, and whether its failure was flaky: the
//! lines the console's detail and history (and `ferry history`) show, so a
//! prod release approved by someone else never reads as the requester's.

use crate::engine::{Principal, State};
use crate::model::{Decision, Deployment, DeploymentId, Millis, StepKind, StepStatus};

use super::cells;

/// Whether `user` may approve `d`: a role its rule names (any, when it names
/// none), and not one who already approved it. The server has the last word
/// (self-approval, digests); this only decides what the console points at.
pub fn may_approve(user: &Principal, d: &Deployment) -> bool {
    if d.approvers().iter().any(|a| a.0 == user.name) {
        return false;
    }
    match &d.approval {
        Some(rule) if !rule.roles.is_empty() => rule.roles.iter().any(|r| user.roles.contains(r)),
        _ => true,
    }
}

/// How many deployments await `user`'s approval.
pub fn awaiting(state: &State, user: &Principal) -> usize {
    // Only queues hold pending deployments: no scan of the whole history.
    state
        .services
        .iter()
        .flat_map(|s| &s.stages)
        .flat_map(|st| &st.queue)
        .filter_map(|id| state.deployments.get(id))
        .filter(|d| d.status == crate::model::DeploymentStatus::AwaitingApproval)
        .filter(|d| may_approve(user, d))
        .count()
}

/// "approved by alice 3 min ago: ship it", one per decision, oldest first.
pub fn decisions(d: &Deployment, now: Millis) -> Vec<String> {
    d.approvals
        .iter()
        .map(|a| {
            let verb = match a.decision {
                Decision::Approve => "approved",
                Decision::Reject => "rejected",
            };
            let comment = a
                .comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            format!(
                "{verb} by {} {} ago{comment}",
                a.by,
                cells::age_words(now, a.at)
            )
        })
        .collect()
}

/// The rollback that undid `d` (the newest), if any.
pub fn undone_by<'a>(state: &'a State, d: &Deployment) -> Option<&'a Deployment> {
    let st = state.stage(&d.service, &d.stage)?;
    st.history
        .iter()
        .rev()
        .filter_map(|id| state.deployments.get(id))
        .find(|r| r.rolls_back.as_ref() == Some(&d.id))
}

/// "rolled back by bob 2 min ago (d-21)", when a rollback undid `d`.
pub fn rolled_back_by(state: &State, d: &Deployment, now: Millis) -> Option<String> {
    let r = undone_by(state, d)?;
    Some(format!(
        "rolled back by {} {} ago ({})",
        r.requested_by,
        cells::age_words(now, r.created_at),
        r.id
    ))
}

/// Who acted on a deployment, in one short phrase for a history row:
/// "dev · approved alice" or "dev · rejected alice".
pub fn actors(d: &Deployment) -> String {
    match decided(d).as_str() {
        "" => d.requested_by.to_string(),
        decided => format!("{} · {decided}", d.requested_by),
    }
}

/// The last decision on a deployment: "approved alice", "rejected bob", or "".
pub fn decided(d: &Deployment) -> String {
    d.approvals
        .last()
        .map(|a| match a.decision {
            Decision::Approve => format!("approved {}", a.by),
            Decision::Reject => format!("rejected {}", a.by),
        })
        .unwrap_or_default()
}

/// A failed verification of `d` that later passed on the same artifact
/// digest in the same stage (the definition insights uses for a flaky
/// step): the step's name and the deployment where it passed.
pub fn flaky(state: &State, d: &Deployment) -> Option<(String, DeploymentId)> {
    let step = d
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Verify && s.status.is_failure())?;
    let st = state.stage(&d.service, &d.stage)?;
    let after = st.history.iter().position(|id| *id == d.id)?;
    st.history[after + 1..]
        .iter()
        .filter_map(|id| state.deployments.get(id))
        .filter(|later| later.digest == d.digest)
        .find(|later| {
            later
                .steps
                .iter()
                .any(|s| s.name == step.name && s.status == StepStatus::Passed)
        })
        .map(|later| (step.name.clone(), later.id.clone()))
}

/// "flaky: integration later passed on the same artifact (d-23)".
pub fn flaky_line(state: &State, d: &Deployment) -> Option<String> {
    flaky(state, d).map(|(step, later)| {
        format!("flaky: this step ({step}) later passed on the same artifact ({later})")
    })
}
