//! End to end: the real `ferry server` binary on 127.0.0.1 port 0, a real git
//! repository in a temp dir, steps that are small shell scripts, driven
//! through the HTTP API.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

fn path_exists(p: &Path) -> bool {
    p.exists()
}

async fn approve(api: &Api, deployment: &str) {
    let (status, body) = api
        .post(
            &format!("/deployments/{deployment}/approve"),
            json!({"comment": "ship it"}),
        )
        .await;
    assert_eq!(status, 200, "approve: {body}");
}

async fn wait_prod_healthy(api: &Api, version: &str) {
    api.wait_for(&format!("{version} healthy in prod"), |d| {
        (last_good_version(d, "app", "prod").as_deref() == Some(version)
            && stage(d, "app", "prod")["active"].is_null())
        .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_flows_to_prod_after_approval_and_a_bad_one_halts_or_rolls_back() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let dev = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);

    // build → test → preprod → waiting for approval
    let d1 = awaiting_prod(&dev, "1.0.0").await;
    let dash = dev.dashboard().await;
    assert_eq!(
        current_version(&dash, "app", "test").as_deref(),
        Some("1.0.0")
    );
    assert_eq!(
        last_good_version(&dash, "app", "preprod").as_deref(),
        Some("1.0.0")
    );
    assert!(ws.target("preprod").contains("hello"));
    assert!(
        ws.target("prod").is_empty(),
        "nothing reaches prod without approval"
    );

    // The committer may not approve; a viewer-less deployer can't either.
    let (status, body) = dev
        .post(&format!("/deployments/{d1}/approve"), json!({}))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("may not"),
        "{body}"
    );
    assert!(
        body["hint"]
            .as_str()
            .unwrap_or("")
            .contains("release-manager"),
        "{body}"
    );

    approve(&alice, &d1).await;
    wait_prod_healthy(&dev, "1.0.0").await;
    assert!(ws.target("prod").contains("hello"));
    let dash = dev.dashboard().await;
    let dep = deployment(&dash, &d1);
    assert_eq!(dep["status"], "succeeded");
    assert_eq!(dep["approvals"][0]["by"], "alice");
    assert!(
        dep["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "passed")
    );

    // A commit that breaks the integration tests halts at test.
    ws.commit("1.1.0", "BREAK_TEST");
    let failed = wait_deployment(&dev, "1.1.0 failed at test", "test", |dep| {
        dep["version"] == "1.1.0" && dep["status"] == "failed"
    })
    .await;
    assert!(
        failed["outcome"]
            .as_str()
            .unwrap_or("")
            .contains("integration"),
        "the reason names the failed step: {failed}"
    );
    let failed_id = failed["id"].as_str().unwrap();
    let step = failed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s["name"] == "integration")
        .unwrap();
    assert_eq!(failed["steps"][step]["status"], "failed");
    assert_eq!(failed["steps"][step]["exit_code"], 3);
    let log = dev
        .get(&format!("/runs/{failed_id}/steps/{step}/log"))
        .await;
    let lines: Vec<&str> = log["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("FAIL: checkout total is wrong")),
        "{log}"
    );
    // The test stage rolls back to its last good release; nothing reaches preprod.
    dev.wait_for("test back on 1.0.0", |d| {
        (current_version(d, "app", "test").as_deref() == Some("1.0.0")
            && stage(d, "app", "test")["active"].is_null())
        .then_some(())
    })
    .await;
    let dash = dev.dashboard().await;
    assert!(
        history(&dash, "app", "preprod")
            .iter()
            .all(|d| d["version"] != "1.1.0")
    );
    let notes = ws.notifications();
    assert!(
        notes
            .lines()
            .any(|l| l.contains("deployment_failed") && l.contains("1.1.0")),
        "a notification was sent: {notes}"
    );

    // A commit that passes everything but fails its prod health check is rolled back.
    ws.commit("1.2.0", "BREAK_HEALTH");
    let d3 = awaiting_prod(&dev, "1.2.0").await;
    approve(&alice, &d3).await;
    let rollback = wait_deployment(&dev, "prod rolled back", "prod", |dep| {
        dep["kind"] == "rollback" && dep["status"] == "succeeded"
    })
    .await;
    assert_eq!(rollback["version"], "1.0.0");
    assert_eq!(rollback["rolls_back"], d3.as_str());
    let dash = dev.dashboard().await;
    assert_eq!(deployment(&dash, &d3)["status"], "failed");
    assert_eq!(
        current_version(&dash, "app", "prod").as_deref(),
        Some("1.0.0")
    );
    assert_eq!(
        last_good_version(&dash, "app", "prod").as_deref(),
        Some("1.0.0")
    );
    assert!(
        ws.target("prod").contains("hello"),
        "the old files are back"
    );
    let notes = ws.notifications();
    assert!(notes.contains("rolled_back"), "{notes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_a_deploy_recovers_to_a_consistent_state() {
    let ws = Workspace::new();
    let mut server = Server::start(&ws.config(), &ws.data());
    let dev = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);
    let d1 = awaiting_prod(&dev, "1.0.0").await;
    approve(&alice, &d1).await;
    wait_prod_healthy(&dev, "1.0.0").await;

    ws.commit("2.0.0", "SLOW_DEPLOY");
    let d2 = awaiting_prod(&dev, "2.0.0").await;
    approve(&alice, &d2).await;
    let marker = ws.root.join("slow-deploy-started");
    dev.wait_for("the slow prod deploy to run", |d| {
        (deployment(d, &d2)["steps"][0]["status"] == "running" && path_exists(&marker))
            .then_some(())
    })
    .await;
    let before = dev.dashboard().await;
    let seen = dev.events(0, before["seq"].as_u64().unwrap()).await;

    server.kill(); // SIGKILL: no chance to clean up
    let server = Server::start(&ws.config(), &ws.data());
    let dev = Api::new(&server.url, DEV_TOKEN);

    wait_deployment(&dev, "recovery: rolled back to 1.0.0", "prod", |dep| {
        dep["kind"] == "rollback" && dep["status"] == "succeeded"
    })
    .await;
    let dash = dev.dashboard().await;
    let interrupted = deployment(&dash, &d2);
    assert_eq!(interrupted["status"], "failed");
    assert_eq!(interrupted["steps"][0]["status"], "interrupted");
    assert_eq!(
        current_version(&dash, "app", "prod").as_deref(),
        Some("1.0.0")
    );
    assert_eq!(
        last_good_version(&dash, "app", "prod").as_deref(),
        Some("1.0.0")
    );

    // The killed server's deploy did not survive it: no process of that
    // deployment is left to copy its files over the rollback.
    let leftovers = processes_of_deployment(&d2);
    assert!(
        leftovers.is_empty(),
        "orphaned step processes: {leftovers:?}"
    );

    // No event lost: the log is gap-free and starts with what we saw before.
    let all = dev.events(0, dash["seq"].as_u64().unwrap()).await;
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "gap-free sequence");
    }
    assert_eq!(
        &all[..seen.len()],
        &seen[..],
        "events before the kill survived unchanged"
    );
}

/// Pids of live processes whose environment names this deployment.
fn processes_of_deployment(deployment: &str) -> Vec<u32> {
    let needle = format!("FERRY_DEPLOYMENT={deployment}\0");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'));
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            !zombie && String::from_utf8_lossy(&environ).contains(&needle)
        })
        .collect()
}
