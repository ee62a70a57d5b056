//! The rules of promotion: from one input to events and effects.
//!
//! Every command is validated completely before its first event is emitted,
//! so a rejection leaves the state untouched. What follows from an accepted
//! input (the next step, the next stage, an automatic rollback) cannot fail.

use crate::config::{Config, Gate, RollbackPolicy, ServiceConfig, Source, StageConfig};
use crate::model::{
    Actor, Approval, Artifact, ArtifactId, ArtifactOrigin, BuildId, BuildStatus, Decision,
    DeploymentId, DeploymentKind, DeploymentStatus, EventKind, Millis, NewEvent, Notification,
    NotificationKind, StepKind, StepOutcome, StepPlan, StepStatus, short_sha,
};

mod builds;
mod commands;
mod deploy;
mod failure;
pub(super) mod freeze;
mod gates;
mod limits;
mod notes;
mod recovery;
mod rollback;
mod safety;
pub(super) mod signoff;

use super::jobs;
use super::{
    BuiltArtifact, Command, Effect, Input, Output, Principal, Rejection, RejectionKind, State,
};

pub(super) fn handle(
    config: &Config,
    state: &mut State,
    input: Input,
    now: Millis,
) -> Result<Output, Rejection> {
    let mut cx = Cx {
        config,
        state,
        now,
        out: Output::default(),
        pending_override: None,
    };
    match input {
        Input::Command { by, command } => cx.command(&by, command)?,
        Input::StepOutput {
            run,
            step,
            lines,
            dropped,
        } => {
            if cx.step_status(&run, step) == Some(StepStatus::Running) {
                cx.emit(
                    &Actor::ferry(),
                    "step output",
                    EventKind::StepOutput {
                        run,
                        step,
                        lines,
                        dropped,
                    },
                );
            }
        }
        Input::StepFinished {
            run,
            step,
            outcome,
            built,
        } => {
            // Only people finish a sign-off: a runner's report on one (none
            // was started) is ignored, so no report can pass it.
            if cx.step_kind(&run, step) != Some(StepKind::SignOff) {
                cx.step_finished(&run, step, outcome, built)
            }
        }
        Input::NotificationSent {
            notification,
            channel,
            ok,
            detail,
            attempts,
        } => cx.emit(
            &Actor::ferry(),
            if ok {
                format!("notified {channel}")
            } else {
                format!("gave up notifying {channel} after {attempts} attempts")
            },
            EventKind::NotificationSent {
                notification,
                channel,
                ok,
                detail,
                attempts,
            },
        ),
        Input::Tick { now } => {
            // The tick carries its own time (the same the driver hands in).
            cx.now = now;
            cx.tick()
        }
        Input::Recover { not_begun } => {
            // The config may have changed while the server was down.
            // Notifications queued before the stop are owed still (those
            // that recovery queues now are sent as usual).
            let owed: Vec<String> = cx.state.outbox.keys().cloned().collect();
            cx.reevaluate_gates();
            cx.recover(&not_begun);
            cx.resume_outbox(&owed)
        }
    }
    Ok(cx.out)
}

fn reject(kind: RejectionKind, message: impl Into<String>) -> Rejection {
    Rejection::new(kind, message)
}

struct Cx<'a> {
    config: &'a Config,
    state: &'a mut State,
    now: Millis,
    out: Output,
    /// Set while `promote_override` creates its promotion: the override
    /// is recorded right after the deployment is created (freeze.rs).
    pending_override: Option<(Vec<String>, String)>,
}

