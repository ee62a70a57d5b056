//! The fold of the freeze events: ad-hoc freezes, deployments waiting for
//! a window to close, and break-glass overrides. (A deployment's wait and
//! override end with it, in `fold.rs`.)

use crate::model::{AdhocFreeze, Event, EventKind};

use super::state::State;

impl State {
    pub(super) fn apply_freeze(&mut self, event: &Event) {
        match &event.kind {
            EventKind::StageFrozen {
                stage,
                service,
                until,
            } => {
                // A new freeze of the same scope replaces the old one; ended
                // ones are dropped here so the list stays short.
                self.freeze.adhoc.retain(|f| {
                    !(f.stage == *stage && f.service == *service) && f.until > event.at
                });
                self.freeze.adhoc.push(AdhocFreeze {
                    stage: stage.clone(),
                    service: service.clone(),
                    until: *until,
                    at: event.at,
                    by: event.actor.clone(),
                    reason: event.reason.clone(),
                });
            }
            EventKind::StageUnfrozen { stage, service } => {
                self.freeze
                    .adhoc
                    .retain(|f| !(f.stage == *stage && f.service == *service));
            }
            EventKind::DeploymentFrozen { deployment, wait }
                if self.deployments.contains_key(deployment) =>
            {
                self.freeze.frozen.insert(deployment.clone(), wait.clone());
            }
            EventKind::FreezeOverridden { deployment, .. }
                if self.deployments.contains_key(deployment) =>
            {
                self.freeze.overrides.insert(
                    deployment.clone(),
                    (event.actor.clone(), event.reason.clone()),
                );
            }
            _ => {}
        }
    }
}
