//! Release safety: a release rolled back away from is quarantined for its
//! service (it never comes back by accident), and a stage rolled back by
//! hand is held (automation does not undo the operator). The commands that
//! mark a release bad, lift a quarantine and lift a hold live here too.

use super::*;
use crate::model::{Incident, roles};

impl Cx<'_> {
    /// The release `artifact` was rolled back away from in `stage` by the
    /// rollback about to be created: quarantine it (unless it already is).
    pub(super) fn quarantine_rolled_back(
        &mut self,
        service: &str,
        stage: &str,
        artifact: &ArtifactId,
        undone: Option<DeploymentId>,
        by: &Actor,
        why: &str,
    ) {
        if self.state.is_quarantined(artifact) || !self.state.artifacts.contains_key(artifact) {
            return;
        }
        let incident = Incident {
            stage: stage.to_string(),
            deployment: undone.clone(),
            rollback: self.next_deployment_id(),
            at: self.now,
            why: why.to_string(),
        };
        self.emit(
            by,
            format!("rolled back in {stage}: {why}"),
            EventKind::ArtifactQuarantined {
                service: service.to_string(),
                artifact: artifact.clone(),
                incident: Some(incident),
            },
        );
        self.notify_quarantined(
            artifact,
            Some(stage.to_string()),
            undone,
            format!("quarantined after it was rolled back in {stage}: {why}"),
        );
        self.withdraw_quarantined(service, artifact);
    }

    /// Tell whoever subscribes to `quarantined` (the deployment is the one
    /// rolled back away from, when there is one).
    fn notify_quarantined(
        &mut self,
        artifact: &ArtifactId,
        stage: Option<String>,
        deployment: Option<DeploymentId>,
        why: String,
    ) {
        let Some(a) = self.state.artifacts.get(artifact) else {
            return;
        };
        let n = Notification {
            id: String::new(),
            kind: NotificationKind::Quarantined,
            service: a.service.clone(),
            stage,
            version: Some(a.version.clone()),
            commit: a.commit.clone(),
            deployment,
            build: None,
            message: format!("{} {} {why}", a.service, a.version),
            at: self.now,
            failed_tests: None,
        };
        self.effect(Effect::Notify(n));
    }

    /// End every pending (not yet running) deployment of a quarantined
    /// release, in every stage of its service, saying why.
    fn withdraw_quarantined(&mut self, service: &str, artifact: &ArtifactId) {
        let why = self
            .state
            .quarantine
            .get(artifact)
            .map(|q| q.describe())
            .unwrap_or_default();
        let pending: Vec<(DeploymentId, String)> = self
            .state
            .service(service)
            .into_iter()
            .flat_map(|s| s.stages.iter())
            .flat_map(|st| st.queue.iter())
            .filter_map(|id| self.state.deployments.get(id))
            .filter(|d| &d.artifact == artifact && d.kind != DeploymentKind::Rollback)
            .map(|d| (d.id.clone(), d.version.clone()))
            .collect();
        for (id, version) in pending {
            let message = format!("withdrawn: {version} is {why}");
            self.emit(
                &Actor::ferry(),
                message.clone(),
                EventKind::DeploymentFinished {
                    deployment: id,
                    status: DeploymentStatus::Superseded,
                    message,
                },
            );
        }
    }

    /// A manual rollback holds its stage.
    pub(super) fn hold_stage(&mut self, service: &str, index: usize, by: &Actor, reason: String) {
        let stage = self.state.services_stage(service, index).name.clone();
        let rollback = self.out.deployment.clone();
        self.emit(
            by,
            reason,
            EventKind::StageHeld {
                service: service.to_string(),
                stage,
                rollback,
            },
        );
    }

    /// An explicit promotion (or a completed approval) ends the hold.
    pub(super) fn release_hold(&mut self, service: &str, index: usize, by: &Actor, why: String) {
        let st = self.state.services_stage(service, index);
        if st.held.is_none() {
            return;
        }
        let stage = st.name.clone();
        self.emit(
            by,
            why,
            EventKind::HoldLifted {
                service: service.to_string(),
                stage,
            },
        );
    }

    /// A 409 naming the incident when `artifact` is quarantined.
    pub(super) fn refuse_quarantined(&self, artifact: &Artifact) -> Result<(), Rejection> {
        match self.state.quarantine.get(&artifact.id).filter(|q| q.active) {
            Some(q) => Err(reject(
                RejectionKind::Conflict,
                format!(
                    "{} {} is {}",
                    artifact.service,
                    artifact.version,
                    q.describe()
                ),
            )
            .hint(format!(
                "if it is safe again: `ferry quarantine lift {} --reason …`",
                artifact.id
            ))),
            None => Ok(()),
        }
    }

    /// `ferry quarantine add` / `lift`.
    pub(super) fn set_quarantine(
        &mut self,
        by: &Principal,
        artifact: String,
        reason: String,
        add: bool,
    ) -> Result<(), Rejection> {
        if add {
            may_guard(by, "quarantine")?;
        } else {
            may_lift(&self.config.safety, by)?;
        }
        let reason = required_reason(&reason)?;
        let a = self
            .state
            .artifacts
            .get(artifact.as_str())
            .cloned()
            .ok_or_else(|| {
                reject(RejectionKind::NotFound, format!("no artifact `{artifact}`"))
                    .hint("name it by id (a-12): `ferry artifacts` lists them")
            })?;
        let active = self.state.is_quarantined(&a.id);
        self.out.artifact = Some(a.id.clone());
        if add {
            if active {
                return Err(reject(
                    RejectionKind::Conflict,
                    format!("{} {} is already quarantined", a.service, a.version),
                ));
            }
            self.emit(
                &by.actor(),
                reason.clone(),
                EventKind::ArtifactQuarantined {
                    service: a.service.clone(),
                    artifact: a.id.clone(),
                    incident: None,
                },
            );
            self.notify_quarantined(
                &a.id,
                None,
                None,
                format!("quarantined by {}: {reason}", by.name),
            );
            self.withdraw_quarantined(&a.service, &a.id);
        } else {
            if !active {
                return Err(reject(
                    RejectionKind::Conflict,
                    format!("{} {} is not quarantined", a.service, a.version),
                ));
            }
            self.four_eyes_lift(by, &a)?;
            self.emit(
                &by.actor(),
                reason,
                EventKind::QuarantineLifted {
                    service: a.service.clone(),
                    artifact: a.id.clone(),
                },
            );
        }
        Ok(())
    }

    /// `ferry hold lift SERVICE STAGE --reason …`.
    pub(super) fn lift_hold(
        &mut self,
        by: &Principal,
        service: String,
        stage: String,
        reason: String,
    ) -> Result<(), Rejection> {
        may_guard(by, "lift a hold")?;
        let reason = required_reason(&reason)?;
        let index = self.stage_index(&service, &stage)?;
        if self.state.services_stage(&service, index).held.is_none() {
            return Err(reject(
                RejectionKind::Conflict,
                format!("{service} {stage} is not held"),
            ));
        }
        self.release_hold(&service, index, &by.actor(), reason);
        self.try_start(&service, index);
        Ok(())
    }
}

