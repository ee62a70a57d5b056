//! The raw schema: what the TOML file may say, read from the spanned tree
//! with every value's key path and position kept for later checks. Defaults
//! and cross-references are resolved in `resolve.rs`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use crate::config::{ConsoleConfig, NotifyCommand, NotifyConfig, RollbackPolicy, Webhook};
use crate::model::NotificationKind;

use super::error::{Result, did_you_mean, one_of};
use super::walk::{At, Item, Table};

#[derive(Debug)]
pub(super) struct RawConfig {
    pub server: RawServer,
    pub console: ConsoleConfig,
    pub users: Vec<RawUser>,
    pub notify: NotifyConfig,
    pub templates: Vec<RawTemplate>,
    pub services: Vec<RawService>,
}

#[derive(Debug, Default)]
pub(super) struct RawServer {
    pub listen: Option<At<String>>,
    pub data_dir: Option<At<String>>,
}

#[derive(Debug)]
pub(super) struct RawUser {
    pub name: At<String>,
    pub roles: Vec<At<String>>,
    pub token_sha256: At<String>,
}

#[derive(Debug)]
pub(super) struct RawTemplate {
    pub name: At<String>,
    pub build: Option<RawBuild>,
    pub stages: Option<At<Vec<RawStage>>>,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<At<String>>,
}

#[derive(Debug)]
pub(super) struct RawService {
    pub name: At<String>,
    pub template: Option<At<String>>,
    pub source: At<RawSource>,
    pub workdir: Option<At<String>>,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<At<String>>,
    pub build: Option<RawBuild>,
    pub stages: Option<At<Vec<RawStage>>>,
    pub overrides: Vec<(At<String>, RawStage)>,
}

#[derive(Debug, Clone)]
pub(super) enum RawSource {
    Git {
        repo: At<String>,
        branch: Option<String>,
        poll_interval: Option<Duration>,
    },
    External,
}

#[derive(Debug, Clone)]
pub(super) struct RawBuild {
    pub key: String,
    pub span: Range<usize>,
    pub command: Option<At<String>>,
    pub artifact: Option<At<String>>,
    pub timeout: Option<Duration>,
    pub version_file: Option<String>,
    pub report: Option<String>,
}

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
    pub command: Option<At<String>>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub(super) struct RawVerify {
    pub name: At<String>,
    pub command: String,
    pub timeout: Option<Duration>,
    pub report: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct RawHealth {
    pub key: String,
    pub span: Range<usize>,
    pub command: Option<At<String>>,
    pub url: Option<At<String>>,
    pub expect_status: Option<u16>,
    pub interval: Option<Duration>,
    pub retries: Option<u32>,
    pub bake: Option<Duration>,
    pub timeout: Option<Duration>,
}

const TOP: &[&str] = &[
    "server",
    "console",
    "users",
    "notify",
    "templates",
    "services",
];
const SERVICE: &[&str] = &[
    "template",
    "source",
    "workdir",
    "env",
    "secrets",
    "build",
    "stages",
    "overrides",
];
const TEMPLATE: &[&str] = &["build", "stages", "env", "secrets"];
const STAGE: &[&str] = &["name", "deploy", "verify", "gate", "health", "rollback"];
const OVERRIDE: &[&str] = &["deploy", "verify", "gate", "health", "rollback"];
const BUILD: &[&str] = &["command", "artifact", "timeout", "version_file", "report"];
const HEALTH: &[&str] = &[
    "command",
    "url",
    "expect_status",
    "interval",
    "retries",
    "bake",
    "timeout",
];
const KINDS: &[NotificationKind] = &[
    NotificationKind::BuildFailed,
    NotificationKind::DeploymentFailed,
    NotificationKind::ApprovalNeeded,
    NotificationKind::RolledBack,
    NotificationKind::RollbackImpossible,
];

const NAME_HELP: &str = "names appear in URLs: use lowercase letters, digits, `-` and `_`, starting with a letter or digit";
const CMD_HELP: &str = "a shell command in quotes, run with `sh -c`";
const ENV_HELP: &str = "a table of strings, e.g. env = { RUST_LOG = \"info\" }";
const SECRETS_HELP: &str =
    "names of the server's environment variables, e.g. secrets = [\"DEPLOY_TOKEN\"]";
const GATE_HELP: &str = "gate = \"auto\", or gate = { approval = { required = 1, roles = [\"approver\"], allow_self = false } }";
const SOURCE_HELP: &str = "source = { git = \"path or URL\", branch = \"main\", poll_interval = \"10s\" }, or source = \"external\" when another CI registers artifacts";

/// Service, template and stage names: `[a-z0-9][a-z0-9_-]*`.
pub(super) fn check_name(name: &At<String>, what: &str) -> Result<()> {
    let mut chars = name.value.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if first_ok
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Ok(());
    }
    Err(name.fault(
        format!("`{}` is not a valid {what} name", name.value),
        NAME_HELP,
    ))
}

