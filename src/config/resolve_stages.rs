//! A service's stages: its own or its template's, with its overrides laid
//! over them field by field, then each stage, gate and health check resolved
//! and checked.

use std::time::Duration;

use crate::config::{
    CommandStep, Gate, HealthCheck, HealthProbe, RollbackPolicy, StageConfig, UserConfig,
    VerifyStep,
};
use crate::model::ApprovalRule;

use super::error::{Fault, Result, did_you_mean};
use super::schema::{RawService, RawTemplate};
use super::stage::{RawDeploy, RawGate, RawHealth, RawStage};

const STEP_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);
const HEALTH_RETRIES: u32 = 3;
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The service's own stages, or its template's, with its overrides laid
/// over them, resolved and checked.
pub(super) fn resolve_stages(
    raw: &RawService,
    template: Option<&RawTemplate>,
    users: &[UserConfig],
) -> Result<Vec<StageConfig>> {
    let name = &raw.name.value;
    let stages = match (&raw.stages, template.and_then(|t| t.stages.as_ref())) {
        (Some(own), _) => own,
        (None, Some(inherited)) => inherited,
        (None, None) => {
            return Err(raw.name.fault(
                format!("service `{name}` has no stages"),
                format!(
                    "add [[services.{name}.stages]] with a name and a deploy command, \
                     or use a template with stages"
                ),
            ));
        }
    };
    if stages.value.is_empty() {
        return Err(stages.fault(
            format!("service `{name}` has an empty stage list"),
            "a pipeline needs at least one stage",
        ));
    }
    let mut raw_stages = stages.value.clone();
    for (stage, over) in &raw.overrides {
        let names: Vec<&str> = raw_stages
            .iter()
            .filter_map(|s| s.name.as_ref().map(|n| n.value.as_str()))
            .collect();
        let Some(pos) = names.iter().position(|n| *n == stage.value) else {
            let help = match did_you_mean(&stage.value, names.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the stages are: {}", names.join(", ")),
            };
            return Err(stage.fault(
                format!(
                    "service `{name}` has no stage `{}` to override",
                    stage.value
                ),
                help,
            ));
        };
        raw_stages[pos] = overlay(&raw_stages[pos], over);
    }
    let mut resolved: Vec<StageConfig> = Vec::new();
    for (n, stage) in raw_stages.iter().enumerate() {
        let s = resolve_stage(name, stage, users)?;
        if let Some(first) = raw_stages[..n].iter().find(|f| same_name(f, stage)) {
            let (this, first) = (span_of_name(stage), span_of_name(first));
            return Err(Fault::new(
                stage
                    .name
                    .as_ref()
                    .map_or(stage.key.clone(), |n| n.key.clone()),
                this,
                format!("service `{name}` has two stages named `{}`", s.name),
                "stage names must be unique within a service",
            )
            .first_at(first));
        }
        resolved.push(s);
    }
    Ok(resolved)
}

fn same_name(a: &RawStage, b: &RawStage) -> bool {
    a.name.as_ref().map(|n| &n.value) == b.name.as_ref().map(|n| &n.value)
}

fn span_of_name(stage: &RawStage) -> std::ops::Range<usize> {
    stage
        .name
        .as_ref()
        .map_or(stage.span.clone(), |n| n.span.clone())
}

/// A template stage with a service's overrides laid over it, field by field
/// (and within `deploy` and `health`, subfield by subfield).
fn overlay(base: &RawStage, over: &RawStage) -> RawStage {
    let deploy = match (&base.deploy, &over.deploy) {
        (Some(b), Some(o)) => Some(RawDeploy {
            span: b.span.clone(),
            command: o.command.clone().or_else(|| b.command.clone()),
            timeout: o.timeout.or(b.timeout),
        }),
        (b, o) => o.clone().or_else(|| b.clone()),
    };
    let health = match (&base.health, &over.health) {
        (Some(b), Some(o)) => {
            // A new probe replaces the old one whole: a `url` override must
            // not leave the template's `command` behind.
            let probe_from = if o.command.is_some() || o.url.is_some() || o.prometheus.is_some() {
                o
            } else {
                b
            };
            Some(RawHealth {
                key: o.key.clone(),
                span: o.span.clone(),
                command: probe_from.command.clone(),
                url: probe_from.url.clone(),
                prometheus: probe_from.prometheus.clone(),
                expect_status: o.expect_status.or(probe_from.expect_status),
                interval: o.interval.or(b.interval),
                retries: o.retries.or(b.retries),
                bake: o.bake.or(b.bake),
                timeout: o.timeout.or(b.timeout),
            })
        }
        (b, o) => o.clone().or_else(|| b.clone()),
    };
    RawStage {
        key: base.key.clone(),
        span: base.span.clone(),
        name: base.name.clone(),
        deploy,
        verify: over.verify.clone().or_else(|| base.verify.clone()),
        gate: over.gate.clone().or_else(|| base.gate.clone()),
        health,
        rollback: over.rollback.or(base.rollback),
    }
}

