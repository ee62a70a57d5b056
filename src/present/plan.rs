//! `ferry plan SERVICE STAGE [ARTIFACT]`: what would happen if this release
//! were promoted into this stage now, without changing anything. One pure
//! function of the state, the users and the time, shared by the API (which
//! adds the commits from git), the CLI and the console's promote dialog.
//!
//! It mirrors the engine's `promote` command: the same refusals (quarantine,
//! an earlier stage not passed, the same release already pending here), the
//! same waits (a running deployment, the approval gate), the same effects
//! (pending promotions superseded, an explicit promote ending a hold). The
//! unit tests check the verdict against the engine itself.

use serde::{Deserialize, Serialize};

use crate::api::CommitInfoDto;
use crate::config::{Gate, UserConfig};
use crate::engine::blocked::eligible_approvers;
use crate::engine::{BlockedReason, StageState, State};
use crate::insights::stats::percentile;
use crate::model::{
    ApprovalRule, Artifact, ArtifactId, Deployment, DeploymentId, DeploymentKind, DeploymentStatus,
    Hold, Incident, Millis,
};

use super::targets;

#[cfg(test)]
mod tests;

mod text;

pub use text::{plan_lines, plan_short};

/// Past deployments the expected time is computed from (the newest ones).
pub const ETA_WINDOW: usize = 100;

/// The answer of `GET /api/v1/plan` and `ferry plan --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    pub service: String,
    pub stage: String,
    /// The release planned: the one asked about, or the console's `p` candidate.
    pub artifact: PlanRelease,
    /// True when no artifact was named and the candidate was picked.
    pub picked: bool,
    /// What the stage runs now, if anything.
    pub current: Option<PlanRelease>,
    /// `promote`, or `redeploy` when the stage already runs it healthy.
    pub kind: DeploymentKind,
    /// `starts` (it would start now), `waits` (it would be created and
    /// wait: approval, a running deployment, a freeze) or `refused` (the
    /// promote would be refused now: 409).
    pub verdict: PlanVerdict,
    /// One sentence for people.
    pub summary: String,
    /// Every rule the promotion must pass, in the order it meets them.
    pub gates: Vec<PlanGate>,
    /// The approval rule of the stage's gate, when it has one.
    pub approval: Option<ApprovalRule>,
    /// Who could approve it, by name: the gate's roles, four-eyes applied
    /// (not the one asking, not the release's author). Empty without users.
    pub approvers: Vec<String>,
    /// What refuses or delays it, or what this promote would end.
    pub blockers: Vec<PlanBlocker>,
    /// Freeze windows in the way (the engine's freeze rules fill it once
    /// they exist; empty until then).
    pub freezes: Vec<PlanFreeze>,
    /// The release's quarantine, when it is in force.
    pub quarantine: Option<PlanQuarantine>,
    /// The stage's hold, when it is held (an explicit promote ends it).
    pub held: Option<Hold>,
    /// Deployments that run or go before it (the running one, pending rollbacks).
    pub ahead: Vec<PlanDeployment>,
    /// Pending promotions this one would supersede.
    pub supersedes: Vec<PlanDeployment>,
    /// Commits it brings since the stage's current release, newest first
    /// (filled by the server from the service's git mirror).
    pub commits: Vec<CommitInfoDto>,
    /// Why `commits` is empty or incomplete (no mirror, no commit ids, ...).
    pub commits_note: Option<String>,
    /// The expected time to live, from this stage's past deployments.
    pub eta: Eta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanRelease {
    pub id: ArtifactId,
    pub version: String,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanVerdict {
    Starts,
    Waits,
    Refused,
}

impl PlanVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanVerdict::Starts => "starts",
            PlanVerdict::Waits => "waits",
            PlanVerdict::Refused => "refused",
        }
    }
}

/// One rule and whether it already holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanGate {
    /// `previous_stage`, `not_quarantined`, `not_pending_here`, `not_frozen`,
    /// `approval`, `stage_free`, `not_held`.
    pub name: String,
    pub holds: bool,
    pub detail: String,
}

/// What a blocker does to this promote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockerEffect {
    /// The promote is refused now (409).
    Refuses,
    /// The deployment is created and waits.
    Delays,
    /// It stands in the way of automatic promotions; this explicit one ends it.
    EndedByThis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanBlocker {
    /// The same codes as `ferry why`: quarantined, previous_stage_not_green,
    /// queued_behind, awaiting_approval, frozen, held.
    pub reason: BlockedReason,
    pub effect: BlockerEffect,
    pub message: String,
    /// Who can unblock it, by name, where known.
    pub who: Vec<String>,
    /// Until when, where a time is known (epoch ms).
    pub until: Option<Millis>,
}

