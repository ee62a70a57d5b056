//! Release safety through the real binary: a manual rollback quarantines
//! the release and holds the stage; the CLI refuses, explains and lifts.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_release_is_quarantined_held_explained_and_lifted_from_the_cli() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let url = server.url.clone();
    let api = Api::new(&url, DEV_TOKEN);

    two_releases_in_prod(&ws, &api, &url).await;
    let dash = api.dashboard().await;
    let bad = history(&dash, "app", "prod")
        .into_iter()
        .find(|d| d["version"] == "1.1.0")
        .and_then(|d| d["artifact"].as_str())
        .expect("1.1.0's artifact")
        .to_string();

    // A manual rollback away from 1.1.0: quarantined, and prod is held.
    let out = ferry(&url, DEV_TOKEN, &["rollback", "app", "prod"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    api.wait_for("back on 1.0.0", |d| {
        (current_version(d, "app", "prod").as_deref() == Some("1.0.0")
            && stage(d, "app", "prod")["active"].is_null())
        .then_some(())
    })
    .await;

    // Promoting it again is refused (409, exit code 5) naming the incident.
    let out = ferry(&url, ALICE_TOKEN, &["promote", "app", "prod", "1.1.0"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("quarantined"), "{stderr}");
    assert!(stderr.contains("rolled back in prod"), "{stderr}");

    // `ferry why` says prod is held, and by whom.
    let out = ferry(&url, DEV_TOKEN, &["why", "app", "prod", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let why: serde_json::Value = serde_json::from_slice(&out.stdout).expect("why is JSON");
    assert_eq!(why[0]["reason"], "held", "{why}");
    let out = ferry(&url, DEV_TOKEN, &["why", "app", "prod"]);
    assert!(
        text(&out.stdout).contains("app/prod: prod is held"),
        "{}",
        text(&out.stdout)
    );
    let dash = api.dashboard().await;
    assert!(
        dash["blocked"].as_array().is_some_and(|b| b
            .iter()
            .any(|x| x["stage"] == "prod" && x["reason"] == "held")),
        "{}",
        dash["blocked"]
    );

    // A lift needs a reason (422) and is recorded with its actor.
    let out = ferry(
        &url,
        DEV_TOKEN,
        &["quarantine", "lift", &bad, "--reason", " "],
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
            "quarantine",
            "lift",
            &bad,
            "--reason",
            "the fault was the config",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let artifact = api.get(&format!("/artifacts/{bad}")).await;
    assert_eq!(artifact["version"], "1.1.0");
    assert_eq!(artifact["quarantine"]["active"], false, "{artifact}");
    let history = artifact["quarantine"]["history"]
        .as_array()
        .expect("history");
    assert_eq!(history.len(), 2, "{artifact}");
    assert_eq!(history[0]["incident"]["stage"], "prod");
    assert_eq!(history[1]["by"], "dev");
    assert_eq!(history[1]["reason"], "the fault was the config");

    // And the hold is lifted by hand.
    let out = ferry(
        &url,
        DEV_TOKEN,
        &["hold", "lift", "app", "prod", "--reason", "done"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ferry(&url, DEV_TOKEN, &["why", "app", "prod"]);
    assert!(
        text(&out.stdout).contains("nothing waits"),
        "{}",
        text(&out.stdout)
    );
}

const BOB_TOKEN: &str = "b0b0000000000000000000000000000000000000000000000000000000000003";

/// POST without judging, as `token`.
async fn post_as(
    url: &str,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    Api::new(url, token).post(path, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_lift_takes_the_configured_role_four_eyes_and_a_reason() {
    let ws = Workspace::new();
    // Only release managers lift, and not the one who quarantined.
    let mut config = std::fs::read_to_string(ws.config()).expect("config");
    config.push_str(&format!(
        "\n[[users]]\nname = \"bob\"\nroles = [\"release-manager\"]\ntoken_sha256 = \"{}\"\n\n\
         [safety]\nquarantine_lift_roles = [\"release-manager\"]\nquarantine_lift_allow_self = false\n",
        sha256_hex(BOB_TOKEN)
    ));
    std::fs::write(ws.config(), config).expect("write config");
    let server = Server::start(&ws.config(), &ws.data());
    let url = server.url.clone();
    let api = Api::new(&url, DEV_TOKEN);
    awaiting_prod(&api, "1.0.0").await;
    let dash = api.dashboard().await;
    let artifact = history(&dash, "app", "prod")
        .into_iter()
        .find(|d| d["version"] == "1.0.0")
        .and_then(|d| d["artifact"].as_str())
        .expect("1.0.0's artifact")
        .to_string();

    // An add without a reason is 422 and names the field; nothing changes.
    let (status, body) = post_as(
        &url,
        ALICE_TOKEN,
        "/quarantine/add",
        serde_json::json!({ "artifact": artifact }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("`reason`"),
        "{body}"
    );
    let out = ferry(
        &url,
        ALICE_TOKEN,
        &["quarantine", "add", &artifact, "--reason", "bad migration"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Its pending prod deployment was withdrawn.
    let dash = api.dashboard().await;
    assert!(
        stage(&dash, "app", "prod")["queue"]
            .as_array()
            .is_some_and(|q| q.is_empty()),
        "{}",
        stage(&dash, "app", "prod")
    );

    // dev is a deployer, not a release manager: 403 (exit 3), naming the role.
    let out = ferry(
        &url,
        DEV_TOKEN,
        &["quarantine", "lift", &artifact, "--reason", "fixed"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("release-manager"),
        "{}",
        text(&out.stderr)
    );
    // alice quarantined it: four-eyes refuses her, however she spells her name.
    let out = ferry(
        &url,
        ALICE_TOKEN,
        &["quarantine", "lift", &artifact, "--reason", "fixed"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("four-eyes"),
        "{}",
        text(&out.stderr)
    );
    // A lift without a reason is 422 naming it, whoever asks.
    let (status, body) = post_as(
        &url,
        BOB_TOKEN,
        "/quarantine/lift",
        serde_json::json!({ "artifact": artifact, "reason": "" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("reason"),
        "{body}"
    );
    let view = api.get(&format!("/artifacts/{artifact}")).await;
    assert_eq!(view["quarantine"]["active"], true, "{view}");

    // bob lifts it; the artifact shows both changes with actor and reason.
    let out = ferry(
        &url,
        BOB_TOKEN,
        &[
            "quarantine",
            "lift",
            &artifact,
            "--reason",
            "migration fixed",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let view = api.get(&format!("/artifacts/{artifact}")).await;
    assert_eq!(view["quarantine"]["active"], false, "{view}");
    let history = view["quarantine"]["history"].as_array().expect("history");
    let changes: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or(""),
                c["by"].as_str().unwrap_or(""),
                c["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("added", "alice", "bad migration"),
            ("lifted", "bob", "migration fixed")
        ]
    );
}
