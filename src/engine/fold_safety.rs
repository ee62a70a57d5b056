//! The fold of the release-safety events: quarantines and holds.

use crate::model::{Event, EventKind, Hold, Quarantine, QuarantineChange};

use super::state::State;

impl State {
    pub(super) fn apply_safety(&mut self, event: &Event) {
        match &event.kind {
            EventKind::ArtifactQuarantined {
                service,
                artifact,
                incident,
            } => {
                let q = self
                    .quarantine
                    .entry(artifact.clone())
                    .or_insert_with(|| Quarantine {
                        artifact: artifact.clone(),
                        service: service.clone(),
                        ..Quarantine::default()
                    });
                q.active = true;
                q.history.push(QuarantineChange {
                    action: "added".into(),
                    at: event.at,
                    by: event.actor.clone(),
                    reason: event.reason.clone(),
                    incident: incident.clone(),
                });
            }
            EventKind::QuarantineLifted { artifact, .. } => {
                if let Some(q) = self.quarantine.get_mut(artifact) {
                    q.active = false;
                    q.history.push(QuarantineChange {
                        action: "lifted".into(),
                        at: event.at,
                        by: event.actor.clone(),
                        reason: event.reason.clone(),
                        incident: None,
                    });
                }
            }
            EventKind::StageHeld {
                service,
                stage,
                rollback,
            } => {
                if let Some(st) = self.stage_mut(service, stage) {
                    st.held = Some(Hold {
                        at: event.at,
                        by: event.actor.clone(),
                        reason: event.reason.clone(),
                        rollback: rollback.clone(),
                    });
                }
            }
            EventKind::HoldLifted { service, stage } => {
                if let Some(st) = self.stage_mut(service, stage) {
                    st.held = None;
                }
            }
            _ => {}
        }
    }
}
