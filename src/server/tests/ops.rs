//! What operators rely on: every route in the OpenAPI document, the root
//! probes without a token, `/metrics` moving with a real deployment,
//! request ids, and HTTPS with a self-signed certificate.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::{ADMIN, DEADLINE, Pipeline, VIEWER, artifact, raw, with_users};
use crate::backend::Client;

/// `(method, full path)` of every route in the router, read from the route
/// table itself so that a new route cannot be forgotten here.
fn router_routes() -> Vec<(String, String)> {
    let src = include_str!("../routes/mod.rs");
    let api_start = src.find("let api = Router::new()").expect("the api router");
    let api_end = api_start + src[api_start..].find(';').expect("the api router's end");
    let mut out = Vec::new();
    for (at, _) in src.match_indices(".route(\"") {
        let rest = &src[at + ".route(\"".len()..];
        let path = &rest[..rest.find('"').expect("a closing quote")];
        // The route's handlers run up to the next route or the statement's end.
        let call_end = [rest.find(".route("), rest.find(';')]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(rest.len());
        let call = &rest[..call_end];
        let full = if at > api_start && at < api_end {
            format!("/api/v1{path}")
        } else {
            path.to_string()
        };
        for method in ["get", "post", "put", "delete", "patch"] {
            if call.contains(&format!("{method}(")) {
                out.push((method.to_string(), full.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_is_in_the_openapi_document() {
    let doc: Value = serde_json::from_str(&crate::server::openapi::document()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let routes = router_routes();
    assert!(routes.len() >= 20, "parsed only {routes:?}");
    let mut missing = Vec::new();
    for (method, path) in &routes {
        let op = &doc["paths"][path][method];
        if !op.is_object() {
            missing.push(format!("{} {path}", method.to_uppercase()));
            continue;
        }
        // Every operation names its success body and the error shape.
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{method} {path}: no success response"
        );
        if !path.ends_with("healthz") && !path.ends_with("readyz") {
            assert!(
                responses.contains_key("default"),
                "{method} {path}: no error response"
            );
        }
        // Path parameters are all declared.
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
            assert!(
                declared,
                "{method} {path}: parameter {name} is not described"
            );
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    // The SSE endpoint says what it streams.
    assert!(
        doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
            .is_object()
    );
    assert!(doc["components"]["schemas"]["ApiError"].is_object());
}

#[tokio::test]
async fn probes_answer_without_a_token_and_say_nothing_else() {
    let f = with_users(Pipeline::AutoTest, Vec::new()).await;
    let url = &f.server.url;
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let (code, body) = raw(reqwest::Method::GET, format!("{url}{path}"), None, None).await;
        assert_eq!(code, 200, "{path}");
        assert_eq!(body, serde_json::json!({ "status": status }), "{path}");
    }
    // The old probe still works, and everything else still needs a token.
    let (code, _) = raw(
        reqwest::Method::GET,
        format!("{url}/api/v1/healthz"),
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = raw(reqwest::Method::GET, format!("{url}/metrics"), None, None).await;
    assert_eq!(code, 401);
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn request_ids_are_echoed_and_in_error_bodies() {
    let f = with_users(Pipeline::AutoTest, Vec::new()).await;
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{}/api/v1/deployments/d-404", f.server.url))
        .bearer_auth(VIEWER)
        .header("x-request-id", "req-abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["x-request-id"], "req-abc");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["request_id"], "req-abc");
    assert_eq!(body["error"], "not_found");
    // Without one, the server makes one up and still echoes it.
    let resp = http
        .get(format!("{}/healthz", f.server.url))
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "{id}");
    f.server.shutdown().await.unwrap();
}

async fn scrape(url: &str) -> String {
    reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn until_sample(url: &str, prefix: &str) -> String {
    let start = Instant::now();
    loop {
        let text = scrape(url).await;
        if sample(&text, prefix).is_some_and(|v| v >= 1.0) {
            return text;
        }
        assert!(start.elapsed() < DEADLINE, "no {prefix} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_move_with_a_real_deployment() {
    let f = with_users(Pipeline::AutoTest, Vec::new()).await;
    let url = f.server.url.clone();
    let before = scrape(&url).await;
    assert!(before.contains("ferry_build_info{"), "{before}");
    assert!(before.contains("ferry_leader 1"), "{before}");
    assert!(!before.contains("ferry_deployments_total{"), "{before}");

    // Registering enters `test` (auto gate), which deploys with `true`.
    let admin = Client::new(&url, Some(ADMIN.into())).unwrap();
    admin.register_artifact(&artifact("1.0")).await.unwrap();
    let text = until_sample(
        &url,
        "ferry_deployments_total{service=\"web\",stage=\"test\",kind=\"promote\",outcome=\"succeeded\"}",
    )
    .await;
    // Step durations carry the step's kind beside its outcome.
    assert!(
        sample(
            &text,
            "ferry_step_duration_seconds_count{kind=\"deploy\",outcome=\"passed\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert!(!text.contains("kind=\"unknown\""), "{text}");
    assert!(sample(&text, "ferry_store_append_seconds_count").unwrap() >= 1.0);
    // Routes are counted by template, never by raw path.
    assert!(
        text.contains(
            "ferry_http_requests_total{route=\"/api/v1/artifacts\",method=\"POST\",status=\"201\"} 1"
        ),
        "{text}"
    );

    // Passing test offers 1.0 to prod, which waits for vera's approval:
    // the wait is observed, and the queue drains.
    until_sample(&url, "ferry_queue_depth").await;
    let d = admin
        .deployments(&crate::api::DeploymentQuery {
            stage: Some("prod".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let vera = Client::new(&url, Some(VIEWER.into())).unwrap();
    vera.approve(&d.items[0].id, None, None).await.unwrap();
    let text = until_sample(
        &url,
        "ferry_deployments_total{service=\"web\",stage=\"prod\",kind=\"promote\",outcome=\"succeeded\"}",
    )
    .await;
    assert_eq!(
        sample(&text, "ferry_approval_wait_seconds_count"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "ferry_queue_depth"), Some(0.0));
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn https_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let config = super::support::config(dir.path(), Vec::new());
    let server = crate::server::start_serving(
        config,
        crate::server::StartOptions {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            data_dir: Some(dir.path().join("data")),
            demo_workspace: None,
        },
        Some((cert_path, key_path)),
    )
    .await
    .unwrap();
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let port = server.addr.port();
    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let resp = trusting
        .get(format!("https://localhost:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    server.shutdown().await.unwrap();
}