impl Cx<'_> {
    /// With `quarantine_lift_allow_self = false`, whoever put the quarantine
    /// in force by hand (`quarantine add`, or the manual rollback that
    /// caused it) may not lift it. Names are compared as people (case,
    /// spaces) and through the users' git author aliases, so no spelling
    /// of one's own name gets round it.
    fn four_eyes_lift(&self, by: &Principal, a: &Artifact) -> Result<(), Rejection> {
        if self.config.safety.quarantine_lift_allow_self {
            return Ok(());
        }
        let Some(added) = self.state.quarantine.get(&a.id).and_then(|q| q.current()) else {
            return Ok(());
        };
        let who = added.by.name();
        if who == Actor::FERRY {
            return Ok(());
        }
        let config = self.config;
        let as_user = |name: &str| config.user_for_author(name);
        if crate::model::same_person(&as_user(&by.name), &as_user(who)) {
            return Err(reject(
                RejectionKind::Forbidden,
                format!(
                    "{} may not lift the quarantine of {} {}: they put it in force (four-eyes)",
                    by.name, a.service, a.version
                ),
            )
            .hint(format!(
                "another person with role {} must lift it",
                lift_roles(&config.safety)
            )));
        }
        Ok(())
    }
}

/// "deployer", "release-manager or sre".
fn lift_roles(safety: &crate::config::SafetyConfig) -> String {
    safety.quarantine_lift_roles.join(" or ")
}

/// Lifting a quarantine takes a role `[safety] quarantine_lift_roles`
/// names (deployer by default), or admin.
fn may_lift(safety: &crate::config::SafetyConfig, by: &Principal) -> Result<(), Rejection> {
    if by.is_admin() || safety.quarantine_lift_roles.iter().any(|r| by.has_role(r)) {
        return Ok(());
    }
    Err(reject(
        RejectionKind::Forbidden,
        format!(
            "{} may not lift a quarantine: it needs the role {}",
            by.name,
            lift_roles(safety)
        ),
    )
    .hint("`[safety] quarantine_lift_roles` in the config names who may"))
}

/// Quarantine and holds take the deployer role (or admin).
fn may_guard(by: &Principal, what: &str) -> Result<(), Rejection> {
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
