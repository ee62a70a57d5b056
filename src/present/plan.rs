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

use crate::config::{Gate, UserConfig};
use crate::engine::blocked::eligible_approvers;
use crate::engine::{BlockedReason, StageState, State};
use crate::model::{
    ApprovalRule, Artifact, ArtifactId, Deployment, DeploymentKind, DeploymentStatus, Millis,
};

use super::targets;
use history::eta;

#[cfg(test)]
mod tests;

mod history;
mod text;
mod types;

pub use history::candidate;
pub use text::{plan_lines, plan_short};
pub use types::*;

/// What a plan is asked about, and by whom.
pub struct PlanQuery<'a> {
    pub service: &'a str,
    pub stage: &'a str,
    /// Id (a-12) or version (1.4.2); `None`: the console's `p` candidate.
    pub artifact: Option<&'a str>,
    /// The person who would promote (four-eyes excludes them as approver).
    pub asker: &'a str,
    pub now: Millis,
    /// The freezes open over the stage now (`engine::freezes_at`; the
    /// console, which has no configuration, passes what its state knows).
    pub freezes: Vec<PlanFreeze>,
}

/// The freezes in the way of a promotion into `service`/`stage` at `now`,
/// configured windows and ad-hoc freezes alike, as the plan names them.
pub fn freezes_in_way(
    config: &crate::config::Config,
    state: &State,
    service: &str,
    stage: &str,
    now: Millis,
) -> Vec<PlanFreeze> {
    crate::engine::freezes_at(config, state, service, stage, now)
        .into_iter()
        .map(|f| PlanFreeze {
            name: f.name,
            reason: f.reason,
            until: Some(f.until),
        })
        .collect()
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

    // 2. Freezes: a promotion is created but waits until the window closes
    // (a break-glass override by a role the freeze names lets it through).
    let freezes: Vec<PlanFreeze> = q.freezes.clone();
    match freezes.iter().filter_map(|f| f.until).max() {
        None => b.gate("not_frozen", true, "no freeze covers it".into()),
        Some(until) => {
            let names: Vec<&str> = freezes.iter().map(|f| f.name.as_str()).collect();
            let msg = format!(
                "{} is frozen until {} ({}: {}); it would wait, or start now with --override-freeze",
                st.name,
                crate::model::format_millis(until),
                names.join(", "),
                freezes.first().map_or("", |f| f.reason.as_str()),
            );
            b.gate("not_frozen", false, msg.clone());
            b.block(
                BlockedReason::Frozen,
                BlockerEffect::Delays,
                msg,
                Vec::new(),
            );
            if let Some(last) = b.blockers.last_mut() {
                last.until = Some(until);
            }
        }
    }

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
            match busy.filter(|_| restarts_held) {
                // What waits queued in the held stage has passed its gate.
                Some(d) => b.gate("approval", true, format!("{} already passed it", d.id)),
                None => {
                    b.gate("approval", false, msg.clone());
                    b.block(
                        BlockedReason::AwaitingApproval,
                        BlockerEffect::Delays,
                        msg,
                        who.clone(),
                    );
                }
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
