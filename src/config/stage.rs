//! The raw schema of one stage (also the partial stage of an override):
//! deploy, verify, gate, health and rollback.

use std::ops::Range;
use std::time::Duration;

use crate::config::RollbackPolicy;

use super::checks::{CMD_HELP, check_name, check_url, nonzero};
use super::error::Result;
use super::walk::{At, Item};

/// A stage, or (in `overrides`) the fields of a stage to replace: every
/// field is optional here so one type serves both.
#[derive(Debug, Clone)]
pub(super) struct RawStage {
    pub key: String,
    pub span: Range<usize>,
    pub name: Option<At<String>>,
    pub deploy: Option<RawDeploy>,
    pub verify: Option<Vec<RawVerify>>,
    pub gate: Option<RawGate>,
    pub health: Option<RawHealth>,
    pub rollback: Option<RollbackPolicy>,
}

#[derive(Debug, Clone)]
pub(super) enum RawGate {
    Auto,
    Approval {
        required: At<u32>,
        roles: Vec<At<String>>,
        allow_self: bool,
    },
}

#[derive(Debug, Clone)]
pub(super) struct RawDeploy {
    /// Where the deploy table is, to point at when it lacks a command.
    pub span: Range<usize>,
    pub command: Option<At<String>>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub(super) struct RawVerify {
    pub name: At<String>,
    /// Empty for a sign-off step.
    pub command: String,
    pub timeout: Option<Duration>,
    pub report: Option<String>,
    /// A step that waits for people instead of running a command.
    pub sign_off: Option<super::signoff::RawSignOff>,
}

#[derive(Debug, Clone)]
pub(super) struct RawHealth {
    pub key: String,
    pub span: Range<usize>,
    pub command: Option<At<String>>,
    pub url: Option<At<String>>,
    pub expect_status: Option<u16>,
    /// `prometheus = URL, query = "…", max = N`.
    pub prometheus: Option<(At<String>, String, f64)>,
    pub interval: Option<Duration>,
    pub retries: Option<u32>,
    pub bake: Option<Duration>,
    pub timeout: Option<Duration>,
}

const STAGE: &[&str] = &["name", "deploy", "verify", "gate", "health", "rollback"];
const OVERRIDE: &[&str] = &["deploy", "verify", "gate", "health", "rollback"];
const HEALTH: &[&str] = &[
    "prometheus",
    "query",
    "max",
    "command",
    "url",
    "expect_status",
    "interval",
    "retries",
    "bake",
    "timeout",
];
const GATE_HELP: &str = "gate = \"auto\", or gate = { approval = { required = 1, roles = [\"approver\"], allow_self = false } }";

pub(super) fn read_stages(item: &Item) -> Result<At<Vec<RawStage>>> {
    let help =
        "write each stage as [[services.NAME.stages]] (or stages = [{ name = \"test\", ... }])";
    let stages = item
        .array(help)?
        .iter()
        .map(|i| read_stage(i, false))
        .collect::<Result<_>>()?;
    Ok(item.at(stages))
}

/// A stage, or with `partial` the fields of an override (no name).
pub(super) fn read_stage(item: &Item, partial: bool) -> Result<RawStage> {
    let t = item.table("a stage is a table with name, deploy, verify, gate, health, rollback")?;
    t.allow(if partial { OVERRIDE } else { STAGE })?;
    let name = match t.get("name") {
        Some(i) => {
            let name = i.str("a stage name in quotes, e.g. \"prod\"")?;
            check_name(&name, "stage")?;
            Some(name)
        }
        None => None,
    };
    let deploy = match t.get("deploy") {
        Some(i) => {
            let help = "deploy = { command = \"./deploy.sh\", timeout = \"5m\" }";
            let d = i.table(help)?;
            d.allow(&["command", "timeout"])?;
            Some(RawDeploy {
                span: d.span.clone(),
                command: d.get("command").map(|i| i.text(CMD_HELP)).transpose()?,
                timeout: nonzero(&d, "timeout")?,
            })
        }
        None => None,
    };
    let verify = t.get("verify").map(|i| read_verify(&i)).transpose()?;
    let gate = t.get("gate").map(|i| read_gate(&i)).transpose()?;
    let health = t.get("health").map(|i| read_health(&i)).transpose()?;
    let rollback = match t.get("rollback") {
        None => None,
        Some(i) => {
            let help =
                "rollback = \"auto\" (deploy the last good artifact on failure) or \"manual\"";
            match i.str(help)?.value.as_str() {
                "auto" => Some(RollbackPolicy::Auto),
                "manual" => Some(RollbackPolicy::Manual),
                other => return Err(i.fault(format!("`{other}` is not a rollback policy"), help)),
            }
        }
    };
    Ok(RawStage {
        key: t.key.clone(),
        span: t.span.clone(),
        name,
        deploy,
        verify,
        gate,
        health,
        rollback,
    })
}

fn read_verify(item: &Item) -> Result<Vec<RawVerify>> {
    let help = "verify = [{ name = \"smoke\", command = \"./smoke.sh\", timeout = \"5m\", report = \"junit.xml\" }], \
                or a step that waits for people: { name = \"uat\", sign_off = { roles = [\"qa\"], required = 1 } }";
    let mut steps: Vec<RawVerify> = Vec::new();
    for item in item.array(help)? {
        let t = item.table(help)?;
        t.allow(&["name", "command", "timeout", "report", "sign_off"])?;
        let name = t.require("name", help)?.text("a step name in quotes")?;
        if let Some(first) = steps.iter().find(|s| s.name.value == name.value) {
            return Err(name
                .fault(
                    format!("two verify steps are named `{}`", name.value),
                    "give each verify step of a stage its own name",
                )
                .first_at(first.name.span.clone()));
        }
        if let Some(i) = t.get("sign_off") {
            // A person signs it off: nothing runs, so nothing to run.
            for other in ["command", "timeout", "report"] {
                if let Some(o) = t.get(other) {
                    return Err(o.fault(
                        format!(
                            "verify step `{}` has both `sign_off` and `{other}`",
                            name.value
                        ),
                        "a verify step either runs a command or waits for a sign-off by people: \
                         keep `command` (with `timeout`, `report`) or `sign_off`",
                    ));
                }
            }
            steps.push(RawVerify {
                command: String::new(),
                timeout: None,
                report: None,
                sign_off: Some(super::signoff::read_sign_off(&i)?),
                name,
            });
            continue;
        }
        steps.push(RawVerify {
            command: t.require("command", help)?.text(CMD_HELP)?.value,
            timeout: nonzero(&t, "timeout")?,
            report: t
                .str("report", "a JUnit XML path relative to the workdir")?
                .map(|r| r.value),
            sign_off: None,
            name,
        });
    }
    Ok(steps)
}

fn read_gate(item: &Item) -> Result<RawGate> {
    if let Some(s) = item.value().as_str() {
        return match s {
            "auto" => Ok(RawGate::Auto),
            _ => Err(item.fault(format!("`{s}` is not a gate"), GATE_HELP)),
        };
    }
    let t = item.table(GATE_HELP)?;
    t.allow(&["approval"])?;
    let a = t.require("approval", GATE_HELP)?.table(GATE_HELP)?;
    a.allow(&["required", "roles", "allow_self"])?;
    let required = match a.get("required") {
        Some(i) => {
            let n = i.int(i64::MIN, i64::MAX, GATE_HELP)?;
            if n.value < 1 {
                return Err(n.fault(
                    format!(
                        "an approval gate needs at least one approval (required = {})",
                        n.value
                    ),
                    "required is a whole number from 1 up; or gate = \"auto\" for no approval",
                ));
            }
            let count =
                u32::try_from(n.value).map_err(|_| n.fault("far too many approvals", GATE_HELP))?;
            i.at(count)
        }
        None => At {
            value: 1,
            key: format!("{}.required", a.key),
            span: a.span.clone(),
        },
    };
    let roles = match a.get("roles") {
        Some(i) => {
            let roles = i.strings(GATE_HELP)?;
            if roles.is_empty() {
                return Err(i.fault(
                    "an approval gate must name at least one role",
                    "e.g. roles = [\"approver\"]",
                ));
            }
            roles
        }
        None => vec![At {
            value: crate::model::roles::APPROVER.to_string(),
            key: format!("{}.roles", a.key),
            span: a.span.clone(),
        }],
    };
    let allow_self = a
        .get("allow_self")
        .map(|i| i.bool())
        .transpose()?
        .unwrap_or(false);
    Ok(RawGate::Approval {
        required,
        roles,
        allow_self,
    })
}

fn read_health(item: &Item) -> Result<RawHealth> {
    let help = "health = { url = \"http://127.0.0.1:8080/healthz\", expect_status = 200 } or { command = \"./check.sh\" }";
    let t = item.table(help)?;
    t.allow(HEALTH)?;
    let expect_status = match t.get("expect_status") {
        Some(i) => {
            let status_help = "an HTTP status code between 100 and 599, e.g. 200";
            Some(i.int(100, 599, status_help)?.value as u16)
        }
        None => None,
    };
    let retries = match t.get("retries") {
        Some(i) => Some(
            i.int(
                0,
                1000,
                "how many failed probes in a row to tolerate, e.g. 3",
            )?
            .value as u32,
        ),
        None => None,
    };
    let prometheus = match t.get("prometheus") {
        None => None,
        Some(i) => {
            let prom_help =
                "health = { prometheus = \"http://prometheus:9090\", query = \"…\", max = 0.01 }";
            let url = i.text(prom_help)?;
            check_url(url.clone(), prom_help)?;
            let query = t
                .require("query", prom_help)?
                .text("a PromQL query in quotes")?;
            let max_item = t.require("max", prom_help)?;
            let max = match max_item.value() {
                toml::de::DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
                toml::de::DeValue::Integer(n) => n.as_str().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|m| m.is_finite())
            .ok_or_else(|| {
                max_item.fault(
                    "`max` must be a number",
                    "the highest healthy value, e.g. max = 0.01",
                )
            })?;
            Some((url, query.value, max))
        }
    };
    Ok(RawHealth {
        prometheus,
        key: t.key.clone(),
        span: t.span.clone(),
        command: t.get("command").map(|i| i.text(CMD_HELP)).transpose()?,
        url: match t.str("url", help)? {
            Some(url) => {
                check_url(url.clone(), help)?;
                Some(url)
            }
            None => None,
        },
        expect_status,
        interval: nonzero(&t, "interval")?,
        retries,
        bake: t.duration("bake")?.map(|d| d.value),
        timeout: nonzero(&t, "timeout")?,
    })
}