fn resolve_stage(service: &str, raw: &RawStage, users: &[UserConfig]) -> Result<StageConfig> {
    let name = raw.name.as_ref().ok_or_else(|| {
        Fault::new(
            format!("{}.name", raw.key),
            raw.span.clone(),
            format!("a stage of service `{service}` has no name"),
            "add name = \"test\" (names appear in URLs: a-z, 0-9, `-`, `_`)",
        )
    })?;
    let stage = &name.value;
    let deploy = raw.deploy.as_ref();
    let command = deploy.and_then(|d| d.command.as_ref()).ok_or_else(|| {
        Fault::new(
            format!("{}.deploy.command", raw.key),
            deploy.map_or(raw.span.clone(), |d| d.span.clone()),
            format!("stage `{stage}` of service `{service}` has no deploy command"),
            format!("add deploy = {{ command = \"./deploy.sh {stage}\" }}"),
        )
    })?;
    let mut verify = Vec::new();
    for v in raw.verify.iter().flatten() {
        let sign_off = v
            .sign_off
            .as_ref()
            .map(|so| super::signoff::resolve_sign_off(service, stage, &v.name.value, so, users))
            .transpose()?;
        verify.push(VerifyStep {
            name: v.name.value.clone(),
            command: v.command.clone(),
            timeout: v.timeout.unwrap_or(STEP_TIMEOUT),
            report: v.report.clone(),
            sign_off,
        });
    }
    Ok(StageConfig {
        name: stage.clone(),
        deploy: CommandStep {
            command: command.value.clone(),
            timeout: deploy.and_then(|d| d.timeout).unwrap_or(STEP_TIMEOUT),
        },
        verify,
        gate: resolve_gate(service, stage, raw.gate.as_ref(), users)?,
        health: raw.health.as_ref().map(resolve_health).transpose()?,
        rollback: raw.rollback.unwrap_or(RollbackPolicy::Manual),
    })
}

fn resolve_gate(
    service: &str,
    stage: &str,
    gate: Option<&RawGate>,
    users: &[UserConfig],
) -> Result<Gate> {
    let Some(RawGate::Approval {
        required,
        roles,
        allow_self,
    }) = gate
    else {
        return Ok(Gate::Auto);
    };
    if users.is_empty() {
        // Without users every request is the local admin, who may approve anything.
        tracing::info!(
            service,
            stage,
            "no [[users]] are configured: the local user approves this gate alone (allow_self, required = 1)"
        );
    } else {
        for role in roles {
            if !users.iter().any(|u| u.roles.contains(&role.value)) {
                return Err(role.fault(
                    format!("no user has the role `{}` this gate asks for", role.value),
                    format!(
                        "add `{}` to the roles of a [[users]] entry, or name a role users have",
                        role.value
                    ),
                ));
            }
        }
        let holders = users
            .iter()
            .filter(|u| roles.iter().any(|r| u.roles.contains(&r.value)))
            .count();
        if required.value as usize > holders {
            return Err(Fault::new(
                required.key.clone(),
                required.span.clone(),
                format!(
                    "the gate of `{service}`/`{stage}` needs {} approvals but only {holders} \
                     user(s) hold its roles",
                    required.value
                ),
                format!("lower `required` to {holders} or fewer, or give more users the roles"),
            ));
        }
    }
    // Without users there is only the local user: a gate that wanted a
    // second person, or several, could never be met, so it asks that user.
    let alone = users.is_empty();
    Ok(Gate::Approval(ApprovalRule {
        required: if alone { 1 } else { required.value },
        roles: roles.iter().map(|r| r.value.clone()).collect(),
        allow_self: alone || *allow_self,
    }))
}

fn resolve_health(h: &RawHealth) -> Result<HealthCheck> {
    if let Some((url, query, max)) = &h.prometheus {
        if h.command.is_some() || h.url.is_some() {
            return Err(url.fault(
                "a health check has `prometheus` and also `command` or `url`",
                "a check runs one probe: keep one of them",
            ));
        }
        return Ok(HealthCheck {
            probe: HealthProbe::Prometheus {
                url: url.value.clone(),
                query: query.clone(),
                max: *max,
            },
            interval: h.interval.unwrap_or(HEALTH_INTERVAL),
            retries: h.retries.unwrap_or(HEALTH_RETRIES),
            bake: h.bake.unwrap_or(Duration::ZERO),
            timeout: h.timeout.unwrap_or(HEALTH_TIMEOUT),
        });
    }
    let probe = match (&h.command, &h.url) {
        (Some(_), Some(url)) => {
            return Err(url.fault(
                "a health check has both `command` and `url`",
                "a check either runs a command or requests a URL: keep one of them",
            ));
        }
        (None, None) => {
            return Err(Fault::new(
                h.key.clone(),
                h.span.clone(),
                "a health check needs a `command` or a `url`",
                "e.g. health = { url = \"http://127.0.0.1:8080/healthz\" } or \
                 { command = \"./check.sh\" }",
            ));
        }
        (Some(command), None) => {
            if h.expect_status.is_some() {
                return Err(Fault::new(
                    format!("{}.expect_status", h.key),
                    h.span.clone(),
                    "`expect_status` applies to `url` checks, not to `command` checks",
                    "remove expect_status: a command check passes when it exits with 0",
                ));
            }
            HealthProbe::Command {
                command: command.value.clone(),
            }
        }
        (None, Some(url)) => HealthProbe::Http {
            url: url.value.clone(),
            expect_status: h.expect_status.unwrap_or(200),
        },
    };
    Ok(HealthCheck {
        probe,
        interval: h.interval.unwrap_or(HEALTH_INTERVAL),
        retries: h.retries.unwrap_or(HEALTH_RETRIES),
        bake: h.bake.unwrap_or(Duration::ZERO),
        timeout: h.timeout.unwrap_or(HEALTH_TIMEOUT),
    })
}
