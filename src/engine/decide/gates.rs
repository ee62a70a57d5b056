//! At a start, waiting deployments follow the current config: a gate's rule
//! is the stage's rule now (a raised `required` applies), approvals of users
//! no longer configured are void, and a deployment whose stage left the
//! config ends with a reason instead of waiting forever.

use super::*;

impl Cx<'_> {
    pub(super) fn reevaluate_gates(&mut self) {
        let waiting: Vec<crate::model::Deployment> = self
            .state
            .deployments
            .values()
            .filter(|d| {
                matches!(
                    d.status,
                    DeploymentStatus::Queued | DeploymentStatus::AwaitingApproval
                )
            })
            .cloned()
            .collect();
        for d in waiting {
            let service = self.config.service(&d.service);
            // A service without stages is no pipeline to judge against (the
            // config refuses one; the server's test fixtures build one to
            // keep stored deployments still).
            if service.is_some_and(|s| s.stages.is_empty()) {
                continue;
            }
            let stage = service.and_then(|s| s.stages.iter().find(|st| st.name == d.stage));
            let Some(stage) = stage else {
                let message = format!(
                    "the stage {}/{} is no longer in the config",
                    d.service, d.stage
                );
                self.emit(
                    &Actor::ferry(),
                    message.clone(),
                    EventKind::DeploymentFinished {
                        deployment: d.id.clone(),
                        status: DeploymentStatus::Cancelled,
                        message,
                    },
                );
                continue;
            };
            // A rollback passes no gate: it returns to a release that already did.
            if d.kind == DeploymentKind::Rollback {
                continue;
            }
            let rule = match &stage.gate {
                Gate::Approval(rule) => Some(rule.clone()),
                Gate::Auto => None,
            };
            // Without users every request is the local admin: nobody to void.
            let voided: Vec<Actor> = if self.config.users.is_empty() {
                Vec::new()
            } else {
                let mut gone: Vec<Actor> = d
                    .approvals
                    .iter()
                    .map(|a| a.by.clone())
                    .filter(|by| {
                        !self
                            .config
                            .users
                            .iter()
                            .any(|u| crate::model::same_person(&u.name, by.name()))
                    })
                    .collect();
                gone.dedup();
                gone
            };
            if rule == d.approval && voided.is_empty() {
                continue;
            }
            let mut after = d.clone();
            after.approval = rule.clone();
            after.approvals.retain(|a| !voided.contains(&a.by));
            let status = if after.is_approved() {
                DeploymentStatus::Queued
            } else {
                DeploymentStatus::AwaitingApproval
            };
            let mut why = Vec::new();
            if rule != d.approval {
                why.push(match &rule {
                    Some(r) => format!("the gate now asks for {} approval(s)", r.required),
                    None => "the stage no longer has an approval gate".to_string(),
                });
            }
            if !voided.is_empty() {
                let names: Vec<&str> = voided.iter().map(Actor::name).collect();
                why.push(format!(
                    "approvals of {} are void (no longer users)",
                    names.join(", ")
                ));
            }
            self.emit(
                &Actor::ferry(),
                why.join("; "),
                EventKind::GateReevaluated {
                    deployment: d.id.clone(),
                    approval: rule,
                    voided,
                    status,
                },
            );
        }
    }
}