/// A freeze window covering the stage (filled once freezes exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanFreeze {
    pub name: String,
    pub reason: String,
    /// When it ends (epoch ms).
    pub until: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanQuarantine {
    /// One line naming the incident.
    pub message: String,
    /// The rollback that quarantined it, when it was automatic.
    pub incident: Option<Incident>,
    /// Who quarantined it, when and why.
    pub by: String,
    pub at: Millis,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanDeployment {
    pub id: DeploymentId,
    pub version: String,
    pub kind: DeploymentKind,
    pub status: DeploymentStatus,
}

/// The expected time to live from the stage's history: of its newest
/// `ETA_WINDOW` succeeded promotions and redeploys, the run (start to
/// finish) and, for those that needed approval, the approval wait
/// (creation to the approval that completed it). Nearest-rank percentiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Eta {
    /// Deployments the run figures come from.
    pub runs: usize,
    pub run_median_ms: Option<Millis>,
    pub run_p90_ms: Option<Millis>,
    /// Deployments the approval figures come from.
    pub approvals: usize,
    pub approval_wait_median_ms: Option<Millis>,
    pub approval_wait_p90_ms: Option<Millis>,
    /// Median approval wait (when the gate asks for approval) plus median
    /// run: the expected time from now to live, if nothing runs ahead.
    pub expected_ms: Option<Millis>,
}

/// Why there is no plan: the service, stage or artifact is unknown, or
/// (with no artifact named) there is nothing to promote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    NotFound(String),
    NothingToPromote(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::NotFound(m) | PlanError::NothingToPromote(m) => f.write_str(m),
        }
    }
}

/// What a plan is asked about, and by whom.
pub struct PlanQuery<'a> {
    pub service: &'a str,
    pub stage: &'a str,
    /// Id (a-12) or version (1.4.2); `None`: the console's `p` candidate.
    pub artifact: Option<&'a str>,
    /// The person who would promote (four-eyes excludes them as approver).
    pub asker: &'a str,
    pub now: Millis,
}

