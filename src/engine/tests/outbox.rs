//! The outbox in the engine: a notification is queued (an event naming its
//! channels) before it is sent, stays owed until each channel reports, and
//! is sent again after a restart to the channels still owed it.

use super::*;
use crate::config::{NotifyCommand, Webhook};
use crate::model::Notification;

fn with_channels() -> Arc<Config> {
    let mut config = (*config_with(approval(1))).clone();
    config.notify.webhooks.push(Webhook {
        url: "https://hooks.example.com/services/T0/B1/s3cret".into(),
        on: vec![NotificationKind::ApprovalNeeded],
        format: Some(crate::config::notify::WebhookFormat::Slack),
        secret_env: None,
    });
    config.notify.commands.push(NotifyCommand {
        command: "./notify.sh".into(),
        on: vec![],
    });
    Arc::new(config)
}

fn queued(h: &Harness) -> Vec<(String, Notification, Vec<String>)> {
    h.log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::NotificationQueued {
                id,
                notification,
                channels,
            } => Some((id.clone(), notification.clone(), channels.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_notification_is_queued_with_its_channels_and_resent_after_a_restart() {
    let mut h = Harness::new(with_channels());
    let d = h.waiting_at_prod("1.0.0");
    let q = queued(&h);
    assert_eq!(q.len(), 1, "{q:?}");
    let (id, n, channels) = q[0].clone();
    assert_eq!(n.kind, NotificationKind::ApprovalNeeded);
    assert_eq!(n.deployment.as_deref(), Some(d.as_str()));
    // The id is the seq of the queued event: stable across restarts.
    let seq = h
        .log
        .iter()
        .find(|e| matches!(e.kind, EventKind::NotificationQueued { .. }))
        .map(|e| e.seq)
        .unwrap();
    assert_eq!(id, format!("n-{seq}"));
    assert_eq!(n.id, id);
    assert_eq!(channels.len(), 2);
    assert!(channels[0].starts_with("webhook https://hooks.example.com/… #"));
    assert!(channels[1].starts_with("command notify.sh #"));
    assert!(channels.iter().all(|c| !c.contains("s3cret")));
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Notify(x) if x.id == id)),
        "the effect carries the id"
    );
    assert_eq!(h.state().outbox[&id].channels.len(), 2);

    // The webhook got it; then the server stops before the command did.
    h.input(Input::NotificationSent {
        notification: n.clone(),
        channel: channels[0].clone(),
        ok: true,
        detail: "HTTP 200 OK".into(),
        attempts: 3,
    })
    .unwrap();
    assert_eq!(h.state().outbox[&id].channels.len(), 1);
    h.effects.clear();
    h.restart().unwrap();
    let redeliver: Vec<&Effect> = h
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Redeliver { .. }))
        .collect();
    assert_eq!(
        redeliver,
        vec![&Effect::Redeliver {
            notification: n.clone(),
            channels: vec![channels[1].clone()],
        }],
        "only the channel still owed it"
    );
    assert_eq!(queued(&h).len(), 1, "a resend queues nothing new");

    // Given up: no longer owed, and no resend after the next restart.
    h.input(Input::NotificationSent {
        notification: n,
        channel: channels[1].clone(),
        ok: false,
        detail: "exit code 1".into(),
        attempts: 8,
    })
    .unwrap();
    assert!(h.state().outbox.is_empty());
    h.effects.clear();
    h.restart().unwrap();
    assert!(
        !h.effects
            .iter()
            .any(|e| matches!(e, Effect::Redeliver { .. }))
    );
}

#[test]
fn success_is_notified_at_the_last_stage_only() {
    let mut h = Harness::new(config_with(approval(1)));
    let d = h.waiting_at_prod("1.0.0");
    let succeeded = |h: &Harness| {
        h.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Notify(n) if n.kind == NotificationKind::DeploymentSucceeded => {
                    Some(n.stage.clone())
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(succeeded(&h).is_empty(), "test and preprod pass it on");
    h.approve(&alice(), &d).unwrap();
    h.pass_stage("checkout", "prod");
    assert_eq!(succeeded(&h), vec![Some("prod".to_string())]);
}
