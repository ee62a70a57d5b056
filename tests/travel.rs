//! Time travel and snapshots through the real binary: `GET
//! /dashboard?at=seq:N` and `?at=TIME`, `ferry status --at`, bad `at`
//! values, and the same answers after restarts with snapshots, without any
//! (deleted), and with a corrupt one.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{Value, json};

fn config(dir: &Path) -> std::path::PathBuf {
    let mut s = String::from("[server]\nlisten = \"127.0.0.1:0\"\n");
    for svc in ["shop", "billing"] {
        s.push_str(&format!("\n[services.{svc}]\nsource = \"external\"\n"));
        for stage in ["test", "prod"] {
            s.push_str(&format!(
                "[[services.{svc}.stages]]\nname = \"{stage}\"\ndeploy = {{ command = \"true\" }}\n"
            ));
        }
    }
    let path = dir.join("ferry.toml");
    std::fs::write(&path, s).unwrap();
    path
}

/// Start with snapshots every 7 events, so a short log has several.
fn start(config: &Path, data: &Path) -> Server {
    Server::start_env(
        config,
        data,
        "127.0.0.1:0",
        &[("FERRY_SNAPSHOT_EVERY", "7")],
    )
}

/// Register `n` versions of each service and wait until each is live in prod.
async fn deploy(api: &Api, round: u32) {
    for svc in ["shop", "billing"] {
        let (code, body) = api
            .post(
                "/artifacts",
                json!({
                    "service": svc,
                    "version": format!("1.0.{round}"),
                    "digest": format!("{:064x}", round),
                    "uri": "file:///travel",
                }),
            )
            .await;
        assert_eq!(code, 201, "{body}");
        let version = format!("1.0.{round}");
        api.wait_for(&format!("{svc} {version} live in prod"), |d| {
            (current_version(d, svc, "prod").as_deref() == Some(version.as_str())
                && stage(d, svc, "prod")["active"].is_null())
            .then_some(())
        })
        .await;
    }
}

/// What must not change between answers: the state, what is blocked, the seq.
fn essence(d: &Value) -> Value {
    json!({ "state": d["state"], "blocked": d["blocked"], "seq": d["seq"] })
}

