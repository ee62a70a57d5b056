//! The notification channels of `[notify]`: their payload formats, the
//! retry policy of the outbox, and the names channels carry in events.
//!
//! Channel names are computed here (not in the runner) because the engine
//! records, when it queues a notification, which channels still owe a
//! delivery; the runner reports back under the same names.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{NotifyCommand, NotifyConfig, Webhook};
use crate::model::{NotificationKind, sanitize_text};

/// The payload shape a webhook wants (`format = "…"` per webhook).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookFormat {
    #[default]
    Json,
    Slack,
    Teams,
    Discord,
}

impl WebhookFormat {
    pub const NAMES: &[&str] = &["json", "slack", "teams", "discord"];

    pub fn parse(s: &str) -> Option<WebhookFormat> {
        match s {
            "json" => Some(WebhookFormat::Json),
            "slack" => Some(WebhookFormat::Slack),
            "teams" => Some(WebhookFormat::Teams),
            "discord" => Some(WebhookFormat::Discord),
            _ => None,
        }
    }
}

/// How often and how patiently the outbox retries one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; then the channel is given up.
    pub attempts: u32,
    /// The wait before the first retry; it doubles (with jitter) up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// About 10 minutes of retries: long enough to ride out a receiver's
    /// deploy or a short outage, short enough that a given-up notification
    /// is still news when someone reads it.
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 8,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
        }
    }
}

/// One place a notification goes.
#[derive(Debug, Clone, Copy)]
pub enum Channel<'a> {
    Webhook(&'a Webhook),
    Command(&'a NotifyCommand),
}

impl Channel<'_> {
    /// What events and logs call it: no secret (see `redact_url`), plus a
    /// short hash of the full target so two hooks on one host stay apart
    /// and a pending delivery finds its channel again after a restart.
    pub fn key(&self) -> String {
        let (shown, target) = match self {
            Channel::Webhook(h) => (format!("webhook {}", redact_url(&h.url)), h.url.as_str()),
            Channel::Command(c) => (
                format!("command {}", command_name(&c.command)),
                c.command.as_str(),
            ),
        };
        let digest = Sha256::digest(target.as_bytes());
        format!("{shown} #{}", &hex::encode(digest)[..6])
    }
}

impl NotifyConfig {
    /// The channels that want `kind`, webhooks first, in configuration
    /// order, each once (a target configured twice is one channel).
    pub fn channels_for(&self, kind: NotificationKind) -> Vec<(String, Channel<'_>)> {
        let wants = |on: &[NotificationKind]| on.is_empty() || on.contains(&kind);
        let mut out: Vec<(String, Channel<'_>)> = Vec::new();
        let all = self
            .webhooks
            .iter()
            .filter(|h| wants(&h.on))
            .map(Channel::Webhook)
            .chain(
                self.commands
                    .iter()
                    .filter(|c| wants(&c.on))
                    .map(Channel::Command),
            );
        for channel in all {
            let key = channel.key();
            if !out.iter().any(|(k, _)| *k == key) {
                out.push((key, channel));
            }
        }
        out
    }
}

impl NotifyConfig {
    /// The channel a key names, whatever it is `on` now (a delivery queued
    /// before a restart is owed even if the filter changed since).
    pub fn channel(&self, key: &str) -> Option<Channel<'_>> {
        self.webhooks
            .iter()
            .map(Channel::Webhook)
            .chain(self.commands.iter().map(Channel::Command))
            .find(|c| c.key() == key)
    }
}

/// A URL fit for logs and events: no userinfo, query or fragment.
/// Scheme, host and port only: webhook URLs carry their secret anywhere,
/// in the user info, the query, or the path itself (Slack, Discord), and the
/// channel name ends up in events every viewer can read.
pub fn redact_url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("");
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if url.path().trim_matches('/').is_empty() {
                ""
            } else {
                "/…"
            };
            sanitize_text(&format!("{}://{host}{port}{rest}", url.scheme()))
        }
        Err(_) => "an unparseable URL".to_string(),
    }
}

/// The program a notify command runs, not its arguments (they may hold tokens).
pub fn command_name(command: &str) -> String {
    let program = command.split_whitespace().next().unwrap_or("");
    let name = program.rsplit('/').next().unwrap_or(program);
    sanitize_text(&name.chars().take(40).collect::<String>())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, ConfigError};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/ferry/ferry.toml"))
    }

    #[test]
    fn formats_secrets_retries_and_public_url_are_read() {
        let c = parse(
            r#"
[server]
public_url = "https://ferry.example.com"

[notify]
attempts = 3
retry_delay = "500ms"
webhooks = [
  { url = "https://hooks.slack.com/services/T/B/x", format = "slack" },
  { url = "https://ops.example.com/ferry", format = "json", secret_env = "HOOK_SECRET" },
  { url = "https://old.example.com/hook" },
]
"#,
        )
        .unwrap();
        let n = &c.notify;
        assert_eq!(n.public_url.as_deref(), Some("https://ferry.example.com"));
        assert_eq!(n.retry.attempts, 3);
        assert_eq!(n.retry.first_delay, Duration::from_millis(500));
        assert_eq!(n.webhooks[0].format, Some(WebhookFormat::Slack));
        assert_eq!(n.webhooks[1].format, Some(WebhookFormat::Json));
        assert_eq!(n.webhooks[1].secret_env.as_deref(), Some("HOOK_SECRET"));
        assert_eq!(n.webhooks[2].format, None);
        let keys: Vec<String> = n
            .channels_for(NotificationKind::DeploymentSucceeded)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys.len(), 3);
        assert!(keys.iter().all(|k| !k.contains("services/T")), "{keys:?}");
        assert!(n.channel(&keys[1]).is_some());
        assert!(
            n.channel("webhook https://gone.example.com #000000")
                .is_none()
        );
    }

    #[test]
    fn bad_formats_and_secrets_say_what_is_allowed() {
        let e = parse(
            "[notify]\nwebhooks = [{ url = \"https://x.example.com\", format = \"slak\" }]\n",
        )
        .unwrap_err();
        assert!(e.message.contains("`slak` is not a webhook format"), "{e}");
        assert_eq!(e.help, "did you mean `slack`?");
        let e = parse(
            "[notify]\nwebhooks = [{ url = \"https://x.example.com\", secret_env = \"s3cr3t value\" }]\n",
        )
        .unwrap_err();
        assert!(e.message.contains("names an environment variable"), "{e}");
        let e = parse("[notify]\nattempts = 0\n").unwrap_err();
        assert!(e.help.contains("from 1 to 100"), "{e}");
    }
}
