//! What follows from an accepted input on the way up: deployments created
//! (promotions and rollbacks), stages started, steps run one after another,
//! and the next stage entered when a deployment succeeds. What a failure
//! leads to is in `failure.rs`; the recovery after a restart in
//! `recovery.rs`. None of it can fail.

use super::*;
use crate::model::Deployment;

impl Cx<'_> {
    pub(super) fn enter_first_stage(
        &mut self,
        service: &str,
        artifact: &str,
        requested_by: &Actor,
    ) {
        let has_stages = self
            .config
            .service(service)
            .is_some_and(|s| !s.stages.is_empty());
        let Some(artifact) = self.state.artifacts.get(artifact).cloned() else {
            return;
        };
        if has_stages {
            let reason = format!("new artifact {}", artifact.version);
            self.create_promotion(
                service,
                0,
                &artifact,
                requested_by,
                DeploymentKind::Promote,
                reason,
            );
        }
    }

    pub(super) fn next_deployment_id(&self) -> DeploymentId {
        DeploymentId::from(format!("d-{}", self.state.next_deployment + 1))
    }

    /// A stage's configuration, cloned so that emitting can borrow self.
    fn stage_config(&self, service: &str, index: usize) -> Option<StageConfig> {
        self.config
            .service(service)
            .and_then(|s| s.stages.get(index))
            .cloned()
    }

    pub(super) fn create_promotion(
        &mut self,
        service: &str,
        index: usize,
        artifact: &Artifact,
        requested_by: &Actor,
        kind: DeploymentKind,
        reason: String,
    ) {
        let Some(stage_cfg) = self.stage_config(service, index) else {
            return;
        };
        // A quarantined release never enters a stage (an explicit promote
        // of one is refused before it gets here).
        if self.state.is_quarantined(&artifact.id) {
            return;
        }
        let id = self.next_deployment_id();
        // A newer promotion supersedes an older pending one: only the
        // newest candidate is worth deploying or approving.
        let message = format!("superseded by {id} ({})", artifact.version);
        self.supersede_pending(service, index, false, &message);
        let (status, approval) = match &stage_cfg.gate {
            Gate::Auto => (DeploymentStatus::Queued, None),
            Gate::Approval(rule) => (DeploymentStatus::AwaitingApproval, Some(rule.clone())),
        };
        self.emit(
            requested_by,
            reason,
            EventKind::DeploymentCreated {
                deployment: id.clone(),
                service: service.to_string(),
                stage: stage_cfg.name.clone(),
                artifact: artifact.id.clone(),
                kind,
                status,
                requested_by: requested_by.clone(),
                approval: approval.clone(),
                steps: plan_steps(&stage_cfg, kind),
                rolls_back: None,
                version: artifact.version.clone(),
                digest: artifact.digest.clone(),
            },
        );
        self.take_pending_override(requested_by, &id);
        self.out.deployment.get_or_insert(id.clone());
        if let Some(rule) = approval {
            let roles = if rule.roles.is_empty() {
                "an approver".to_string()
            } else {
                rule.roles.join(" or ")
            };
            self.notify(
                NotificationKind::ApprovalNeeded,
                &id,
                format!(
                    "{service} {} waits for approval to {} by {roles} ({id})",
                    artifact.version, stage_cfg.name
                ),
            );
        }
        self.try_start(service, index);
    }

    /// End the pending rollbacks (or the pending promotions) of a stage:
    /// a newer one of the same kind replaces them.
    fn supersede_pending(&mut self, service: &str, index: usize, rollbacks: bool, message: &str) {
        let pending: Vec<DeploymentId> = self
            .state
            .services_stage(service, index)
            .queue
            .iter()
            .filter(|q| {
                self.state
                    .deployments
                    .get(*q)
                    .is_some_and(|d| (d.kind == DeploymentKind::Rollback) == rollbacks)
            })
            .cloned()
            .collect();
        for old in pending {
            self.emit(
                &Actor::ferry(),
                message,
                EventKind::DeploymentFinished {
                    deployment: old,
                    status: DeploymentStatus::Superseded,
                    message: message.to_string(),
                },
            );
        }
    }

    pub(super) fn create_rollback(
        &mut self,
        service: &str,
        index: usize,
        target: &Artifact,
        requested_by: &Actor,
        rolls_back: Option<DeploymentId>,
        reason: String,
    ) {
        let Some(stage_cfg) = self.stage_config(service, index) else {
            return;
        };
        let id = self.next_deployment_id();
        let (active, queue) = {
            let st = self.state.services_stage(service, index);
            (st.active.clone(), st.queue.clone())
        };
        self.supersede_pending(
            service,
            index,
            true,
            &format!("superseded by rollback {id}"),
        );
        self.emit(
            requested_by,
            reason,
            EventKind::DeploymentCreated {
                deployment: id.clone(),
                service: service.to_string(),
                stage: stage_cfg.name.clone(),
                artifact: target.id.clone(),
                kind: DeploymentKind::Rollback,
                status: DeploymentStatus::Queued,
                requested_by: requested_by.clone(),
                approval: None,
                steps: plan_steps(&stage_cfg, DeploymentKind::Rollback),
                rolls_back,
                version: target.version.clone(),
                digest: target.digest.clone(),
            },
        );
        self.out.deployment.get_or_insert(id.clone());
        if let Gate::Approval(_) = stage_cfg.gate {
            self.ask_again(service, index, &queue, &stage_cfg.name);
        }
        // A rollback preempts: whatever runs now is stopped first.
        if let Some(active) = active
            && !self.state.cancelling.contains_key(&active)
        {
            self.request_cancel(requested_by, &active, format!("preempted by rollback {id}"));
        }
        self.try_start(service, index);
    }

    /// A newer candidate approved before a rollback most likely carries the
    /// change being rolled back: its approvals are void, and it waits for
    /// people to look again (as a fresh promotion superseding the old one).
    fn ask_again(&mut self, service: &str, index: usize, queue: &[DeploymentId], stage: &str) {
        let held: Vec<Deployment> = queue
            .iter()
            .filter_map(|q| self.state.deployments.get(q))
            .filter(|d| d.kind != DeploymentKind::Rollback)
            .cloned()
            .collect();
        for d in held {
            if let Some(artifact) = self.state.artifacts.get(&d.artifact).cloned() {
                let reason = format!("needs fresh approval: {stage} was rolled back");
                self.create_promotion(service, index, &artifact, &d.requested_by, d.kind, reason);
            }
        }
    }

    pub(super) fn request_cancel(&mut self, actor: &Actor, deployment: &str, reason: String) {
        let Some(d) = self.state.deployments.get(deployment) else {
            return;
        };
        let step = d.running_step();
        self.emit(
            actor,
            reason,
            EventKind::CancelRequested {
                deployment: deployment.into(),
            },
        );
        if let Some(step) = step {
            // A sign-off runs no process to kill: its wait ends here.
            if self.waits_for_sign_off(deployment, step) {
                self.end_sign_off_wait(deployment, step);
                return;
            }
            self.effect(Effect::CancelStep {
                run: deployment.into(),
                step,
            });
        }
    }

    /// Start the next deployment of a stage if the stage is free.
    pub(super) fn try_start(&mut self, service: &str, index: usize) {
        let st = self.state.services_stage(service, index);
        if st.active.is_some() {
            return;
        }
        // A held stage runs rollbacks only; a quarantined release never runs;
        // a frozen stage runs rollbacks and overrides only (freeze.rs).
        let held = st.held.is_some();
        let frozen = if held {
            Vec::new()
        } else {
            self.frozen_in(service, index)
        };
        let st = self.state.services_stage(service, index);
        let next = st.queue.iter().find(|id| {
            self.state.deployments.get(*id).is_some_and(|d| {
                d.status == DeploymentStatus::Queued
                    && (d.kind == DeploymentKind::Rollback
                        || (!held
                            && !self.state.is_quarantined(&d.artifact)
                            && !frozen.contains(*id)))
            })
        });
        let Some(id) = next.cloned() else {
            return;
        };
        self.emit(
            &Actor::ferry(),
            "stage free",
            EventKind::DeploymentStarted {
                deployment: id.clone(),
            },
        );
        self.start_step(&id, 0);
    }

    pub(super) fn start_step(&mut self, run: &str, step: usize) {
        self.emit(
            &Actor::ferry(),
            "next step",
            EventKind::StepStarted {
                run: run.into(),
                step,
            },
        );
        // A sign-off waits for people: nothing runs.
        if self.step_kind(run, step) == Some(StepKind::SignOff) {
            self.await_sign_off(run, step);
            return;
        }
        match jobs::step_job(self.config, self.state, run, step) {
            Ok(job) => self.effect(Effect::RunStep(job)),
            Err(message) => {
                // The configuration changed under a run: fail it rather than guess.
                let outcome = StepOutcome {
                    status: StepStatus::Failed,
                    exit_code: None,
                    tests: None,
                    message,
                    failed_tests: Vec::new(),
                };
                self.step_finished(run, step, outcome, None);
            }
        }
    }

    pub(super) fn step_finished(
        &mut self,
        run: &str,
        step: usize,
        outcome: StepOutcome,
        built: Option<BuiltArtifact>,
    ) {
        // A late or repeated report (after a restart, after a cancel) is ignored.
        if self.step_status(run, step) != Some(StepStatus::Running) {
            return;
        }
        if self.state.builds.contains_key(run) {
            self.build_step_finished(run, step, outcome, built);
            return;
        }
        let Some(d) = self.state.deployments.get(run).cloned() else {
            return;
        };
        let outcome = as_result(outcome);
        let status = outcome.status;
        let step_name = d
            .steps
            .get(step)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let message = outcome.message.clone();
        self.emit(
            &Actor::ferry(),
            format!("{step_name} {}", status.as_str()),
            EventKind::StepFinished {
                run: run.into(),
                step,
                outcome,
            },
        );
        let Ok(index) = self.stage_index(&d.service, &d.stage) else {
            // The stage left the configuration while this ran: end it
            // rather than leave it running forever.
            let message = format!("{} is no longer configured", d.stage);
            self.finish(run, DeploymentStatus::Failed, message);
            return;
        };
        let cancelling = self.state.cancelling.get(run).cloned();
        if status == StepStatus::Passed && cancelling.is_none() {
            if step + 1 < d.steps.len() {
                self.start_step(run, step + 1);
            } else {
                self.deployment_succeeded(&d, index);
            }
        } else if cancelling.is_some() || status == StepStatus::Cancelled {
            // The final event names whoever asked for the cancel, and why.
            let (actor, why) =
                cancelling.unwrap_or_else(|| (Actor::ferry(), "cancelled".to_string()));
            self.deployment_cancelled(&d, index, &actor, format!("{why} (during {step_name})"));
        } else {
            self.deployment_failed(&d, index, &step_name, status, &message);
        }
    }

    /// End a deployment whose step was cancelled, then start the next one.
    fn deployment_cancelled(&mut self, d: &Deployment, index: usize, by: &Actor, message: String) {
        self.emit(
            by,
            message.clone(),
            EventKind::DeploymentFinished {
                deployment: d.id.clone(),
                status: DeploymentStatus::Cancelled,
                message,
            },
        );
        self.try_start(&d.service, index);
    }

    /// End a deployment, by ferry, with `message` as both reason and outcome.
    fn finish(&mut self, deployment: &str, status: DeploymentStatus, message: String) {
        self.emit(
            &Actor::ferry(),
            message.clone(),
            EventKind::DeploymentFinished {
                deployment: deployment.into(),
                status,
                message,
            },
        );
    }

    pub(super) fn deployment_succeeded(&mut self, d: &Deployment, index: usize) {
        let message = match d.kind {
            DeploymentKind::Rollback => format!("rolled back to {}", d.version),
            _ => format!("{} is live in {}", d.version, d.stage),
        };
        self.emit(
            &Actor::ferry(),
            message.clone(),
            EventKind::DeploymentFinished {
                deployment: d.id.clone(),
                status: DeploymentStatus::Succeeded,
                message: message.clone(),
            },
        );
        let has_next = self
            .config
            .service(&d.service)
            .is_some_and(|s| index + 1 < s.stages.len());
        // Success is news where a release reaches people: the last stage
        // of its service (earlier stages pass on to the next one).
        if d.kind != DeploymentKind::Rollback && !has_next {
            self.notify(
                NotificationKind::DeploymentSucceeded,
                &d.id,
                format!("{} {message}", d.service),
            );
        }
        if d.kind == DeploymentKind::Rollback {
            self.notify(
                NotificationKind::RolledBack,
                &d.id,
                format!("{} {} {message}", d.service, d.stage),
            );
            if has_next {
                self.withdraw_rolled_back(d, index + 1);
            }
        }
        if d.kind == DeploymentKind::Promote
            && has_next
            && !self.newer_downstream(d, index + 1)
            && let Some(artifact) = self.state.artifacts.get(&d.artifact).cloned()
        {
            let reason = format!("passed {}", d.stage);
            self.create_promotion(
                &d.service,
                index + 1,
                &artifact,
                &d.requested_by,
                DeploymentKind::Promote,
                reason,
            );
        }
        self.try_start(&d.service, index);
    }

    /// A release rolled back in one stage is no candidate for the next:
    /// its pending deployments there end.
    pub(super) fn withdraw_rolled_back(&mut self, rollback: &Deployment, next: usize) {
        let passed = &self
            .state
            .services_stage(&rollback.service, next - 1)
            .passed;
        let withdrawn: Vec<(DeploymentId, String)> = self
            .state
            .services_stage(&rollback.service, next)
            .queue
            .iter()
            .filter_map(|id| self.state.deployments.get(id))
            .filter(|p| p.kind != DeploymentKind::Rollback && !passed.contains(&p.artifact))
            .map(|p| (p.id.clone(), p.version.clone()))
            .collect();
        for (id, version) in withdrawn {
            let message = format!("withdrawn: {version} was rolled back in {}", rollback.stage);
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

    /// Whether the next stage already has (or waits for) a newer artifact
    /// than `d`'s: re-testing an old build upstream must not replace it.
    pub(super) fn newer_downstream(&self, d: &Deployment, next: usize) -> bool {
        let Some(svc) = self.state.service(&d.service) else {
            return false;
        };
        let order = |id: &ArtifactId| svc.artifacts.iter().position(|a| a == id);
        let Some(mine) = order(&d.artifact) else {
            return false;
        };
        let st = self.state.services_stage(&d.service, next);
        st.current
            .iter()
            .chain(
                st.active
                    .iter()
                    .filter_map(|id| self.state.deployments.get(id).map(|x| &x.artifact)),
            )
            .chain(
                st.queue
                    .iter()
                    .filter_map(|id| self.state.deployments.get(id).map(|x| &x.artifact)),
            )
            .any(|a| order(a).is_some_and(|o| o > mine))
    }

    pub(super) fn notify(&mut self, kind: NotificationKind, deployment: &str, message: String) {
        if let Some(n) = self.notification(kind, deployment, message) {
            self.effect(Effect::Notify(n));
        }
    }

    /// The notification about `deployment`, not yet sent.
    pub(super) fn notification(
        &self,
        kind: NotificationKind,
        deployment: &str,
        message: String,
    ) -> Option<Notification> {
        let d = self.state.deployments.get(deployment)?;
        let commit = self
            .state
            .artifacts
            .get(&d.artifact)
            .and_then(|a| a.commit.clone());
        let notification = Notification {
            id: String::new(),
            kind,
            service: d.service.clone(),
            stage: Some(d.stage.clone()),
            version: Some(d.version.clone()),
            commit,
            deployment: Some(d.id.clone()),
            build: None,
            message,
            at: self.now,
            failed_tests: None,
        };
        Some(notification)
    }
}

/// A runner's report that is no result (still pending or running, or
/// skipped) counts as a failure, with the report kept in the message.
fn as_result(mut outcome: StepOutcome) -> StepOutcome {
    if !outcome.status.is_done() || outcome.status == StepStatus::Skipped {
        outcome.message = format!(
            "the runner reported `{}`, which is not a result: {}",
            outcome.status.as_str(),
            outcome.message
        );
        outcome.status = StepStatus::Failed;
    }
    outcome
}
