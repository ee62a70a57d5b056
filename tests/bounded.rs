//! Bounded memory through the real binary: past 50 deployments a stage's
//! oldest leave the server's memory (and the dashboard), yet every one is
//! still answered, read back from the store by id: its detail, step log,
//! evidence, review, a page of history, a note on it, and after a restart.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

/// What a stage keeps in memory (`engine::KEPT`).
const KEPT: usize = 50;
/// Enough releases that the first deployments and artifacts are forgotten.
const RELEASES: usize = KEPT + 20;

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("ferry.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[services.shop]\nsource = \"external\"\n\
         [[services.shop.stages]]\nname = \"test\"\n\
         deploy = { command = \"echo deployed $FERRY_VERSION\" }\n",
    )
    .unwrap();
    path
}

fn start(config: &Path, data: &Path) -> Server {
    Server::start_env(
        config,
        data,
        "127.0.0.1:0",
        &[("FERRY_SNAPSHOT_EVERY", "40")],
    )
}

async fn status_of(api: &Api, path: &str) -> (u16, String) {
    let resp = api
        .http
        .get(format!("{}/api/v1{path}", api.url))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Every deployment id, following `next_before` from the newest.
async fn every_page(api: &Api, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = format!("/deployments?limit={limit}");
    loop {
        let page = api.get(&path).await;
        for d in page["items"].as_array().unwrap() {
            ids.push(d["id"].as_str().unwrap().to_string());
        }
        match page["next_before"].as_str() {
            Some(next) => path = format!("/deployments?limit={limit}&before={next}"),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn forgotten_deployments_are_still_answered_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let data = dir.path().join("data");
    let mut server = start(&config, &data);
    let api = Api::new(&server.url, "");
    for i in 0..RELEASES {
        let version = format!("1.0.{i}");
        let (code, body) = api
            .post(
                "/artifacts",
                json!({"service": "shop", "version": version,
                       "digest": format!("{i:064x}"), "uri": "file:///bounded"}),
            )
            .await;
        assert_eq!(code, 201, "{body}");
        api.wait_for(&format!("{version} live in test"), |d| {
            (current_version(d, "shop", "test").as_deref() == Some(version.as_str())
                && stage(d, "shop", "test")["active"].is_null())
            .then_some(())
        })
        .await;
    }

    // The dashboard carries the newest KEPT; d-1 and a-1 left memory.
    let dashboard = api.dashboard().await;
    assert_eq!(history(&dashboard, "shop", "test").len(), KEPT);
    assert!(dashboard["state"]["deployments"]["d-1"].is_null());
    assert!(dashboard["state"]["artifacts"]["a-1"].is_null());

    let first = api.get("/deployments/d-1").await;
    assert_eq!(first["version"], "1.0.0");
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["steps"][0]["status"], "passed");
    assert_eq!(first["steps"][0]["log_lines"], 1);
    let log = api.get("/runs/d-1/steps/0/log").await;
    assert_eq!(log["lines"], json!(["deployed 1.0.0"]));
    assert_eq!(api.get("/artifacts/a-1").await["version"], "1.0.0");
    let evidence = api.get("/deployments/d-1/evidence").await;
    assert_eq!(evidence["deployment"]["id"], "d-1");
    assert_eq!(evidence["candidate"]["version"], "1.0.0", "{evidence}");
    let (code, review) = status_of(&api, "/deployments/d-1/review").await;
    assert_eq!(code, 200, "{review}");
    assert!(review.contains("1.0.0"), "{review}");
    let (code, body) = status_of(&api, &format!("/deployments/d-{}", RELEASES + 1)).await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = status_of(&api, "/runs/d-999/steps/0/log").await;
    assert_eq!(code, 404, "{body}");

    // History pages through memory and the store alike, newest first.
    let expected: Vec<String> = (1..=RELEASES).rev().map(|n| format!("d-{n}")).collect();
    assert_eq!(every_page(&api, 30).await, expected);
    let page = api
        .get("/deployments?status=succeeded&limit=5&before=d-3")
        .await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d-2", "d-1"]);
    assert!(page["next_before"].is_null());

    // A lesson on an old deployment is recorded and read back with it.
    let (code, body) = api
        .post("/deployments/d-1/notes", json!({"text": "the first one"}))
        .await;
    assert!((200..300).contains(&code), "{code} {body}");
    let noted = api.get("/deployments/d-1").await;
    assert_eq!(noted["notes"][0]["text"], "the first one");

    // A release older than what is kept cannot be promoted, and says why.
    let (code, body) = api
        .post(
            "/promote",
            json!({"service": "shop", "stage": "test", "artifact": "1.0.0"}),
        )
        .await;
    assert_eq!(code, 404, "{body}");
    assert!(body.to_string().contains("newest 50"), "{body}");

    // After a restart (from a snapshot) the answers are the same.
    server.stop_cleanly();
    let server = start(&config, &data);
    let api = Api::new(&server.url, "");
    assert_eq!(api.get("/deployments/d-1").await, noted);
    assert_eq!(every_page(&api, 50).await, expected);
    let after: Value = api.dashboard().await;
    assert_eq!(history(&after, "shop", "test").len(), KEPT);
}
