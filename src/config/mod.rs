//! The configuration, resolved and validated. `Config::load` reads a TOML
//! file (see `config.example.toml`), expands pipeline templates and checks
//! every rule, failing with the file, line, column, key, bad value and what
//! would be allowed. The types here are the resolved form the rest of ferry
//! uses; loading lives in `load.rs`, the raw TOML
//! schema in `schema.rs` and `stage.rs`, the shared checks in `checks.rs`,
//! defaults and templates in `resolve.rs` (a service's stages in
//! `resolve_stages.rs`), error rendering in `error.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{ApprovalRule, NotificationKind};

mod access;
mod checks;
mod error;
mod freezes;
mod load;
pub mod notify;
mod ops;
mod resolve;
mod resolve_stages;
mod safety;
mod schema;
mod signoff;
mod stage;
#[cfg(test)]
mod tests;
mod users;
mod walk;

pub use access::{SourceAccess, TOKEN_USERNAME};
pub use error::ConfigError;
pub use freezes::{FreezeConfig, FreezeWindow, Recurring};
pub use safety::SafetyConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from, if any.
    pub path: Option<PathBuf>,
    pub server: ServerConfig,
    pub console: ConsoleConfig,
    pub services: Vec<ServiceConfig>,
    pub users: Vec<UserConfig>,
    pub notify: NotifyConfig,
    /// `[safety]`: who may lift a quarantine (see `safety.rs`).
    pub safety: SafetyConfig,
    /// `[[freezes]]`: windows in which promotions into some stages wait.
    pub freezes: Vec<FreezeConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Default 127.0.0.1:7474.
    pub listen: SocketAddr,
    /// SQLite file, logs, artifacts and worktrees live here.
    pub data_dir: PathBuf,
    /// Where steps run when a service names no `workdir`: the config file's directory.
    pub base_dir: PathBuf,
    /// The event store's URL (`postgres://…`); `None`: SQLite in `data_dir`.
    pub store: Option<String>,
    /// Settings for several replicas on one PostgreSQL store.
    pub replica: ReplicaConfig,
    /// Retention and TLS (`[server] retention`, `tls_cert`, `tls_key`).
    pub ops: OpsConfig,
}

/// The leader lease TTL when `[server] lease_ttl` is not set.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// `[server]` keys for running several replicas (see the README).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaConfig {
    /// `[server] lease_ttl`, default 10 s.
    pub lease_ttl: std::time::Duration,
    /// `[server] artifact_dir`: built artifacts, on storage every replica mounts.
    pub artifact_dir: Option<PathBuf>,
    /// `[server] log_dir`: step logs, on storage every replica mounts.
    pub log_dir: Option<PathBuf>,
    /// `[server] advertise`: the URL other replicas forward writes to.
    pub advertise: Option<String>,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            lease_ttl: DEFAULT_LEASE_TTL,
            artifact_dir: None,
            log_dir: None,
            advertise: None,
        }
    }
}

/// Step logs, reports, run directories and unreferenced artifacts older
/// than this are deleted in the background; events never are.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