/// The plan of promoting `q.artifact` into `q.service`/`q.stage` now.
/// `users` are the configured users (empty in the console, which does not
/// know them: `approvers` is then empty and the gate's roles say who).
pub fn plan(state: &State, users: &[UserConfig], q: &PlanQuery) -> Result<Plan, PlanError> {
    let svc = state
        .service(q.service)
        .ok_or_else(|| PlanError::NotFound(format!("no service named `{}`", q.service)))?;
    let index = svc
        .stages
        .iter()
        .position(|s| s.name == q.stage)
        .ok_or_else(|| {
            let names: Vec<&str> = svc.stages.iter().map(|s| s.name.as_str()).collect();
            PlanError::NotFound(format!(
                "service `{}` has no stage `{}` (its stages: {})",
                q.service,
                q.stage,
                names.join(", ")
            ))
        })?;
    let st = &svc.stages[index];
    let prev = index.checked_sub(1).map(|i| &svc.stages[i]);
    let (artifact, picked) = match q.artifact {
        Some(r) => {
            let a = state.find_artifact(q.service, r).ok_or_else(|| {
                PlanError::NotFound(format!("`{}` has no artifact `{r}`", q.service))
            })?;
            (a, false)
        }
        None => {
            let id = candidate(state, q.service, q.stage).map_err(PlanError::NothingToPromote)?;
            let a = state
                .artifacts
                .get(&id)
                .ok_or_else(|| PlanError::NotFound(format!("no artifact `{id}`")))?;
            (a, true)
        }
    };
    let mut b = Builder::default();
    let deployers = crate::engine::blocked::users_holding(users, &[crate::model::roles::DEPLOYER]);

    // 1. Refusals, in the order the engine's `promote` checks them.
    let quarantine = state
        .quarantine
        .get(&artifact.id)
        .filter(|q| q.active)
        .map(|q| {
            let current = q.current();
            PlanQuarantine {
                message: q.describe(),
                incident: current.and_then(|c| c.incident.clone()),
                by: current.map(|c| c.by.name().to_string()).unwrap_or_default(),
                at: current.map_or(0, |c| c.at),
                reason: current.map(|c| c.reason.clone()).unwrap_or_default(),
            }
        });
    match &quarantine {
        Some(qu) => {
            let msg = format!(
                "{} {} is {}",
                artifact.service, artifact.version, qu.message
            );
            b.gate("not_quarantined", false, msg.clone());
            b.block(
                BlockedReason::Quarantined,
                BlockerEffect::Refuses,
                msg,
                deployers.clone(),
            );
        }
        None => b.gate("not_quarantined", true, "not quarantined".into()),
    }
    if let Some(p) = prev {
        match passed_in(state, p, &artifact.id, q.now) {
            Some(detail) => b.gate("previous_stage", true, detail),
            None => {
                let msg = format!(
                    "{} {} has not succeeded in {}, so it can't enter {}",
                    artifact.service, artifact.version, p.name, st.name
                );
                b.gate("previous_stage", false, msg.clone());
                b.block(
                    BlockedReason::PreviousStageNotGreen,
                    BlockerEffect::Refuses,
                    msg,
                    Vec::new(),
                );
            }
        }
    }
    let busy = st
        .active
        .iter()
        .chain(st.queue.iter())
        .filter_map(|id| state.deployments.get(id))
        .find(|d| d.artifact == artifact.id && d.kind != DeploymentKind::Rollback);
    // Promoting what waits queued in a held stage is the explicit promote
    // the hold waits for (the engine starts it rather than refusing).
    let restarts_held =
        busy.is_some_and(|d| st.held.is_some() && d.status == DeploymentStatus::Queued);
    match busy {
        Some(d) if !restarts_held => {
            let msg = format!(
                "{} {} is already {} in {} ({})",
                artifact.service,
                artifact.version,
                targets::status_words(d),
                st.name,
                d.id
            );
            b.gate("not_pending_here", false, msg.clone());
            let reason = if d.status == DeploymentStatus::AwaitingApproval {
                BlockedReason::AwaitingApproval
            } else {
                BlockedReason::QueuedBehind
            };
            b.block(reason, BlockerEffect::Refuses, msg, Vec::new());
        }
        _ => b.gate(
            "not_pending_here",
            true,
            format!("not already pending in {}", st.name),
        ),
    }

    // 2. Freezes: the engine's freeze windows fill this once they exist
    // (config `[[freezes]]` and ad-hoc `ferry freeze`, issue 15 section 2).
    let freezes: Vec<PlanFreeze> = Vec::new();
    b.gate(
        "not_frozen",
        freezes.is_empty(),
        "no freeze covers it".into(),
    );

    // 3. Waits: the approval gate, then the stage being free.
    let author = artifact.created_by.name();
    let (approval, approvers) = match &st.gate {
        Gate::Auto => {
            b.gate(
                "approval",
                true,
                format!("auto: it starts as soon as {} is free", st.name),
            );
            (None, Vec::new())
        }
        Gate::Approval(rule) => {
            let who = eligible_approvers(users, rule, q.asker, Some(author), &[]);
            let roles = roles_words(rule);
            let msg = format!(
                "needs {} approval{} by {roles}{}",
                rule.required,
                if rule.required == 1 { "" } else { "s" },
                if rule.allow_self {
                    String::new()
                } else {
                    four_eyes_words(q.asker, author)
                }
            );
            b.gate("approval", false, msg.clone());
            if !restarts_held {
                b.block(
                    BlockedReason::AwaitingApproval,
                    BlockerEffect::Delays,
                    msg,
                    who.clone(),
                );
            }
            (Some(rule.clone()), who)
        }
    };
    let deployment = |d: &Deployment| PlanDeployment {
        id: d.id.clone(),
        version: d.version.clone(),
        kind: d.kind,
        status: d.status,
    };
    let mut ahead: Vec<PlanDeployment> = st
        .active
        .iter()
        .filter_map(|id| state.deployments.get(id))
        .map(deployment)
        .collect();
    ahead.extend(
        st.queue
            .iter()
            .filter_map(|id| state.deployments.get(id))
            .filter(|d| d.kind == DeploymentKind::Rollback)
            .map(deployment),
    );
    let supersedes: Vec<PlanDeployment> = if busy.is_some() {
        Vec::new()
    } else {
        st.queue
            .iter()
            .filter_map(|id| state.deployments.get(id))
            .filter(|d| d.kind != DeploymentKind::Rollback)
            .map(deployment)
            .collect()
    };
    if ahead.is_empty() {
        b.gate("stage_free", true, format!("nothing runs in {}", st.name));
    } else {
        let names: Vec<String> = ahead
            .iter()
            .map(|d| format!("{} ({} {})", d.id, d.kind.as_str(), d.version))
            .collect();
        let msg = format!("it queues behind {}", names.join(", "));
        b.gate("stage_free", false, msg.clone());
        b.block(
            BlockedReason::QueuedBehind,
            BlockerEffect::Delays,
            msg,
            deployers.clone(),
        );
    }
    match &st.held {
        Some(h) => {
            let msg = format!(
                "{} is held since {} rolled it back ({}); promoting explicitly ends the hold",
                st.name,
                h.by.name(),
                h.reason
            );
            b.gate("not_held", false, msg.clone());
            b.block(
                BlockedReason::Held,
                BlockerEffect::EndedByThis,
                msg,
                deployers,
            );
        }
        None => b.gate("not_held", true, format!("{} is not held", st.name)),
    }

    let verdict = if b
        .blockers
        .iter()
        .any(|x| x.effect == BlockerEffect::Refuses)
    {
        PlanVerdict::Refused
    } else if b.blockers.iter().any(|x| x.effect == BlockerEffect::Delays) || !freezes.is_empty() {
        PlanVerdict::Waits
    } else {
        PlanVerdict::Starts
    };
    let kind = if st.is_healthy_on(state, Some(&artifact.id)) {
        DeploymentKind::Redeploy
    } else {
        DeploymentKind::Promote
    };
    let release = |a: &Artifact| PlanRelease {
        id: a.id.clone(),
        version: a.version.clone(),
        commit: a.commit.clone(),
    };
    let eta = eta(state, st, approval.is_some() && !restarts_held);
    let Builder { gates, blockers } = b;
    let mut plan = Plan {
        service: q.service.to_string(),
        stage: q.stage.to_string(),
        artifact: release(artifact),
        picked,
        current: st
            .current
            .as_ref()
            .and_then(|c| state.artifacts.get(c))
            .map(release),
        kind,
        verdict,
        summary: String::new(),
        gates,
        approval,
        approvers,
        blockers,
        freezes,
        quarantine,
        held: st.held.clone(),
        ahead,
        supersedes,
        commits: Vec::new(),
        commits_note: None,
        eta,
    };
    plan.summary = text::summary(&plan);
    Ok(plan)
}

