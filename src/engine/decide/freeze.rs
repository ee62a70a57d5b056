//! Freeze windows, the engine's first time-based rule. During a freeze,
//! promotions into a covered stage are created but do not start: they wait
//! (`DeploymentFrozen`, "frozen until T") and start by themselves on the
//! first `Input::Tick` after the window closes. Rollbacks always run, a
//! freeze that opens while a deployment runs does not touch it, and a
//! break-glass override (a role the freeze names, and a reason) lets one
//! promotion through, recorded and notified.
//!
//! Time comes in as the input's `now`; `Engine::next_deadline` tells the
//! driver when the next waiting deployment may start.

use super::*;
use crate::config::FreezeConfig;
use crate::model::{FrozenWait, format_millis, roles};

/// One freeze window open over a stage at some instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    pub name: String,
    pub reason: String,
    pub until: Millis,
    /// Roles that may override it (admins always can).
    pub override_roles: Vec<String>,
}

/// Every freeze (configured or ad-hoc) open over `service`/`stage` at `now`.
pub fn freezes_at(
    config: &Config,
    state: &State,
    service: &str,
    stage: &str,
    now: Millis,
) -> Vec<InForce> {
    let configured = config
        .freezes
        .iter()
        .filter(|f| f.covers(service, stage))
        .filter_map(|f: &FreezeConfig| {
            let (_, until) = f.window.window_at(now)?;
            Some(InForce {
                name: f.name.clone(),
                reason: f.reason.clone(),
                until,
                override_roles: f.override_roles.clone(),
            })
        });
    let adhoc = state
        .freeze
        .adhoc
        .iter()
        .filter(|f| f.covers(service, stage) && f.until > now)
        .map(|f| InForce {
            name: f.name(),
            reason: f.reason.clone(),
            until: f.until,
            override_roles: vec![roles::DEPLOYER.to_string()],
        });
    configured.chain(adhoc).collect()
}

/// What a promotion into `service`/`stage` would wait for at `now`: the
/// freezes open now and those that follow on without a gap, until the
/// last of them closes. `None` when nothing is frozen.
pub fn frozen_wait(
    config: &Config,
    state: &State,
    service: &str,
    stage: &str,
    now: Millis,
) -> Option<FrozenWait> {
    let open = freezes_at(config, state, service, stage, now);
    let first = open.first()?.clone();
    let mut roles: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut until = now;
    let mut batch = open;
    // Windows that chain (one opens as another closes) are one wait; the
    // bound keeps a misconfigured back-to-back schedule from looping.
    for _ in 0..32 {
        if batch.is_empty() {
            break;
        }
        for f in &batch {
            until = until.max(f.until);
            if !names.contains(&f.name) {
                names.push(f.name.clone());
            }
            for r in &f.override_roles {
                if !roles.contains(r) {
                    roles.push(r.clone());
                }
            }
        }
        batch = freezes_at(config, state, service, stage, until);
    }
    Some(FrozenWait {
        freeze: names.join(", "),
        reason: first.reason,
        until,
        override_roles: roles,
    })
}

