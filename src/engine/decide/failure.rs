//! What follows when a deployment fails: a rollback that a restart cut short
//! is retried (bounded), one that failed is reported as needing an operator; a promotion that failed is rolled back
//! by itself when its stage says `rollback = "auto"`. None of it can fail.

use super::*;
use crate::model::Deployment;

/// How many times a rollback to the same release is started after restarts
/// cut it short, before the stage is left to an operator.
pub(crate) const ROLLBACK_ATTEMPTS: usize = 3;

impl Cx<'_> {
    /// End `d` as failed at `step_name`, then apply the rollback policy.
    pub(super) fn deployment_failed(
        &mut self,
        d: &Deployment,
        index: usize,
        step_name: &str,
        status: StepStatus,
        detail: &str,
    ) {
        let halted = format!(
            "halted: {step_name} {}: {detail}",
            status.as_str().replace('_', " ")
        );
        let retry = (d.kind == DeploymentKind::Rollback && status == StepStatus::Interrupted)
            .then(|| self.rollback_retry_target(d, index))
            .flatten();
        // A rollback that will not be tried again leaves the stage on a
        // release that is not its last good one: never silently. Its end
        // says what the stage runs and that a person must act.
        let message = if d.kind == DeploymentKind::Rollback && retry.is_none() {
            format!(
                "rollback failed: {} runs {} (the rollback to {} did not complete), operator needed ({halted})",
                d.stage,
                self.runs_instead(d),
                d.version
            )
        } else {
            halted
        };
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
            if let Some(target) = retry {
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
                NotificationKind::RollbackFailed,
                &d.id,
                format!(
                    "{} {}: {message}; the stage needs attention",
                    d.service, d.stage
                ),
            );
            self.try_start(&d.service, index);
            return;
        }
        if let Some(mut n) = self.notification(
            NotificationKind::DeploymentFailed,
            &d.id,
            format!("{} {} to {} {message}", d.service, d.version, d.stage),
        ) {
            self.add_failed_tests(&mut n, &d.id);
            self.effect(Effect::Notify(n));
        }
        let policy = self
            .config
            .service(&d.service)
            .and_then(|s| s.stages.get(index))
            .map(|s| s.rollback);
        if policy == Some(RollbackPolicy::Auto) && self.roll_back_automatically(d, index) {
            return;
        }
        self.try_start(&d.service, index);
    }

    /// Name the failed tests of `deployment`'s failed steps (bounded: the
    /// first `NOTIFIED_TESTS`, then how many more), so a reader of the
    /// notification sees which tests broke without opening the log.
    fn add_failed_tests(&self, n: &mut Notification, deployment: &str) {
        let Some(d) = self.state.deployments.get(deployment) else {
            return;
        };
        let failed = d.steps.iter().filter(|s| s.status.is_failure());
        let mut named = Vec::new();
        let mut total: usize = 0;
        for s in failed {
            // The report's count covers names past the kept bound.
            let count = s
                .tests
                .map_or(0, |t| t.failed as usize)
                .max(s.failed_tests.len());
            total += count;
            named.extend(s.failed_tests.iter().cloned());
        }
        if named.is_empty() {
            return;
        }
        named.truncate(crate::model::NOTIFIED_TESTS);
        let more = total.saturating_sub(named.len()) as u32;
        n.failed_tests = Some(Box::new(crate::model::FailedTests { named, more }));
    }

    /// What a stage runs after rollback `d` did not complete, for people:
    /// the release it was rolling back from, at least in part.
    fn runs_instead(&self, d: &Deployment) -> String {
        d.rolls_back
            .as_ref()
            .and_then(|r| self.state.deployments.get(r))
            .map_or_else(|| "an unknown release".to_string(), |r| r.version.clone())
    }

    /// A rollback cut short by a restart is tried again, up to
    /// `ROLLBACK_ATTEMPTS` in all: the stage must end on its last good
    /// release, not half-way there. The release to try again, if any.
    fn rollback_retry_target(&self, d: &Deployment, index: usize) -> Option<Artifact> {
        let attempts = self
            .state
            .services_stage(&d.service, index)
            .history
            .iter()
            .filter_map(|id| self.state.deployments.get(id))
            .filter(|r| r.kind == DeploymentKind::Rollback && r.rolls_back == d.rolls_back)
            .count();
        self.state
            .artifacts
            .get(&d.artifact)
            .filter(|_| attempts < ROLLBACK_ATTEMPTS)
            .cloned()
    }

    /// Roll the stage back to the good release before the failed one's
    /// artifact; when there is none, record that it is impossible and tell
    /// people. Whether a rollback was created (it starts the stage itself).
    fn roll_back_automatically(&mut self, d: &Deployment, index: usize) -> bool {
        let st = self.state.services_stage(&d.service, index);
        let last_good = st.last_good().map(|g| g.artifact.clone());
        let target = st
            .good_before(&d.artifact)
            .and_then(|g| self.state.artifacts.get(&g.artifact))
            .cloned();
        let Some(target) = target else {
            self.rollback_impossible(d, last_good.is_some());
            return false;
        };
        let which = if last_good.as_ref() == Some(&target.id) {
            "last good"
        } else {
            "the good release before it"
        };
        let reason = format!(
            "automatic rollback after {} failed: {} → {} ({which})",
            d.id, d.version, target.version
        );
        self.quarantine_rolled_back(
            &d.service,
            &d.stage,
            &d.artifact,
            Some(d.id.clone()),
            &Actor::ferry(),
            &reason,
        );
        self.create_rollback(
            &d.service,
            index,
            &target,
            &Actor::ferry(),
            Some(d.id.clone()),
            reason,
        );
        true
    }

    /// `rollback = "auto"` with nothing to roll back to: the stage stays failed.
    fn rollback_impossible(&mut self, d: &Deployment, has_last_good: bool) {
        let why = if has_last_good {
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