/// The gates and blockers, as they are found.
#[derive(Default)]
struct Builder {
    gates: Vec<PlanGate>,
    blockers: Vec<PlanBlocker>,
}

impl Builder {
    fn gate(&mut self, name: &str, holds: bool, detail: String) {
        self.gates.push(PlanGate {
            name: name.to_string(),
            holds,
            detail,
        });
    }
    fn block(
        &mut self,
        reason: BlockedReason,
        effect: BlockerEffect,
        message: String,
        who: Vec<String>,
    ) {
        self.blockers.push(PlanBlocker {
            reason,
            effect,
            message,
            who,
            until: None,
        });
    }
}

/// " (four-eyes: not dev nor alice)", or one name when they are one person.
fn four_eyes_words(asker: &str, author: &str) -> String {
    if asker.is_empty() || crate::model::same_person(asker, author) {
        format!(" (four-eyes: not {author})")
    } else {
        format!(" (four-eyes: not {asker} nor {author})")
    }
}

/// "release-manager", "approver or qa".
fn roles_words(rule: &ApprovalRule) -> String {
    if rule.roles.is_empty() {
        crate::model::roles::APPROVER.to_string()
    } else {
        rule.roles.join(" or ")
    }
}

/// "passed test (d-7, 3 minutes ago)" when `artifact` succeeded in `prev`.
fn passed_in(
    state: &State,
    prev: &StageState,
    artifact: &ArtifactId,
    now: Millis,
) -> Option<String> {
    if !prev.passed.contains(artifact) {
        return None;
    }
    let by = prev
        .history
        .iter()
        .rev()
        .filter_map(|id| state.deployments.get(id))
        .find(|d| &d.artifact == artifact && d.status == DeploymentStatus::Succeeded);
    Some(match by {
        Some(d) => match d.finished_at {
            Some(at) => format!(
                "passed {} ({}, {} ago)",
                prev.name,
                d.id,
                super::cells::age_words(now, at)
            ),
            None => format!("passed {} ({})", prev.name, d.id),
        },
        None => format!("passed {}", prev.name),
    })
}

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
fn eta(state: &State, st: &StageState, gated: bool) -> Eta {
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
