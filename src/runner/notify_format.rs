//! What a notification looks like on the wire, per receiver: Slack (Block
//! Kit), Microsoft Teams (an Adaptive Card, as Workflows webhooks take it),
//! Discord (an embed) or ferry's own JSON, optionally signed with
//! `X-Ferry-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` so a
//! receiver can check it came from ferry.
//!
//! This is the seam between the engine's notifications and their delivery:
//! `render` turns one event into the `(url, headers, body)` of one POST and
//! does no I/O, so the durable outbox that delivers and retries them stays
//! ignorant of formats, and every format is testable without a network.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::model::{Millis, Notification, NotificationKind, sanitize_text};

/// The payload shape a webhook wants (`format = "…"` per webhook); it
/// lives with the config that names it.
pub use crate::config::notify::WebhookFormat as Format;

/// Everything ferry notifies about, by its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvent {
    DeploymentSucceeded,
    ApprovalNeeded,
    DeploymentFailed,
    RolledBack,
    RollbackFailed,
    Quarantined,
    FreezeOverridden,
    BuildFailed,
    RollbackImpossible,
}

impl NotifyEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::DeploymentSucceeded => "deployment_succeeded",
            NotifyEvent::ApprovalNeeded => "approval_needed",
            NotifyEvent::DeploymentFailed => "deployment_failed",
            NotifyEvent::RolledBack => "rolled_back",
            NotifyEvent::RollbackFailed => "rollback_failed",
            NotifyEvent::Quarantined => "quarantined",
            NotifyEvent::FreezeOverridden => "freeze_overridden",
            NotifyEvent::BuildFailed => "build_failed",
            NotifyEvent::RollbackImpossible => "rollback_impossible",
        }
    }

    /// The outcome word people read in a title.
    fn outcome(self) -> &'static str {
        match self {
            NotifyEvent::DeploymentSucceeded => "succeeded",
            NotifyEvent::ApprovalNeeded => "needs approval",
            NotifyEvent::DeploymentFailed => "failed",
            NotifyEvent::RolledBack => "rolled back",
            NotifyEvent::RollbackFailed => "rollback failed",
            NotifyEvent::Quarantined => "quarantined",
            NotifyEvent::FreezeOverridden => "promoted through a freeze",
            NotifyEvent::BuildFailed => "build failed",
            NotifyEvent::RollbackImpossible => "cannot be rolled back",
        }
    }

    fn good(self) -> bool {
        self == NotifyEvent::DeploymentSucceeded
    }

    fn waiting(self) -> bool {
        self == NotifyEvent::ApprovalNeeded
    }
}

impl From<NotificationKind> for NotifyEvent {
    fn from(k: NotificationKind) -> NotifyEvent {
        match k {
            NotificationKind::BuildFailed => NotifyEvent::BuildFailed,
            NotificationKind::DeploymentFailed => NotifyEvent::DeploymentFailed,
            NotificationKind::ApprovalNeeded => NotifyEvent::ApprovalNeeded,
            NotificationKind::RolledBack => NotifyEvent::RolledBack,
            NotificationKind::RollbackImpossible => NotifyEvent::RollbackImpossible,
            NotificationKind::DeploymentSucceeded => NotifyEvent::DeploymentSucceeded,
            NotificationKind::RollbackFailed => NotifyEvent::RollbackFailed,
            NotificationKind::Quarantined => NotifyEvent::Quarantined,
            NotificationKind::FreezeOverridden => NotifyEvent::FreezeOverridden,
        }
    }
}

/// One notification, in the words every format uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The outbox id, the same on every retry: receivers drop duplicates by it.
    pub id: Option<String>,
    pub event: NotifyEvent,
    pub service: String,
    pub stage: Option<String>,
    pub version: Option<String>,
    pub commit: Option<String>,
    pub deployment: Option<String>,
    pub build: Option<String>,
    /// Who caused it (a person, or `ferry`).
    pub actor: Option<String>,
    /// One line for people.
    pub text: String,
    /// Failed tests' `name: first line`, when a test step failed (the
    /// engine keeps the first few).
    pub failed_tests: Vec<String>,
    /// How many more tests failed than `failed_tests` names.
    pub failed_more: u32,
    pub at: Millis,
}

impl Message {
    pub fn from_notification(n: &Notification) -> Message {
        Message {
            id: Some(n.id.clone()).filter(|id| !id.is_empty()),
            event: n.kind.into(),
            service: n.service.clone(),
            stage: n.stage.clone(),
            version: n.version.clone(),
            commit: n.commit.clone(),
            deployment: n.deployment.as_ref().map(|d| d.to_string()),
            build: n.build.as_ref().map(|b| b.to_string()),
            actor: None,
            text: n.message.clone(),
            failed_tests: n
                .failed_tests
                .iter()
                .flat_map(|f| f.named.iter())
                .map(|t| match t.message.as_str() {
                    "" => t.name.clone(),
                    why => format!("{}: {why}", t.name),
                })
                .collect(),
            failed_more: n.failed_tests.as_ref().map_or(0, |f| f.more),
            at: n.at,
        }
    }

    /// "app 1.4.2 failed in prod"
    pub fn title(&self) -> String {
        let mut t = sanitize_text(&self.service);
        if let Some(v) = &self.version {
            t.push(' ');
            t.push_str(&sanitize_text(v));
        }
        t.push(' ');
        t.push_str(self.event.outcome());
        if let Some(s) = &self.stage {
            t.push_str(" in ");
            t.push_str(&sanitize_text(s));
        }
        t
    }

