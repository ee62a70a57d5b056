//! The state of every service and stage as a fold of the events.
//! `State::apply` is the only code that changes it; it is shared by the
//! server (live and after a restart) and the console (from the stream).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Gate, RollbackPolicy, Source};
use crate::model::{
    Actor, Artifact, ArtifactId, Build, BuildId, BuildStatus, Deployment, DeploymentId,
    DeploymentKind, DeploymentStatus, Event, EventKind, Millis, Seq, Step, StepStatus,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The sequence of the last event applied.
    pub seq: Seq,
    /// In configuration order.
    pub services: Vec<ServiceState>,
    pub artifacts: BTreeMap<ArtifactId, Artifact>,
    pub builds: BTreeMap<BuildId, Build>,
    pub deployments: BTreeMap<DeploymentId, Deployment>,
    /// Counters behind the short ids (b-1, a-1, d-1); derived from the events.
    pub next_build: u64,
    pub next_artifact: u64,
    pub next_deployment: u64,
    /// Running deployments whose step is being killed (a cancel, or a
    /// preempting rollback), with who asked and why.
    #[serde(default)]
    pub cancelling: BTreeMap<DeploymentId, (Actor, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Git { repo: String, branch: String },
    External,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    pub name: String,
    pub source: SourceKind,
    /// Artifacts of this service, oldest first.
    pub artifacts: Vec<ArtifactId>,
    /// Builds of this service, oldest first.
    pub builds: Vec<BuildId>,
    pub stages: Vec<StageState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoodRelease {
    pub artifact: ArtifactId,
    pub deployment: DeploymentId,
    pub at: Millis,
    pub by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    pub name: String,
    pub gate: Gate,
    pub rollback: RollbackPolicy,
    /// The artifact last put into this stage (possibly half-deployed, when
    /// its deployment failed); `None` before the first deployment.
    pub current: Option<ArtifactId>,
    /// Good releases, oldest first; the last one is the stage's last good.
    /// A release that was rolled back is removed.
    pub good: Vec<GoodRelease>,
    /// Artifacts that ever succeeded here: the gate of the next stage.
    pub passed: BTreeSet<ArtifactId>,
    /// The running deployment.
    pub active: Option<DeploymentId>,
    /// Pending deployments (queued or awaiting approval), next first.
    pub queue: Vec<DeploymentId>,
    /// Every deployment to this stage, oldest first.
    pub history: Vec<DeploymentId>,
    /// The deployment that ran and finished last.
    #[serde(default)]
    pub finished: Option<DeploymentId>,
}

impl StageState {
    pub fn last_good(&self) -> Option<&GoodRelease> {
        self.good.last()
    }

    /// Where "roll back" with no target goes: when the stage runs a good
    /// release and is healthy on it, the newest good release before it;
    /// otherwise (a failed or cancelled deployment, or one running now) the
    /// last good release itself, even if it is what was last put there.
    pub fn rollback_target(&self, state: &State) -> Option<&GoodRelease> {
        match &self.current {
            Some(current) if self.is_healthy_on(state, Some(current)) => self.good_before(current),
            _ => self.good.last(),
        }
    }

    /// The good release before `artifact`: the newest good release of
    /// another artifact (what a failed or rolled-back `artifact` returns to).
    pub fn good_before(&self, artifact: &str) -> Option<&GoodRelease> {
        self.good.iter().rev().find(|g| g.artifact != artifact)
    }

    /// What a successful rollback to `target` undoes: every release that
    /// became good after the target's last good one. They are no longer good
    /// here, nor candidates for the next stage (the target itself stays
    /// passed). The target becomes the last good release again.
    fn undo_after(&mut self, target: &ArtifactId) {
        if let Some(pos) = self.good.iter().rposition(|g| &g.artifact == target) {
            for undone in self.good.drain(pos..) {
                if &undone.artifact != target {
                    self.passed.remove(&undone.artifact);
                }
            }
        }
    }

    /// A deployment succeeded here: its artifact passed and is the last good
    /// release; a rollback first undoes what came after its target.
    fn record_success(&mut self, d: &Deployment, at: Millis) {
        self.passed.insert(d.artifact.clone());
        if d.kind == DeploymentKind::Rollback {
            self.undo_after(&d.artifact);
        } else {
            self.good.retain(|g| g.artifact != d.artifact);
        }
        self.good.push(GoodRelease {
            artifact: d.artifact.clone(),
            deployment: d.id.clone(),
            at,
            by: d.requested_by.clone(),
        });
    }

    /// Nothing runs and the last deployment put `artifact` there successfully.
    pub fn is_healthy_on(&self, state: &State, artifact: Option<&ArtifactId>) -> bool {
        self.active.is_none()
            && artifact.is_some()
            && self.last_finished(state).is_some_and(|d| {
                d.status == DeploymentStatus::Succeeded && Some(&d.artifact) == artifact
            })
    }

    /// The most recent deployment that finished (in the order they finished).
    pub fn last_finished<'a>(&self, state: &'a State) -> Option<&'a Deployment> {
        self.finished
            .as_ref()
            .and_then(|id| state.deployments.get(id))
    }

    pub fn is_approval_gated(&self) -> bool {
        matches!(self.gate, Gate::Approval(_))
    }
}

