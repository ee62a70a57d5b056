//! The notification outbox through the real binary: a server killed right
//! after a notification is queued (`FERRY_FAULT=stored:notification_queued`)
//! delivers it after its restart, with the same id; receivers on 127.0.0.1
//! refuse the first two attempts of each delivery (503, `Retry-After: 0`)
//! and get it on the third; one that always fails is given up after
//! `attempts`, visibly in the event log; the Slack and JSON formats have
//! their shapes, and the JSON signature verifies with the shared secret.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::post;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "outbox-signing-secret";

/// Every accepted POST: (path, headers, raw body).
type Got = Arc<Mutex<Vec<(String, HeaderMap, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Receiver {
    got: Got,
    /// Attempts per (path, delivery id).
    tries: Arc<Mutex<HashMap<(String, String), u32>>>,
}

async fn receive(
    State(r): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let path = uri.path().to_string();
    if path == "/down" {
        return (StatusCode::INTERNAL_SERVER_ERROR, "receiver is down").into_response();
    }
    let id = headers
        .get("x-ferry-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let n = {
        let mut tries = r.tries.lock().unwrap();
        let n = tries.entry((path.clone(), id)).or_insert(0);
        *n += 1;
        *n
    };
    if n <= 2 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("Retry-After", "0")],
            "try again",
        )
            .into_response();
    }
    r.got.lock().unwrap().push((path, headers, body.to_vec()));
    StatusCode::NO_CONTENT.into_response()
}

async fn receiver() -> (String, Receiver) {
    let r = Receiver::default();
    let app = Router::new()
        .route("/{*path}", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), r)
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The accepted JSON bodies at `path` that `wanted` picks, with headers.
fn accepted(
    r: &Receiver,
    path: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Vec<(HeaderMap, Vec<u8>, Value)> {
    r.got
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _, _)| p == path)
        .filter_map(|(_, h, b)| {
            let v: Value = serde_json::from_slice(b).ok()?;
            wanted(&v).then(|| (h.clone(), b.clone(), v))
        })
        .collect()
}

fn event(name: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["event"] == name
}

fn titled(words: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["text"].as_str().is_some_and(|t| t.contains(words))
}

