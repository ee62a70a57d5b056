//! Turning a step of a run into a `StepJob` the runner can execute without
//! knowing anything else: the command, its timeout and its environment.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{Config, Source};
use crate::model::{Build, StepKind};

use super::{State, StepAction, StepJob};

/// Health checks get their bake time plus every retry as their timeout,
/// and a margin so the runner's own probe timeouts fire first.
fn health_timeout(h: &crate::config::HealthCheck) -> Duration {
    let per_probe = h.interval + h.timeout;
    h.bake + per_probe * (h.retries + 1) + Duration::from_secs(5)
}

/// The job for step `step` of run `run`, a build or a deployment; an error
/// when the configuration no longer has what the run needs.
pub(super) fn step_job(
    config: &Config,
    state: &State,
    run: &str,
    step: usize,
) -> Result<StepJob, String> {
    match state.builds.get(run) {
        Some(b) => build_job(config, b, step),
        None => deployment_job(config, state, run, step),
    }
}

/// A build's one step: check out the commit, build it, store the artifact.
fn build_job(config: &Config, b: &Build, step: usize) -> Result<StepJob, String> {
    let run = &b.id;
    let svc = config
        .service(&b.service)
        .ok_or_else(|| format!("service {} is no longer configured", b.service))?;
    let (Source::Git { repo, access, .. }, Some(build)) = (&svc.source, &svc.build) else {
        return Err(format!("{} is no longer built by ferry", b.service));
    };
    let mut env = svc.env.clone();
    env.insert("FERRY_SERVICE".into(), b.service.clone());
    env.insert("FERRY_COMMIT".into(), b.commit.clone());
    env.insert("FERRY_BUILD".into(), b.id.to_string());
    env.insert("FERRY_STEP".into(), "build".into());
    Ok(StepJob {
        run: run.into(),
        step,
        service: b.service.clone(),
        stage: None,
        name: "build".into(),
        kind: StepKind::Build,
        action: StepAction::Build {
            repo: repo.clone(),
            commit: b.commit.clone(),
            command: build.command.clone(),
            artifact: build.artifact.clone(),
            version_file: build.version_file.clone(),
            report: build.report.clone(),
            access: Box::new(access.clone()),
        },
        timeout: build.timeout,
        env,
        secrets: svc.secrets.clone(),
        pass_env: svc.pass_env.clone(),
        workdir: svc.workdir.clone(),
    })
}

/// A deployment's step: deploy, a verification or the health check.
fn deployment_job(
    config: &Config,
    state: &State,
    run: &str,
    step: usize,
) -> Result<StepJob, String> {
    let d = state
        .deployments
        .get(run)
        .ok_or_else(|| format!("no run {run}"))?;
    let svc = config
        .service(&d.service)
        .ok_or_else(|| format!("service {} is no longer configured", d.service))?;
    let (index, stage) = svc
        .stage(&d.stage)
        .ok_or_else(|| format!("stage {} is no longer configured", d.stage))?;
    let plan = d
        .steps
        .get(step)
        .ok_or_else(|| format!("{run} has no step {step}"))?;
    let (action, timeout) = match plan.kind {
        StepKind::Deploy => (
            StepAction::Shell {
                command: stage.deploy.command.clone(),
                report: None,
            },
            stage.deploy.timeout,
        ),
        StepKind::Verify => {
            let v = stage
                .verify
                .iter()
                .find(|v| v.name == plan.name)
                .ok_or_else(|| {
                    format!("verification step {} is no longer configured", plan.name)
                })?;
            (
                StepAction::Shell {
                    command: v.command.clone(),
                    report: v.report.clone(),
                },
                v.timeout,
            )
        }
        StepKind::Health => {
            let h = stage
                .health
                .as_ref()
                .ok_or_else(|| "the health check is no longer configured".to_string())?;
            (StepAction::Health(h.clone()), health_timeout(h))
        }
        StepKind::Build => return Err("a deployment has no build step".into()),
        // The engine never hands a sign-off to the runner (`decide::signoff`).
        StepKind::SignOff => return Err(format!("{} is a sign-off by people", plan.name)),
    };
    let artifact = state.artifacts.get(&d.artifact);
    let st = state.services_stage(&d.service, index);
    let previous = st
        .good_before(&d.artifact)
        .and_then(|g| state.artifacts.get(&g.artifact))
        .map(|a| a.version.clone())
        .unwrap_or_default();
    let mut env: BTreeMap<String, String> = svc.env.clone();
    env.insert("FERRY_SERVICE".into(), d.service.clone());
    env.insert("FERRY_STAGE".into(), d.stage.clone());
    env.insert("FERRY_VERSION".into(), d.version.clone());
    env.insert(
        "FERRY_COMMIT".into(),
        artifact.and_then(|a| a.commit.clone()).unwrap_or_default(),
    );
    env.insert(
        "FERRY_ARTIFACT".into(),
        artifact.map(|a| a.uri.clone()).unwrap_or_default(),
    );
    env.insert("FERRY_DIGEST".into(), d.digest.clone());
    env.insert("FERRY_DEPLOYMENT".into(), d.id.to_string());
    env.insert("FERRY_KIND".into(), d.kind.as_str().into());
    env.insert("FERRY_STEP".into(), plan.name.clone());
    env.insert("FERRY_PREVIOUS_VERSION".into(), previous);
    Ok(StepJob {
        run: run.into(),
        step,
        service: d.service.clone(),
        stage: Some(d.stage.clone()),
        name: plan.name.clone(),
        kind: plan.kind,
        action,
        timeout,
        env,
        secrets: svc.secrets.clone(),
        pass_env: svc.pass_env.clone(),
        workdir: svc.workdir.clone(),
    })
}
