//! User acceptance as a human sign-off. A sign-off step runs no process:
//! when a deployment reaches it, the deployment waits (`SignOffRequested`,
//! with the rule of the config then) until people give their verdicts.
//! `required` passes by distinct allowed people complete the step and the
//! deployment goes on; one fail fails the step, and so the deployment, like
//! a failing test (the rollback policy applies).
//!
//! Who may sign: a user holding a role the rule names (admins always may),
//! and with `allow_self = false` not the person who requested or approved
//! the deployment, nor who pushed its artifact, compared with
//! `model::same_person`, as approvals are. `signers` answers the same
//! question for "why is this blocked".

use super::*;
use crate::config::Config;
use crate::model::{
    Deployment, DeploymentId, SignOff, SignOffRule, StepKind, Verdict, roles, same_person,
    sign_off_label,
};

impl Cx<'_> {
    pub(super) fn step_kind(&self, run: &str, step: usize) -> Option<StepKind> {
        self.state.steps(run)?.get(step).map(|s| s.kind)
    }

    /// Whether `run` waits at `step` for a sign-off (running, no process).
    pub(super) fn waits_for_sign_off(&self, run: &str, step: usize) -> bool {
        self.step_kind(run, step) == Some(StepKind::SignOff)
            && self.step_status(run, step) == Some(StepStatus::Running)
    }

    /// The step was reached: record the rule it waits by, and tell people.
    pub(super) fn await_sign_off(&mut self, run: &str, step: usize) {
        let Some(d) = self.state.deployments.get(run).cloned() else {
            return;
        };
        let name = d
            .steps
            .get(step)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let rule = self
            .config
            .service(&d.service)
            .and_then(|s| s.stage(&d.stage))
            .and_then(|(_, st)| st.verify.iter().find(|v| v.name == name))
            .and_then(|v| v.sign_off.clone());
        let Some(rule) = rule else {
            // The configuration changed under a run: fail it rather than guess.
            let outcome = StepOutcome {
                failed_tests: Vec::new(),
                status: StepStatus::Failed,
                exit_code: None,
                tests: None,
                message: format!("sign-off step {name} is no longer configured"),
            };
            self.step_finished(run, step, outcome, None);
            return;
        };
        let waiting = format!(
            "waiting for {} sign-off by {}",
            sign_off_label(&name),
            rule.roles_text()
        );
        self.emit(
            &Actor::ferry(),
            waiting.clone(),
            EventKind::SignOffRequested {
                deployment: d.id.clone(),
                step,
                rule,
            },
        );
        self.notify(
            NotificationKind::ApprovalNeeded,
            &d.id,
            format!(
                "{} {} in {} is {waiting} ({})",
                d.service, d.version, d.stage, d.id
            ),
        );
    }

    /// A cancel (or a preempting rollback) ends the wait: nothing to kill.
    pub(super) fn end_sign_off_wait(&mut self, run: &str, step: usize) {
        let outcome = StepOutcome {
            failed_tests: Vec::new(),
            status: StepStatus::Cancelled,
            exit_code: None,
            tests: None,
            message: "cancelled while waiting for a sign-off".into(),
        };
        self.step_finished(run, step, outcome, None);
    }

    /// `ferry sign-off DEPLOYMENT STEP --pass|--fail --comment …`.
    pub(super) fn sign_off(
        &mut self,
        by: &Principal,
        deployment: DeploymentId,
        step_name: String,
        verdict: Verdict,
        comment: Option<String>,
    ) -> Result<(), Rejection> {
        let d = self
            .state
            .deployments
            .get(&deployment)
            .cloned()
            .ok_or_else(|| {
                self.no_deployment(
                    &deployment,
                    "`ferry why SERVICE` names the deployments waiting for a sign-off",
                )
            })?;
        let step_name = step_name.trim().to_string();
        if step_name.is_empty() {
            return Err(reject(RejectionKind::Invalid, "the sign-off names no step")
                .hint("give the sign-off step's name, e.g. `uat`"));
        }
        let comment = comment
            .map(|c| crate::model::sanitize_text(&c).trim().to_string())
            .filter(|c| !c.is_empty());
        if verdict == Verdict::Fail && comment.is_none() {
            return Err(
                reject(RejectionKind::Invalid, "a failed sign-off needs a comment")
                    .hint("say what failed, e.g. --comment \"checkout shows the old prices\""),
            );
        }
        let (index, rule) = self.waiting_step(&d, &step_name)?;
        check_signer(self.state, by, &d, &rule)?;
        if d.sign_offs
            .iter()
            .any(|s| s.step == step_name && same_person(s.by.name(), &by.name))
        {
            return Err(reject(
                RejectionKind::Conflict,
                format!("you already signed off {step_name} of {deployment}"),
            )
            .hint("each person signs a step once; another allowed person must sign too"));
        }
        let sign_off = SignOff {
            step: step_name.clone(),
            by: by.actor(),
            verdict,
            comment: comment.clone(),
            at: self.now,
        };
        let label = sign_off_label(&step_name);
        self.emit(
            &by.actor(),
            match &comment {
                Some(c) => format!("{label} sign-off: {} by {}: {c}", verdict.as_str(), by.name),
                None => format!("{label} sign-off: {} by {}", verdict.as_str(), by.name),
            },
            EventKind::SignOffRecorded {
                deployment: deployment.clone(),
                step: index,
                sign_off,
            },
        );
        self.out.deployment = Some(deployment.clone());
        let passes = self
            .state
            .deployments
            .get(&deployment)
            .map_or(0, |d| passes(d, &step_name));
        let outcome = match verdict {
            Verdict::Fail => Some(StepOutcome {
                failed_tests: Vec::new(),
                status: StepStatus::Failed,
                exit_code: None,
                tests: None,
                message: format!(
                    "{label} sign-off failed by {}: {}",
                    by.name,
                    comment.unwrap_or_default()
                ),
            }),
            Verdict::Pass if passes >= rule.required as usize => Some(StepOutcome {
                failed_tests: Vec::new(),
                status: StepStatus::Passed,
                exit_code: None,
                tests: None,
                message: format!(
                    "{label} signed off by {}",
                    signed_by(self.state, &deployment, &step_name)
                ),
            }),
            Verdict::Pass => None,
        };
        if let Some(outcome) = outcome {
            self.step_finished(&deployment, index, outcome, None);
        }
        Ok(())
    }

    /// The running sign-off step named `name` of `d`, with its rule; 409
    /// naming what the deployment does instead.
    fn waiting_step(&self, d: &Deployment, name: &str) -> Result<(usize, SignOffRule), Rejection> {
        let index = d.steps.iter().position(|s| s.name == name);
        let step = index.and_then(|i| d.steps.get(i).map(|s| (i, s)));
        let Some((index, step)) = step.filter(|(_, s)| s.kind == StepKind::SignOff) else {
            let names: Vec<&str> = d
                .steps
                .iter()
                .filter(|s| s.kind == StepKind::SignOff)
                .map(|s| s.name.as_str())
                .collect();
            let hint = if names.is_empty() {
                format!("{} has no sign-off step", d.id)
            } else {
                format!("its sign-off steps: {}", names.join(", "))
            };
            return Err(reject(
                RejectionKind::Conflict,
                format!(
                    "{} does not wait for a sign-off `{}`",
                    d.id,
                    crate::model::sanitize_text(name)
                ),
            )
            .hint(hint));
        };
        let rule = step.sign_off.clone().filter(|_| {
            d.status == DeploymentStatus::Running && step.status == StepStatus::Running
        });
        let Some(rule) = rule else {
            let now = match (d.status, step.status) {
                (DeploymentStatus::Running, StepStatus::Pending) => {
                    "it has not reached that step yet".to_string()
                }
                (DeploymentStatus::Running, s) => format!("that step is {}", s.as_str()),
                (s, _) => format!("it is {}", s.as_str().replace('_', " ")),
            };
            return Err(reject(
                RejectionKind::Conflict,
                format!("{} does not wait for its {name} sign-off: {now}", d.id),
            )
            .hint("`ferry why SERVICE STAGE` says what it waits for"));
        };
        Ok((index, rule))
    }
}

