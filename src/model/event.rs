//! Events: the immutable, numbered facts the state is folded from.

use serde::{Deserialize, Serialize};

use super::{
    Actor, Approval, ApprovalRule, Artifact, ArtifactId, BuildId, BuildStatus, DeploymentId,
    DeploymentKind, DeploymentStatus, FrozenWait, Incident, Millis, Notification, RunId, Seq,
    SignOff, SignOffRule, StepOutcome, StepPlan,
};

/// An immutable, numbered fact. `seq` is given by the store on append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: Seq,
    pub at: Millis,
    pub actor: Actor,
    pub reason: String,
    pub kind: EventKind,
}

/// An event the engine decided on, before the store numbers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub at: Millis,
    pub actor: Actor,
    pub reason: String,
    pub kind: EventKind,
}

impl NewEvent {
    pub fn numbered(self, seq: Seq) -> Event {
        Event {
            seq,
            at: self.at,
            actor: self.actor,
            reason: self.reason,
            kind: self.kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum EventKind {
    /// The server started with this pipeline (first start, or config changed).
    ServerStarted {
        version: String,
    },
    BuildStarted {
        build: BuildId,
        service: String,
        commit: String,
        subject: Option<String>,
        author: Actor,
        steps: Vec<StepPlan>,
    },
    BuildFinished {
        build: BuildId,
        status: BuildStatus,
        message: String,
    },
    ArtifactRegistered {
        artifact: Artifact,
    },
    DeploymentCreated {
        deployment: DeploymentId,
        service: String,
        stage: String,
        artifact: ArtifactId,
        kind: DeploymentKind,
        /// Queued, or awaiting approval.
        status: DeploymentStatus,
        requested_by: Actor,
        approval: Option<ApprovalRule>,
        steps: Vec<StepPlan>,
        rolls_back: Option<DeploymentId>,
        /// The artifact's version and digest, so that a client whose
        /// snapshot left an old artifact out still knows what deploys.
        #[serde(default)]
        version: String,
        #[serde(default)]
        digest: String,
    },
    ApprovalRecorded {
        deployment: DeploymentId,
        approval: Approval,
    },
    /// Its gate now holds; it waits only for the stage to be free.
    DeploymentApproved {
        deployment: DeploymentId,
    },
    DeploymentStarted {
        deployment: DeploymentId,
    },
    StepStarted {
        run: RunId,
        step: usize,
    },
    /// A batch of output lines, already sanitized and masked.
    StepOutput {
        run: RunId,
        step: usize,
        lines: Vec<String>,
        /// Lines left out of the stream by rate limiting (still in the log file).
        #[serde(default)]
        dropped: u64,
    },
    StepFinished {
        run: RunId,
        step: usize,
        outcome: StepOutcome,
    },
    /// A request to stop a running deployment; the step is being killed.
    CancelRequested {
        deployment: DeploymentId,
    },
    DeploymentFinished {
        deployment: DeploymentId,
        status: DeploymentStatus,
        message: String,
    },
    /// After a restart: the deployment was interrupted before any of its
    /// steps had an effect, so it waits to run again with its approvals.
    /// `current` is what its stage runs (it never got this deployment's).
    DeploymentRequeued {
        deployment: DeploymentId,
        current: Option<ArtifactId>,
    },
    /// A failure with `rollback = "auto"` and nothing to roll back to.
    RollbackImpossible {
        service: String,
        stage: String,
        deployment: DeploymentId,
    },
    /// At a start, a waiting deployment's gate follows the current config:
    /// its rule is the stage's rule now, approvals of users no longer
    /// configured are void, and its status says whether the gate holds.
    GateReevaluated {
        deployment: DeploymentId,
        approval: Option<ApprovalRule>,
        voided: Vec<Actor>,
        status: DeploymentStatus,
    },
    /// A notification is owed to each of `channels` (the outbox): it is
    /// delivered, retried, and resumed after a restart until each channel
    /// has its `NotificationSent`.
    NotificationQueued {
        id: String,
        notification: Notification,
        channels: Vec<String>,
    },
    /// One channel's final outcome: delivered (`ok`) or given up after
    /// `attempts`, `detail` the last answer or error (masked).
    NotificationSent {
        notification: Notification,
        channel: String,
        ok: bool,
        detail: String,
        #[serde(default)]
        attempts: u32,
    },
    /// A release may no longer enter any stage of its service: it was
    /// rolled back away from (`incident`), or marked bad by hand (`None`).
    ArtifactQuarantined {
        service: String,
        artifact: ArtifactId,
        #[serde(default)]
        incident: Option<Incident>,
    },
    /// `ferry quarantine lift`: the release may be promoted again.
    QuarantineLifted {
        service: String,
        artifact: ArtifactId,
    },
    /// After a manual rollback: automatic promotions into the stage wait.
    StageHeld {
        service: String,
        stage: String,
        rollback: Option<DeploymentId>,
    },
    /// The hold ended: lifted by hand, or by an explicit promotion.
    HoldLifted {
        service: String,
        stage: String,
    },
    /// A sign-off step was reached: the deployment waits for people,
    /// by this rule (the config's when the step was reached).
    SignOffRequested {
        deployment: DeploymentId,
        step: usize,
        rule: SignOffRule,
    },
    /// A person's verdict on a sign-off step (`ferry sign-off`).
    SignOffRecorded {
        deployment: DeploymentId,
        step: usize,
        sign_off: SignOff,
    },
    /// `ferry freeze`: promotions into `stage` (of every service that has
    /// it, or of `service`) wait until `until`; rollbacks still run.
    StageFrozen {
        stage: String,
        #[serde(default)]
        service: Option<String>,
        until: Millis,
    },
    /// `ferry unfreeze`: the ad-hoc freeze of `stage` ends now.
    StageUnfrozen {
        stage: String,
        #[serde(default)]
        service: Option<String>,
    },
    /// The deployment would have started, but a freeze window covers its
    /// stage: it waits, and starts by itself when the window closes.
    DeploymentFrozen {
        deployment: DeploymentId,
        wait: FrozenWait,
    },
    /// Break-glass: the deployment may start inside the named freezes
    /// (the actor and reason are the event's).
    FreezeOverridden {
        deployment: DeploymentId,
        freezes: Vec<String>,
    },
    /// A lesson or comment on a deployment (`ferry note`).
    NoteAdded {
        deployment: DeploymentId,
        author: Actor,
        text: String,
    },
}

impl EventKind {
    /// The deployment, build or artifact the event is about: the id the
    /// store indexes it under, so the events of one run can be read back
    /// (`Store::events_about`). The stores' migrations compute the same from
    /// the JSON body: the first of `deployment`, `run`, `build`,
    /// `artifact.id` and `artifact`.
    pub fn about(&self) -> Option<&str> {
        match self {
            EventKind::DeploymentCreated { deployment, .. }
            | EventKind::ApprovalRecorded { deployment, .. }
            | EventKind::DeploymentApproved { deployment }
            | EventKind::DeploymentStarted { deployment }
            | EventKind::CancelRequested { deployment }
            | EventKind::DeploymentFinished { deployment, .. }
            | EventKind::DeploymentRequeued { deployment, .. }
            | EventKind::RollbackImpossible { deployment, .. }
            | EventKind::GateReevaluated { deployment, .. }
            | EventKind::SignOffRequested { deployment, .. }
            | EventKind::SignOffRecorded { deployment, .. }
            | EventKind::DeploymentFrozen { deployment, .. }
            | EventKind::FreezeOverridden { deployment, .. }
            | EventKind::NoteAdded { deployment, .. } => Some(deployment),
            EventKind::StepStarted { run, .. }
            | EventKind::StepOutput { run, .. }
            | EventKind::StepFinished { run, .. } => Some(run),
            EventKind::BuildStarted { build, .. } | EventKind::BuildFinished { build, .. } => {
                Some(build)
            }
            EventKind::ArtifactRegistered { artifact } => Some(&artifact.id),
            EventKind::ArtifactQuarantined { artifact, .. }
            | EventKind::QuarantineLifted { artifact, .. } => Some(artifact),
            EventKind::ServerStarted { .. }
            | EventKind::NotificationQueued { .. }
            | EventKind::NotificationSent { .. }
            | EventKind::StageHeld { .. }
            | EventKind::HoldLifted { .. }
            | EventKind::StageFrozen { .. }
            | EventKind::StageUnfrozen { .. } => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::ServerStarted { .. } => "server_started",
            EventKind::BuildStarted { .. } => "build_started",
            EventKind::BuildFinished { .. } => "build_finished",
            EventKind::ArtifactRegistered { .. } => "artifact_registered",
            EventKind::DeploymentCreated { .. } => "deployment_created",
            EventKind::ApprovalRecorded { .. } => "approval_recorded",
            EventKind::DeploymentApproved { .. } => "deployment_approved",
            EventKind::DeploymentStarted { .. } => "deployment_started",
            EventKind::StepStarted { .. } => "step_started",
            EventKind::StepOutput { .. } => "step_output",
            EventKind::StepFinished { .. } => "step_finished",
            EventKind::CancelRequested { .. } => "cancel_requested",
            EventKind::DeploymentFinished { .. } => "deployment_finished",
            EventKind::DeploymentRequeued { .. } => "deployment_requeued",
            EventKind::RollbackImpossible { .. } => "rollback_impossible",
            EventKind::GateReevaluated { .. } => "gate_reevaluated",
            EventKind::NotificationQueued { .. } => "notification_queued",
            EventKind::NotificationSent { .. } => "notification_sent",
            EventKind::NoteAdded { .. } => "note_added",
            EventKind::SignOffRequested { .. } => "sign_off_requested",
            EventKind::SignOffRecorded { .. } => "sign_off_recorded",
            EventKind::ArtifactQuarantined { .. } => "artifact_quarantined",
            EventKind::QuarantineLifted { .. } => "quarantine_lifted",
            EventKind::StageHeld { .. } => "stage_held",
            EventKind::HoldLifted { .. } => "hold_lifted",
            EventKind::StageFrozen { .. } => "stage_frozen",
            EventKind::StageUnfrozen { .. } => "stage_unfrozen",
            EventKind::DeploymentFrozen { .. } => "deployment_frozen",
            EventKind::FreezeOverridden { .. } => "freeze_overridden",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json() {
        let e = NewEvent {
            at: 5,
            actor: Actor::ferry(),
            reason: "r".into(),
            kind: EventKind::DeploymentStarted {
                deployment: "d1".into(),
            },
        }
        .numbered(7);
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"type\":\"deployment_started\""));
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
