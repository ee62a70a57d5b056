//! Each format's shape, as a local HTTP receiver gets it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;

use super::*;

type Got = Arc<Mutex<Vec<(String, HeaderMap, Value)>>>;

/// A receiver on 127.0.0.1 that keeps every POST (path, headers, JSON body).
async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let keep = got.clone();
    let app = Router::new().route(
        "/{*path}",
        post(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let keep = keep.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    keep.lock()
                        .unwrap()
                        .push((uri.path().to_string(), headers, v));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

fn message(event: NotifyEvent) -> Message {
    Message {
        id: Some("n-42".into()),
        event,
        service: "checkout".into(),
        stage: Some("prod".into()),
        version: Some("1.4.2".into()),
        commit: Some("9f2c1ab".into()),
        deployment: Some("d-17".into()),
        build: None,
        actor: Some("alice".into()),
        text: "health check failed: 3 probes in a row".into(),
        failed_tests: vec!["CartTest.computesTotal: expected <5> but was <4>".into()],
        failed_more: 0,
        at: 1_764_063_000_000,
    }
}

async fn deliver(o: &Outgoing) {
    let mut req = reqwest::Client::new().post(&o.url).body(o.body.clone());
    for (k, v) in &o.headers {
        req = req.header(k, v);
    }
    assert!(req.send().await.unwrap().status().is_success());
}

#[tokio::test]
async fn every_format_has_its_receivers_shape() {
    let (base, got) = receiver().await;
    let public = Some("https://ferry.example.com/");
    let m = message(NotifyEvent::DeploymentFailed);
    for (format, path) in [
        (Format::Slack, "/slack"),
        (Format::Teams, "/teams"),
        (Format::Discord, "/discord"),
        (Format::Json, "/json"),
    ] {
        let o = render(format, &format!("{base}{path}"), &m, public, Some("s3cret"));
        deliver(&o).await;
    }
    let got = got.lock().unwrap().clone();
    let by = |p: &str| got.iter().find(|(path, _, _)| path == p).cloned().unwrap();
    let link = "https://ferry.example.com/api/v1/deployments/d-17";

    let (_, h, slack) = by("/slack");
    assert!(h.get("X-Ferry-Signature-256").is_none());
    assert_eq!(slack["text"], "❌ checkout 1.4.2 failed in prod");
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*Service*\ncheckout",
            "*Stage*\nprod",
            "*Version*\n1.4.2",
            "*Outcome*\nfailed",
            "*By*\nalice"
        ]
    );
    assert!(
        blocks[2]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("expected &lt;5&gt;")
    );
    assert_eq!(blocks[3]["elements"][0]["url"], link);

    let (_, _, teams) = by("/teams");
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["body"][1]["facts"][0]["value"], "checkout");
    assert_eq!(card["content"]["actions"][0]["url"], link);

    let (_, _, discord) = by("/discord");
    let embed = &discord["embeds"][0];
    assert_eq!(embed["title"], "❌ checkout 1.4.2 failed in prod");
    assert_eq!(embed["url"], link);
    assert_eq!(embed["timestamp"], "2025-11-25T09:30:00Z");
    assert_eq!(embed["fields"][3]["value"], "failed");

    let (_, h, json) = by("/json");
    assert_eq!(json["event"], "deployment_failed");
    assert_eq!(json["url"], link);
    assert_eq!(json["at"], "2025-11-25T09:30:00Z");
    assert_eq!(h["X-Ferry-Event"], "deployment_failed");
    // The receiver can verify the body with the shared secret.
    let body = serde_json::to_vec(&json).unwrap();
    let o = render(Format::Json, "http://x", &m, public, Some("s3cret"));
    assert_eq!(serde_json::from_str::<Value>(&o.body).unwrap(), json);
    assert_eq!(
        h["X-Ferry-Signature-256"].to_str().unwrap(),
        sign("s3cret", o.body.as_bytes())
    );
    assert_ne!(sign("s3cret", &body), sign("other", &body));
}

#[test]
fn every_event_has_a_name_and_a_title() {
    let names: Vec<&str> = [
        NotifyEvent::DeploymentSucceeded,
        NotifyEvent::ApprovalNeeded,
        NotifyEvent::DeploymentFailed,
        NotifyEvent::RolledBack,
        NotifyEvent::RollbackFailed,
        NotifyEvent::Quarantined,
    ]
    .into_iter()
    .map(NotifyEvent::as_str)
    .collect();
    assert_eq!(
        names,
        [
            "deployment_succeeded",
            "approval_needed",
            "deployment_failed",
            "rolled_back",
            "rollback_failed",
            "quarantined"
        ]
    );
    let ok = message(NotifyEvent::DeploymentSucceeded);
    assert_eq!(ok.title(), "checkout 1.4.2 succeeded in prod");
    assert_eq!(ok.link(None), None);
    assert_eq!(Format::parse("teams"), Some(Format::Teams));
    assert_eq!(Format::parse("xml"), None);
    let o = render(Format::Json, "http://x", &ok, None, None);
    assert!(o.headers.iter().all(|(k, _)| k != "X-Ferry-Signature-256"));
}