impl State {
    /// The empty state for a configuration: its services and stages, no events.
    pub fn new(config: &Config) -> Self {
        let services = config
            .services
            .iter()
            .map(|s| ServiceState {
                name: s.name.clone(),
                source: match &s.source {
                    Source::Git { repo, branch, .. } => SourceKind::Git {
                        repo: repo.clone(),
                        branch: branch.clone(),
                    },
                    Source::External => SourceKind::External,
                },
                artifacts: Vec::new(),
                builds: Vec::new(),
                stages: s
                    .stages
                    .iter()
                    .map(|st| StageState {
                        name: st.name.clone(),
                        gate: st.gate.clone(),
                        rollback: st.rollback,
                        current: None,
                        good: Vec::new(),
                        passed: BTreeSet::new(),
                        active: None,
                        queue: Vec::new(),
                        history: Vec::new(),
                        finished: None,
                    })
                    .collect(),
            })
            .collect();
        State {
            services,
            ..State::default()
        }
    }

    pub fn service(&self, name: &str) -> Option<&ServiceState> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn service_mut(&mut self, name: &str) -> Option<&mut ServiceState> {
        self.services.iter_mut().find(|s| s.name == name)
    }

    pub fn stage(&self, service: &str, stage: &str) -> Option<&StageState> {
        self.service(service)?
            .stages
            .iter()
            .find(|s| s.name == stage)
    }

    /// The stage at `index` of a service; an empty stage when either is
    /// unknown, so that a stale reference can never bring the engine down.
    pub(crate) fn services_stage(&self, service: &str, index: usize) -> &StageState {
        static UNKNOWN: std::sync::LazyLock<StageState> = std::sync::LazyLock::new(|| StageState {
            name: String::new(),
            gate: Gate::Auto,
            rollback: RollbackPolicy::Manual,
            current: None,
            good: Vec::new(),
            passed: BTreeSet::new(),
            active: None,
            queue: Vec::new(),
            history: Vec::new(),
            finished: None,
        });
        self.service(service)
            .and_then(|s| s.stages.get(index))
            .unwrap_or(&UNKNOWN)
    }

    fn stage_mut(&mut self, service: &str, stage: &str) -> Option<&mut StageState> {
        self.service_mut(service)?
            .stages
            .iter_mut()
            .find(|s| s.name == stage)
    }

    /// An artifact of `service` named by id or by version (newest wins).
    pub fn find_artifact(&self, service: &str, reference: &str) -> Option<&Artifact> {
        if let Some(a) = self.artifacts.get(reference) {
            return (a.service == service).then_some(a);
        }
        let svc = self.service(service)?;
        svc.artifacts
            .iter()
            .rev()
            .filter_map(|id| self.artifacts.get(id))
            .find(|a| a.version == reference)
    }

