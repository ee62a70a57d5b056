//! `ferry plan` through the real binary: after a manual rollback the plan
//! shows the quarantine and the hold; with a real git repository it lists
//! the commits a release brings; its JSON has the documented shape; the
//! API answers 400/404 with clear messages.

mod common;

use common::*;
use serde_json::Value;

fn plan_json(url: &str, token: &str, args: &[&str]) -> Value {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = ferry(url, token, &all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("plan is JSON")
}

fn reasons(plan: &Value) -> Vec<(String, String)> {
    plan["blockers"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|x| {
                    (
                        x["reason"].as_str().unwrap_or("").to_string(),
                        x["effect"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// GET without judging: (status, body).
async fn get_raw(api: &Api, path: &str) -> (u16, Value) {
    let resp = api
        .http
        .get(format!("{}/api/v1{path}", api.url))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_after_a_rollback_shows_quarantine_hold_commits_and_eta() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let url = server.url.clone();
    let api = Api::new(&url, DEV_TOKEN);

    two_releases_in_prod(&ws, &api, &url).await;

    // dev rolls prod back by hand: 1.1.0 is quarantined, prod is held.
    let out = ferry(&url, DEV_TOKEN, &["rollback", "app", "prod"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    api.wait_for("back on 1.0.0", |d| {
        (current_version(d, "app", "prod").as_deref() == Some("1.0.0")
            && stage(d, "app", "prod")["active"].is_null())
        .then_some(())
    })
    .await;

    let plan = plan_json(&url, ALICE_TOKEN, &["app", "prod", "1.1.0"]);
    assert_eq!(plan["verdict"], "refused", "{plan:#}");
    assert_eq!(plan["artifact"]["version"], "1.1.0");
    assert_eq!(plan["current"]["version"], "1.0.0");
    assert_eq!(plan["picked"], false);
    let r = reasons(&plan);
    assert_eq!(r[0], ("quarantined".into(), "refuses".into()), "{plan:#}");
    assert!(
        r.contains(&("held".into(), "ended_by_this".into())),
        "{r:?}"
    );
    assert_eq!(plan["quarantine"]["by"], "dev");
    assert_eq!(plan["quarantine"]["incident"]["stage"], "prod");
    assert_eq!(plan["held"]["by"], "dev");
    assert_eq!(plan["freezes"], serde_json::json!([]));
    // History: two releases ran in prod, each approved.
    assert!(
        plan["eta"]["runs"].as_u64().is_some_and(|n| n >= 2),
        "{plan:#}"
    );
    assert!(
        plan["eta"]["approvals"].as_u64().is_some_and(|n| n >= 2),
        "{plan:#}"
    );
    assert!(plan["eta"]["run_median_ms"].as_i64().is_some(), "{plan:#}");
    assert!(plan["eta"]["expected_ms"].as_i64().is_some(), "{plan:#}");

    // The human answer says the same.
    let out = ferry(&url, ALICE_TOKEN, &["plan", "app", "prod", "1.1.0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    assert!(human.starts_with("plan: app 1.1.0 ("), "{human}");
    assert!(human.contains("-> prod: refused"), "{human}");
    assert!(
        human.contains("quarantine: quarantined since it was rolled back in prod"),
        "{human}"
    );
    assert!(human.contains("held: since "), "{human}");
    assert!(human.contains("expected time to live: ~"), "{human}");
    eprintln!("--- sample `ferry plan app prod 1.1.0` ---\n{human}");

    // Two commits arrive at once (the poller sees only the new head).
    git(&ws.repo, &["checkout", "-q", "-b", "work"]);
    std::fs::write(ws.repo.join("notes.txt"), "faster checkout\n").expect("write");
    git(&ws.repo, &["add", "-A"]);
    git(&ws.repo, &["commit", "-q", "-m", "speed up the checkout"]);
    ws.commit("1.2.0", "third");
    git(&ws.repo, &["checkout", "-q", "main"]);
    git(&ws.repo, &["merge", "-q", "--ff-only", "work"]);
    let pending = awaiting_prod(&api, "1.2.0").await;

    // Already waiting there: a promote of it would be refused; the commits
    // it brings since 1.0.0 are listed, newest first.
    let plan = plan_json(&url, DEV_TOKEN, &["app", "prod", "1.2.0"]);
    assert_eq!(plan["verdict"], "refused", "{plan:#}");
    let subjects: Vec<&str> = plan["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .filter_map(|c| c["subject"].as_str())
        .collect();
    assert_eq!(
        subjects,
        vec![
            "release 1.2.0: third",
            "speed up the checkout",
            "release 1.1.0: second"
        ],
        "{plan:#}"
    );
    assert!(plan["commits_note"].is_null(), "{plan:#}");

    // Cancelled, it is the candidate again: it would wait for alice (dev
    // asks and wrote it, so four-eyes leaves alice), and the explicit
    // promote would end the hold.
    let out = ferry(&url, DEV_TOKEN, &["cancel", &pending]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    api.wait_for("1.2.0 cancelled", |d| {
        (deployment(d, &pending)["status"] == "cancelled").then_some(())
    })
    .await;
    let plan = plan_json(&url, DEV_TOKEN, &["app", "prod"]);
    assert_eq!(plan["picked"], true, "{plan:#}");
    assert_eq!(plan["artifact"]["version"], "1.2.0");
    assert_eq!(plan["verdict"], "waits", "{plan:#}");
    assert_eq!(plan["approvers"], serde_json::json!(["alice"]), "{plan:#}");
    assert_eq!(
        reasons(&plan),
        vec![
            ("awaiting_approval".to_string(), "delays".to_string()),
            ("held".to_string(), "ended_by_this".to_string())
        ]
    );
    let gates: Vec<(&str, bool)> = plan["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .map(|g| (g["name"].as_str().unwrap_or(""), g["holds"] == true))
        .collect();
    assert_eq!(
        gates,
        vec![
            ("not_quarantined", true),
            ("previous_stage", true),
            ("not_pending_here", true),
            ("not_frozen", true),
            ("approval", false),
            ("stage_free", true),
            ("not_held", false),
        ]
    );
    assert_eq!(plan["commits"].as_array().map(Vec::len), Some(3));
    // A plan changes nothing: 1.2.0 is still not pending at prod.
    let dash = api.dashboard().await;
    assert!(
        stage(&dash, "app", "prod")["queue"]
            .as_array()
            .is_some_and(|q| q.is_empty())
    );

    // The API's refusals name what is wrong.
    let (status, body) = get_raw(&api, "/plan?service=app").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("`stage` is required"),
        "{body}"
    );
    let (status, body) = get_raw(&api, "/plan?service=app&stage=qa").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("no stage `qa`"),
        "{body}"
    );
    let (status, body) = get_raw(&api, "/plan?service=app&stage=prod&artifact=9.9.9").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get_raw(&api, "/plan?service=nope&stage=prod").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("no service named `nope`"),
        "{body}"
    );
    let out = ferry(&url, DEV_TOKEN, &["plan", "app", "qa"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_says_when_the_git_mirror_is_unavailable() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let url = server.url.clone();
    let api = Api::new(&url, DEV_TOKEN);
    awaiting_prod(&api, "1.0.0").await;
    // The mirror goes away under the server, and a file takes its place so
    // that the poller cannot clone it again.
    let mirror = ws.data().join("git").join("app.git");
    let start = std::time::Instant::now();
    loop {
        let _ = std::fs::remove_dir_all(&mirror);
        if std::fs::write(&mirror, "not a mirror").is_ok() {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "could not replace the mirror");
    }
    let plan = plan_json(&url, DEV_TOKEN, &["app", "preprod", "1.0.0"]);
    assert_eq!(plan["commits"], serde_json::json!([]));
    let note = plan["commits_note"].as_str().unwrap_or("");
    assert!(note.contains("could not list the commits"), "{plan:#}");
    assert!(note.contains("no git mirror"), "{plan:#}");
}
