//! The fold: `State::apply`, the only code that changes the state. Each
//! event changes what it names; the rules it relies on (what a success makes
//! good, what a rollback undoes) live with the state in `state.rs`.

use crate::model::{
    Build, BuildStatus, Deployment, DeploymentKind, DeploymentStatus, Event, EventKind, Step,
    StepStatus,
};

use super::state::State;

impl State {
    /// Fold one event into the state. Events naming things this state does
    /// not know (a service removed from the config, a deployment pruned from
    /// a console's snapshot) are ignored rather than trusted.
    pub fn apply(&mut self, event: &Event) {
        self.apply_untrimmed(event);
        if let Some(service) = self.trims_after(&event.kind) {
            self.trim(&service);
        }
    }

    /// The service whose lists `kind` grows, or whose deployment or build
    /// it ends: the one to trim after it (`trim.rs`).
    fn trims_after(&self, kind: &EventKind) -> Option<String> {
        match kind {
            EventKind::BuildStarted { service, .. }
            | EventKind::DeploymentCreated { service, .. } => Some(service.clone()),
            EventKind::ArtifactRegistered { artifact } => Some(artifact.service.clone()),
            EventKind::BuildFinished { build, .. } => {
                self.builds.get(build).map(|b| b.service.clone())
            }
            EventKind::DeploymentFinished { deployment, .. } => {
                self.deployments.get(deployment).map(|d| d.service.clone())
            }
            _ => None,
        }
    }