/// A duration that must not be zero (timeouts, intervals).
fn nonzero(table: &Table, name: &str) -> Result<Option<Duration>> {
    match table.duration(name)? {
        Some(d) if d.value.is_zero() => Err(d.fault(
            format!("`{name}` must be longer than zero"),
            "write a positive duration, like \"30s\" or \"5m\"",
        )),
        d => Ok(d.map(|d| d.value)),
    }
}

pub(super) fn read(root: &Table) -> Result<RawConfig> {
    root.allow(TOP)?;
    let server = match root.get("server") {
        Some(item) => read_server(&item.table("[server] is a table: listen, data_dir")?)?,
        None => RawServer::default(),
    };
    let console = match root.get("console") {
        Some(item) => read_console(&item.table("[console] is a table: server, theme")?)?,
        None => ConsoleConfig::default(),
    };
    let users = match root.get("users") {
        Some(item) => item
            .array("write each user as [[users]] with name, roles and token_sha256")?
            .iter()
            .map(read_user)
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let notify = match root.get("notify") {
        Some(item) => read_notify(&item.table("[notify] is a table: webhooks, commands")?)?,
        None => NotifyConfig::default(),
    };
    let mut templates = Vec::new();
    if let Some(item) = root.get("templates") {
        for (name, item) in item
            .table("write each template as [templates.NAME]")?
            .entries()
        {
            check_name(&name, "template")?;
            templates.push(read_template(name, &item)?);
        }
    }
    let mut services = Vec::new();
    if let Some(item) = root.get("services") {
        let table = item
            .table("services are a table keyed by name: write [services.NAME], not [[services]]")?;
        for (name, item) in table.entries() {
            check_name(&name, "service")?;
            services.push(read_service(name, &item)?);
        }
    }
    Ok(RawConfig {
        server,
        console,
        users,
        notify,
        templates,
        services,
    })
}

fn read_server(t: &Table) -> Result<RawServer> {
    t.allow(&["listen", "data_dir"])?;
    Ok(RawServer {
        listen: t.str(
            "listen",
            "an address and port in quotes, e.g. \"127.0.0.1:7474\"",
        )?,
        data_dir: t.str("data_dir", "a directory path in quotes")?,
    })
}

fn read_console(t: &Table) -> Result<ConsoleConfig> {
    t.allow(&["server", "theme"])?;
    const URL_HELP: &str = "the URL of a ferry server, e.g. \"http://127.0.0.1:7474\"";
    let server = match t.str("server", URL_HELP)? {
        Some(url) => Some(check_url(url, URL_HELP)?),
        None => None,
    };
    const THEME_HELP: &str =
        "colours are names (\"red\", \"lightblue\"), \"#rrggbb\" or a 256-colour index (\"244\")";
    let mut theme = BTreeMap::new();
    if let Some(item) = t.get("theme") {
        for (name, item) in item.table(THEME_HELP)?.entries() {
            let colour = item.str(THEME_HELP)?;
            if ratatui::style::Color::from_str(&colour.value).is_err() {
                return Err(colour.fault(format!("`{}` is not a colour", colour.value), THEME_HELP));
            }
            theme.insert(name.value, colour.value);
        }
    }
    Ok(ConsoleConfig { server, theme })
}

fn check_url(url: At<String>, help: &str) -> Result<String> {
    let rest = url
        .value
        .strip_prefix("http://")
        .or_else(|| url.value.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() => Ok(url.value),
        _ => Err(url.fault(format!("`{}` is not an http(s) URL", url.value), help)),
    }
}

fn read_user(item: &Item) -> Result<RawUser> {
    let t = item.table("write each user as [[users]] with name, roles and token_sha256")?;
    t.allow(&["name", "roles", "token_sha256"])?;
    let name = t
        .require("name", "give the user a name = \"...\"")?
        .text("a user name in quotes")?;
    let roles = t.strings(
        "roles",
        "a list of role names, e.g. roles = [\"deployer\", \"approver\"]",
    )?;
    const TOKEN_HELP: &str = "run `ferry token new` and paste the token_sha256 it prints (the token itself never goes in the file)";
    let token = t.require("token_sha256", TOKEN_HELP)?.str(TOKEN_HELP)?;
    let is_hex = token.value.len() == 64
        && token
            .value
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    if !is_hex {
        return Err(token.fault(
            "token_sha256 must be 64 lowercase hexadecimal characters (a sha256 digest)",
            TOKEN_HELP,
        ));
    }
    Ok(RawUser {
        name,
        roles,
        token_sha256: token,
    })
}

fn read_notify(t: &Table) -> Result<NotifyConfig> {
    t.allow(&["webhooks", "commands"])?;
    let mut notify = NotifyConfig::default();
    const HOOK_HELP: &str = "webhooks = [{ url = \"https://...\", on = [\"deployment_failed\"] }]";
    if let Some(item) = t.get("webhooks") {
        for item in item.array(HOOK_HELP)? {
            let hook = item.table(HOOK_HELP)?;
            hook.allow(&["url", "on"])?;
            let url = hook.require("url", HOOK_HELP)?.str(HOOK_HELP)?;
            notify.webhooks.push(Webhook {
                url: check_url(url, HOOK_HELP)?,
                on: read_kinds(&hook)?,
            });
        }
    }
    const CMD_HOOK_HELP: &str =
        "commands = [{ command = \"./notify.sh\", on = [\"rolled_back\"] }]";
    if let Some(item) = t.get("commands") {
        for item in item.array(CMD_HOOK_HELP)? {
            let cmd = item.table(CMD_HOOK_HELP)?;
            cmd.allow(&["command", "on"])?;
            notify.commands.push(NotifyCommand {
                command: cmd.require("command", CMD_HOOK_HELP)?.text(CMD_HELP)?.value,
                on: read_kinds(&cmd)?,
            });
        }
    }
    Ok(notify)
}

fn read_kinds(t: &Table) -> Result<Vec<NotificationKind>> {
    let names: Vec<&str> = KINDS.iter().map(|k| k.as_str()).collect();
    let help = format!(
        "notification kinds: {} (leave `on` out for all)",
        one_of(&names)
    );
    let mut kinds = Vec::new();
    for name in t.strings("on", &help)? {
        match KINDS.iter().find(|k| k.as_str() == name.value) {
            Some(kind) => kinds.push(*kind),
            None => {
                let help = match did_you_mean(&name.value, names.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => help.clone(),
                };
                return Err(
                    name.fault(format!("`{}` is not a notification kind", name.value), help)
                );
            }
        }
    }
    Ok(kinds)
}

fn read_template(name: At<String>, item: &Item) -> Result<RawTemplate> {
    let t =
        item.table("a template is a table: [templates.NAME] with build, stages, env, secrets")?;
    t.allow(TEMPLATE)?;
    Ok(RawTemplate {
        build: t.get("build").map(|i| read_build(&i)).transpose()?,
        stages: t.get("stages").map(|i| read_stages(&i)).transpose()?,
        env: read_env(&t)?,
        secrets: t.strings("secrets", SECRETS_HELP)?,
        name,
    })
}

fn read_service(name: At<String>, item: &Item) -> Result<RawService> {
    let t = item.table("a service is a table: [services.NAME] with source, build, stages, ...")?;
    t.allow(SERVICE)?;
    let source = t.require("source", SOURCE_HELP)?;
    let source = source.at(read_source(&source)?);
    let mut overrides = Vec::new();
    if let Some(item) = t.get("overrides") {
        let table = item.table("overrides.STAGE = { deploy = { command = \"...\" } }")?;
        for (stage, item) in table.entries() {
            overrides.push((stage, read_stage(&item, OVERRIDE)?));
        }
    }
    Ok(RawService {
        template: t.str(
            "template",
            "the name of a [templates.NAME] table, in quotes",
        )?,
        source,
        workdir: t.str("workdir", "a directory path in quotes")?,
        env: read_env(&t)?,
        secrets: t.strings("secrets", SECRETS_HELP)?,
        build: t.get("build").map(|i| read_build(&i)).transpose()?,
        stages: t.get("stages").map(|i| read_stages(&i)).transpose()?,
        overrides,
        name,
    })
}

fn read_source(item: &Item) -> Result<RawSource> {
    if let Some(s) = item.value().as_str() {
        return match s {
            "external" => Ok(RawSource::External),
            _ => Err(item.fault(format!("`{s}` is not a source"), SOURCE_HELP)),
        };
    }
    let t = item.table(SOURCE_HELP)?;
    t.allow(&["git", "branch", "poll_interval"])?;
    let repo = t
        .require("git", SOURCE_HELP)?
        .text("a repository path or URL that `git clone` accepts")?;
    let branch = t.str("branch", "a branch name in quotes")?;
    if let Some(b) = &branch
        && b.value.trim().is_empty()
    {
        return Err(b.fault("branch must not be empty", "a branch name, e.g. \"main\""));
    }
    Ok(RawSource::Git {
        repo,
        branch: branch.map(|b| b.value),
        poll_interval: nonzero(&t, "poll_interval")?,
    })
}

fn read_build(item: &Item) -> Result<RawBuild> {
    let t = item.table("build = { command = \"make\", artifact = \"target/app.tar.gz\" }")?;
    t.allow(BUILD)?;
    let path_help = "a path relative to the checkout, in quotes";
    Ok(RawBuild {
        key: t.key.clone(),
        span: t.span.clone(),
        command: t.get("command").map(|i| i.text(CMD_HELP)).transpose()?,
        artifact: t.get("artifact").map(|i| i.text(path_help)).transpose()?,
        timeout: nonzero(&t, "timeout")?,
        version_file: t
            .get("version_file")
            .map(|i| i.text(path_help))
            .transpose()?
            .map(|a| a.value),
        report: t
            .get("report")
            .map(|i| i.text(path_help))
            .transpose()?
            .map(|a| a.value),
    })
}

fn read_stages(item: &Item) -> Result<At<Vec<RawStage>>> {
    let help =
        "write each stage as [[services.NAME.stages]] (or stages = [{ name = \"test\", ... }])";
    let stages = item
        .array(help)?
        .iter()
        .map(|i| read_stage(i, STAGE))
        .collect::<Result<_>>()?;
    Ok(item.at(stages))
}

fn read_stage(item: &Item, allowed: &[&str]) -> Result<RawStage> {
    let t = item.table("a stage is a table with name, deploy, verify, gate, health, rollback")?;
    t.allow(allowed)?;
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
    let help = "verify = [{ name = \"smoke\", command = \"./smoke.sh\", timeout = \"5m\", report = \"junit.xml\" }]";
    let mut steps: Vec<RawVerify> = Vec::new();
    for item in item.array(help)? {
        let t = item.table(help)?;
        t.allow(&["name", "command", "timeout", "report"])?;
        let name = t.require("name", help)?.text("a step name in quotes")?;
        if let Some(first) = steps.iter().find(|s| s.name.value == name.value) {
            return Err(name
                .fault(
                    format!("two verify steps are named `{}`", name.value),
                    "give each verify step of a stage its own name",
                )
                .first_at(first.name.span.clone()));
        }
        steps.push(RawVerify {
            command: t.require("command", help)?.text(CMD_HELP)?.value,
            timeout: nonzero(&t, "timeout")?,
            report: t
                .str("report", "a JUnit XML path relative to the workdir")?
                .map(|r| r.value),
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
                    "an approval gate needs at least one approval (required = 0)",
                    "use required = 1 or more, or gate = \"auto\" for no approval",
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
    Ok(RawHealth {
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

fn read_env(t: &Table) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    if let Some(item) = t.get("env") {
        for (name, value) in item.table(ENV_HELP)?.entries() {
            if !super::resolve::is_env_name(&name.value) {
                return Err(name.fault(
                    format!("`{}` is not an environment variable name", name.value),
                    "letters, digits and `_`, not starting with a digit, e.g. RUST_LOG",
                ));
            }
            env.insert(name.value, value.str(ENV_HELP)?.value);
        }
    }
    Ok(env)
}
