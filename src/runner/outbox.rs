//! The outbox's delivery side: each channel a queued notification is owed
//! to is tried until it accepts, with exponential backoff and jitter
//! (`backon`), honouring a receiver's `Retry-After`, up to
//! `[notify] attempts`; then one `NotificationSent` says delivered or given
//! up, with the attempts and the last error (masked). The engine recorded
//! the notification as queued before this runs and resends what is still
//! owed after a restart, so a crash loses nothing; a receiver may see a
//! notification twice (a crash after it accepted, before the event was
//! stored) and drops the duplicate by its id (`X-Ferry-Delivery`).

use std::sync::Arc;
use std::time::Duration;

use super::InputSender;
use backon::{BackoffBuilder, ExponentialBuilder};

use crate::config::Config;
use crate::engine::Input;
use crate::model::Notification;

use super::notify::{COMMAND_TIMEOUT, WEBHOOK_TIMEOUT, attempt, shown};
use super::output;

impl super::Runner {
    /// Deliver a queued notification to every channel that wants it,
    /// retrying each (see `outbox.rs`).
    pub fn notify(&self, notification: Notification) {
        let channels = self
            .config
            .notify
            .channels_for(notification.kind)
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        self.redeliver(notification, channels);
    }

    /// Deliver a queued notification to `channels` (after a restart: those
    /// still owed it).
    pub fn redeliver(&self, notification: Notification, channels: Vec<String>) {
        spawn(
            self.config.clone(),
            self.http.clone(),
            self.inputs.clone(),
            notification,
            channels,
        );
    }
}

/// Deliver `n` to each of `channels` (keys from `NotifyConfig::channels_for`),
/// each on its own task; each reports once on `inputs`.
pub(super) fn spawn(
    config: Arc<Config>,
    http: reqwest::Client,
    inputs: InputSender,
    n: Notification,
    channels: Vec<String>,
) {
    for channel in channels {
        let config = config.clone();
        let http = http.clone();
        let inputs = inputs.clone();
        let n = n.clone();
        tokio::spawn(async move {
            let (ok, detail, attempts) = deliver(&config, &http, &n, &channel).await;
            // A notify command's stderr (or a webhook's answer) may quote a
            // secret; it is stored and shown to every viewer.
            let detail = output::clean_line(detail.as_bytes(), &super::secrets_masker(&config));
            let _ = inputs.send(Input::NotificationSent {
                notification: n,
                channel,
                ok,
                detail,
                attempts,
            });
        });
    }
}

/// Try one channel until it accepts, gives a final no, or the attempts
/// run out: `(ok, last detail, attempts made)`.
async fn deliver(
    config: &Config,
    http: &reqwest::Client,
    n: &Notification,
    key: &str,
) -> (bool, String, u32) {
    let notify = &config.notify;
    let Some(channel) = notify.channel(key) else {
        return (false, "this channel is no longer configured".to_string(), 0);
    };
    let policy = notify.retry;
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(policy.first_delay)
        .with_max_delay(policy.max_delay)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(policy.attempts.saturating_sub(1) as usize)
        .build();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let a = attempt(notify, channel, n, http, WEBHOOK_TIMEOUT, COMMAND_TIMEOUT).await;
        if a.ok || !a.retry {
            return (a.ok, a.detail, attempts);
        }
        let Some(delay) = delays.next() else {
            return (a.ok, a.detail, attempts);
        };
        // A receiver that says when to come back is believed, within reason.
        let delay = match a.retry_after {
            Some(after) => delay.max(after.min(policy.max_delay)),
            None => delay,
        };
        tracing::warn!(
            id = %n.id,
            channel = shown(key),
            attempt = attempts,
            retry_in = %humantime::format_duration(Duration::from_millis(delay.as_millis() as u64)),
            detail = %output::clean_line(a.detail.as_bytes(), &super::secrets_masker(config)),
            "notification not delivered yet"
        );
        tokio::time::sleep(delay).await;
    }
}
