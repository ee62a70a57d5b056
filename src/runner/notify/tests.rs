//! Notifications against a real HTTP server on 127.0.0.1 and real shells.

use std::path::Path;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::mpsc;

use super::*;
use crate::config::{NotifyCommand, Webhook};

fn notification(kind: NotificationKind) -> Notification {
    Notification {
        id: String::new(),
        kind,
        service: "shop".into(),
        stage: Some("prod".into()),
        version: Some("1.4.2".into()),
        commit: Some("0123abcd".into()),
        deployment: Some("d-7".into()),
        build: None,
        message: "deploy of shop 1.4.2 to prod failed: exit code 3".into(),
        at: 1_764_000_000_000,
        failed_tests: None,
    }
}

type Received = mpsc::UnboundedSender<(String, Option<String>, String)>;

async fn record(
    State(tx): State<Received>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = tx.send((uri.to_string(), content_type, body));
    StatusCode::NO_CONTENT
}

async fn refuse() -> (StatusCode, &'static str) {
    (
        StatusCode::FORBIDDEN,
        "invalid_token\nmore detail nobody needs",
    )
}

async fn hang() -> StatusCode {
    std::future::pending::<StatusCode>().await
}

/// A real server on an ephemeral loopback port; returns its base URL.
async fn server() -> (
    String,
    mpsc::UnboundedReceiver<(String, Option<String>, String)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/hook", post(record))
        .route("/refuse", post(refuse))
        .route("/hang", post(hang))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rx)
}

fn webhook(url: String, on: Vec<NotificationKind>) -> Webhook {
    Webhook {
        url,
        on,
        format: None,
        secret_env: None,
    }
}

fn command(command: String, on: Vec<NotificationKind>) -> NotifyCommand {
    NotifyCommand { command, on }
}

/// Wait until `cond` holds, failing after a deadline.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn posts_json_to_matching_webhooks_only() {
    let (base, mut rx) = server().await;
    let config = NotifyConfig {
        webhooks: vec![
            webhook(
                format!("http://bot:hunter2@{}/hook?token=s3cret#x", &base[7..]),
                vec![],
            ),
            webhook(
                format!("{base}/hook?only=builds"),
                vec![NotificationKind::BuildFailed],
            ),
            webhook(
                format!("{base}/hook?also=deploys"),
                vec![
                    NotificationKind::BuildFailed,
                    NotificationKind::DeploymentFailed,
                ],
            ),
        ],
        commands: vec![],
        ..Default::default()
    };
    let n = notification(NotificationKind::DeploymentFailed);
    let http = reqwest::Client::new();
    let results = deliver(&config, &n, &http).await;

    assert_eq!(
        results.len(),
        2,
        "the builds-only webhook is skipped: {results:?}"
    );
    assert_eq!(results[0].0, format!("webhook {base}/…"));
    assert_eq!(results[1].0, format!("webhook {base}/…"));
    for (channel, ok, detail) in &results {
        assert!(ok, "{channel}: {detail}");
        assert_eq!(detail, "HTTP 204 No Content");
        assert!(!channel.contains("s3cret") && !channel.contains("hunter2"));
    }

    let mut queries = Vec::new();
    for _ in 0..2 {
        let (uri, content_type, body) = rx.recv().await.unwrap();
        assert_eq!(content_type.as_deref(), Some("application/json"));
        let got: Notification = serde_json::from_str(&body).unwrap();
        assert_eq!(got, n);
        queries.push(uri);
    }
    queries.sort();
    assert_eq!(queries, vec!["/hook?also=deploys", "/hook?token=s3cret"]);
}

