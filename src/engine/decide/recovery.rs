//! After a restart: what was running when the server died was interrupted.

use super::*;

impl Cx<'_> {
    /// After a restart: whatever was running when the server died was
    /// interrupted, which fails its run; the rollback policy then applies.
    pub(super) fn recover(&mut self) {
        let interrupted = |what: &str| StepOutcome {
            status: StepStatus::Interrupted,
            exit_code: None,
            tests: None,
            message: format!("the server stopped while {what} ran"),
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
