//! After a restart: what was running when the server died was interrupted.

use super::*;
use crate::model::{RunId, StepKind};

impl Cx<'_> {
    /// After a restart: whatever was running when the server died was
    /// interrupted, which fails its run; the rollback policy then applies.
    pub(super) fn recover(&mut self, not_begun: &[(RunId, usize)]) {
        let interrupted = |what: &str| StepOutcome {
            status: StepStatus::Interrupted,
            exit_code: None,
            tests: None,
            message: format!("the server stopped while {what} ran"),
            failed_tests: Vec::new(),
        };
        let builds: Vec<(BuildId, usize)> = self
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
        let deployments: Vec<(DeploymentId, Option<usize>)> = self
            .state
            .deployments
            .values()
            .filter(|d| d.status == DeploymentStatus::Running)
            .map(|d| (d.id.clone(), d.running_step()))
            .collect();
        for (run, step) in deployments {
            // A deployment waiting for a sign-off ran nothing a restart
            // could cut short: it goes on waiting.
            if step.is_some_and(|s| self.waits_for_sign_off(&run, s)) {
                continue;
            }
            if let Some(step) = step
                && self.requeue_if_untouched(&run, step, not_begun)
            {
                continue;
            }
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

    /// A deployment whose running step never started a process, and none
    /// of whose steps finished, changed nothing: it runs again, approvals
    /// kept. Whether it was queued again.
    fn requeue_if_untouched(
        &mut self,
        run: &str,
        step: usize,
        not_begun: &[(RunId, usize)],
    ) -> bool {
        let Some(d) = self.state.deployments.get(run) else {
            return false;
        };
        let began = !not_begun.iter().any(|(r, s)| r == run && *s == step)
            // A health check runs no process, so it never leaves a mark:
            // cut short, it is a failure as the rules say.
            || d.steps.get(step).is_none_or(|s| s.kind == StepKind::Health);
        if began {
            return false;
        }
        let untouched = d
            .steps
            .iter()
            .all(|s| matches!(s.status, StepStatus::Pending | StepStatus::Running));
        if !untouched {
            // Earlier steps finished (a planned restart stopped the server
            // between two steps): the one that never began starts now.
            let id = d.id.clone();
            self.start_step(&id, step);
            return true;
        }
        // What the stage ran before this deployment started: the artifact of
        // the deployment that finished there last.
        let current = self
            .state
            .stage(&d.service, &d.stage)
            .and_then(|st| st.finished.as_ref())
            .and_then(|f| self.state.deployments.get(f))
            .map(|f| f.artifact.clone());
        let id = d.id.clone();
        self.emit(
            &Actor::ferry(),
            format!("{id} was interrupted by a restart before any step had an effect: queued again with its approvals"),
            EventKind::DeploymentRequeued {
                deployment: id.clone(),
                current,
            },
        );
        true
    }
}