    /// The state as a client needs it: everything that runs, waits or
    /// decides (active and pending deployments, last good releases), plus
    /// the newest `keep` deployments of each stage and builds and artifacts
    /// of each service. Older history stays on the server (the deployments
    /// API pages through it), so a snapshot does not grow without bound.
    /// Folding later events onto this view gives the same stages as folding
    /// them onto the whole state.
    pub fn recent(&self, keep: usize) -> State {
        let tail = |ids: &[String]| ids[ids.len().saturating_sub(keep)..].to_vec();
        let mut view = State {
            seq: self.seq,
            services: Vec::with_capacity(self.services.len()),
            artifacts: BTreeMap::new(),
            builds: BTreeMap::new(),
            deployments: BTreeMap::new(),
            next_build: self.next_build,
            next_artifact: self.next_artifact,
            next_deployment: self.next_deployment,
            cancelling: self.cancelling.clone(),
        };
        for svc in &self.services {
            let mut stages = Vec::with_capacity(svc.stages.len());
            let mut artifacts: BTreeSet<ArtifactId> = tail(&svc.artifacts).into_iter().collect();
            for st in &svc.stages {
                let mut ids: BTreeSet<DeploymentId> = tail(&st.history).into_iter().collect();
                ids.extend(st.active.iter().cloned());
                ids.extend(st.queue.iter().cloned());
                ids.extend(st.finished.iter().cloned());
                ids.extend(st.good.iter().map(|g| g.deployment.clone()));
                artifacts.extend(st.current.iter().cloned());
                artifacts.extend(st.good.iter().map(|g| g.artifact.clone()));
                for id in &ids {
                    if let Some(d) = self.deployments.get(id) {
                        artifacts.insert(d.artifact.clone());
                        view.deployments.insert(id.clone(), d.clone());
                    }
                }
                let mut stage = st.clone();
                stage.history.retain(|id| ids.contains(id));
                stages.push(stage);
            }
            let builds = tail(&svc.builds);
            for id in &builds {
                if let Some(b) = self.builds.get(id) {
                    artifacts.extend(b.artifact.iter().cloned());
                    view.builds.insert(id.clone(), b.clone());
                }
            }
            for id in &artifacts {
                if let Some(a) = self.artifacts.get(id) {
                    view.artifacts.insert(id.clone(), a.clone());
                }
            }
            view.services.push(ServiceState {
                name: svc.name.clone(),
                source: svc.source.clone(),
                artifacts: svc
                    .artifacts
                    .iter()
                    .filter(|a| artifacts.contains(*a))
                    .cloned()
                    .collect(),
                builds,
                stages,
            });
        }
        view
    }

    /// Deployments waiting for approval, oldest first.
    pub fn pending_approvals(&self) -> Vec<&Deployment> {
        let mut out: Vec<&Deployment> = self
            .services
            .iter()
            .flat_map(|s| s.stages.iter())
            .flat_map(|st| st.queue.iter())
            .filter_map(|id| self.deployments.get(id))
            .filter(|d| d.status == DeploymentStatus::AwaitingApproval)
            .collect();
        out.sort_by_key(|d| d.created_at);
        out
    }

    /// Fold one event into the state. Events naming things this state does
    /// not know (a service removed from the config, a deployment pruned from
    /// a console's snapshot) are ignored rather than trusted.
    pub fn apply(&mut self, event: &Event) {
        self.seq = self.seq.max(event.seq);
        let at = event.at;
        match &event.kind {
            EventKind::ServerStarted { .. } => {}
            EventKind::BuildStarted {
                build,
                service,
                commit,
                subject,
                author,
                steps,
            } => {
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
                }
            }
            EventKind::CancelRequested { deployment } => {
                self.cancelling.insert(
                    deployment.clone(),
                    (event.actor.clone(), event.reason.clone()),
                );
            }
            EventKind::DeploymentFinished { .. } => self.deployment_finished(event),
            EventKind::RollbackImpossible { .. } => {}
            EventKind::NotificationSent { .. } => {}
        }
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

    /// The steps of a run: a deployment's, or a build's.
    pub fn steps(&self, run: &str) -> Option<&[Step]> {
        match self.deployments.get(run) {
            Some(d) => Some(&d.steps),
            None => self.builds.get(run).map(|b| b.steps.as_slice()),
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