#[tokio::test]
async fn webhook_failures_are_reported_with_status_and_without_secrets() {
    let (base, _rx) = server().await;
    // A port nothing listens on: bind one, then free it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = NotifyConfig {
        webhooks: vec![
            webhook(format!("{base}/refuse?token=s3cret"), vec![]),
            webhook(format!("http://{closed}/hook?token=s3cret"), vec![]),
            webhook(format!("{base}/hang"), vec![]),
            webhook("not a url?token=s3cret".into(), vec![]),
        ],
        commands: vec![],
        ..Default::default()
    };
    let http = reqwest::Client::new();
    let n = notification(NotificationKind::RolledBack);
    let started = Instant::now();
    let results = deliver_with(
        &config,
        &n,
        &http,
        Duration::from_millis(300),
        COMMAND_TIMEOUT,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout"
    );

    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|(_, ok, _)| !ok), "{results:?}");
    assert_eq!(results[0].2, "HTTP 403 Forbidden: invalid_token");
    assert!(
        results[1].2.contains("error sending request"),
        "{}",
        results[1].2
    );
    assert_eq!(results[2].2, "no answer within 300ms");
    assert_eq!(results[3].0, "webhook an unparseable URL");
    for (channel, _, detail) in &results {
        assert!(!channel.contains("s3cret"), "{channel}");
        assert!(!detail.contains("s3cret"), "{detail}");
    }
}

#[tokio::test]
async fn commands_get_the_json_on_stdin_and_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdin.json");
    let env = dir.path().join("env.json");
    let kind = dir.path().join("kind");
    let script = format!(
        "cat > '{}'; printf '%s' \"$FERRY_NOTIFICATION\" > '{}'; printf '%s' \"$FERRY_NOTIFICATION_KIND\" > '{}'",
        out.display(),
        env.display(),
        kind.display()
    );
    let config = NotifyConfig {
        webhooks: vec![],
        commands: vec![
            command(script.clone(), vec![NotificationKind::ApprovalNeeded]),
            command(
                "echo never > /dev/null".into(),
                vec![NotificationKind::BuildFailed],
            ),
        ],
        ..Default::default()
    };
    let n = notification(NotificationKind::ApprovalNeeded);
    let results = deliver(&config, &n, &reqwest::Client::new()).await;
    assert_eq!(results.len(), 1, "{results:?}");
    let (channel, ok, detail) = &results[0];
    assert!(ok, "{detail}");
    assert_eq!(detail, "exit code 0");
    // The program only: arguments may carry tokens.
    assert_eq!(channel, "command cat");

    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let from_stdin: Notification = serde_json::from_str(&read(&out)).unwrap();
    let from_env: Notification = serde_json::from_str(&read(&env)).unwrap();
    assert_eq!(from_stdin, n);
    assert_eq!(from_env, n);
    assert_eq!(read(&kind), "approval_needed");
}

#[tokio::test]
async fn a_failing_command_reports_its_exit_code_and_stderr() {
    let config = NotifyConfig {
        webhooks: vec![],
        commands: vec![
            command("echo 'no route to chat' >&2; exit 3".into(), vec![]),
            // Ignores stdin entirely and still succeeds.
            command("true".into(), vec![]),
        ],
        ..Default::default()
    };
    let n = notification(NotificationKind::BuildFailed);
    let results = deliver(&config, &n, &reqwest::Client::new()).await;
    assert!(!results[0].1);
    assert_eq!(results[0].2, "exit code 3: no route to chat");
    assert!(results[1].1, "{}", results[1].2);
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 30 & echo $! > '{}'; wait", pidfile.display());
    let config = NotifyConfig {
        webhooks: vec![],
        commands: vec![command(script, vec![])],
        ..Default::default()
    };
    let n = notification(NotificationKind::RollbackImpossible);
    let started = Instant::now();
    let results = deliver_with(
        &config,
        &n,
        &reqwest::Client::new(),
        WEBHOOK_TIMEOUT,
        Duration::from_millis(500),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!results[0].1);
    assert_eq!(results[0].2, "timed out after 500ms, killed");

    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let status = format!("/proc/{}/status", pid.trim());
    // The grandchild `sleep` is gone (or a zombie waiting for init to reap it).
    wait_until("the background sleep to die", || {
        std::fs::read_to_string(&status)
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
            .unwrap_or(true)
    })
    .await;
}

#[test]
fn urls_are_redacted() {
    assert_eq!(
        redact_url("https://u:p@hooks.example.com/services/T0/B1/s3cret?token=abc#frag"),
        "https://hooks.example.com/…"
    );
    assert_eq!(redact_url("http://127.0.0.1:9/x"), "http://127.0.0.1:9/…");
    assert_eq!(redact_url("weird://a:b@host?secret"), "weird://host");
    assert_eq!(redact_url("::bad::u:p@h?q=1"), "an unparseable URL");
    assert_eq!(command_name("/usr/bin/curl -H 'Authorization: x'"), "curl");
}
