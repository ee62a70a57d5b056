//! From the raw schema to the resolved `Config`: defaults, template
//! expansion, paths made absolute, and every rule that spans more than one
//! value (duplicates, references). A service's stages (per-stage overrides,
//! gates and who can approve, health checks) are resolved in `resolve_stages.rs`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{BuildConfig, Config, ServerConfig, ServiceConfig, Source, UserConfig};

use super::checks::is_env_name;
use super::error::{Fault, Result, did_you_mean};
use super::resolve_stages::resolve_stages;
use super::schema::{RawBuild, RawConfig, RawService, RawSource, RawTemplate};
use super::walk::At;

const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7474));
const BUILD_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const POLL_INTERVAL: Duration = Duration::from_secs(10);
const BRANCH: &str = "main";

/// The default data directory: the XDG data dir (`~/.local/share/ferry` on Linux).
pub(super) fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "ferry").map(|d| d.data_dir().to_path_buf())
}

pub(super) fn resolve(raw: RawConfig, base_dir: &Path) -> Result<Config> {
    let users = super::users::resolve_users(raw.users)?;
    let server = resolve_server(&raw.server, base_dir, !users.is_empty())?;
    let mut services = Vec::new();
    for service in raw.services {
        services.push(resolve_service(service, &raw.templates, &users, base_dir)?);
    }
    let safety = super::safety::resolve_safety(raw.safety, &users)?;
    let freezes = super::freezes::resolve_freezes(raw.freezes, &services, &users)?;
    Ok(Config {
        path: None,
        server,
        console: raw.console,
        services,
        users,
        notify: raw.notify,
        safety,
        freezes,
    })
}

fn resolve_server(
    raw: &super::schema::RawServer,
    base_dir: &Path,
    has_users: bool,
) -> Result<ServerConfig> {
    let listen = match &raw.listen {
        None => DEFAULT_LISTEN,
        Some(text) => {
            let addr: SocketAddr = text.value.trim().parse().map_err(|_| {
                text.fault(
                    format!("`{}` is not an IP address and port", text.value),
                    "e.g. \"127.0.0.1:7474\" or \"[::1]:7474\" (host names are not resolved)",
                )
            })?;
            if !addr.ip().is_loopback() && !has_users {
                return Err(text.fault(
                    format!("refusing to listen on {addr} without [[users]] tokens"),
                    "without users every request acts as an admin: add [[users]] with a \
                     token_sha256 (run `ferry token new`), or listen on 127.0.0.1",
                ));
            }
            addr
        }
    };
    let data_dir = match &raw.data_dir {
        Some(dir) if dir.value.trim().is_empty() => {
            return Err(dir.fault("data_dir must not be empty", "a directory path in quotes"));
        }
        Some(dir) => base_dir.join(&dir.value),
        None => default_data_dir().ok_or_else(|| {
            Fault::new(
                "server.data_dir",
                0..0,
                "no home directory to put the data directory in",
                "set [server] data_dir = \"/var/lib/ferry\" (or any directory)",
            )
        })?,
    };
    // Checked here so a malformed URL is reported with its line.
    let store = match &raw.store {
        Some(url) => match crate::store::StoreUrl::parse(&url.value) {
            Ok(_) => Some(url.value.clone()),
            Err(e) => {
                return Err(url.fault(
                    format!("{e}"),
                    "postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                ));
            }
        },
        None => None,
    };
    // Replica settings: below one second a renewal could not keep up.
    let lease_ttl = match &raw.lease_ttl {
        Some(t) if t.value < std::time::Duration::from_secs(1) => {
            return Err(t.fault("lease_ttl must be at least 1s", "e.g. \"10s\""));
        }
        Some(t) => t.value,
        None => super::DEFAULT_LEASE_TTL,
    };
    let dir = |d: &Option<At<String>>| d.as_ref().map(|d| base_dir.join(&d.value));
    let ops = super::ops::resolve_ops(raw, base_dir)?;
    Ok(ServerConfig {
        listen,
        data_dir,
        base_dir: base_dir.to_path_buf(),
        store,
        replica: super::ReplicaConfig {
            lease_ttl,
            artifact_dir: dir(&raw.artifact_dir),
            log_dir: dir(&raw.log_dir),
            advertise: raw
                .advertise
                .as_ref()
                .map(|a| a.value.trim_end_matches('/').to_string()),
        },
        ops,
    })
}

fn resolve_service(
    raw: RawService,
    templates: &[RawTemplate],
    users: &[UserConfig],
    base_dir: &Path,
) -> Result<ServiceConfig> {
    let name = raw.name.value.clone();
    let template = match &raw.template {
        Some(t) => Some(find_template(t, templates)?),
        None => None,
    };
    let resolved = resolve_stages(&raw, template, users)?;
    let (source, build) = resolve_source(&raw, template, base_dir)?;
    let mut env = template.map(|t| t.env.clone()).unwrap_or_default();
    env.extend(raw.env.clone());
    let mut secrets: Vec<String> = Vec::new();
    let inherited = template.map(|t| t.secrets.as_slice()).unwrap_or_default();
    for secret in inherited.iter().chain(&raw.secrets) {
        check_env_name(secret)?;
        if !secrets.contains(&secret.value) {
            secrets.push(secret.value.clone());
        }
    }
    let mut pass_env: Vec<String> = Vec::new();
    let inherited = template.map(|t| t.pass_env.as_slice()).unwrap_or_default();
    for name in inherited.iter().chain(&raw.pass_env) {
        // `AWS_*` passes every variable starting with AWS_.
        let stem = name.value.strip_suffix('*').unwrap_or(&name.value);
        if stem.is_empty() || !crate::config::access::is_env_name(stem) {
            return Err(name.fault(
                format!(
                    "`{}` is not an environment variable name or prefix",
                    name.value
                ),
                "a NAME, or a PREFIX_* to pass every variable starting with PREFIX_",
            ));
        }
        if !pass_env.contains(&name.value) {
            pass_env.push(name.value.clone());
        }
    }
    let workdir = match &raw.workdir {
        Some(dir) => base_dir.join(&dir.value),
        None => base_dir.to_path_buf(),
    };
    Ok(ServiceConfig {
        name,
        source,
        build,
        stages: resolved,
        workdir,
        env,
        secrets,
        pass_env,
    })
}

fn find_template<'t>(name: &At<String>, templates: &'t [RawTemplate]) -> Result<&'t RawTemplate> {
    if let Some(t) = templates.iter().find(|x| x.name.value == name.value) {
        return Ok(t);
    }
    let names: Vec<&str> = templates.iter().map(|x| x.name.value.as_str()).collect();
    let help = match did_you_mean(&name.value, names.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None if names.is_empty() => {
            "there are no templates: define [templates.NAME] or remove `template`".into()
        }
        None => format!("templates defined: {}", names.join(", ")),
    };
    Err(name.fault(format!("there is no template `{}`", name.value), help))
}

