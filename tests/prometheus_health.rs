//! A Prometheus query as prod's health check, against the real binary and a
//! tiny local server answering like Prometheus's query API: a healthy
//! release bakes, a bad metric fails the bake and ferry rolls back by itself.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use common::*;
use serde_json::{Value, json};

/// `GET /api/v1/query?query=…` → an instant vector with the error rate:
/// high for the next `bad` answers (two in a row fail a check with
/// `retries = 1`; the rollback that follows then sees it low again).
async fn fake_prometheus(bad: Arc<AtomicU32>) -> String {
    async fn query(
        State(bad): State<Arc<AtomicU32>>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> axum::Json<Value> {
        if q.get("query").map(String::as_str) != Some("sum(rate(http_errors_total[1m]))") {
            return axum::Json(
                json!({ "status": "error", "errorType": "bad_data", "error": "unexpected query" }),
            );
        }
        let high = bad
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let v = if high { "0.5" } else { "0.001" };
        axum::Json(json!({
            "status": "success",
            "data": { "resultType": "vector", "result": [ { "metric": {}, "value": [1764063000.5, v] } ] }
        }))
    }
    let app = Router::new()
        .route("/api/v1/query", get(query))
        .with_state(bad);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_metric_fails_the_bake_and_rolls_back() {
    let bad = Arc::new(AtomicU32::new(0));
    let prom = fake_prometheus(bad.clone()).await;
    let ws = Workspace::new();
    let old = r#"health = { command = "sh scripts/health.sh", interval = "100ms", retries = 1, bake = "300ms", timeout = "5s" }"#;
    let new = format!(
        r#"health = {{ prometheus = "{prom}", query = "sum(rate(http_errors_total[1m]))", max = 0.01, interval = "100ms", retries = 1, bake = "300ms", timeout = "5s" }}"#
    );
    let config = std::fs::read_to_string(ws.config()).unwrap();
    assert!(config.contains(old));
    std::fs::write(ws.config(), config.replace(old, &new)).unwrap();
    let server = Server::start(&ws.config(), &ws.data());
    let api = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);

    let first = awaiting_prod(&api, "1.0.0").await;
    let (status, body) = alice
        .post(&format!("/deployments/{first}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    api.wait_for("1.0.0 good in prod", |d| {
        (last_good_version(d, "app", "prod").as_deref() == Some("1.0.0")).then_some(())
    })
    .await;

    bad.store(2, Ordering::SeqCst);
    ws.commit("1.1.0", "second");
    let second = awaiting_prod(&api, "1.1.0").await;
    let (status, body) = alice
        .post(&format!("/deployments/{second}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let failed = wait_deployment(&api, "1.1.0 failed in prod", "prod", |d| {
        d["version"] == "1.1.0" && d["status"] == "failed"
    })
    .await;
    assert!(
        failed.to_string().contains("query value 0.5 > max 0.01"),
        "{failed}"
    );
    // The automatic rollback puts 1.0.0 back, and it bakes healthy again.
    let rollback = wait_deployment(&api, "rollback succeeded", "prod", |d| {
        d["kind"] == "rollback" && d["status"] == "succeeded"
    })
    .await;
    assert_eq!(rollback["version"], "1.0.0");
    let d = api.dashboard().await;
    assert_eq!(current_version(&d, "app", "prod").as_deref(), Some("1.0.0"));
}
