//! The rules of promotion: from one input to events and effects.
//!
//! Every command is validated completely before its first event is emitted,
//! so a rejection leaves the state untouched. What follows from an accepted
//! input (the next step, the next stage, an automatic rollback) cannot fail.

use crate::config::{Config, Gate, RollbackPolicy, ServiceConfig, Source, StageConfig};
use crate::model::{
    Actor, Approval, Artifact, ArtifactOrigin, BuildStatus, Decision, DeploymentKind,
    DeploymentStatus, EventKind, Millis, NewEvent, Notification, NotificationKind, StepKind,
    StepOutcome, StepPlan, StepStatus,
};

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
        } => cx.step_finished(&run, step, outcome, built),
        Input::NotificationSent {
            notification,
            channel,
            ok,
            detail,
        } => cx.emit(
            &Actor::ferry(),
            format!("notified {channel}"),
            EventKind::NotificationSent {
                notification,
                channel,
                ok,
                detail,
            },
        ),
        Input::Recover => cx.recover(),
    }
    Ok(cx.out)
}

fn reject(kind: RejectionKind, message: impl Into<String>) -> Rejection {
    Rejection::new(kind, message)
}

pub(super) fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

struct Cx<'a> {
    config: &'a Config,
    state: &'a mut State,
    now: Millis,
    out: Output,
}

