//! Freeze windows through the real binary and the CLI: an ad-hoc freeze
//! makes a promotion wait (`ferry why` says frozen, and until when), a
//! rollback still runs, a break-glass override without a reason is refused
//! and with one goes through (recorded and notified), unfreezing starts
//! what waited, and a short freeze ends by itself (the driver's tick).

mod common;

use std::process::Output;

use common::*;
use serde_json::Value;

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Wait until `version` is live (last good) in prod.
async fn live_in_prod(api: &Api, version: &str) {
    api.wait_for(&format!("{version} live in prod"), |d| {
        (last_good_version(d, "app", "prod").as_deref() == Some(version)
            && stage(d, "app", "prod")["active"].is_null())
        .then_some(())
    })
    .await;
}

/// The prod deployment of `version` that is queued (approved) and not running.
async fn queued_in_prod(api: &Api, version: &str) -> Value {
    wait_deployment(api, &format!("{version} queued at prod"), "prod", |d| {
        d["version"] == version && d["status"] == "queued"
    })
    .await
}

fn why_prod(url: &str) -> Value {
    let out = ferry(url, DEV_TOKEN, &["why", "app", "prod", "--json"]);
    ok(&out);
    serde_json::from_slice(&out.stdout).expect("why is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_holds_promotions_lets_rollbacks_through_and_breaks_glass_with_a_reason() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let url = server.url.clone();
    let api = Api::new(&url, DEV_TOKEN);

    // Two good releases in prod, so a rollback has somewhere to go.
    two_releases_in_prod(&ws, &api, &url).await;

    // Freeze prod by hand; a reason is required.
    let out = ferry(
        &url,
        DEV_TOKEN,
        &["freeze", "prod", "--until", "10m", "--reason", " "],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("reason"),
        "{}",
        text(&out.stderr)
    );
    let out = ferry(
        &url,
        DEV_TOKEN,
        &[
            "freeze",
            "prod",
            "--until",
            "10m",
            "--reason",
            "INC-42 under investigation",
        ],
    );
    ok(&out);
    assert!(
        text(&out.stdout).contains("froze prod"),
        "{}",
        text(&out.stdout)
    );

    // The rollback lane: a rollback runs inside the freeze.
    ok(&ferry(&url, DEV_TOKEN, &["rollback", "app", "prod"]));
    api.wait_for("rolled back to 1.0.0 inside the freeze", |d| {
        (current_version(d, "app", "prod").as_deref() == Some("1.0.0")
            && stage(d, "app", "prod")["active"].is_null())
        .then_some(())
    })
    .await;
    ok(&ferry(
        &url,
        DEV_TOKEN,
        &[
            "hold",
            "lift",
            "app",
            "prod",
            "--reason",
            "rolled back on purpose",
        ],
    ));

    // A new release, approved, waits: frozen until the freeze ends.
    ws.commit("1.2.0", "third");
    let pending = awaiting_prod(&api, "1.2.0").await;
    ok(&ferry(&url, ALICE_TOKEN, &["approve", &pending]));
    let waiting = queued_in_prod(&api, "1.2.0").await;
    assert_eq!(waiting["id"], pending.as_str());
    let why = why_prod(&url);
    assert_eq!(why[0]["reason"], "frozen", "{why}");
    assert_eq!(why[0]["deployment"], pending.as_str(), "{why}");
    assert!(why[0]["until"].as_i64().is_some(), "{why}");
    let out = ferry(&url, DEV_TOKEN, &["why", "app", "prod"]);
    let said = text(&out.stdout);
    assert!(said.contains("frozen until"), "{said}");
    assert!(said.contains("INC-42 under investigation"), "{said}");
    assert!(said.contains("until:"), "{said}");

    // Break-glass without a reason is refused (422), and nothing changes.
    let out = ferry(
        &url,
        ALICE_TOKEN,
        &["promote", "app", "prod", "1.2.0", "--override-freeze"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("reason"),
        "{}",
        text(&out.stderr)
    );
    let (status, body) = api
        .post(
            "/promote",
            serde_json::json!({"service": "app", "stage": "prod", "artifact": "1.2.0", "override_freeze": true}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(stage(&api.dashboard().await, "app", "prod")["active"].is_null());
    assert_eq!(why_prod(&url)[0]["reason"], "frozen");

    // Unfreezing starts what waited.
    ok(&ferry(
        &url,
        DEV_TOKEN,
        &["unfreeze", "prod", "--reason", "INC-42 resolved"],
    ));
    live_in_prod(&api, "1.2.0").await;

    // Freeze again; 1.3.0 waits, and a break-glass override with a reason
    // takes it through, recorded with its actor and notified.
    ok(&ferry(
        &url,
        DEV_TOKEN,
        &["freeze", "prod", "--until", "10m", "--reason", "year-end"],
    ));
    ws.commit("1.3.0", "fourth");
    let pending = awaiting_prod(&api, "1.3.0").await;
    ok(&ferry(&url, ALICE_TOKEN, &["approve", &pending]));
    queued_in_prod(&api, "1.3.0").await;
    let out = ferry(
        &url,
        ALICE_TOKEN,
        &[
            "promote",
            "app",
            "prod",
            "1.3.0",
            "--override-freeze",
            "--reason",
            "hotfix for INC-43",
        ],
    );
    ok(&out);
    live_in_prod(&api, "1.3.0").await;
    let seq = api.dashboard().await["seq"].as_u64().unwrap_or(0);
    let events = api.events(0, seq).await;
    let overridden = event_of_kind(&events, "freeze_overridden");
    assert_eq!(overridden["actor"], "alice", "{overridden}");
    assert_eq!(overridden["reason"], "hotfix for INC-43", "{overridden}");
    assert_eq!(
        overridden["kind"]["deployment"],
        pending.as_str(),
        "{overridden}"
    );
    let frozen_events = events
        .iter()
        .filter(|e| e["kind"]["type"] == "deployment_frozen")
        .count();
    assert!(frozen_events >= 2, "both waits recorded");
    wait_until("the override notified", || {
        ws.notifications()
            .contains("freeze_overridden")
            .then_some(())
    })
    .await;
    ok(&ferry(&url, DEV_TOKEN, &["unfreeze", "prod"]));

    // A short freeze ends by itself: the driver ticks at its end and the
    // waiting promotion starts with nobody touching it.
    ws.commit("1.4.0", "fifth");
    let pending = awaiting_prod(&api, "1.4.0").await;
    let out = ferry(
        &url,
        DEV_TOKEN,
        &["freeze", "prod", "--until", "4s", "--reason", "short"],
    );
    ok(&out);
    ok(&ferry(&url, ALICE_TOKEN, &["approve", &pending]));
    live_in_prod(&api, "1.4.0").await;
    let seq = api.dashboard().await["seq"].as_u64().unwrap_or(0);
    let events = api.events(0, seq).await;
    let at = |kind: &str| {
        events
            .iter()
            .filter(|e| e["kind"]["type"] == kind && e["kind"]["deployment"] == pending.as_str())
            .map(|e| e["at"].as_i64().unwrap_or(0))
            .next()
    };
    let frozen = events.iter().find(|e| {
        e["kind"]["type"] == "deployment_frozen" && e["kind"]["deployment"] == pending.as_str()
    });
    // The approval may (on a very slow machine) land after the 4 s; when it
    // waited, it started no earlier than the window's end.
    if let Some(f) = frozen {
        let until = f["kind"]["wait"]["until"].as_i64().unwrap_or(i64::MAX);
        let started = at("deployment_started").expect("started");
        assert!(
            started >= until,
            "started at {started}, inside a window until {until}"
        );
    }
}