async fn status_of(api: &Api, path: &str) -> (u16, Value) {
    let resp = api
        .http
        .get(format!("{}/api/v1{path}", api.url))
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

/// The answers at a few seqs, keyed by seq.
async fn answers(api: &Api, seqs: &[u64]) -> Vec<Value> {
    let mut out = Vec::new();
    for n in seqs {
        let d = api.get(&format!("/dashboard?at=seq:{n}")).await;
        assert_eq!(d["as_of"]["seq"], json!(n), "{}", d["as_of"]);
        out.push(essence(&d));
    }
    out
}

#[tokio::test]
async fn travel_answers_the_past_and_snapshots_change_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let data = dir.path().join("data");
    let mut server = start(&config, &data);
    let api = Api::new(&server.url, "");
    for round in 1..=3 {
        deploy(&api, round).await;
    }
    let live = api.dashboard().await;
    let end = live["seq"].as_u64().unwrap();
    assert!(end > 20, "a log long enough for several snapshots: {end}");

    // The end is the live dashboard; seq:0 is the configuration, empty.
    let at_end = api.get(&format!("/dashboard?at=seq:{end}")).await;
    assert_eq!(essence(&at_end), essence(&live));
    assert_eq!(at_end["as_of"]["end"], json!(end));
    let at_zero = api.get("/dashboard?at=seq:0").await;
    assert_eq!(at_zero["state"]["services"][0]["name"], "shop");
    assert!(
        at_zero["state"]["deployments"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        at_zero["as_of"]["next_deployment"].as_u64().map(|s| s > 0),
        Some(true)
    );

    // By time: the last event at or before the time of event N.
    let mid = end / 2;
    let at_mid = api.get(&format!("/dashboard?at=seq:{mid}")).await;
    let time = at_mid["as_of"]["at_time"].as_str().unwrap().to_string();
    let by_time = api
        .get(&format!("/dashboard?at={}", urlencode(&time)))
        .await;
    let found = by_time["as_of"]["seq"].as_u64().unwrap();
    assert!(found >= mid, "{found} >= {mid}");
    assert_eq!(
        by_time["as_of"]["at"], at_mid["as_of"]["at"],
        "same instant"
    );
    assert_eq!(
        essence(&by_time),
        essence(&api.get(&format!("/dashboard?at=seq:{found}")).await)
    );
    // Stepping by deployment names deployment events on either side.
    let prev = at_mid["as_of"]["previous_deployment"].as_u64().unwrap();
    assert!(prev < mid);
    let events = api.events(prev - 1, prev).await;
    let kind = events[0]["kind"]["type"].as_str().unwrap_or_default();
    assert!(
        [
            "deployment_created",
            "deployment_started",
            "deployment_finished"
        ]
        .contains(&kind),
        "{}",
        events[0]
    );
    // … and the nearest one: none between it and `mid`.
    let between = api.events(prev, mid - 1).await;
    assert!(
        between.iter().all(|e| ![
            "deployment_created",
            "deployment_started",
            "deployment_finished"
        ]
        .contains(&e["kind"]["type"].as_str().unwrap_or_default())),
        "a deployment change between {prev} and {mid}"
    );

    // Bad `at`: 400 saying what is allowed.
    for (bad, says) in [
        ("yesterday".to_string(), "seq:N"),
        ("seq:x".to_string(), "seq:N"),
        (format!("seq:{}", end + 1000), "beyond the end"),
        ("2999-01-01T00:00:00Z".to_string(), "future"),
    ] {
        let (code, body) = status_of(&api, &format!("/dashboard?at={}", urlencode(&bad))).await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{bad}: {body}"
        );
    }

    // `ferry status --at`, plain and JSON.
    let out = Command::new(ferry_bin())
        .args([
            "status",
            "--at",
            &format!("seq:{mid}"),
            "--server",
            &server.url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("as of {time} (seq {mid} of {end})")),
        "{text}"
    );
    let out = Command::new(ferry_bin())
        .args([
            "status",
            "--json",
            "--at",
            &format!("seq:{mid}"),
            "--server",
            &server.url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["as_of"]["seq"], json!(mid));
    let out = Command::new(ferry_bin())
        .args(["status", "--at", "nonsense", "--server", &server.url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("seq:N"));

    let seqs: Vec<u64> = vec![0, 1, 5, 7, 8, mid, end - 1, end];
    let before = answers(&api, &seqs).await;
    server.stop_cleanly();

    // Restarted from its snapshots: the same answers, the same live state.
    let db = data.join("ferry.db");
    assert!(snapshot_count(&db).await >= 2, "snapshots were taken");
    // Restarted, time travel folds from these (each a few events back).
    assert!(
        view_snapshot_count(&db).await >= 2,
        "view snapshots were taken"
    );
    let mut server = start(&config, &data);
    let api = Api::new(&server.url, "");
    assert_eq!(answers(&api, &seqs).await, before);
    let live_again = api.dashboard().await;
    let end2 = live_again["seq"].as_u64().unwrap();
    server.stop_cleanly();

    // Without any snapshot: still the same.
    sql(&db, "DELETE FROM snapshots").await;
    let mut server = start(&config, &data);
    let api = Api::new(&server.url, "");
    assert_eq!(answers(&api, &seqs).await, before);
    assert_eq!(
        essence(&api.dashboard().await)["state"],
        essence(&live_again)["state"]
    );
    server.stop_cleanly();
    assert!(
        snapshot_count(&db).await >= 1,
        "the stop left a snapshot to corrupt"
    );

    // A corrupt newest snapshot is ignored (logged), not fatal.
    sql(&db, "UPDATE snapshots SET body = X'7B6E6F7420737461746521'").await;
    let server = start(&config, &data);
    let api = Api::new(&server.url, "");
    assert_eq!(answers(&api, &seqs).await, before);
    assert!(api.dashboard().await["seq"].as_u64().unwrap() >= end2);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn pool(db: &Path) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(db))
        .await
        .unwrap()
}

async fn snapshot_count(db: &Path) -> i64 {
    rows(db, "SELECT COUNT(*) FROM snapshots").await
}

/// View snapshots (the deflated recent views time travel folds from).
async fn view_snapshot_count(db: &Path) -> i64 {
    rows(
        db,
        "SELECT COUNT(*) FROM snapshots WHERE format LIKE 'view-%'",
    )
    .await
}

async fn rows(db: &Path, count: &'static str) -> i64 {
    let pool = pool(db).await;
    let n = sqlx::query_scalar(count).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

async fn sql(db: &Path, statement: &'static str) {
    let pool = pool(db).await;
    sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
}
