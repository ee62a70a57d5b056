//! Push webhooks as GitHub and GitLab send them, against the real binary:
//! signatures computed here with the configured secret, wrong and missing
//! ones refused with a JSON 401 naming the header, ping answered, replays
//! ignored, and a valid push polling the repository at once (the poll
//! interval is an hour, so only the hook can explain a new build).

mod common;

use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "It's a Secret to Everybody";

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut req = http
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("hook request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn wait_version(api: &Api, version: &str) {
    api.wait_for(&format!("artifact {version}"), |d| {
        d["state"]["artifacts"]
            .as_object()
            .and_then(|a| a.values().find(|a| a["version"] == version))
            .map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_and_gitlab_pushes_are_verified_and_poll_at_once() {
    let ws = Workspace::new();
    let config = std::fs::read_to_string(ws.config()).unwrap().replace(
        "poll_interval = \"200ms\"",
        "poll_interval = \"1h\", webhook_secret_env = \"FERRY_TEST_HOOK_SECRET\"",
    );
    std::fs::write(ws.config(), config).unwrap();
    let server = Server::start_env(
        &ws.config(),
        &ws.data(),
        "127.0.0.1:0",
        &[("FERRY_TEST_HOOK_SECRET", SECRET)],
    );
    let api = Api::new(&server.url, DEV_TOKEN);
    wait_version(&api, "1.0.0").await;
    ws.commit("1.1.0", "second");

    let http = reqwest::Client::new();
    let github = format!("{}/api/v1/hooks/github", server.url);
    let repo = ws.repo.display().to_string();
    let push = |branch: &str| {
        serde_json::to_vec(&json!({
            "ref": format!("refs/heads/{branch}"),
            "repository": { "full_name": "acme/app", "clone_url": repo, "ssh_url": "git@example.invalid:acme/app.git" },
            "pusher": { "name": "dev" },
        }))
        .unwrap()
    };
    let body = push("main");

    // Wrong, missing, or a bearer token instead: 401, naming the header.
    let (status, err) = post(
        &http,
        &github,
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &sign(b"another body")),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 401, "{err}");
    assert_eq!(err["error"], "unauthorized");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or("")
            .contains("X-Hub-Signature-256"),
        "{err}"
    );
    assert!(
        err["hint"].as_str().unwrap_or("").contains("HMAC-SHA256"),
        "{err}"
    );
    let auth = format!("Bearer {DEV_TOKEN}");
    for headers in [
        vec![("X-GitHub-Event", "push")],
        vec![("X-GitHub-Event", "push"), ("Authorization", auth.as_str())],
    ] {
        let (status, err) = post(&http, &github, &headers, &body).await;
        assert_eq!(status, 401, "{err}");
    }

    // ping: answered, nothing polled.
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let (status, reply) = post(
        &http,
        &github,
        &[
            ("X-GitHub-Event", "ping"),
            ("X-Hub-Signature-256", &sign(ping)),
        ],
        ping,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["message"].as_str().unwrap_or("").starts_with("pong"));

    // Another branch: verified, but no service follows it.
    let other = push("feature");
    let (status, reply) = post(
        &http,
        &github,
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "d-feature"),
            ("X-Hub-Signature-256", &sign(&other)),
        ],
        &other,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["services"], json!([]));

    // The real push: the service is polled now, and 1.1.0 gets built.
    let delivery = uuid::Uuid::new_v4().to_string();
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", delivery.as_str()),
        ("X-Hub-Signature-256", &sign(&body)),
    ];
    let (status, reply) = post(&http, &github, &headers, &body).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["services"], json!(["app"]));
    wait_version(&api, "1.1.0").await;

    // The same delivery again: ignored.
    let (status, reply) = post(&http, &github, &headers, &body).await;
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap_or("")
            .contains("already handled"),
        "{reply}"
    );

    // GitLab: the secret in X-Gitlab-Token, the repository under `project`.
    ws.commit("1.2.0", "third");
    let gitlab = format!("{}/api/v1/hooks/gitlab", server.url);
    let body = serde_json::to_vec(&json!({
        "object_kind": "push",
        "ref": "refs/heads/main",
        "project": { "path_with_namespace": "acme/app", "git_http_url": repo },
    }))
    .unwrap();
    let (status, err) = post(
        &http,
        &gitlab,
        &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "guess")],
        &body,
    )
    .await;
    assert_eq!(status, 401, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or("")
            .contains("X-Gitlab-Token")
    );
    let (status, reply) = post(
        &http,
        &gitlab,
        &[
            ("X-Gitlab-Event", "Push Hook"),
            ("X-Gitlab-Token", SECRET),
            ("X-Gitlab-Event-UUID", &uuid::Uuid::new_v4().to_string()),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    wait_version(&api, "1.2.0").await;
}