impl Cx<'_> {
    /// Decide one event: apply it at once so the next decision sees it.
    fn emit(&mut self, actor: &Actor, reason: impl Into<String>, kind: EventKind) {
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

    fn effect(&mut self, effect: Effect) {
        self.out.effects.push(effect);
    }

    fn service_config(&self, service: &str) -> Result<&ServiceConfig, Rejection> {
        self.config.service(service).ok_or_else(|| {
            reject(
                RejectionKind::NotFound,
                format!("no service named `{service}`"),
            )
            .hint("`ferry status` lists the services")
        })
    }

    fn stage_index(&self, service: &str, stage: &str) -> Result<usize, Rejection> {
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

    fn artifact(&self, service: &str, reference: &str) -> Result<Artifact, Rejection> {
        self.state
            .find_artifact(service, reference)
            .cloned()
            .ok_or_else(|| {
                reject(
                    RejectionKind::NotFound,
                    format!("`{service}` has no artifact `{reference}`"),
                )
                .hint("name an artifact by id (a-12) or by version (1.4.2)")
            })
    }

    fn step_status(&self, run: &str, step: usize) -> Option<StepStatus> {
        if let Some(d) = self.state.deployments.get(run) {
            return d.steps.get(step).map(|s| s.status);
        }
        self.state
            .builds
            .get(run)
            .and_then(|b| b.steps.get(step))
            .map(|s| s.status)
    }

    fn command(&mut self, by: &Principal, command: Command) -> Result<(), Rejection> {
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
            } => {
                self.service_config(&service)?;
                let version = version.trim().to_string();
                if version.is_empty()
                    || version.len() > 128
                    || version.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(reject(
                        RejectionKind::Invalid,
                        format!(
                            "invalid version `{}`",
                            crate::model::sanitize_text(&version)
                        ),
                    )
                    .hint("a version is 1 to 128 characters without spaces, e.g. 1.4.2"));
                }
                if digest.len() != 64
                    || !digest
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
                {
                    return Err(reject(
                        RejectionKind::Invalid,
                        format!("invalid digest `{}`", crate::model::sanitize_text(&digest)),
                    )
                    .hint("give the sha256 of the artifact as 64 lowercase hex digits"));
                }
                if uri.trim().is_empty() {
                    return Err(
                        reject(RejectionKind::Invalid, "the artifact's uri is empty")
                            .hint("say where the artifact can be fetched from"),
                    );
                }
                if let Some(existing) = self.state.find_artifact(&service, &version) {
                    if existing.digest == digest {
                        // Idempotent: a CI that retries gets the same answer.
                        self.out.artifact = Some(existing.id.clone());
                        return Ok(());
                    }
                    return Err(reject(
                        RejectionKind::Conflict,
                        format!(
                            "{service} {version} is already registered with another digest ({})",
                            short(&existing.digest)
                        ),
                    )
                    .hint("artifacts are immutable: register the new build under a new version"));
                }
                let id = format!("a-{}", self.state.next_artifact + 1);
                let artifact = Artifact {
                    id: id.clone(),
                    service: service.clone(),
                    version: version.clone(),
                    commit,
                    subject: subject.map(|s| crate::model::sanitize_text(&s)),
                    digest,
                    uri,
                    origin: ArtifactOrigin::Registered,
                    created_by: by.actor(),
                    created_at: self.now,
                    metadata,
                };
                self.emit(
                    &by.actor(),
                    format!("{service} {version} registered by {}", by.name),
                    EventKind::ArtifactRegistered { artifact },
                );
                self.out.artifact = Some(id.clone());
                self.enter_first_stage(&service, &id, &by.actor());
                Ok(())
            }
            Command::Promote {
                service,
                stage,
                artifact,
            } => {
                let index = self.stage_index(&service, &stage)?;
                let artifact = self.artifact(&service, &artifact)?;
                let st = &self.state.services_stage(&service, index);
                if index > 0 {
                    let previous = &self.state.services_stage(&service, index - 1);
                    if !previous.passed.contains(&artifact.id) {
                        return Err(reject(
                            RejectionKind::Conflict,
                            format!(
                                "{service} {} has not succeeded in {}, so it can't enter {stage}",
                                artifact.version, previous.name
                            ),
                        )
                        .hint(format!("promote it to {} first", previous.name)));
                    }
                }
                let busy = st
                    .active
                    .iter()
                    .chain(st.queue.iter())
                    .filter_map(|id| self.state.deployments.get(id))
                    .find(|d| d.artifact == artifact.id && d.kind != DeploymentKind::Rollback);
                if let Some(d) = busy {
                    return Err(reject(
                        RejectionKind::Conflict,
                        format!(
                            "{service} {} is already {} in {stage} ({})",
                            artifact.version,
                            d.status.as_str().replace('_', " "),
                            d.id
                        ),
                    ));
                }
                // Putting back what already runs healthy is a redeploy (it
                // goes no further); retrying a failed one is a promotion.
                let kind = if st.is_healthy_on(self.state, Some(&artifact.id)) {
                    DeploymentKind::Redeploy
                } else {
                    DeploymentKind::Promote
                };
                let reason = format!("promoted by {}", by.name);
                self.create_promotion(&service, index, &artifact, &by.actor(), kind, reason);
                Ok(())
            }
            Command::Approve {
                deployment,
                comment,
                digest,
            } => {
                let d = self.awaiting_approval(&deployment)?;
                self.check_approver(by, &d, true)?;
                if d.approvals.iter().any(|a| a.by.name() == by.name) {
                    return Err(reject(
                        RejectionKind::Conflict,
                        format!("you already approved {deployment}"),
                    ));
                }
                if let Some(digest) = digest
                    && digest != d.digest
                {
                    return Err(reject(
                        RejectionKind::Conflict,
                        format!(
                            "{deployment} deploys digest {}, not {}",
                            short(&d.digest),
                            short(&digest)
                        ),
                    )
                    .hint("the approval is bound to the artifact you reviewed; review the current one"));
                }
                let approval = Approval {
                    by: by.actor(),
                    decision: Decision::Approve,
                    digest: d.digest.clone(),
                    comment: comment.map(|c| crate::model::sanitize_text(&c)),
                    at: self.now,
                };
                self.emit(
                    &by.actor(),
                    format!("approved by {}", by.name),
                    EventKind::ApprovalRecorded {
                        deployment: deployment.clone(),
                        approval,
                    },
                );
                self.out.deployment = Some(deployment.clone());
                let approved = self
                    .state
                    .deployments
                    .get(&deployment)
                    .is_some_and(|d| d.is_approved());
                if approved {
                    self.emit(
                        &by.actor(),
                        format!(
                            "{} of {} approvals",
                            d.approvals_needed(),
                            d.approvals_needed()
                        ),
                        EventKind::DeploymentApproved {
                            deployment: deployment.clone(),
                        },
                    );
                    if let Ok(index) = self.stage_index(&d.service, &d.stage) {
                        self.try_start(&d.service, index);
                    }
                }
                Ok(())
            }
            Command::Reject {
                deployment,
                comment,
            } => {
                let d = self.awaiting_approval(&deployment)?;
                self.check_approver(by, &d, false)?;
                let comment = comment.map(|c| crate::model::sanitize_text(&c));
                let approval = Approval {
                    by: by.actor(),
                    decision: Decision::Reject,
                    digest: d.digest.clone(),
                    comment: comment.clone(),
                    at: self.now,
                };
                self.emit(
                    &by.actor(),
                    format!("rejected by {}", by.name),
                    EventKind::ApprovalRecorded {
                        deployment: deployment.clone(),
                        approval,
                    },
                );
                let message = match comment {
                    Some(c) if !c.is_empty() => format!("rejected by {}: {c}", by.name),
                    _ => format!("rejected by {}", by.name),
                };
                self.emit(
                    &by.actor(),
                    message.clone(),
                    EventKind::DeploymentFinished {
                        deployment: deployment.clone(),
                        status: DeploymentStatus::Rejected,
                        message,
                    },
                );
                self.out.deployment = Some(deployment);
                if let Ok(index) = self.stage_index(&d.service, &d.stage) {
                    self.try_start(&d.service, index);
                }
                Ok(())
            }
            Command::Cancel { deployment } => {
                let d = self
                    .state
                    .deployments
                    .get(&deployment)
                    .cloned()
                    .ok_or_else(|| {
                        reject(
                            RejectionKind::NotFound,
                            format!("no deployment `{deployment}`"),
                        )
                    })?;
                let index = self.stage_index(&d.service, &d.stage)?;
                self.out.deployment = Some(deployment.clone());
                match d.status {
                    s if s.is_pending() => {
                        let message = format!("cancelled by {}", by.name);
                        self.emit(
                            &by.actor(),
                            message.clone(),
                            EventKind::DeploymentFinished {
                                deployment,
                                status: DeploymentStatus::Cancelled,
                                message,
                            },
                        );
                        self.try_start(&d.service, index);
                        Ok(())
                    }
                    DeploymentStatus::Running => {
                        if self.state.cancelling.contains_key(&deployment) {
                            return Err(reject(
                                RejectionKind::Conflict,
                                format!("{deployment} is already being cancelled"),
                            ));
                        }
                        self.request_cancel(
                            &by.actor(),
                            &deployment,
                            format!("cancelled by {}", by.name),
                        );
                        Ok(())
                    }
                    s => Err(reject(
                        RejectionKind::Conflict,
                        format!("{deployment} has already finished ({})", s.as_str()),
                    )),
                }
            }
            Command::Rollback { service, stage, to } => {
                let index = self.stage_index(&service, &stage)?;
                let st = self.state.services_stage(&service, index).clone();
                let target = match &to {
                    Some(reference) => {
                        let artifact = self.artifact(&service, reference)?;
                        if !st.good.iter().any(|g| g.artifact == artifact.id) {
                            return Err(reject(
                                RejectionKind::Conflict,
                                format!(
                                    "{service} {} is not a good release of {stage}",
                                    artifact.version
                                ),
                            )
                            .hint(format!(
                                "roll back to a release that succeeded there and was not rolled back: `ferry history {service} {stage}`"
                            )));
                        }
                        if st.is_healthy_on(self.state, Some(&artifact.id)) {
                            return Err(reject(
                                RejectionKind::Conflict,
                                format!("{stage} already runs {service} {}", artifact.version),
                            ));
                        }
                        artifact
                    }
                    None => {
                        // Asking twice (a retry, a second engineer) must not
                        // go two releases back: the rollback under way answers.
                        let under_way = st
                            .active
                            .iter()
                            .chain(st.queue.iter())
                            .find(|id| {
                                self.state
                                    .deployments
                                    .get(*id)
                                    .is_some_and(|d| d.kind == DeploymentKind::Rollback)
                            })
                            .cloned();
                        if let Some(id) = under_way {
                            self.out.deployment = Some(id);
                            return Ok(());
                        }
                        let Some(good) = st.rollback_target(self.state) else {
                            return Err(reject(
                                RejectionKind::Conflict,
                                format!(
                                    "{service} {stage} has no earlier good release to roll back to"
                                ),
                            )
                            .hint("a rollback needs a release that once succeeded in this stage"));
                        };
                        let id = good.artifact.clone();
                        self.artifact(&service, &id)?
                    }
                };
                let from = st
                    .current
                    .as_ref()
                    .and_then(|id| self.state.artifacts.get(id))
                    .map(|a| a.version.clone())
                    .unwrap_or_else(|| "nothing".into());
                let rolls_back = st.active.clone().or_else(|| {
                    st.history
                        .iter()
                        .rev()
                        .find(|id| {
                            self.state.deployments.get(*id).is_some_and(|d| {
                                Some(&d.artifact) == st.current.as_ref()
                                    && d.status != DeploymentStatus::Superseded
                            })
                        })
                        .cloned()
                });
                let reason = format!("rollback by {}: {from} → {}", by.name, target.version);
                self.create_rollback(&service, index, &target, &by.actor(), rolls_back, reason);
                Ok(())
            }
        }
    }

    fn new_commit(
        &mut self,
        by: &Principal,
        service: String,
        commit: String,
        subject: Option<String>,
        author: String,
    ) -> Result<(), Rejection> {
        let svc = self.service_config(&service)?;
        if !matches!(svc.source, Source::Git { .. }) || svc.build.is_none() {
            return Err(reject(
                RejectionKind::Invalid,
                format!("`{service}` is not built by ferry (its source is external)"),
            )
            .hint("register its artifacts with `ferry artifact push`"));
        }
        let svc_state = self.state.service(&service);
        if let Some(existing) = svc_state.and_then(|s| {
            s.builds
                .iter()
                .filter_map(|id| self.state.builds.get(id))
                .find(|b| b.commit == commit)
        }) {
            return Err(reject(
                RejectionKind::Conflict,
                format!(
                    "commit {} of {service} was already built ({})",
                    short(&commit),
                    existing.id
                ),
            ));
        }
        let id = format!("b-{}", self.state.next_build + 1);
        let subject = subject.map(|s| crate::model::sanitize_text(&s));
        let author = Actor(crate::model::sanitize_text(&author));
        self.emit(
            &by.actor(),
            format!(
                "new commit {} by {author}: {}",
                short(&commit),
                subject.as_deref().unwrap_or("")
            ),
            EventKind::BuildStarted {
                build: id.clone(),
                service: service.clone(),
                commit,
                subject,
                author,
                steps: vec![StepPlan {
                    name: "build".into(),
                    kind: StepKind::Build,
                }],
            },
        );
        self.out.build = Some(id.clone());
        self.start_step(&id, 0);
        Ok(())
    }

    fn awaiting_approval(&self, id: &str) -> Result<crate::model::Deployment, Rejection> {
        let d = self.state.deployments.get(id).ok_or_else(|| {
            reject(RejectionKind::NotFound, format!("no deployment `{id}`"))
                .hint("`ferry status` shows the deployments waiting for approval")
        })?;
        if d.status != DeploymentStatus::AwaitingApproval {
            let why = match d.status {
                DeploymentStatus::Superseded => {
                    "it was superseded by a newer promotion; its approvals are void".to_string()
                }
                s => format!("it is {}", s.as_str().replace('_', " ")),
            };
            return Err(reject(
                RejectionKind::Conflict,
                format!("{id} is not awaiting approval: {why}"),
            ));
        }
        Ok(d.clone())
    }

    fn check_approver(
        &self,
        by: &Principal,
        d: &crate::model::Deployment,
        approving: bool,
    ) -> Result<(), Rejection> {
        let Some(rule) = &d.approval else {
            return Err(reject(
                RejectionKind::Conflict,
                format!("{} needs no approval", d.id),
            ));
        };
        let allowed = by.is_admin()
            || rule.roles.iter().any(|r| by.has_role(r))
            || (rule.roles.is_empty() && by.has_role(crate::model::roles::APPROVER));
        if !allowed {
            let roles = if rule.roles.is_empty() {
                crate::model::roles::APPROVER.to_string()
            } else {
                rule.roles.join(" or ")
            };
            return Err(reject(
                RejectionKind::Forbidden,
                format!("{} may not decide on {} to {}", by.name, d.service, d.stage),
            )
            .hint(format!("it takes a user with role {roles}")));
        }
        let author = self
            .state
            .artifacts
            .get(&d.artifact)
            .map(|a| a.created_by.name().to_lowercase());
        let is_self = by.name == d.requested_by.name()
            || author.as_deref() == Some(by.name.to_lowercase().as_str());
        if approving && !rule.allow_self && is_self {
            return Err(reject(
                RejectionKind::Forbidden,
                "you can't approve your own deployment",
            )
            .hint("another person with the gate's role must approve it"));
        }
        Ok(())
    }

    fn enter_first_stage(&mut self, service: &str, artifact: &str, requested_by: &Actor) {
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

    fn next_deployment_id(&self) -> String {
        format!("d-{}", self.state.next_deployment + 1)
    }

    fn create_promotion(
        &mut self,
        service: &str,
        index: usize,
        artifact: &Artifact,
        requested_by: &Actor,
        kind: DeploymentKind,
        reason: String,
    ) {
        let Some(stage_cfg) = self
            .config
            .service(service)
            .and_then(|s| s.stages.get(index))
        else {
            return;
        };
        let stage_cfg = stage_cfg.clone();
        let id = self.next_deployment_id();
        // A newer promotion supersedes an older pending one: only the
        // newest candidate is worth deploying or approving.
        let st = self.state.services_stage(service, index);
        let superseded: Vec<String> = st
            .queue
            .iter()
            .filter(|q| {
                self.state
                    .deployments
                    .get(*q)
                    .is_some_and(|d| d.kind != DeploymentKind::Rollback)
            })
            .cloned()
            .collect();
        for old in superseded {
            let message = format!("superseded by {id} ({})", artifact.version);
            self.emit(
                &Actor::ferry(),
                message.clone(),
                EventKind::DeploymentFinished {
                    deployment: old,
                    status: DeploymentStatus::Superseded,
                    message,
                },
            );
        }
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
            },
        );
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

    fn create_rollback(
        &mut self,
        service: &str,
        index: usize,
        target: &Artifact,
        requested_by: &Actor,
        rolls_back: Option<String>,
        reason: String,
    ) {
        let Some(stage_cfg) = self
            .config
            .service(service)
            .and_then(|s| s.stages.get(index))
        else {
            return;
        };
        let stage_cfg = stage_cfg.clone();
        let id = self.next_deployment_id();
        let st = self.state.services_stage(service, index).clone();
        let older: Vec<String> = st
            .queue
            .iter()
            .filter(|q| {
                self.state
                    .deployments
                    .get(*q)
                    .is_some_and(|d| d.kind == DeploymentKind::Rollback)
            })
            .cloned()
            .collect();
        for old in older {
            let message = format!("superseded by rollback {id}");
            self.emit(
                &Actor::ferry(),
                message.clone(),
                EventKind::DeploymentFinished {
                    deployment: old,
                    status: DeploymentStatus::Superseded,
                    message,
                },
            );
        }
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
            },
        );
        self.out.deployment.get_or_insert(id.clone());
        // A newer candidate approved before the rollback most likely carries
        // the change being rolled back: its approvals are void, and it waits
        // for people to look again.
        if let Gate::Approval(_) = stage_cfg.gate {
            let held: Vec<crate::model::Deployment> = st
                .queue
                .iter()
                .filter_map(|q| self.state.deployments.get(q))
                .filter(|d| d.kind != DeploymentKind::Rollback)
                .cloned()
                .collect();
            for d in held {
                if let Some(artifact) = self.state.artifacts.get(&d.artifact).cloned() {
                    let reason =
                        format!("needs fresh approval: {} was rolled back", stage_cfg.name);
                    self.create_promotion(
                        service,
                        index,
                        &artifact,
                        &d.requested_by,
                        d.kind,
                        reason,
                    );
                }
            }
        }
        // A rollback preempts: whatever runs now is stopped first.
        if let Some(active) = st.active.clone()
            && !self.state.cancelling.contains_key(&active)
        {
            self.request_cancel(requested_by, &active, format!("preempted by rollback {id}"));
        }
        self.try_start(service, index);
    }

    fn request_cancel(&mut self, actor: &Actor, deployment: &str, reason: String) {
        let Some(d) = self.state.deployments.get(deployment) else {
            return;
        };
        let step = d.running_step();
        self.emit(
            actor,
            reason,
            EventKind::CancelRequested {
                deployment: deployment.to_string(),
            },
        );
        if let Some(step) = step {
            self.effect(Effect::CancelStep {
                run: deployment.to_string(),
                step,
            });
        }
    }

    /// Start the next deployment of a stage if the stage is free.
    fn try_start(&mut self, service: &str, index: usize) {
        let st = self.state.services_stage(service, index);
        if st.active.is_some() {
            return;
        }
        let next = st.queue.iter().find(|id| {
            self.state
                .deployments
                .get(*id)
                .is_some_and(|d| d.status == DeploymentStatus::Queued)
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

    fn start_step(&mut self, run: &str, step: usize) {
        self.emit(
            &Actor::ferry(),
            "next step",
            EventKind::StepStarted {
                run: run.to_string(),
                step,
            },
        );
        match jobs::step_job(self.config, self.state, run, step) {
            Ok(job) => self.effect(Effect::RunStep(job)),
            Err(message) => {
                // The configuration changed under a run: fail it rather than guess.
                let outcome = StepOutcome {
                    status: StepStatus::Failed,
                    exit_code: None,
                    tests: None,
                    message,
                };
                self.step_finished(run, step, outcome, None);
            }
        }
    }

    fn step_finished(
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
        let mut outcome = outcome;
        if !outcome.status.is_done() || outcome.status == StepStatus::Skipped {
            outcome.message = format!(
                "the runner reported `{}`, which is not a result: {}",
                outcome.status.as_str(),
                outcome.message
            );
            outcome.status = StepStatus::Failed;
        }
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
                run: run.to_string(),
                step,
                outcome,
            },
        );
        let Ok(index) = self.stage_index(&d.service, &d.stage) else {
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
            let message = format!("{why} (during {step_name})");
            self.emit(
                &actor,
                message.clone(),
                EventKind::DeploymentFinished {
                    deployment: run.to_string(),
                    status: DeploymentStatus::Cancelled,
                    message,
                },
            );
            self.try_start(&d.service, index);
        } else {
            self.deployment_failed(&d, index, &step_name, status, &message);
        }
    }

    fn build_step_finished(
        &mut self,
        run: &str,
        step: usize,
        outcome: StepOutcome,
        built: Option<BuiltArtifact>,
    ) {
        let Some(b) = self.state.builds.get(run).cloned() else {
            return;
        };
        let status = outcome.status;
        let message = outcome.message.clone();
        self.emit(
            &Actor::ferry(),
            format!("build {}", status.as_str()),
            EventKind::StepFinished {
                run: run.to_string(),
                step,
                outcome,
            },
        );
        match (status, built) {
            (StepStatus::Passed, Some(built)) => {
                let id = format!("a-{}", self.state.next_artifact + 1);
                let artifact = Artifact {
                    id: id.clone(),
                    service: b.service.clone(),
                    version: built.version.clone(),
                    commit: Some(b.commit.clone()),
                    subject: b.subject.clone(),
                    digest: built.digest,
                    uri: built.uri,
                    origin: ArtifactOrigin::Built {
                        build: b.id.clone(),
                    },
                    created_by: b.author.clone(),
                    created_at: self.now,
                    metadata: Default::default(),
                };
                self.emit(
                    &Actor::ferry(),
                    format!("built {} from {}", built.version, short(&b.commit)),
                    EventKind::ArtifactRegistered { artifact },
                );
                let message = format!("built {}", built.version);
                self.emit(
                    &Actor::ferry(),
                    message.clone(),
                    EventKind::BuildFinished {
                        build: b.id.clone(),
                        status: BuildStatus::Succeeded,
                        message,
                    },
                );
                self.out.artifact = Some(id.clone());
                self.enter_first_stage(&b.service, &id, &b.author);
            }
            (StepStatus::Cancelled, _) => {
                self.emit(
                    &Actor::ferry(),
                    "build cancelled",
                    EventKind::BuildFinished {
                        build: b.id.clone(),
                        status: BuildStatus::Cancelled,
                        message: "cancelled".into(),
                    },
                );
            }
            (status, _) => {
                let message = if status == StepStatus::Passed {
                    "build produced no artifact".to_string()
                } else {
                    format!("build {}: {message}", status.as_str().replace('_', " "))
                };
                self.emit(
                    &Actor::ferry(),
                    message.clone(),
                    EventKind::BuildFinished {
                        build: b.id.clone(),
                        status: BuildStatus::Failed,
                        message: message.clone(),
                    },
                );
                self.effect(Effect::Notify(Notification {
                    kind: NotificationKind::BuildFailed,
                    service: b.service.clone(),
                    stage: None,
                    version: None,
                    commit: Some(b.commit.clone()),
                    deployment: None,
                    build: Some(b.id.clone()),
                    message: format!(
                        "{} build of {} by {} failed: {message}",
                        b.service,
                        short(&b.commit),
                        b.author
                    ),
                    at: self.now,
                }));
            }
        }
    }

    fn deployment_succeeded(&mut self, d: &crate::model::Deployment, index: usize) {
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
    fn withdraw_rolled_back(&mut self, rollback: &crate::model::Deployment, next: usize) {
        let passed = &self
            .state
            .services_stage(&rollback.service, next - 1)
            .passed;
        let withdrawn: Vec<(String, String)> = self
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
    fn newer_downstream(&self, d: &crate::model::Deployment, next: usize) -> bool {
        let Some(svc) = self.state.service(&d.service) else {
            return false;
        };
        let order = |id: &String| svc.artifacts.iter().position(|a| a == id);
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

    fn deployment_failed(
        &mut self,
        d: &crate::model::Deployment,
        index: usize,
        step_name: &str,
        status: StepStatus,
        detail: &str,
    ) {
        let message = format!(
            "halted: {step_name} {}: {detail}",
            status.as_str().replace('_', " ")
        );
        self.emit(
            &Actor::ferry(),
            message.clone(),
            EventKind::DeploymentFinished {
                deployment: d.id.clone(),
                status: DeploymentStatus::Failed,
                message: message.clone(),
            },
        );
        if d.kind == DeploymentKind::Rollback {
            // A rollback cut short by a restart is tried once more: the
            // stage must end on its last good release, not half-way there.
            let attempts = self
                .state
                .services_stage(&d.service, index)
                .history
                .iter()
                .filter_map(|id| self.state.deployments.get(id))
                .filter(|r| r.kind == DeploymentKind::Rollback && r.rolls_back == d.rolls_back)
                .count();
            let target = self.state.artifacts.get(&d.artifact).cloned();
            if status == StepStatus::Interrupted
                && attempts < 2
                && let Some(target) = target
            {
                let reason = format!(
                    "retrying rollback {} to {} after a restart",
                    d.id, d.version
                );
                self.create_rollback(
                    &d.service,
                    index,
                    &target,
                    &Actor::ferry(),
                    d.rolls_back.clone(),
                    reason,
                );
                return;
            }
            self.notify(
                NotificationKind::DeploymentFailed,
                &d.id,
                format!(
                    "{} {}: the rollback to {} failed ({message}); the stage needs attention",
                    d.service, d.stage, d.version
                ),
            );
            self.try_start(&d.service, index);
            return;
        }
        self.notify(
            NotificationKind::DeploymentFailed,
            &d.id,
            format!("{} {} to {} {message}", d.service, d.version, d.stage),
        );
        let policy = self
            .config
            .service(&d.service)
            .and_then(|s| s.stages.get(index))
            .map(|s| s.rollback);
        if policy == Some(RollbackPolicy::Auto) {
            let st = self.state.services_stage(&d.service, index);
            let last_good = st.last_good().map(|g| g.artifact.clone());
            let target = st
                .good
                .iter()
                .rev()
                .find(|g| g.artifact != d.artifact)
                .and_then(|g| self.state.artifacts.get(&g.artifact))
                .cloned();
            match target {
                Some(target) => {
                    let which = if last_good.as_ref() == Some(&target.id) {
                        "last good"
                    } else {
                        "the good release before it"
                    };
                    let reason = format!(
                        "automatic rollback after {} failed: {} → {} ({which})",
                        d.id, d.version, target.version
                    );
                    self.create_rollback(
                        &d.service,
                        index,
                        &target,
                        &Actor::ferry(),
                        Some(d.id.clone()),
                        reason,
                    );
                    return;
                }
                None => {
                    let why = if last_good.is_some() {
                        format!("{} has no other good release to roll back to", d.stage)
                    } else {
                        format!(
                            "{} has no last good release: nothing to roll back to",
                            d.stage
                        )
                    };
                    self.emit(
                        &Actor::ferry(),
                        why.clone(),
                        EventKind::RollbackImpossible {
                            service: d.service.clone(),
                            stage: d.stage.clone(),
                            deployment: d.id.clone(),
                        },
                    );
                    self.notify(
                        NotificationKind::RollbackImpossible,
                        &d.id,
                        format!("{} {} failed and stays failed: {why}", d.service, d.stage),
                    );
                }
            }
        }
        self.try_start(&d.service, index);
    }

    fn notify(&mut self, kind: NotificationKind, deployment: &str, message: String) {
        let Some(d) = self.state.deployments.get(deployment) else {
            return;
        };
        let commit = self
            .state
            .artifacts
            .get(&d.artifact)
            .and_then(|a| a.commit.clone());
        let notification = Notification {
            kind,
            service: d.service.clone(),
            stage: Some(d.stage.clone()),
            version: Some(d.version.clone()),
            commit,
            deployment: Some(d.id.clone()),
            build: None,
            message,
            at: self.now,
        };
        self.effect(Effect::Notify(notification));
    }

    /// After a restart: whatever was running when the server died was
    /// interrupted, which fails its run; the rollback policy then applies.
    fn recover(&mut self) {
        let interrupted = |what: &str| StepOutcome {
            status: StepStatus::Interrupted,
            exit_code: None,
            tests: None,
            message: format!("the server stopped while {what} ran"),
        };
        let builds: Vec<(String, usize)> = self
            .state
            .builds
            .values()
            .filter(|b| b.status == BuildStatus::Running)
            .filter_map(|b| {
                b.steps
                    .iter()
                    .position(|s| s.status == StepStatus::Running)
                    .map(|i| (b.id.clone(), i))
            })
            .collect();
        for (run, step) in builds {
            self.step_finished(&run, step, interrupted("the build"), None);
        }
        let deployments: Vec<(String, Option<usize>)> = self
            .state
            .deployments
            .values()
            .filter(|d| d.status == DeploymentStatus::Running)
            .map(|d| (d.id.clone(), d.running_step()))
            .collect();
        for (run, step) in deployments {
            match step {
                Some(step) => self.step_finished(&run, step, interrupted("it"), None),
                None => {
                    // Running without a running step cannot come from this
                    // engine's own events; fail it rather than leave it stuck.
                    if let Some(d) = self.state.deployments.get(&run).cloned()
                        && let Ok(index) = self.stage_index(&d.service, &d.stage)
                    {
                        self.deployment_failed(
                            &d,
                            index,
                            "deployment",
                            StepStatus::Interrupted,
                            "the server stopped",
                        );
                    }
                }
            }
        }
        let stages: Vec<(String, usize)> = self
            .state
            .services
            .iter()
            .flat_map(|s| (0..s.stages.len()).map(|i| (s.name.clone(), i)))
            .collect();
        for (service, index) in stages {
            self.try_start(&service, index);
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
            kind: StepKind::Verify,
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
