//! The commands people and CI send: each validated completely before its
//! first event, so that a rejection leaves the state untouched.

use super::*;
use crate::model::DeploymentId;

impl Cx<'_> {
    // The fields of Command::RegisterArtifact, as they come.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn register_artifact(
        &mut self,
        by: &Principal,
        service: String,
        version: String,
        (commit, committed_at): (Option<String>, Option<crate::model::Millis>),
        subject: Option<String>,
        digest: String,
        uri: String,
        metadata: std::collections::BTreeMap<String, String>,
    ) -> Result<(), Rejection> {
        self.service_config(&service)?;
        let version = version.trim().to_string();
        check_artifact_fields(&version, &digest, &uri)?;
        if let Some(existing) = self.state.find_artifact(&service, &version) {
            if crate::model::same_digest(&existing.digest, &digest) {
                // Idempotent: a CI that retries gets the same answer.
                self.out.artifact = Some(existing.id.clone());
                return Ok(());
            }
            return Err(reject(
                RejectionKind::Conflict,
                format!(
                    "{service} {version} is already registered with another digest ({})",
                    short_sha(&existing.digest)
                ),
            )
            .hint("artifacts are immutable: register the new build under a new version"));
        }
        let id = ArtifactId::from(format!("a-{}", self.state.next_artifact + 1));
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
            committed_at,
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

    pub(super) fn promote(
        &mut self,
        by: &Principal,
        service: String,
        stage: String,
        artifact: String,
    ) -> Result<(), Rejection> {
        let index = self.stage_index(&service, &stage)?;
        let artifact = self.artifact(&service, &artifact)?;
        self.refuse_quarantined(&artifact)?;
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
        // Promoting what waits in a held stage is the explicit promote
        // the hold waits for: it ends the hold and the deployment starts.
        if let Some(d) = busy
            && st.held.is_some()
            && d.status == DeploymentStatus::Queued
        {
            let id = d.id.clone();
            self.release_hold(
                &service,
                index,
                &by.actor(),
                format!("promoted explicitly by {}", by.name),
            );
            self.out.deployment = Some(id);
            self.try_start(&service, index);
            return Ok(());
        }
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
        // An explicit promotion is the operator taking over again.
        self.release_hold(
            &service,
            index,
            &by.actor(),
            format!("promoted explicitly by {}", by.name),
        );
        self.create_promotion(&service, index, &artifact, &by.actor(), kind, reason);
        Ok(())
    }

    pub(super) fn approve(
        &mut self,
        by: &Principal,
        deployment: DeploymentId,
        comment: Option<String>,
        digest: Option<String>,
    ) -> Result<(), Rejection> {
        let d = self.awaiting_approval(&deployment)?;
        self.check_approver(by, &d, true)?;
        if let Some(a) = self.state.artifacts.get(&d.artifact).cloned() {
            self.refuse_quarantined(&a)?;
        }
        if d.approvals.iter().any(|a| a.by.name() == by.name) {
            return Err(reject(
                RejectionKind::Conflict,
                format!("you already approved {deployment}"),
            ));
        }
        if let Some(digest) = digest
            && !crate::model::same_digest(&digest, &d.digest)
        {
            return Err(reject(
                RejectionKind::Conflict,
                format!(
                    "{deployment} deploys digest {}, not {}",
                    short_sha(&d.digest),
                    short_sha(&digest)
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
                // Approving is promoting explicitly: it ends a hold.
                self.release_hold(
                    &d.service,
                    index,
                    &by.actor(),
                    format!("{deployment} approved by {}", by.name),
                );
                self.try_start(&d.service, index);
            }
        }
        Ok(())
    }

    pub(super) fn reject(
        &mut self,
        by: &Principal,
        deployment: DeploymentId,
        comment: Option<String>,
    ) -> Result<(), Rejection> {
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

    pub(super) fn cancel(
        &mut self,
        by: &Principal,
        deployment: DeploymentId,
    ) -> Result<(), Rejection> {
        let d = self
            .state
            .deployments
            .get(&deployment)
            .cloned()
            .ok_or_else(|| {
                self.no_deployment(&deployment, "`ferry status` shows what runs and waits")
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

    pub(super) fn new_commit(
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
                .find(|b| b.commit == commit && !b.was_interrupted())
        }) {
            return Err(reject(
                RejectionKind::Conflict,
                format!(
                    "commit {} of {service} was already built ({})",
                    short_sha(&commit),
                    existing.id
                ),
            ));
        }
        let id = BuildId::from(format!("b-{}", self.state.next_build + 1));
        let subject = subject.map(|s| crate::model::sanitize_text(&s));
        let author = Actor(crate::model::sanitize_text(&author));
        self.emit(
            &by.actor(),
            format!(
                "new commit {} by {author}: {}",
                short_sha(&commit),
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

    pub(super) fn awaiting_approval(
        &self,
        id: &str,
    ) -> Result<crate::model::Deployment, Rejection> {
        let d = self.state.deployments.get(id).ok_or_else(|| {
            self.no_deployment(
                id,
                "`ferry status` shows the deployments waiting for approval",
            )
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
            )
            .hint("`ferry status` shows the deployments waiting for approval"));
        }
        Ok(d.clone())
    }

    pub(super) fn check_approver(
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
            .map(|a| a.created_by.name());
        // One comparison for every name: the one `user_for_author` uses.
        let same = |name: &str| crate::model::same_person(&by.name, name);
        let is_self = same(d.requested_by.name()) || author.is_some_and(same);
        if approving && !rule.allow_self && is_self {
            return Err(reject(
                RejectionKind::Forbidden,
                "you can't approve your own deployment",
            )
            .hint("another person with the gate's role must approve it"));
        }
        Ok(())
    }
}

/// What a registration must carry: a version, a sha256 digest and a uri.
fn check_artifact_fields(version: &str, digest: &str, uri: &str) -> Result<(), Rejection> {
    if version.is_empty()
        || version.len() > 128
        || version.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(reject(
            RejectionKind::Invalid,
            format!("invalid version `{}`", crate::model::sanitize_text(version)),
        )
        .hint("a version is 1 to 128 characters without spaces, e.g. 1.4.2"));
    }
    if !crate::model::is_sha256_digest(digest) {
        return Err(reject(
            RejectionKind::Invalid,
            format!("invalid digest `{}`", crate::model::sanitize_text(digest)),
        )
        .hint("give the sha256 of the artifact as 64 lowercase hex digits, optionally as sha256:<hex>"));
    }
    if uri.trim().is_empty() {
        return Err(
            reject(RejectionKind::Invalid, "the artifact's uri is empty")
                .hint("say where the artifact can be fetched from"),
        );
    }
    Ok(())
}