impl Cx<'_> {
    /// The queued promotions of a stage that may not start now because a
    /// freeze covers it; each one's wait is recorded when it is new or changed.
    pub(super) fn frozen_in(&mut self, service: &str, index: usize) -> Vec<DeploymentId> {
        let st = self.state.services_stage(service, index);
        let stage = st.name.clone();
        let candidates: Vec<DeploymentId> = st
            .queue
            .iter()
            .filter(|id| {
                self.state.deployments.get(*id).is_some_and(|d| {
                    d.status == DeploymentStatus::Queued
                        && d.kind != DeploymentKind::Rollback
                        && !self.state.freeze.overrides.contains_key(*id)
                })
            })
            .cloned()
            .collect();
        if candidates.is_empty() {
            return candidates;
        }
        let Some(wait) = frozen_wait(self.config, self.state, service, &stage, self.now) else {
            return Vec::new();
        };
        for id in &candidates {
            if self.state.freeze.frozen.get(id) == Some(&wait) {
                continue;
            }
            self.emit(
                &Actor::ferry(),
                format!(
                    "{stage} is frozen until {} ({}: {})",
                    format_millis(wait.until),
                    wait.freeze,
                    wait.reason
                ),
                EventKind::DeploymentFrozen {
                    deployment: id.clone(),
                    wait: wait.clone(),
                },
            );
        }
        candidates
    }

    /// `Input::Tick`: start what waited for a window that has closed by now.
    pub(super) fn tick(&mut self) {
        let due: Vec<(String, String)> = self
            .state
            .freeze
            .frozen
            .iter()
            .filter(|(_, w)| w.until <= self.now)
            .filter_map(|(id, _)| self.state.deployments.get(id))
            .map(|d| (d.service.clone(), d.stage.clone()))
            .collect();
        let mut seen = Vec::new();
        for (service, stage) in due {
            if seen.contains(&(service.clone(), stage.clone())) {
                continue;
            }
            if let Ok(index) = self.stage_index(&service, &stage) {
                self.try_start(&service, index);
            }
            seen.push((service, stage));
        }
    }

    /// `ferry freeze STAGE [--service S] --until T --reason …`.
    pub(super) fn freeze(
        &mut self,
        by: &Principal,
        stage: String,
        service: Option<String>,
        until: Millis,
        reason: String,
    ) -> Result<(), Rejection> {
        may_freeze(by, "freeze a stage")?;
        let reason = required_reason(&reason)?;
        self.stages_named(&stage, service.as_deref())?;
        if until <= self.now {
            return Err(reject(
                RejectionKind::Invalid,
                format!("`until` ({}) is not in the future", format_millis(until)),
            )
            .hint("give a later time, e.g. --until 2h or --until 2026-12-24T18:00:00Z"));
        }
        self.emit(
            &by.actor(),
            reason,
            EventKind::StageFrozen {
                stage,
                service,
                until,
            },
        );
        Ok(())
    }

    /// `ferry unfreeze STAGE [--service S]`: ends the ad-hoc freeze; what
    /// waited for it starts unless another freeze still covers it.
    pub(super) fn unfreeze(
        &mut self,
        by: &Principal,
        stage: String,
        service: Option<String>,
        reason: Option<String>,
    ) -> Result<(), Rejection> {
        may_freeze(by, "unfreeze a stage")?;
        let stages = self.stages_named(&stage, service.as_deref())?;
        let now = self.now;
        let exists = self
            .state
            .freeze
            .adhoc
            .iter()
            .any(|f| f.stage == stage && f.service == service && f.until > now);
        if !exists {
            let configured = stages
                .iter()
                .find_map(|(svc, _)| config_freeze_at(self.config, svc, &stage, now));
            let mut r = reject(
                RejectionKind::Conflict,
                format!(
                    "{} is not frozen by hand",
                    match &service {
                        Some(s) => format!("{s} {stage}"),
                        None => stage.clone(),
                    }
                ),
            );
            if let Some((name, until)) = configured {
                r = r.hint(format!(
                    "the configured freeze `{name}` covers it until {}; it ends by itself, \
                     or promote with --override-freeze --reason …",
                    format_millis(until)
                ));
            }
            return Err(r);
        }
        let reason = reason
            .map(|r| crate::model::sanitize_text(r.trim()))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| format!("unfrozen by {}", by.name));
        self.emit(
            &by.actor(),
            reason,
            EventKind::StageUnfrozen { stage, service },
        );
        for (svc, index) in stages {
            self.try_start(&svc, index);
        }
        Ok(())
    }

    /// Every (service, stage index) a freeze of `stage` (in `service`, or
    /// in every service) covers; 404 when none has it.
    fn stages_named(
        &self,
        stage: &str,
        service: Option<&str>,
    ) -> Result<Vec<(String, usize)>, Rejection> {
        if let Some(service) = service {
            let index = self.stage_index(service, stage)?;
            return Ok(vec![(service.to_string(), index)]);
        }
        let found: Vec<(String, usize)> = self
            .config
            .services
            .iter()
            .filter_map(|s| s.stage(stage).map(|(i, _)| (s.name.clone(), i)))
            .collect();
        if found.is_empty() {
            let mut names: Vec<&str> = self
                .config
                .services
                .iter()
                .flat_map(|s| s.stages.iter().map(|st| st.name.as_str()))
                .collect();
            names.sort_unstable();
            names.dedup();
            return Err(reject(
                RejectionKind::NotFound,
                format!("no service has a stage `{stage}`"),
            )
            .hint(format!("the stages are: {}", names.join(", "))));
        }
        Ok(found)
    }

    /// `ferry promote … --override-freeze --reason …`: break-glass. The
    /// reason is required (422) and the person must hold, for every freeze
    /// open over the stage, a role it names (403); then the promotion (a
    /// new one, or the one already waiting) may start inside the window.
    pub(super) fn promote_override(
        &mut self,
        by: &Principal,
        service: String,
        stage: String,
        artifact: String,
        reason: String,
    ) -> Result<(), Rejection> {
        let reason = required_reason(&reason).map_err(|r| {
            reject(
                RejectionKind::Invalid,
                "overriding a freeze needs a reason (`reason`)",
            )
            .hint(r.hint.unwrap_or_default())
        })?;
        let index = self.stage_index(&service, &stage)?;
        let open = freezes_at(self.config, self.state, &service, &stage, self.now);
        for f in &open {
            let allowed = by.is_admin() || f.override_roles.iter().any(|r| by.has_role(r));
            if !allowed {
                let needs = if f.override_roles.is_empty() {
                    "the admin role".to_string()
                } else {
                    format!(
                        "one of the roles: {} (or admin)",
                        f.override_roles.join(", ")
                    )
                };
                return Err(reject(
                    RejectionKind::Forbidden,
                    format!(
                        "{} may not override the freeze `{}` of {service} {stage}: it needs {needs}",
                        by.name, f.name
                    ),
                ));
            }
        }
        if open.is_empty() {
            // Nothing to break: an ordinary promotion.
            return self.promote(by, service, stage, artifact);
        }
        let names: Vec<String> = open.iter().map(|f| f.name.clone()).collect();
        let a = self.artifact(&service, &artifact)?;
        let waiting = {
            let st = self.state.services_stage(&service, index);
            st.queue
                .iter()
                .filter_map(|id| self.state.deployments.get(id))
                .find(|d| d.artifact == a.id && d.kind != DeploymentKind::Rollback)
                .map(|d| d.id.clone())
        };
        match waiting {
            Some(id) => {
                self.refuse_quarantined(&a)?;
                self.out.deployment = Some(id.clone());
                self.record_override(&by.actor(), &id, &names, reason);
                self.try_start(&service, index);
            }
            None => {
                self.pending_override = Some((names, reason));
                let done = self.promote(by, service, stage, artifact);
                self.pending_override = None;
                done?;
            }
        }
        Ok(())
    }

    /// A promotion just created under `--override-freeze`: record it
    /// before anything tries to start it.
    pub(super) fn take_pending_override(&mut self, by: &Actor, id: &DeploymentId) {
        if let Some((names, reason)) = self.pending_override.take() {
            self.record_override(by, id, &names, reason);
        }
    }

    fn record_override(&mut self, by: &Actor, id: &DeploymentId, names: &[String], reason: String) {
        self.emit(
            by,
            reason.clone(),
            EventKind::FreezeOverridden {
                deployment: id.clone(),
                freezes: names.to_vec(),
            },
        );
        let (service, stage, version) = self
            .state
            .deployments
            .get(id)
            .map(|d| (d.service.clone(), d.stage.clone(), d.version.clone()))
            .unwrap_or_default();
        self.notify(
            NotificationKind::FreezeOverridden,
            id,
            format!(
                "{} overrode the freeze {} to deploy {service} {version} to {stage} ({id}): {reason}",
                by.name(),
                names.join(", ")
            ),
        );
    }
}

/// The configured freeze open over a stage at `now`, by name and end.
fn config_freeze_at(
    config: &Config,
    service: &str,
    stage: &str,
    now: Millis,
) -> Option<(String, Millis)> {
    config
        .freezes
        .iter()
        .filter(|f| f.covers(service, stage))
        .find_map(|f| {
            f.window
                .window_at(now)
                .map(|(_, until)| (f.name.clone(), until))
        })
}

/// Freezing and unfreezing take the deployer role (or admin).
fn may_freeze(by: &Principal, what: &str) -> Result<(), Rejection> {
    if by.is_admin() || by.has_role(roles::DEPLOYER) {
        return Ok(());
    }
    Err(reject(
        RejectionKind::Forbidden,
        format!("{} may not {what}: it needs the deployer role", by.name),
    ))
}

/// A reason is required, and is one clean line.
fn required_reason(reason: &str) -> Result<String, Rejection> {
    let reason = crate::model::sanitize_text(reason.trim());
    if reason.is_empty() {
        return Err(
            reject(RejectionKind::Invalid, "a reason is required (`reason`)")
                .hint("say why with --reason \"…\""),
        );
    }
    Ok(reason)
}