    /// `[server] public_url` + the deployment (or build) in the API.
    pub fn link(&self, public_url: Option<&str>) -> Option<String> {
        let base = public_url?.trim().trim_end_matches('/');
        if base.is_empty() {
            return None;
        }
        match (&self.deployment, &self.build) {
            (Some(d), _) => Some(format!("{base}/api/v1/deployments/{d}")),
            (None, Some(b)) => Some(format!("{base}/api/v1/builds/{b}")),
            (None, None) => None,
        }
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![("Service", sanitize_text(&self.service))];
        if let Some(s) = &self.stage {
            f.push(("Stage", sanitize_text(s)));
        }
        if let Some(v) = &self.version {
            f.push(("Version", sanitize_text(v)));
        }
        f.push(("Outcome", self.event.outcome().to_string()));
        if let Some(a) = &self.actor {
            f.push(("By", sanitize_text(a)));
        }
        f
    }

    fn details(&self) -> String {
        let mut d = sanitize_text(&self.text);
        for t in self.failed_tests.iter().take(10) {
            d.push_str("\n• ");
            d.push_str(&sanitize_text(t));
        }
        if let Some(more) = self.more_text() {
            d.push_str("\n• ");
            d.push_str(&more);
        }
        d
    }

    /// "and 3 more" failed tests, when the list is cut.
    fn more_text(&self) -> Option<String> {
        let listed = self.failed_tests.len().min(10) as u32;
        let more = self.failed_more + (self.failed_tests.len() as u32 - listed);
        (more > 0).then(|| format!("and {more} more"))
    }
}

/// One POST, ready for whoever delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The request for `m` to a webhook at `url` in `format`; `secret` signs the
/// JSON format (other formats are verified by their URL's own token).
pub fn render(
    format: Format,
    url: &str,
    m: &Message,
    public_url: Option<&str>,
    secret: Option<&str>,
) -> Outgoing {
    let link = m.link(public_url);
    let body = match format {
        Format::Json => json_body(m, link.as_deref()),
        Format::Slack => slack_body(m, link.as_deref()),
        Format::Teams => teams_body(m, link.as_deref()),
        Format::Discord => discord_body(m, link.as_deref()),
    }
    .to_string();
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    // Every format: Slack and co. ignore it, a proxy or a custom receiver
    // can drop a redelivery by it.
    if let Some(id) = &m.id {
        headers.push(("X-Ferry-Delivery".into(), id.clone()));
    }
    if format == Format::Json {
        headers.push(("X-Ferry-Event".into(), m.event.as_str().into()));
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            headers.push((
                "X-Ferry-Signature-256".into(),
                sign(secret, body.as_bytes()),
            ));
        }
    }
    Outgoing {
        url: url.to_string(),
        headers,
        body,
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, as GitHub signs its hooks.
pub fn sign(secret: &str, body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => String::new(),
    }
}

fn rfc3339(ms: Millis) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
}

fn json_body(m: &Message, link: Option<&str>) -> Value {
    json!({
        "id": m.id,
        "event": m.event.as_str(),
        "service": m.service,
        "stage": m.stage,
        "version": m.version,
        "commit": m.commit,
        "deployment": m.deployment,
        "build": m.build,
        "actor": m.actor,
        "message": m.text,
        "failed_tests": m.failed_tests,
        "failed_tests_more": m.failed_more,
        "at": rfc3339(m.at),
        "at_ms": m.at,
        "url": link,
    })
}

fn emoji(m: &Message) -> &'static str {
    if m.event.good() {
        "✅"
    } else if m.event.waiting() {
        "⏳"
    } else {
        "❌"
    }
}

fn slack_body(m: &Message, link: Option<&str>) -> Value {
    let title = format!("{} {}", emoji(m), m.title());
    let fields: Vec<Value> = m
        .facts()
        .into_iter()
        .map(|(k, v)| json!({ "type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(&v)) }))
        .collect();
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": title, "emoji": true } }),
        json!({ "type": "section", "fields": fields }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": slack_escape(&m.details()) } }),
    ];
    if let Some(url) = link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": { "type": "plain_text", "text": "Open deployment" },
                "url": url,
            }],
        }));
    }
    // `text` is what notifications and old clients show.
    json!({ "text": title, "blocks": blocks })
}

/// Slack's three control characters in mrkdwn.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn teams_body(m: &Message, link: Option<&str>) -> Value {
    let facts: Vec<Value> = m
        .facts()
        .into_iter()
        .map(|(k, v)| json!({ "title": k, "value": v }))
        .collect();
    let color = if m.event.good() {
        "Good"
    } else if m.event.waiting() {
        "Warning"
    } else {
        "Attention"
    };
    let actions: Vec<Value> = link
        .map(|url| json!({ "type": "Action.OpenUrl", "title": "Open deployment", "url": url }))
        .into_iter()
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    { "type": "TextBlock", "text": m.title(), "weight": "Bolder", "size": "Medium", "color": color, "wrap": true },
                    { "type": "FactSet", "facts": facts },
                    { "type": "TextBlock", "text": m.details(), "wrap": true },
                ],
                "actions": actions,
            },
        }],
    })
}

fn discord_body(m: &Message, link: Option<&str>) -> Value {
    let color = if m.event.good() {
        0x2e_b8_86
    } else if m.event.waiting() {
        0xf0_b4_29
    } else {
        0xd9_3f_3f
    };
    let fields: Vec<Value> = m
        .facts()
        .into_iter()
        .map(|(k, v)| json!({ "name": k, "value": v, "inline": true }))
        .collect();
    let mut embed = json!({
        "title": format!("{} {}", emoji(m), m.title()),
        "description": m.details(),
        "color": color,
        "fields": fields,
        "timestamp": rfc3339(m.at),
    });
    if let Some(url) = link {
        embed["url"] = json!(url);
    }
    json!({ "username": "ferry", "embeds": [embed] })
}

#[cfg(test)]
#[path = "notify_format_tests.rs"]
mod tests;
