//! The raw schema: what the TOML file may say, read from the spanned tree
//! with every value's key path and position kept for later checks. Defaults
//! and cross-references are resolved in `resolve.rs`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use crate::config::notify::WebhookFormat;
use crate::config::{ConsoleConfig, NotifyCommand, NotifyConfig, Webhook};
use crate::model::NotificationKind;

use super::checks::{CMD_HELP, check_name, check_url, is_env_name, nonzero};
use super::error::{Result, did_you_mean, one_of};
use super::stage::{RawStage, read_stage, read_stages};
use super::walk::{At, Item, Table};

#[derive(Debug)]
pub(super) struct RawConfig {
    pub server: RawServer,
    pub console: ConsoleConfig,
    pub users: Vec<RawUser>,
    pub notify: NotifyConfig,
    pub templates: Vec<RawTemplate>,
    pub services: Vec<RawService>,
    pub safety: super::safety::RawSafety,
    pub freezes: Vec<super::freezes::RawFreeze>,
}

#[derive(Debug, Default)]
pub(super) struct RawServer {
    pub listen: Option<At<String>>,
    pub data_dir: Option<At<String>>,
    pub store: Option<At<String>>,
    pub lease_ttl: Option<At<std::time::Duration>>,
    pub artifact_dir: Option<At<String>>,
    pub log_dir: Option<At<String>>,
    pub advertise: Option<At<String>>,
    pub retention: Option<At<String>>,
    pub tls_cert: Option<At<String>>,
    pub tls_key: Option<At<String>>,
    pub public_url: Option<At<String>>,
}

#[derive(Debug)]
pub(super) struct RawUser {
    pub name: At<String>,
    pub roles: Vec<At<String>>,
    pub token_sha256: At<String>,
    pub authors: Vec<At<String>>,
}

#[derive(Debug)]
pub(super) struct RawTemplate {
    pub name: At<String>,
    pub build: Option<RawBuild>,
    pub stages: Option<At<Vec<RawStage>>>,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<At<String>>,
    pub pass_env: Vec<At<String>>,
}

#[derive(Debug)]
pub(super) struct RawService {
    pub name: At<String>,
    pub template: Option<At<String>>,
    pub source: At<RawSource>,
    pub workdir: Option<At<String>>,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<At<String>>,
    pub pass_env: Vec<At<String>>,
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
        webhook_secret_env: Option<String>,
        /// Boxed: most sources have none, and it is large.
        credentials: Box<RawCredentials>,
    },
    External,
}

/// What a git source is fetched with (see `access.rs`).
#[derive(Debug, Clone)]
pub(super) struct RawCredentials {
    pub token_env: Option<At<String>>,
    pub token_username: Option<String>,
    pub ssh_key: Option<At<String>>,
    pub known_hosts: Option<At<String>>,
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

const TOP: &[&str] = &[
    "server",
    "console",
    "users",
    "notify",
    "templates",
    "services",
    "safety",
    "freezes",
];
const SERVICE: &[&str] = &[
    "template",
    "source",
    "workdir",
    "env",
    "secrets",
    "pass_env",
    "build",
    "stages",
    "overrides",
];
const TEMPLATE: &[&str] = &["build", "stages", "env", "secrets", "pass_env"];
const BUILD: &[&str] = &["command", "artifact", "timeout", "version_file", "report"];
const KINDS: &[NotificationKind] = &[
    NotificationKind::BuildFailed,
    NotificationKind::DeploymentFailed,
    NotificationKind::ApprovalNeeded,
    NotificationKind::RolledBack,
    NotificationKind::RollbackImpossible,
    NotificationKind::DeploymentSucceeded,
    NotificationKind::RollbackFailed,
    NotificationKind::Quarantined,
    NotificationKind::FreezeOverridden,
];

const ENV_HELP: &str = "a table of strings, e.g. env = { RUST_LOG = \"info\" }";
const SECRETS_HELP: &str =
    "names of the server's environment variables, e.g. secrets = [\"DEPLOY_TOKEN\"]";
const PASS_ENV_HELP: &str = "names (or PREFIX_* prefixes) of the server's environment variables, e.g. pass_env = [\"KUBECONFIG\", \"AWS_*\"]";
const SOURCE: &[&str] = &[
    "git",
    "branch",
    "poll_interval",
    "webhook_secret_env",
    "token_env",
    "token_username",
    "ssh_key",
    "known_hosts",
];
const FILE_HELP: &str = "a file path in quotes, relative to the config file";
const SOURCE_HELP: &str = "source = { git = \"path or URL\", branch = \"main\", poll_interval = \"10s\" }, or source = \"external\" when another CI registers artifacts";

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
    let mut notify = match root.get("notify") {
        Some(item) => read_notify(&item.table("[notify] is a table: webhooks, commands")?)?,
        None => NotifyConfig::default(),
    };
    if let Some(url) = &server.public_url {
        notify.public_url = Some(check_url(
            url.clone(),
            "public_url = \"https://ferry.example.com\"",
        )?);
    }
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
    let safety = match root.get("safety") {
        Some(item) => super::safety::read_safety(
            &item
                .table("[safety] is a table: quarantine_lift_roles, quarantine_lift_allow_self")?,
        )?,
        None => Default::default(),
    };
    let freezes = match root.get("freezes") {
        Some(item) => super::freezes::read_freezes(&item)?,
        None => Vec::new(),
    };
    Ok(RawConfig {
        server,
        console,
        users,
        notify,
        templates,
        services,
        safety,
        freezes,
    })
}