impl Cx<'_> {
    /// Decide one event: apply it at once so the next decision sees it.
    pub(super) fn emit(&mut self, actor: &Actor, reason: impl Into<String>, kind: EventKind) {
        let event = NewEvent {
            at: self.now,
            actor: actor.clone(),
            reason: reason.into(),
            kind,
        };
        self.state
            .apply(&event.clone().numbered(self.state.seq + 1));
        self.out.events.push(event);
    }

    pub(super) fn effect(&mut self, effect: Effect) {
        let effect = match effect {
            Effect::Notify(n) => self.queue_notification(n),
            other => other,
        };
        self.out.effects.push(effect);
    }

    /// The outbox: a notification becomes durable (`NotificationQueued`,
    /// with the channels that want it) before anything is sent, so a
    /// crash between deciding and delivering loses nothing.
    fn queue_notification(&mut self, mut n: Notification) -> Effect {
        let channels: Vec<String> = self
            .config
            .notify
            .channels_for(n.kind)
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        if channels.is_empty() {
            // Nobody wants it: nothing is owed, and the log stays as it was.
            return Effect::Notify(n);
        }
        let id = format!("n-{}", self.state.seq + 1);
        n.id = id.clone();
        self.emit(
            &Actor::ferry(),
            format!("notification {id} queued"),
            EventKind::NotificationQueued {
                id,
                notification: n.clone(),
                channels,
            },
        );
        Effect::Notify(n)
    }

    /// Resend every queued notification to the channels still owed it.
    fn resume_outbox(&mut self, owed: &[String]) {
        let pending: Vec<_> = owed
            .iter()
            .filter_map(|id| self.state.outbox.get(id).cloned())
            .collect();
        for p in pending {
            self.out.effects.push(Effect::Redeliver {
                notification: p.notification,
                channels: p.channels.into_iter().collect(),
            });
        }
    }

    pub(super) fn service_config(&self, service: &str) -> Result<&ServiceConfig, Rejection> {
        self.config.service(service).ok_or_else(|| {
            reject(
                RejectionKind::NotFound,
                format!("no service named `{service}`"),
            )
            .hint("`ferry status` lists the services")
        })
    }

    pub(super) fn stage_index(&self, service: &str, stage: &str) -> Result<usize, Rejection> {
        let svc = self.service_config(service)?;
        svc.stage(stage).map(|(i, _)| i).ok_or_else(|| {
            let names: Vec<&str> = svc.stages.iter().map(|s| s.name.as_str()).collect();
            reject(
                RejectionKind::NotFound,
                format!("service `{service}` has no stage `{stage}`"),
            )
            .hint(format!("its stages are: {}", names.join(", ")))
        })
    }

    /// Why a deployment id names nothing to act on: none such (not found),
    /// or one that finished long ago and that memory no longer holds
    /// (`engine::trim`; only finished deployments are forgotten).
    pub(super) fn no_deployment(&self, id: &str, hint: &str) -> Rejection {
        let id = crate::model::sanitize_text(id);
        if self.state.deployment_existed(&id) {
            return reject(
                RejectionKind::Conflict,
                format!("deployment `{id}` finished long ago; nothing can change it now"),
            )
            .hint(format!("`ferry show {id}` shows how it ended"));
        }
        reject(RejectionKind::NotFound, format!("no deployment `{id}`")).hint(hint)
    }

    pub(super) fn artifact(&self, service: &str, reference: &str) -> Result<Artifact, Rejection> {
        self.state
            .find_artifact(service, reference)
            .cloned()
            .ok_or_else(|| {
                reject(
                    RejectionKind::NotFound,
                    format!("`{service}` has no artifact `{reference}`"),
                )
                .hint(self.artifact_hint())
            })
    }

    /// How to name an artifact, and, once older ones were forgotten
    /// (`engine::trim`), which of them can still be named.
    fn artifact_hint(&self) -> String {
        let hint = "name an artifact by id (a-12) or by version (1.4.2)";
        let forgotten = self.state.next_artifact > self.state.artifacts.len() as u64;
        match forgotten {
            false => hint.to_string(),
            true => format!(
                "{hint}; of older releases only the newest {} of a service, and those still \
                 in use, can be promoted",
                crate::engine::KEPT
            ),
        }
    }

    pub(super) fn step_status(&self, run: &str, step: usize) -> Option<StepStatus> {
        self.state.steps(run)?.get(step).map(|s| s.status)
    }

    fn command(&mut self, by: &Principal, command: Command) -> Result<(), Rejection> {
        limits::check(&command)?;
        match command {
            Command::NewCommit {
                service,
                commit,
                subject,
                author,
            } => self.new_commit(by, service, commit, subject, author),
            Command::RegisterArtifact {
                service,
                version,
                commit,
                subject,
                digest,
                uri,
                metadata,
                committed_at,
            } => self.register_artifact(
                by,
                service,
                version,
                (commit, committed_at),
                subject,
                digest,
                uri,
                metadata,
            ),
            Command::Promote {
                service,
                stage,
                artifact,
            } => self.promote(by, service, stage, artifact),
            Command::Approve {
                deployment,
                comment,
                digest,
            } => self.approve(by, deployment, comment, digest),
            Command::Reject {
                deployment,
                comment,
            } => self.reject(by, deployment, comment),
            Command::Cancel { deployment } => self.cancel(by, deployment),
            Command::SignOff {
                deployment,
                step,
                verdict,
                comment,
            } => self.sign_off(by, deployment, step, verdict, comment),
            Command::Rollback { service, stage, to } => self.rollback(by, service, stage, to),
            Command::Note { deployment, text } => self.note(by, deployment, text),
            Command::Quarantine {
                artifact,
                reason,
                add,
            } => self.set_quarantine(by, artifact.into_string(), reason, add),
            Command::LiftHold {
                service,
                stage,
                reason,
            } => self.lift_hold(by, service, stage, reason),
            Command::PromoteOverride {
                service,
                stage,
                artifact,
                reason,
            } => self.promote_override(by, service, stage, artifact, reason),
            Command::Freeze {
                stage,
                service,
                until,
                reason,
            } => self.freeze(by, stage, service, until, reason),
            Command::Unfreeze {
                stage,
                service,
                reason,
            } => self.unfreeze(by, stage, service, reason),
        }
    }
}

/// The steps of a deployment: deploy, then verification, then the health
/// check. A rollback skips verification: it returns to a release that
/// already passed it, and speed matters more.
pub(super) fn plan_steps(stage: &StageConfig, kind: DeploymentKind) -> Vec<StepPlan> {
    let mut steps = vec![StepPlan {
        name: "deploy".into(),
        kind: StepKind::Deploy,
    }];
    if kind != DeploymentKind::Rollback {
        steps.extend(stage.verify.iter().map(|v| StepPlan {
            name: v.name.clone(),
            kind: if v.sign_off.is_some() {
                StepKind::SignOff
            } else {
                StepKind::Verify
            },
        }));
    }
    if stage.health.is_some() {
        steps.push(StepPlan {
            name: "health".into(),
            kind: StepKind::Health,
        });
    }
    steps
}