fn resolve_source(
    raw: &RawService,
    template: Option<&RawTemplate>,
    base_dir: &Path,
) -> Result<(Source, Option<BuildConfig>)> {
    let name = &raw.name.value;
    match &raw.source.value {
        RawSource::External => {
            if let Some(build) = &raw.build {
                return Err(Fault::new(
                    build.key.clone(),
                    build.span.clone(),
                    format!("service `{name}` has an external source, so ferry does not build it"),
                    "remove the build section (artifacts come from `ferry artifact push`), \
                     or use source = { git = \"...\" }",
                ));
            }
            // A template's build is shared by git services; external ones ignore it.
            Ok((Source::External, None))
        }
        RawSource::Git {
            repo,
            branch,
            poll_interval,
            webhook_secret_env,
            credentials,
        } => {
            let build = match (template.and_then(|t| t.build.as_ref()), &raw.build) {
                (Some(base), Some(own)) => merge_build(base, own),
                (base, own) => own.as_ref().or(base).cloned().ok_or_else(|| {
                    raw.source.fault(
                        format!("service `{name}` builds from git but has no build section"),
                        "add build = { command = \"make\", artifact = \"target/app.tar.gz\" }, \
                         or use source = \"external\" when another CI builds it",
                    )
                })?,
            };
            let source = Source::Git {
                repo: repo_location(repo, base_dir),
                branch: branch.clone().unwrap_or_else(|| BRANCH.to_string()),
                poll_interval: poll_interval.unwrap_or(POLL_INTERVAL),
                access: crate::config::SourceAccess {
                    webhook_secret_env: webhook_secret_env.clone(),
                    token_env: credentials.token_env.as_ref().map(|t| t.value.clone()),
                    token_username: credentials.token_username.clone(),
                    // Paths are relative to the config file, like every other.
                    ssh_key: path_in(credentials.ssh_key.as_ref(), base_dir),
                    known_hosts: path_in(credentials.known_hosts.as_ref(), base_dir),
                },
            };
            Ok((source, Some(resolve_build(name, build)?)))
        }
    }
}

fn path_in(path: Option<&At<String>>, base_dir: &Path) -> Option<std::path::PathBuf> {
    path.map(|p| base_dir.join(p.value.trim()))
}

/// A relative local path is relative to the config file, like every other
/// path in it; URLs and scp-like `host:path` locations are kept as written.
fn repo_location(repo: &At<String>, base_dir: &Path) -> String {
    let r = repo.value.trim();
    let is_url = r.contains("://");
    let is_scp = r
        .split_once(':')
        .is_some_and(|(host, _)| !host.contains('/') && !host.is_empty());
    if is_url || is_scp || Path::new(r).is_absolute() {
        r.to_string()
    } else {
        base_dir.join(r).display().to_string()
    }
}

fn merge_build(base: &RawBuild, own: &RawBuild) -> RawBuild {
    RawBuild {
        key: own.key.clone(),
        span: own.span.clone(),
        command: own.command.clone().or_else(|| base.command.clone()),
        artifact: own.artifact.clone().or_else(|| base.artifact.clone()),
        timeout: own.timeout.or(base.timeout),
        version_file: own
            .version_file
            .clone()
            .or_else(|| base.version_file.clone()),
        report: own.report.clone().or_else(|| base.report.clone()),
    }
}

fn resolve_build(service: &str, b: RawBuild) -> Result<BuildConfig> {
    let missing = |field: &str, example: &str| {
        Fault::new(
            format!("{}.{field}", b.key),
            b.span.clone(),
            format!("the build of service `{service}` has no `{field}`"),
            format!("add {field} = {example}"),
        )
    };
    Ok(BuildConfig {
        command: b
            .command
            .clone()
            .ok_or_else(|| missing("command", "\"make\""))?
            .value,
        artifact: b
            .artifact
            .clone()
            .ok_or_else(|| missing("artifact", "\"target/app.tar.gz\""))?
            .value,
        timeout: b.timeout.unwrap_or(BUILD_TIMEOUT),
        version_file: b.version_file,
        report: b.report,
    })
}

fn check_env_name(name: &At<String>) -> Result<()> {
    if is_env_name(&name.value) {
        return Ok(());
    }
    Err(name.fault(
        format!("`{}` is not an environment variable name", name.value),
        "letters, digits and `_`, not starting with a digit, e.g. \"DEPLOY_TOKEN\"",
    ))
}