/// Distinct people who passed `step` of `d`.
fn passes(d: &Deployment, step: &str) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for s in d
        .sign_offs
        .iter()
        .filter(|s| s.step == step && s.verdict == Verdict::Pass)
    {
        if !seen.iter().any(|n| same_person(n, s.by.name())) {
            seen.push(s.by.name());
        }
    }
    seen.len()
}

fn signed_by(state: &State, deployment: &str, step: &str) -> String {
    state
        .deployments
        .get(deployment)
        .map(|d| {
            d.sign_offs
                .iter()
                .filter(|s| s.step == step && s.verdict == Verdict::Pass)
                .map(|s| s.by.name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Whether the rule lets this person sign: a role it names (or admin).
fn holds_role(rule: &SignOffRule, user_roles: &[String]) -> bool {
    user_roles
        .iter()
        .any(|r| r == roles::ADMIN || rule.roles.contains(r))
}

/// Why four-eyes keeps `name` from signing `d` off, if it does: they
/// requested or approved it, or pushed its artifact.
fn excluded(state: &State, d: &Deployment, rule: &SignOffRule, name: &str) -> Option<String> {
    if rule.allow_self {
        return None;
    }
    if same_person(name, d.requested_by.name()) {
        return Some(format!("{name} requested {}", d.id));
    }
    if d.approvers().iter().any(|a| same_person(name, a.name())) {
        return Some(format!("{name} approved {}", d.id));
    }
    let author = state
        .artifacts
        .get(&d.artifact)
        .map(|a| a.created_by.name());
    if author.is_some_and(|a| same_person(name, a)) {
        return Some(format!("{name} pushed {} {}", d.service, d.version));
    }
    None
}

fn check_signer(
    state: &State,
    by: &Principal,
    d: &Deployment,
    rule: &SignOffRule,
) -> Result<(), Rejection> {
    if !holds_role(rule, &by.roles) {
        return Err(reject(
            RejectionKind::Forbidden,
            format!(
                "{} may not sign off {} of {} to {}",
                by.name, d.id, d.service, d.stage
            ),
        )
        .hint(format!("it takes a user with role {}", rule.roles_text())));
    }
    if let Some(why) = excluded(state, d, rule, &by.name) {
        return Err(reject(
            RejectionKind::Forbidden,
            format!("you can't sign off your own deployment: {why}"),
        )
        .hint(format!(
            "four-eyes (allow_self = false): another user with role {} must sign it off",
            rule.roles_text()
        )));
    }
    Ok(())
}

/// Who can sign the running sign-off step of `d` now: users holding a role
/// it names (or admin), minus those four-eyes excludes and those who
/// already gave a verdict. Empty when it waits for no sign-off.
pub(in crate::engine) fn signers(config: &Config, state: &State, d: &Deployment) -> Vec<String> {
    let Some(step) = d
        .running_step()
        .and_then(|i| d.steps.get(i))
        .filter(|s| s.kind == StepKind::SignOff)
    else {
        return Vec::new();
    };
    let Some(rule) = &step.sign_off else {
        return Vec::new();
    };
    config
        .users
        .iter()
        .filter(|u| holds_role(rule, &u.roles))
        .filter(|u| excluded(state, d, rule, &u.name).is_none())
        .filter(|u| {
            !d.sign_offs
                .iter()
                .any(|s| s.step == step.name && same_person(s.by.name(), &u.name))
        })
        .map(|u| u.name.clone())
        .collect()
}
