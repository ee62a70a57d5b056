//! "Why is this blocked": for a stage with something waiting, one
//! structured answer (a reason code, one sentence, who can unblock it and
//! until when), computed by one pure function from the state and the
//! configuration. Freeze windows, plans and sign-offs add codes here.

use serde::{Deserialize, Serialize};

use crate::config::{Config, UserConfig};
use crate::model::{
    Approval, ApprovalRule, Deployment, DeploymentKind, DeploymentStatus, Millis, roles,
    same_person,
};

use super::state::{StageState, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockedReason {
    AwaitingApproval,
    QueuedBehind,
    PreviousStageNotGreen,
    Quarantined,
    Held,
    RollbackFailed,
    /// A running deployment waits at a sign-off step for people (user acceptance).
    AwaitingSignOff,
    /// A freeze window covers the stage: it starts when the window closes,
    /// or with a break-glass override.
    Frozen,
}

impl BlockedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockedReason::AwaitingApproval => "awaiting_approval",
            BlockedReason::QueuedBehind => "queued_behind",
            BlockedReason::PreviousStageNotGreen => "previous_stage_not_green",
            BlockedReason::Quarantined => "quarantined",
            BlockedReason::Held => "held",
            BlockedReason::RollbackFailed => "rollback_failed",
            BlockedReason::AwaitingSignOff => "awaiting_sign_off",
            BlockedReason::Frozen => "frozen",
        }
    }
}

/// Why a stage waits, and who can move it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Blocked {
    pub service: String,
    pub stage: String,
    pub reason: BlockedReason,
    /// One human sentence.
    pub message: String,
    /// The deployment that waits, if one does.
    pub deployment: Option<String>,
    /// Users who can unblock it, by name (roles the gate names, minus those
    /// four-eyes excludes and those who already approved).
    pub who: Vec<String>,
    /// Until when, where a time is known (epoch ms).
    pub until: Option<Millis>,
}

/// Every waiting stage of every service, in configuration order.
pub fn blocked_all(config: &Config, state: &State) -> Vec<Blocked> {
    state
        .services
        .iter()
        .flat_map(|svc| (0..svc.stages.len()).map(move |index| (svc, index)))
        .filter_map(|(svc, index)| blocked_at(config, state, svc, index))
        .collect()
}

/// Why `service`/`stage` waits, or `None` when nothing waits there.
pub fn blocked(config: &Config, state: &State, service: &str, stage: &str) -> Option<Blocked> {
    let svc = state.service(service)?;
    let index = svc.stages.iter().position(|s| s.name == stage)?;
    blocked_at(config, state, svc, index)
}

/// `blocked` for the stage at `index` of `svc` (no lookup by name: the
/// dashboard asks for every stage).
fn blocked_at(
    config: &Config,
    state: &State,
    svc: &crate::engine::ServiceState,
    index: usize,
) -> Option<Blocked> {
    let st = svc.stages.get(index)?;
    let (service, stage) = (svc.name.as_str(), st.name.as_str());
    let make = |reason, message: String, deployment: Option<&Deployment>, who| Blocked {
        service: service.to_string(),
        stage: stage.to_string(),
        reason,
        message,
        deployment: deployment.map(|d| d.id.to_string()),
        who,
        until: None,
    };
    let deployers = || users_with(config, &[roles::DEPLOYER]);
    if let Some(d) = st.active.as_ref().and_then(|a| state.deployments.get(a))
        && let Some(msg) = awaiting_sign_off(d)
    {
        let who = super::decide::signoff::signers(config, state, d);
        return Some(make(BlockedReason::AwaitingSignOff, msg, Some(d), who));
    }
    if let Some(d) = st.queue.iter().find_map(|id| state.deployments.get(id)) {
        let q = state.quarantine.get(&d.artifact).filter(|q| q.active);
        if let (Some(q), true) = (q, d.kind != DeploymentKind::Rollback) {
            let msg = format!("{} {} waits: {}", d.id, d.version, q.describe());
            return Some(make(BlockedReason::Quarantined, msg, Some(d), deployers()));
        }
        if d.status == DeploymentStatus::AwaitingApproval {
            let have = d.approvals.len();
            let msg = format!(
                "{} {} waits for approval to {stage} ({have} of {})",
                d.id,
                d.version,
                d.approvals_needed()
            );
            let who = approvers(config, state, d);
            return Some(make(BlockedReason::AwaitingApproval, msg, Some(d), who));
        }
        if let (Some(w), None) = (state.freeze.frozen.get(&d.id), &st.active) {
            let msg = format!(
                "{} {} waits: {stage} is frozen until {} ({}: {}); it starts by itself then, \
                 or with `ferry promote … --override-freeze --reason …`",
                d.id,
                d.version,
                crate::model::format_millis(w.until),
                w.freeze,
                w.reason
            );
            let wanted: Vec<&str> = w.override_roles.iter().map(String::as_str).collect();
            let mut b = make(
                BlockedReason::Frozen,
                msg,
                Some(d),
                users_with(config, &wanted),
            );
            b.until = Some(w.until);
            return Some(b);
        }
        if let Some(active) = st.active.as_ref().and_then(|a| state.deployments.get(a)) {
            let msg = format!(
                "{} {} is queued behind {} ({} {}), which is running",
                d.id,
                d.version,
                active.id,
                active.kind.as_str(),
                active.version
            );
            return Some(make(BlockedReason::QueuedBehind, msg, Some(d), deployers()));
        }
        if let (Some(h), true) = (&st.held, d.kind != DeploymentKind::Rollback) {
            let msg = format!(
                "{stage} is held since {} rolled it back ({}); {} {} waits for an explicit promote or `ferry hold lift`",
                h.by.name(),
                h.reason,
                d.id,
                d.version
            );
            return Some(make(BlockedReason::Held, msg, Some(d), deployers()));
        }
    }
    if st.active.is_none()
        && let Some(last) = st.last_finished(state)
        && last.kind == DeploymentKind::Rollback
        && last.status == DeploymentStatus::Failed
    {
        let msg = format!(
            "rollback {} to {} failed; {stage} needs an operator",
            last.id, last.version
        );
        return Some(make(
            BlockedReason::RollbackFailed,
            msg,
            Some(last),
            deployers(),
        ));
    }
    if st.queue.is_empty()
        && st.active.is_none()
        && let Some(h) = &st.held
    {
        let msg = format!(
            "{stage} is held since {} rolled it back ({}): automatic promotions wait",
            h.by.name(),
            h.reason
        );
        return Some(make(BlockedReason::Held, msg, None, deployers()));
    }
    if index > 0 && st.queue.is_empty() && st.active.is_none() {
        let prev = &svc.stages[index - 1];
        if let Some(msg) = previous_not_green(state, prev, st) {
            return Some(make(
                BlockedReason::PreviousStageNotGreen,
                msg,
                None,
                deployers(),
            ));
        }
    }
    None
}