    fn apply_untrimmed(&mut self, event: &Event) {
        self.seq = self.seq.max(event.seq);
        let at = event.at;
        match &event.kind {
            EventKind::ServerStarted { .. } => {}
            EventKind::BuildStarted { .. } => self.build_started(event),
            EventKind::BuildFinished {
                build,
                status,
                message,
            } => {
                if let Some(b) = self.builds.get_mut(build) {
                    b.status = *status;
                    b.finished_at = Some(at);
                    b.outcome = Some(message.clone());
                    skip_pending_steps(&mut b.steps);
                }
            }
            EventKind::ArtifactRegistered { artifact } => {
                self.next_artifact += 1;
                if let crate::model::ArtifactOrigin::Built { build } = &artifact.origin
                    && let Some(b) = self.builds.get_mut(build)
                {
                    b.artifact = Some(artifact.id.clone());
                }
                if let Some(svc) = self.service_mut(&artifact.service) {
                    svc.artifacts.push(artifact.id.clone());
                }
                self.artifacts.insert(artifact.id.clone(), artifact.clone());
            }
            EventKind::DeploymentCreated { .. } => self.deployment_created(event),
            EventKind::ApprovalRecorded {
                deployment,
                approval,
            } => {
                if let Some(d) = self.deployments.get_mut(deployment) {
                    d.approvals.push(approval.clone());
                }
            }
            EventKind::DeploymentApproved { deployment } => {
                if let Some(d) = self.deployments.get_mut(deployment)
                    && d.status == DeploymentStatus::AwaitingApproval
                {
                    d.status = DeploymentStatus::Queued;
                }
            }
            EventKind::DeploymentStarted { deployment } => {
                self.freeze.frozen.remove(deployment);
                let Some(d) = self.deployments.get_mut(deployment) else {
                    return;
                };
                d.status = DeploymentStatus::Running;
                d.started_at = Some(at);
                let (service, stage, artifact) =
                    (d.service.clone(), d.stage.clone(), d.artifact.clone());
                if let Some(st) = self.stage_mut(&service, &stage) {
                    st.queue.retain(|id| id != deployment);
                    st.active = Some(deployment.clone());
                    st.current = Some(artifact);
                }
            }
            EventKind::StepStarted { run, step } => {
                if let Some(s) = self.step_mut(run, *step) {
                    s.status = StepStatus::Running;
                    s.started_at = Some(at);
                }
            }
            EventKind::StepOutput {
                run, step, lines, ..
            } => {
                if let Some(s) = self.step_mut(run, *step) {
                    s.log_lines += lines.len() as u64;
                }
            }
            EventKind::StepFinished { run, step, outcome } => {
                if let Some(s) = self.step_mut(run, *step) {
                    s.status = outcome.status;
                    s.finished_at = Some(at);
                    s.exit_code = outcome.exit_code;
                    s.tests = outcome.tests;
                    s.message = Some(outcome.message.clone());
                    s.failed_tests = outcome.failed_tests.clone();
                }
            }
            EventKind::CancelRequested { deployment } => {
                self.cancelling.insert(
                    deployment.clone(),
                    (event.actor.clone(), event.reason.clone()),
                );
            }
            EventKind::DeploymentFinished { .. } => self.deployment_finished(event),
            EventKind::DeploymentRequeued {
                deployment,
                current,
            } => {
                let Some(d) = self.deployments.get_mut(deployment) else {
                    return;
                };
                d.status = DeploymentStatus::Queued;
                d.started_at = None;
                for s in &mut d.steps {
                    *s = Step::new(s.name.clone(), s.kind);
                }
                let (service, stage) = (d.service.clone(), d.stage.clone());
                if let Some(st) = self.stage_mut(&service, &stage) {
                    if st.active.as_ref() == Some(deployment) {
                        st.active = None;
                    }
                    st.queue.retain(|id| id != deployment);
                    // First in line again: it was running.
                    st.queue.insert(0, deployment.clone());
                    st.current = current.clone();
                }
            }
            EventKind::RollbackImpossible { .. } => {}
            EventKind::GateReevaluated {
                deployment,
                approval,
                voided,
                status,
            } => {
                if let Some(d) = self.deployments.get_mut(deployment)
                    && matches!(
                        d.status,
                        DeploymentStatus::Queued | DeploymentStatus::AwaitingApproval
                    )
                {
                    d.approval = approval.clone();
                    d.approvals.retain(|a| !voided.contains(&a.by));
                    d.status = *status;
                }
            }
            EventKind::NotificationQueued {
                id,
                notification,
                channels,
            } => {
                if !channels.is_empty() {
                    self.outbox.insert(
                        id.clone(),
                        super::state::PendingNotification {
                            notification: notification.clone(),
                            channels: channels.iter().cloned().collect(),
                        },
                    );
                }
            }
            EventKind::NotificationSent {
                notification,
                channel,
                ..
            } => {
                if let Some(p) = self.outbox.get_mut(&notification.id) {
                    p.channels.remove(channel);
                    if p.channels.is_empty() {
                        self.outbox.remove(&notification.id);
                    }
                }
            }
            EventKind::ArtifactQuarantined { .. }
            | EventKind::QuarantineLifted { .. }
            | EventKind::StageHeld { .. }
            | EventKind::HoldLifted { .. } => self.apply_safety(event),
            EventKind::SignOffRequested {
                deployment,
                step,
                rule,
            } => {
                if let Some(s) = self.step_mut(deployment, *step) {
                    s.sign_off = Some(rule.clone());
                }
            }
            EventKind::SignOffRecorded {
                deployment,
                sign_off,
                ..
            } => {
                if let Some(d) = self.deployments.get_mut(deployment) {
                    d.sign_offs.push(sign_off.clone());
                }
            }
            EventKind::StageFrozen { .. }
            | EventKind::StageUnfrozen { .. }
            | EventKind::DeploymentFrozen { .. }
            | EventKind::FreezeOverridden { .. } => self.apply_freeze(event),
            EventKind::NoteAdded {
                deployment,
                author,
                text,
            } => {
                if let Some(d) = self.deployments.get_mut(deployment) {
                    d.notes.push(crate::model::Note {
                        at: event.at,
                        author: author.clone(),
                        text: text.clone(),
                    });
                }
            }
        }
    }

    /// A build starts with all its steps pending.
    fn build_started(&mut self, event: &Event) {
        let at = event.at;
        let EventKind::BuildStarted {
            build,
            service,
            commit,
            subject,
            author,
            steps,
        } = &event.kind
        else {
            return;
        };
        self.next_build += 1;
        let b = Build {
            id: build.clone(),
            service: service.clone(),
            commit: commit.clone(),
            subject: subject.clone(),
            author: author.clone(),
            status: BuildStatus::Running,
            steps: steps
                .iter()
                .map(|p| Step::new(p.name.clone(), p.kind))
                .collect(),
            artifact: None,
            created_at: at,
            finished_at: None,
            outcome: None,
        };
        if let Some(svc) = self.service_mut(service) {
            svc.builds.push(build.clone());
        }
        self.builds.insert(build.clone(), b);
    }