#[derive(Debug, Clone, PartialEq)]
pub struct OpsConfig {
    /// `[server] retention`, default 90 days.
    pub retention: std::time::Duration,
    /// `[server] tls_cert` / `tls_key`: serve HTTPS with these PEM files.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            retention: DEFAULT_RETENTION,
            tls_cert: None,
            tls_key: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsoleConfig {
    /// URL of a ferry server to connect to instead of starting one in-process.
    pub server: Option<String>,
    /// Colour overrides: element name -> colour ("red", "#ff8800", "244").
    pub theme: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    pub name: String,
    pub source: Source,
    /// Present for git sources.
    pub build: Option<BuildConfig>,
    pub stages: Vec<StageConfig>,
    /// Working directory of every step of this service.
    pub workdir: PathBuf,
    /// Extra environment variables given to every step.
    pub env: BTreeMap<String, String>,
    /// Names of environment variables of the server passed to steps and
    /// masked (replaced by `***`) in every log line and event.
    pub secrets: Vec<String>,
    /// Names (or `PREFIX_*`) of the server's environment variables passed
    /// to every step as they are, not masked.
    pub pass_env: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Git {
        /// A path or URL that `git clone` accepts.
        repo: String,
        branch: String,
        poll_interval: Duration,
        /// Webhook secret (and later credentials): see `access.rs`.
        access: SourceAccess,
    },
    /// Artifacts are registered through the API by another CI.
    External,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BuildConfig {
    pub command: String,
    /// Path of the artifact file, relative to the worktree, after the build.
    pub artifact: String,
    pub timeout: Duration,
    /// File in the worktree whose first line is the version; without it the
    /// version is `git describe --tags --always`.
    pub version_file: Option<String>,
    /// JUnit XML written by the unit tests, relative to the worktree.
    pub report: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageConfig {
    pub name: String,
    pub deploy: CommandStep,
    pub verify: Vec<VerifyStep>,
    pub gate: Gate,
    pub health: Option<HealthCheck>,
    pub rollback: RollbackPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandStep {
    pub command: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerifyStep {
    pub name: String,
    pub command: String,
    pub timeout: Duration,
    /// JUnit XML report path, relative to the service's workdir.
    pub report: Option<String>,
    /// Set for a step that waits for people (user acceptance) instead of
    /// running `command` (then empty): who signs, how many, four-eyes.
    pub sign_off: Option<crate::model::SignOffRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Gate {
    Auto,
    Approval(ApprovalRule),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub probe: HealthProbe,
    /// Time between two probes.
    #[serde(with = "humantime_serde_ms")]
    pub interval: Duration,
    /// Consecutive failed probes tolerated before the check fails.
    pub retries: u32,
    /// How long the service must stay healthy before the deployment succeeds.
    #[serde(with = "humantime_serde_ms")]
    pub bake: Duration,
    /// Timeout of one probe.
    #[serde(with = "humantime_serde_ms")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum HealthProbe {
    Command {
        command: String,
    },
    Http {
        url: String,
        expect_status: u16,
    },
    /// A PromQL query whose value must stay at or below `max`
    /// (runner/health_prometheus.rs).
    Prometheus {
        url: String,
        query: String,
        max: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackPolicy {
    Auto,
    Manual,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserConfig {
    pub name: String,
    /// Built-in roles (viewer, deployer, approver, admin) and any role a gate names.
    pub roles: Vec<String>,
    /// Lowercase hex sha256 of the user's token; the token itself is never stored.
    pub token_sha256: String,
    /// Git author names or emails that are this person, so that commits
    /// they wrote count as theirs for `allow_self = false`.
    pub authors: Vec<String>,
}

impl Config {
    /// Roles users hold that neither a built-in role nor any gate knows
    /// (`deployr`): each a warning, with a "did you mean" when one is close.
    pub fn role_warnings(&self) -> Vec<String> {
        use crate::model::roles;
        let mut known: Vec<&str> = vec![
            roles::VIEWER,
            roles::DEPLOYER,
            roles::APPROVER,
            roles::ADMIN,
        ];
        for stage in self.services.iter().flat_map(|s| &s.stages) {
            if let Gate::Approval(rule) = &stage.gate {
                known.extend(rule.roles.iter().map(String::as_str));
            }
            for rule in stage.verify.iter().filter_map(|v| v.sign_off.as_ref()) {
                known.extend(rule.roles.iter().map(String::as_str));
            }
        }
        known.extend(self.safety.quarantine_lift_roles.iter().map(String::as_str));
        let mut warnings = Vec::new();
        for user in &self.users {
            for role in user.roles.iter().filter(|r| !known.contains(&r.as_str())) {
                let guess = error::did_you_mean(role, known.iter().copied())
                    .map(|g| format!("; did you mean `{g}`?"))
                    .unwrap_or_default();
                warnings.push(format!(
                    "user `{}` has the role `{role}`, which no gate and no built-in role knows{guess} \
                     (built-in: viewer, deployer, approver, admin)",
                    user.name
                ));
            }
        }
        warnings
    }

    /// The user a git author (name or email) is, if any; else the author as written.
    pub fn user_for_author(&self, author: &str) -> String {
        use crate::model::same_person;
        self.users
            .iter()
            .find(|u| {
                same_person(&u.name, author) || u.authors.iter().any(|a| same_person(a, author))
            })
            .map(|u| u.name.clone())
            .unwrap_or_else(|| author.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifyConfig {
    pub webhooks: Vec<Webhook>,
    pub commands: Vec<NotifyCommand>,
    /// How the outbox retries a failing channel (`[notify] attempts`, `retry_delay`).
    pub retry: notify::RetryPolicy,
    /// `[server] public_url`: links in notifications point there.
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub url: String,
    /// Which notifications it receives; empty means all.
    pub on: Vec<NotificationKind>,
    /// The payload shape; `None` is ferry's notification object as stored
    /// in events (what receivers got before formats existed).
    pub format: Option<notify::WebhookFormat>,
    /// The environment variable holding the HMAC secret that signs JSON
    /// payloads (`X-Ferry-Signature-256`); read at delivery, never stored.
    pub secret_env: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotifyCommand {
    /// Run with `sh -c`; the notification is given as JSON on stdin and in FERRY_NOTIFICATION.
    pub command: String,
    pub on: Vec<NotificationKind>,
}

impl Config {
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }
}

impl ServiceConfig {
    pub fn stage(&self, name: &str) -> Option<(usize, &StageConfig)> {
        self.stages.iter().enumerate().find(|(_, s)| s.name == name)
    }
}

/// Durations as integer milliseconds in JSON, so the console and scripts
/// need no duration parser.
mod humantime_serde_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
