//! `ferry rollback`: which release a rollback puts back, and the same
//! request asked twice answered with the one under way.

use super::*;
use crate::engine::StageState;
use crate::model::DeploymentId;

impl Cx<'_> {
    pub(super) fn rollback(
        &mut self,
        by: &Principal,
        service: String,
        stage: String,
        to: Option<String>,
    ) -> Result<(), Rejection> {
        let index = self.stage_index(&service, &stage)?;
        let st = self.state.services_stage(&service, index).clone();
        let target = match &to {
            Some(reference) => {
                let artifact = self.artifact(&service, reference)?;
                // The same rollback asked again (a retry, five clicks) answers
                // with the one under way instead of cancelling it.
                if let Some(id) = self.same_rollback(&st, &artifact.id) {
                    self.out.deployment = Some(id);
                    return Ok(());
                }
                self.chosen_rollback_target(&service, &stage, &st, artifact)?
            }
            None => {
                // Asking twice (a retry, a second engineer) must not
                // go two releases back: the rollback under way answers.
                if let Some(id) = self.rollback_under_way(&st) {
                    self.out.deployment = Some(id);
                    return Ok(());
                }
                self.previous_good_target(&service, &stage, &st)?
            }
        };
        let from = st
            .current
            .as_ref()
            .and_then(|id| self.state.artifacts.get(id))
            .map(|a| a.version.clone())
            .unwrap_or_else(|| "nothing".into());
        let rolls_back = self.deployment_to_undo(&st);
        let reason = format!("rollback by {}: {from} → {}", by.name, target.version);
        // Rolling back away from a release quarantines it; by hand, the
        // stage is held too, so automation does not undo the operator.
        if let Some(current) = st.current.as_ref().filter(|c| **c != target.id) {
            self.quarantine_rolled_back(
                &service,
                &stage,
                current,
                rolls_back.clone(),
                &by.actor(),
                &reason,
            );
        }
        self.create_rollback(
            &service,
            index,
            &target,
            &by.actor(),
            rolls_back,
            reason.clone(),
        );
        self.hold_stage(&service, index, &by.actor(), format!("held after {reason}"));
        Ok(())
    }

    /// `ferry rollback --to X`: X must be a good release of the stage that
    /// does not already run there.
    fn chosen_rollback_target(
        &self,
        service: &str,
        stage: &str,
        st: &StageState,
        artifact: Artifact,
    ) -> Result<Artifact, Rejection> {
        if !st.good.iter().any(|g| g.artifact == artifact.id) {
            return Err(reject(
                RejectionKind::Conflict,
                format!(
                    "{service} {} is not a good release of {stage}",
                    artifact.version
                ),
            )
            .hint(format!(
                "roll back to a release that succeeded there and was not rolled back, one of the \
                 {} newest: `ferry history {service} {stage}`",
                crate::engine::GOOD_KEPT
            )));
        }
        if st.is_healthy_on(self.state, Some(&artifact.id)) {
            return Err(reject(
                RejectionKind::Conflict,
                format!("{stage} already runs {service} {}", artifact.version),
            ));
        }
        Ok(artifact)
    }

    /// A rollback to `artifact` already running or waiting in the stage.
    fn same_rollback(&self, st: &StageState, artifact: &ArtifactId) -> Option<DeploymentId> {
        st.active
            .iter()
            .chain(st.queue.iter())
            .find(|id| {
                self.state
                    .deployments
                    .get(*id)
                    .is_some_and(|d| d.kind == DeploymentKind::Rollback && &d.artifact == artifact)
            })
            .cloned()
    }

    /// A rollback already running or waiting in the stage, if any.
    fn rollback_under_way(&self, st: &StageState) -> Option<DeploymentId> {
        st.active
            .iter()
            .chain(st.queue.iter())
            .find(|id| {
                self.state
                    .deployments
                    .get(*id)
                    .is_some_and(|d| d.kind == DeploymentKind::Rollback)
            })
            .cloned()
    }

    /// `ferry rollback` without `--to`: the good release before the current one.
    fn previous_good_target(
        &self,
        service: &str,
        stage: &str,
        st: &StageState,
    ) -> Result<Artifact, Rejection> {
        let Some(good) = st.rollback_target(self.state) else {
            return Err(reject(
                RejectionKind::Conflict,
                format!("{service} {stage} has no earlier good release to roll back to"),
            )
            .hint("a rollback needs a release that once succeeded in this stage"));
        };
        let id = good.artifact.clone();
        self.artifact(service, &id)
    }

    /// The deployment a rollback undoes: the running one, else the last one
    /// that put the current release in place.
    fn deployment_to_undo(&self, st: &StageState) -> Option<DeploymentId> {
        st.active.clone().or_else(|| {
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
        })
    }
}