    /// A deployment joins its stage's queue (a rollback before any pending promotion).
    fn deployment_created(&mut self, event: &Event) {
        let at = event.at;
        let EventKind::DeploymentCreated {
            deployment,
            service,
            stage,
            artifact,
            kind,
            status,
            requested_by,
            approval,
            steps,
            rolls_back,
            version,
            digest,
        } = &event.kind
        else {
            return;
        };
        self.next_deployment += 1;
        let (digest, version) = match self.artifacts.get(artifact) {
            _ if !version.is_empty() => (digest.clone(), version.clone()),
            Some(a) => (a.digest.clone(), a.version.clone()),
            None => Default::default(),
        };
        let d = Deployment {
            id: deployment.clone(),
            service: service.clone(),
            stage: stage.clone(),
            artifact: artifact.clone(),
            digest,
            version,
            kind: *kind,
            status: *status,
            requested_by: requested_by.clone(),
            reason: event.reason.clone(),
            approval: approval.clone(),
            approvals: Vec::new(),
            steps: steps
                .iter()
                .map(|p| Step::new(p.name.clone(), p.kind))
                .collect(),
            created_at: at,
            started_at: None,
            finished_at: None,
            outcome: None,
            rolls_back: rolls_back.clone(),
            notes: Vec::new(),
            sign_offs: Vec::new(),
        };
        // A rollback goes before any pending promotion.
        let first_promotion = self.stage(service, stage).map(|st| {
            st.queue
                .iter()
                .position(|id| {
                    self.deployments.get(id).map(|d| d.kind) != Some(DeploymentKind::Rollback)
                })
                .unwrap_or(st.queue.len())
        });
        if let Some(st) = self.stage_mut(service, stage) {
            st.history.push(deployment.clone());
            if *kind == DeploymentKind::Rollback {
                let first_promotion = first_promotion.unwrap_or(0);
                st.queue.insert(first_promotion, deployment.clone());
            } else {
                st.queue.push(deployment.clone());
            }
        }
        self.deployments.insert(deployment.clone(), d);
    }

    /// A deployment ends: it leaves its stage's queue or slot, and a success
    /// changes what is good there.
    fn deployment_finished(&mut self, event: &Event) {
        let at = event.at;
        let EventKind::DeploymentFinished {
            deployment,
            status,
            message,
        } = &event.kind
        else {
            return;
        };
        let Some(d) = self.deployments.get_mut(deployment) else {
            return;
        };
        self.cancelling.remove(deployment);
        self.freeze.frozen.remove(deployment);
        self.freeze.overrides.remove(deployment);
        d.status = *status;
        d.finished_at = Some(at);
        if *status != crate::model::DeploymentStatus::Succeeded {
            d.outcome = Some(message.clone());
        }
        skip_pending_steps(&mut d.steps);
        let d = d.clone();
        let Some(st) = self.stage_mut(&d.service, &d.stage) else {
            return;
        };
        st.queue.retain(|id| id != deployment);
        if st.active.as_ref() == Some(deployment) {
            st.active = None;
        }
        // Only what ran changed the stage; a rejected candidate did not.
        if d.started_at.is_some() {
            st.finished = Some(deployment.clone());
        }
        if *status == DeploymentStatus::Succeeded {
            st.record_success(&d, at);
        }
    }

    fn step_mut(&mut self, run: &str, step: usize) -> Option<&mut Step> {
        match self.deployments.get_mut(run) {
            Some(d) => d.steps.get_mut(step),
            None => self.builds.get_mut(run)?.steps.get_mut(step),
        }
    }
}

fn skip_pending_steps(steps: &mut [Step]) {
    for s in steps {
        if s.status == StepStatus::Pending {
            s.status = StepStatus::Skipped;
        }
    }
}
