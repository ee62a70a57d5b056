//! STUB (runner worktree only): the notify helper owns the real file; the
//! lead takes theirs at merge.

use crate::config::NotifyConfig;
use crate::model::Notification;

/// One (channel, ok, detail) per webhook and command the notification goes to.
pub async fn deliver(
    config: &NotifyConfig,
    n: &Notification,
    http: &reqwest::Client,
) -> Vec<(String, bool, String)> {
    let _ = http;
    let mut out = Vec::new();
    for w in &config.webhooks {
        if w.on.is_empty() || w.on.contains(&n.kind) {
            out.push((w.url.clone(), false, "stub: not sent".to_string()));
        }
    }
    out
}