/// "d-7 1.2.0 is waiting for UAT sign-off by qa (0 of 1)", when the
/// running deployment waits at a sign-off step.
fn awaiting_sign_off(d: &Deployment) -> Option<String> {
    let step = d.steps.get(d.running_step()?)?;
    let rule = step.sign_off.as_ref()?;
    let passed = d
        .sign_offs
        .iter()
        .filter(|s| s.step == step.name && s.verdict == crate::model::Verdict::Pass)
        .count();
    Some(format!(
        "{} {} is waiting for {} sign-off by {} ({passed} of {})",
        d.id,
        d.version,
        crate::model::sign_off_label(&step.name),
        rule.roles_text(),
        rule.required
    ))
}

/// A release heading for `st` stopped in the stage before it: that stage's
/// last deployment failed on a release this stage does not run.
fn previous_not_green(state: &State, prev: &StageState, st: &StageState) -> Option<String> {
    let last = prev.last_finished(state)?;
    let stopped = last.kind != DeploymentKind::Rollback
        && matches!(
            last.status,
            DeploymentStatus::Failed | DeploymentStatus::Cancelled
        )
        && st.current.as_ref() != Some(&last.artifact);
    stopped.then(|| {
        format!(
            "{} {} did not pass {} ({} {})",
            last.id,
            last.version,
            prev.name,
            last.status.as_str(),
            last.outcome.as_deref().unwrap_or("")
        )
    })
}

/// Users holding any of `wanted` (admins always can).
fn users_with(config: &Config, wanted: &[&str]) -> Vec<String> {
    users_holding(&config.users, wanted)
}

/// Users holding any of `wanted` (admins always can).
pub fn users_holding(users: &[UserConfig], wanted: &[&str]) -> Vec<String> {
    users
        .iter()
        .filter(|u| {
            u.roles
                .iter()
                .any(|r| r == roles::ADMIN || wanted.contains(&r.as_str()))
        })
        .map(|u| u.name.clone())
        .collect()
}

/// Who may approve `d`: a role its gate names (approver when it names none),
/// minus those four-eyes excludes and those who already approved.
fn approvers(config: &Config, state: &State, d: &Deployment) -> Vec<String> {
    let Some(rule) = &d.approval else {
        return Vec::new();
    };
    let author = state
        .artifacts
        .get(&d.artifact)
        .map(|a| a.created_by.name().to_string());
    eligible_approvers(
        &config.users,
        rule,
        d.requested_by.name(),
        author.as_deref(),
        &d.approvals,
    )
}

/// The one answer to "who can approve under `rule`": users holding a role
/// it names (approver when it names none; admins always), minus, unless it
/// allows self-approval, whoever requests the deployment and the artifact's
/// author, minus those who already decided. Also what `ferry plan` says.
pub fn eligible_approvers(
    users: &[UserConfig],
    rule: &ApprovalRule,
    requester: &str,
    author: Option<&str>,
    already: &[Approval],
) -> Vec<String> {
    let wanted: Vec<&str> = if rule.roles.is_empty() {
        vec![roles::APPROVER]
    } else {
        rule.roles.iter().map(String::as_str).collect()
    };
    users_holding(users, &wanted)
        .into_iter()
        .filter(|name| {
            rule.allow_self
                || !(same_person(name, requester) || author.is_some_and(|a| same_person(name, a)))
        })
        .filter(|name| !already.iter().any(|a| same_person(name, a.by.name())))
        .collect()
}
