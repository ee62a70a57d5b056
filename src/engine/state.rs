//! The state of every service and stage as a fold of the events, and the
//! rules that read it (what is good, what a rollback goes to, what it undoes).
//! `State::apply` (in `fold.rs`) is the only code that changes it; it is
//! shared by the server (live and after a restart) and the console (from the
//! stream).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Gate, RollbackPolicy, Source};
use crate::model::{
    Actor, Artifact, ArtifactId, Build, BuildId, Deployment, DeploymentId, DeploymentKind,
    DeploymentStatus, Hold, Millis, Quarantine, Seq, Step,
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
    /// The outbox: queued notifications by id, with the channels that
    /// have no final outcome yet. Resent after a restart.
    #[serde(default)]
    pub outbox: BTreeMap<String, PendingNotification>,
    /// Releases ever quarantined, with their history (in force or lifted).
    #[serde(default)]
    pub quarantine: BTreeMap<ArtifactId, Quarantine>,
    /// Ad-hoc freezes, deployments waiting for a window, overrides.
    #[serde(default)]
    pub freeze: FreezeState,
}

/// What the freeze events fold to (`fold_freeze.rs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FreezeState {
    /// Freezes set with `ferry freeze` (an expired one lingers until replaced).
    pub adhoc: Vec<crate::model::AdhocFreeze>,
    /// Deployments that would have started but wait for a window to close.
    pub frozen: BTreeMap<DeploymentId, crate::model::FrozenWait>,
    /// Deployments allowed through freezes by break-glass: who, and why.
    pub overrides: BTreeMap<DeploymentId, (Actor, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingNotification {
    pub notification: crate::model::Notification,
    pub channels: BTreeSet<String>,
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

/// Good releases a stage remembers as rollback targets (the newest ones).
/// Part of the fold: a state folded from any snapshot keeps the same ones.
pub const GOOD_KEPT: usize = 50;

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
    /// A release that was rolled back is removed. At most `GOOD_KEPT`: the
    /// oldest drops out, so a stage's state stays bounded however long it runs.
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
    /// Held after a manual rollback: automatic promotions wait.
    #[serde(default)]
    pub held: Option<Hold>,
}

impl StageState {
    /// A stage nothing has happened in yet.
    pub fn empty(name: String, gate: Gate, rollback: RollbackPolicy) -> Self {
        StageState {
            name,
            gate,
            rollback,
            current: None,
            good: Vec::new(),
            passed: BTreeSet::new(),
            active: None,
            queue: Vec::new(),
            history: Vec::new(),
            finished: None,
            held: None,
        }
    }

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
    pub(super) fn undo_after(&mut self, target: &ArtifactId) {
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
    pub(super) fn record_success(&mut self, d: &Deployment, at: Millis) {
        // Every good release has passed (`undo_after` takes an artifact out
        // of both), so an artifact passing for the first time is not in
        // `good`: the scan is skipped, and replay stays linear per stage.
        let first_pass = self.passed.insert(d.artifact.clone());
        if d.kind == DeploymentKind::Rollback {
            self.undo_after(&d.artifact);
        } else if !first_pass {
            self.good.retain(|g| g.artifact != d.artifact);
        }
        self.good.push(GoodRelease {
            artifact: d.artifact.clone(),
            deployment: d.id.clone(),
            at,
            by: d.requested_by.clone(),
        });
        if self.good.len() > GOOD_KEPT {
            let drop = self.good.len() - GOOD_KEPT;
            self.good.drain(..drop);
        }
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
                    .map(|st| StageState::empty(st.name.clone(), st.gate.clone(), st.rollback))
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
        static UNKNOWN: std::sync::LazyLock<StageState> = std::sync::LazyLock::new(|| {
            StageState::empty(String::new(), Gate::Auto, RollbackPolicy::Manual)
        });
        self.service(service)
            .and_then(|s| s.stages.get(index))
            .unwrap_or(&UNKNOWN)
    }

    pub(super) fn stage_mut(&mut self, service: &str, stage: &str) -> Option<&mut StageState> {
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
        // The fold already keeps no more than this (`trim.rs`).
        if keep >= super::KEPT {
            return self.clone();
        }
        fn newest<T: Clone>(ids: &[T], keep: usize) -> Vec<T> {
            ids[ids.len().saturating_sub(keep)..].to_vec()
        }
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
            // Only what is still owed: small, and a client folding later
            // events onto the view needs it.
            outbox: self.outbox.clone(),
            quarantine: self.quarantine.clone(),
            freeze: self.freeze.clone(),
        };
        for svc in &self.services {
            let mut stages = Vec::with_capacity(svc.stages.len());
            let mut artifacts: BTreeSet<ArtifactId> =
                newest(&svc.artifacts, keep).into_iter().collect();
            for st in &svc.stages {
                let mut ids: BTreeSet<DeploymentId> =
                    newest(&st.history, keep).into_iter().collect();
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
            let builds = newest(&svc.builds, keep);
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

    /// Whether a release is quarantined now.
    pub fn is_quarantined(&self, artifact: &str) -> bool {
        self.quarantine.get(artifact).is_some_and(|q| q.active)
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

    /// The steps of a run: a deployment's, or a build's.
    pub fn steps(&self, run: &str) -> Option<&[Step]> {
        match self.deployments.get(run) {
            Some(d) => Some(&d.steps),
            None => self.builds.get(run).map(|b| b.steps.as_slice()),
        }
    }
}