async fn all_events(api: &Api) -> Vec<Value> {
    let dash = api.dashboard().await;
    let upto = dash["seq"].as_u64().unwrap_or(0);
    api.events(0, upto).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_retried_resumed_after_a_crash_and_given_up_visibly() {
    let (base, r) = receiver().await;
    let ws = Workspace::new();
    let config = std::fs::read_to_string(ws.config()).unwrap();
    let notify_start = config.find("[notify]").unwrap();
    let notify_end = config[notify_start..].find("\n\n").unwrap() + notify_start;
    let config = format!(
        "{}[notify]\nattempts = 3\nretry_delay = \"50ms\"\nwebhooks = [\n  {{ url = \"{base}/slack/T0/B1/token\", format = \"slack\" }},\n  {{ url = \"{base}/json\", format = \"json\", secret_env = \"FERRY_TEST_NOTIFY_SECRET\" }},\n  {{ url = \"{base}/down\", on = [\"approval_needed\"] }},\n]{}",
        &config[..notify_start],
        &config[notify_end..]
    )
    .replace(
        "[server]\n",
        "[server]\npublic_url = \"https://ferry.example.com\"\n",
    );
    std::fs::write(ws.config(), config).unwrap();
    let env = [("FERRY_TEST_NOTIFY_SECRET", SECRET)];

    // The first notification (1.0.0 waits for approval at prod) is stored
    // as queued, and the server dies before it sends anything.
    let mut first = std::process::Command::new(ferry_bin())
        .args(["server", "--config"])
        .arg(ws.config())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(ws.data())
        .env("FERRY_FAULT", "stored:notification_queued")
        .env("FERRY_LOG", "ferry=info,warn")
        .envs(env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || first.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success(), "the kill point ended the server");
    assert!(
        r.got.lock().unwrap().is_empty() && r.tries.lock().unwrap().is_empty(),
        "nothing was sent before the crash"
    );

    let server = Server::start_env(&ws.config(), &ws.data(), "127.0.0.1:0", &env);
    let dev = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);

    // Resumed: delivered on the third attempt, signed, with its id.
    let (h, body, json) = wait_until("approval_needed at /json", || {
        accepted(&r, "/json", event("approval_needed"))
            .into_iter()
            .next()
    })
    .await;
    let id = json["id"].as_str().unwrap().to_string();
    assert_eq!(h["x-ferry-delivery"], id.as_str());
    assert_eq!(h["x-ferry-event"], "approval_needed");
    assert_eq!(h["x-ferry-signature-256"], sign(&body).as_str());
    assert_eq!(json["service"], "app");
    assert_eq!(json["stage"], "prod");
    assert_eq!(json["version"], "1.0.0");
    let deployment = json["deployment"].as_str().unwrap().to_string();
    assert_eq!(
        json["url"],
        format!("https://ferry.example.com/api/v1/deployments/{deployment}")
    );
    let (h, _, slack) = wait_until("approval_needed at /slack", || {
        accepted(&r, "/slack/T0/B1/token", titled("needs approval"))
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(h["x-ferry-delivery"], id.as_str());
    assert!(h.get("x-ferry-signature-256").is_none());
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("app 1.0.0 needs approval in prod"),
        "{slack}"
    );
    assert_eq!(
        slack["blocks"][3]["elements"][0]["url"], json["url"],
        "the button links to the deployment"
    );

    // The event log: queued once (before the crash), sent per channel.
    let events = wait_until_events(&dev, |events| {
        let sent: Vec<&Value> = events
            .iter()
            .filter(|e| e["kind"]["type"] == "notification_sent")
            .filter(|e| e["kind"]["notification"]["id"] == id.as_str())
            .collect();
        sent.len() == 3
    })
    .await;
    let queued: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"]["type"] == "notification_queued")
        .filter(|e| e["kind"]["notification"]["kind"] == "approval_needed")
        .collect();
    assert_eq!(queued.len(), 1, "queued once, resumed after the restart");
    assert_eq!(queued[0]["kind"]["id"], id.as_str());
    assert_eq!(queued[0]["kind"]["channels"].as_array().unwrap().len(), 3);
    for e in events
        .iter()
        .filter(|e| e["kind"]["type"] == "notification_sent")
        .filter(|e| e["kind"]["notification"]["id"] == id.as_str())
    {
        let k = &e["kind"];
        assert_eq!(k["attempts"], 3, "{k}");
        let channel = k["channel"].as_str().unwrap();
        assert!(!channel.contains("token"), "no secret in {channel}");
        if channel.starts_with(&format!("webhook {base}/…")) && k["ok"] == false {
            // The always-failing receiver: given up after the bound.
            assert_eq!(
                k["detail"],
                "HTTP 500 Internal Server Error: receiver is down"
            );
            assert!(
                e["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("gave up notifying")
            );
        } else {
            assert_eq!(k["ok"], true, "{k}");
        }
    }
    let given_up = events
        .iter()
        .filter(|e| e["kind"]["type"] == "notification_sent" && e["kind"]["ok"] == false)
        .count();
    assert_eq!(given_up, 1);

    // Success at the last stage is news, in both formats.
    let (status, _) = alice
        .post(
            &format!("/deployments/{deployment}/approve"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (h, body, json) = wait_until("deployment_succeeded at /json", || {
        accepted(&r, "/json", event("deployment_succeeded"))
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(h["x-ferry-signature-256"], sign(&body).as_str());
    assert_eq!(json["message"], "app 1.0.0 is live in prod");
    assert_ne!(json["id"], id.as_str());
    let (_, _, slack) = wait_until("deployment_succeeded at /slack", || {
        accepted(&r, "/slack/T0/B1/token", titled("succeeded"))
            .into_iter()
            .next()
    })
    .await;
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("app 1.0.0 succeeded in prod"),
        "{slack}"
    );
    // Earlier stages passed 1.0.0 on without a success notification.
    assert_eq!(
        accepted(&r, "/json", event("deployment_succeeded")).len(),
        1
    );
    drop(server);
}

/// Read the whole event log until `done` holds for it.
async fn wait_until_events(api: &Api, mut done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
    let start = std::time::Instant::now();
    loop {
        let events = all_events(api).await;
        if done(&events) {
            return events;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for events");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A JUnit report with `failed` failing tests (and one passing).
fn junit(failed: usize) -> String {
    let mut cases =
        String::from(r#"<testcase classname="shop.CartTest" name="adds" time="0.001"/>"#);
    for i in 1..=failed {
        cases.push_str(&format!(
            r#"<testcase classname="shop.CartTest" name="total{i}" time="0.001"><failure message="expected 5 but was {i}&#10;at CartTest.java:{i}">trace</failure></testcase>"#
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><testsuite name="shop.CartTest" tests="{}" failures="{failed}" errors="0" skipped="0">{cases}</testsuite>"#,
        failed + 1
    )
}

/// The real CLI against `url` as dev, off the async threads.
async fn cli(url: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(ferry_bin());
    cmd.args(args)
        .env("FERRY_SERVER", url)
        .env("FERRY_TOKEN", DEV_TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("FERRY_CONFIG");
    tokio::task::spawn_blocking(move || cmd.output().expect("ferry runs"))
        .await
        .unwrap()
}

/// One external service whose `test` stage rolls back by itself; its smoke
/// step writes a JUnit report with 7 failures for versions named "bad".
/// Four webhooks, one per format.
fn failing_tests_config(root: &std::path::Path, base: &str) -> std::path::PathBuf {
    std::fs::write(root.join("fail.xml"), junit(7)).unwrap();
    std::fs::write(root.join("ok.xml"), junit(0)).unwrap();
    let r = root.display();
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "https://ferry.example.com"

[[users]]
name = "dev"
roles = ["deployer"]
token_sha256 = "{dev}"

[notify]
attempts = 5
retry_delay = "50ms"
webhooks = [
  {{ url = "{base}/slack", format = "slack" }},
  {{ url = "{base}/teams", format = "teams" }},
  {{ url = "{base}/discord", format = "discord" }},
  {{ url = "{base}/json", format = "json", secret_env = "FERRY_TEST_NOTIFY_SECRET" }},
]

[services.api]
source = "external"

[[services.api.stages]]
name = "test"
rollback = "auto"
deploy = {{ command = "echo deployed $FERRY_VERSION", timeout = "1m" }}
verify = [{{ name = "smoke", command = "case $FERRY_VERSION in *bad*) cp {r}/fail.xml {r}/report.xml; exit 1;; esac; cp {r}/ok.xml {r}/report.xml", timeout = "1m", report = "{r}/report.xml" }}]
"#,
        dev = sha256_hex(DEV_TOKEN),
    );
    let path = root.join("ferry.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The one accepted body at `path` whose `words` appear in it, once there.
async fn one(r: &Receiver, path: &'static str, words: &'static str) -> Value {
    wait_until(&format!("{words} at {path}"), || {
        accepted(r, path, |v| v.to_string().contains(words))
            .into_iter()
            .next()
            .map(|(_, _, v)| v)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tests_and_quarantines_are_told_in_every_format_and_shown() {
    let (base, r) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let config = failing_tests_config(dir.path(), &base);
    let env = [("FERRY_TEST_NOTIFY_SECRET", SECRET)];
    let server = Server::start_env(&config, &dir.path().join("data"), "127.0.0.1:0", &env);
    let url = server.url.clone();
    let push = |version: &'static str| {
        let url = url.clone();
        async move {
            let digest = format!("sha256:{}", sha256_hex(version));
            cli(
                &url,
                &[
                    "artifact",
                    "push",
                    "api",
                    "--version",
                    version,
                    "--digest",
                    &digest,
                    "--uri",
                    "registry.example.com/api",
                    "--wait",
                    "test",
                    "--timeout",
                    "1m",
                ],
            )
            .await
        }
    };
    let out = push("1.0.0").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = push("1.1.0-bad").await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));

    // The failed deployment, as `show --json` has it: every failed test by
    // name with its first failure line.
    let out = cli(&url, &["show", "a-2", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = a["deployments"][0]["id"].as_str().unwrap().to_string();
    let out = cli(&url, &["show", &failed, "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["status"], "failed", "{d}");
    let smoke = &d["steps"][1];
    assert_eq!(smoke["name"], "smoke");
    assert_eq!(smoke["tests"]["failed"], 7, "{smoke}");
    let tests = smoke["failed_tests"].as_array().unwrap();
    assert_eq!(tests.len(), 7, "{smoke}");
    assert_eq!(tests[0]["name"], "shop.CartTest.total1");
    assert_eq!(tests[0]["message"], "expected 5 but was 1");
    assert_eq!(tests[6]["name"], "shop.CartTest.total7");
    assert_eq!(
        d["steps"][0]["failed_tests"],
        serde_json::json!([]),
        "a step without failures has an empty list"
    );
    // And for people.
    let out = cli(&url, &["show", &failed]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("failed tests in smoke:"), "{shown}");
    assert!(
        shown.contains("  shop.CartTest.total1: expected 5 but was 1\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  shop.CartTest.total7: expected 5 but was 7"),
        "{shown}"
    );

    // deployment_failed names the first five failed tests and counts the rest.
    let (h, body, json) = wait_until("deployment_failed at /json", || {
        accepted(&r, "/json", event("deployment_failed"))
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(h["x-ferry-signature-256"], sign(&body).as_str());
    assert_eq!(json["deployment"], failed.as_str());
    let names: Vec<&str> = json["failed_tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        (1..=5)
            .map(|i| format!("shop.CartTest.total{i}: expected 5 but was {i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(json["failed_tests_more"], 2, "{json}");
    let slack = one(&r, "/slack", "failed in test").await;
    let details = slack["blocks"][2]["text"]["text"].as_str().unwrap();
    assert!(
        details.contains("• shop.CartTest.total5: expected 5 but was 5\n• and 2 more"),
        "{details}"
    );
    assert!(!details.contains("total6"), "{details}");
    let teams = one(&r, "/teams", "failed in test").await;
    let card = &teams["attachments"][0]["content"];
    assert!(
        card["body"][2]["text"]
            .as_str()
            .unwrap()
            .ends_with("• and 2 more"),
        "{card}"
    );
    let discord = one(&r, "/discord", "failed in test").await;
    assert!(
        discord["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .contains("• shop.CartTest.total1: expected 5 but was 1"),
        "{discord}"
    );

    // The automatic rollback quarantined 1.1.0-bad: told in every format.
    let (h, body, json) = wait_until("quarantined at /json", || {
        accepted(&r, "/json", event("quarantined"))
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(h["x-ferry-event"], "quarantined");
    assert_eq!(h["x-ferry-signature-256"], sign(&body).as_str());
    assert_eq!(json["service"], "api");
    assert_eq!(json["stage"], "test");
    assert_eq!(json["version"], "1.1.0-bad");
    assert_eq!(
        json["deployment"],
        failed.as_str(),
        "the incident's deployment"
    );
    let message = json["message"].as_str().unwrap();
    assert!(
        message.starts_with("api 1.1.0-bad quarantined after it was rolled back in test"),
        "{message}"
    );
    let slack = one(&r, "/slack", "quarantined in test").await;
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("api 1.1.0-bad quarantined in test"),
        "{slack}"
    );
    assert_eq!(
        slack["blocks"][3]["elements"][0]["url"],
        format!("https://ferry.example.com/api/v1/deployments/{failed}")
    );
    let teams = one(&r, "/teams", "quarantined in test").await;
    let card = &teams["attachments"][0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["body"][0]["color"], "Attention");
    let discord = one(&r, "/discord", "quarantined in test").await;
    assert!(
        discord["embeds"][0]["title"]
            .as_str()
            .unwrap()
            .contains("api 1.1.0-bad quarantined in test"),
        "{discord}"
    );

    // By hand: quarantining 1.0.0 is told too, with who and why.
    let out = cli(
        &url,
        &["quarantine", "add", "a-1", "--reason", "leaks sessions"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = one(&r, "/json", "quarantined by dev: leaks sessions").await;
    assert_eq!(json["event"], "quarantined");
    assert_eq!(json["version"], "1.0.0");
    assert!(json["stage"].is_null(), "{json}");
    assert!(json["deployment"].is_null(), "{json}");
    let slack = one(&r, "/slack", "api 1.0.0 quarantined").await;
    assert!(slack.to_string().contains("leaks sessions"), "{slack}");
    one(&r, "/teams", "api 1.0.0 quarantined").await;
    one(&r, "/discord", "api 1.0.0 quarantined").await;
    assert_eq!(
        accepted(&r, "/json", event("quarantined")).len(),
        2,
        "one per quarantine"
    );
    drop(server);
}