const STORE_HELP: &str = "a store URL in quotes, e.g. \"postgres://ferry:PASSWORD@db:5432/ferry\"";

fn read_server(t: &Table) -> Result<RawServer> {
    // The replica keys matter only with a PostgreSQL store (and public_url
    // only with notifications); the help for an unknown key lists the
    // everyday ones.
    t.allow_also(
        &[
            "listen",
            "data_dir",
            "store",
            "retention",
            "tls_cert",
            "tls_key",
        ],
        &[
            "lease_ttl",
            "artifact_dir",
            "log_dir",
            "advertise",
            "public_url",
        ],
    )?;
    Ok(RawServer {
        listen: t.str(
            "listen",
            "an address and port in quotes, e.g. \"127.0.0.1:7474\"",
        )?,
        data_dir: t.str("data_dir", "a directory path in quotes")?,
        store: t.str("store", STORE_HELP)?,
        lease_ttl: t.duration("lease_ttl")?,
        artifact_dir: t.str(
            "artifact_dir",
            "a directory path in quotes (shared storage)",
        )?,
        log_dir: t.str("log_dir", "a directory path in quotes (shared storage)")?,
        advertise: t.str(
            "advertise",
            "this replica's URL for the others, e.g. \"http://10.0.0.5:7474\"",
        )?,
        retention: t.str("retention", "a duration in quotes, e.g. \"90d\" or \"2w\"")?,
        tls_cert: t.str("tls_cert", "a PEM certificate chain path in quotes")?,
        tls_key: t.str("tls_key", "a PEM private key path in quotes")?,
        public_url: t.str(
            "public_url",
            "the URL people reach this server at, e.g. \"https://ferry.example.com\"",
        )?,
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

fn read_user(item: &Item) -> Result<RawUser> {
    let t = item.table("write each user as [[users]] with name, roles and token_sha256")?;
    t.allow(&["name", "roles", "token_sha256", "authors"])?;
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
    let authors = t.strings(
        "authors",
        "a list of git author names or emails, e.g. authors = [\"Ada Lovelace\", \"ada@example.com\"]",
    )?;
    Ok(RawUser {
        name,
        roles,
        token_sha256: token,
        authors,
    })
}

fn read_notify(t: &Table) -> Result<NotifyConfig> {
    t.allow(&["webhooks", "commands", "attempts", "retry_delay"])?;
    let mut notify = NotifyConfig::default();
    if let Some(item) = t.get("attempts") {
        let n = item.int(
            1,
            100,
            "a number of attempts from 1 to 100, e.g. attempts = 8",
        )?;
        notify.retry.attempts = u32::try_from(n.value).unwrap_or(1);
    }
    if let Some(d) = nonzero(t, "retry_delay")? {
        notify.retry.first_delay = d;
        notify.retry.max_delay = notify.retry.max_delay.max(d);
    }
    const HOOK_HELP: &str =
        "webhooks = [{ url = \"https://...\", on = [\"deployment_failed\"], format = \"slack\" }]";
    if let Some(item) = t.get("webhooks") {
        for item in item.array(HOOK_HELP)? {
            let hook = item.table(HOOK_HELP)?;
            hook.allow(&["url", "on", "format", "secret_env"])?;
            let url = hook.require("url", HOOK_HELP)?.str(HOOK_HELP)?;
            let format_help = format!("format is one of {}", one_of(WebhookFormat::NAMES));
            let format = match hook.str("format", &format_help)? {
                Some(f) => match WebhookFormat::parse(&f.value) {
                    Some(format) => Some(format),
                    None => {
                        let help =
                            match did_you_mean(&f.value, WebhookFormat::NAMES.iter().copied()) {
                                Some(close) => format!("did you mean `{close}`?"),
                                None => format_help,
                            };
                        return Err(f.fault(format!("`{}` is not a webhook format", f.value), help));
                    }
                },
                None => None,
            };
            let secret_env = hook.str(
                "secret_env",
                "the NAME of an environment variable holding the signing secret, e.g. \"FERRY_HOOK_SECRET\"",
            )?;
            if let Some(s) = &secret_env
                && !super::access::is_env_name(&s.value)
            {
                return Err(s.fault(
                    "secret_env names an environment variable, not the secret itself",
                    "a name like \"FERRY_HOOK_SECRET\"; the server reads the secret from it",
                ));
            }
            notify.webhooks.push(Webhook {
                url: check_url(url, HOOK_HELP)?,
                on: read_kinds(&hook)?,
                format,
                secret_env: secret_env.map(|s| s.value),
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
        pass_env: t.strings("pass_env", PASS_ENV_HELP)?,
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
            overrides.push((stage, read_stage(&item, true)?));
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
        pass_env: t.strings("pass_env", PASS_ENV_HELP)?,
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
    t.allow(SOURCE)?;
    let repo = t
        .require("git", SOURCE_HELP)?
        .text("a repository path or URL that `git clone` accepts")?;
    let branch = t.str("branch", "a branch name in quotes")?;
    if let Some(b) = &branch
        && b.value.trim().is_empty()
    {
        return Err(b.fault("branch must not be empty", "a branch name, e.g. \"main\""));
    }
    let secret_env = env_name(
        &t,
        "webhook_secret_env",
        "a name like \"GITHUB_HOOK_SECRET\"; the server reads the secret from it",
    )?;
    let token_env = env_name(
        &t,
        "token_env",
        "a name like \"GITHUB_TOKEN\"; the server reads the token from it",
    )?;
    let token_username = t.str(
        "token_username",
        "the user name sent with the token, in quotes",
    )?;
    let ssh_key = t.get("ssh_key").map(|i| i.text(FILE_HELP)).transpose()?;
    let known_hosts = t
        .get("known_hosts")
        .map(|i| i.text(FILE_HELP))
        .transpose()?;
    super::access::check_credentials(
        &repo,
        token_env.as_ref(),
        ssh_key.as_ref(),
        known_hosts.as_ref(),
    )?;
    Ok(RawSource::Git {
        repo,
        branch: branch.map(|b| b.value),
        poll_interval: nonzero(&t, "poll_interval")?,
        webhook_secret_env: secret_env.map(|s| s.value),
        credentials: Box::new(RawCredentials {
            token_env,
            token_username: token_username.map(|u| u.value),
            ssh_key,
            known_hosts,
        }),
    })
}

/// A key naming an environment variable (never holding the secret itself).
fn env_name(t: &Table, key: &str, help: &str) -> Result<Option<At<String>>> {
    let name = t.str(
        key,
        "the NAME of an environment variable holding the secret, e.g. \"GITHUB_TOKEN\"",
    )?;
    if let Some(s) = &name
        && !super::access::is_env_name(&s.value)
    {
        return Err(s.fault(
            format!("{key} names an environment variable, not the secret itself"),
            help,
        ));
    }
    Ok(name)
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

fn read_env(t: &Table) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    if let Some(item) = t.get("env") {
        for (name, value) in item.table(ENV_HELP)?.entries() {
            if !is_env_name(&name.value) {
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
