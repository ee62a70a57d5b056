//! End to end: the demo story runs headless; then a server on its data
//! answers `ferry insights --json`, checked against counts taken from the
//! event stream, and `ferry review` drafts the review of billing's failed
//! prod release (with a note recorded by `ferry note`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Api, Server, ferry_bin, sha256_hex};
use serde_json::Value;

const TOKEN: &str = "insights-test-token";

fn run_demo(dir: &Path) {
    let out = Command::new(ferry_bin())
        .args([
            "demo",
            "--headless",
            "--until-idle",
            "--speed",
            "10",
            "--dir",
        ])
        .arg(dir)
        .env_remove("FERRY_CONFIG")
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("ferry demo runs");
    assert!(
        out.status.success(),
        "ferry demo failed\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The demo keeps its tokens in memory only: give its `dev` user (a
/// deployer) a token this test knows.
fn give_dev_a_token(config: &Path) {
    let text = std::fs::read_to_string(config).expect("the demo's ferry.toml");
    let start = text.find("name = \"dev\"").expect("a dev user");
    let key = start + text[start..].find("token_sha256 = \"").expect("dev's hash") + 16;
    let end = key + 64;
    let text = format!("{}{}{}", &text[..key], sha256_hex(TOKEN), &text[end..]);
    std::fs::write(config, text).expect("rewrite ferry.toml");
}

fn ferry(url: &str, args: &[&str]) -> String {
    let out = Command::new(ferry_bin())
        .args(args)
        .args(["--server", url])
        .env("FERRY_TOKEN", TOKEN)
        .env_remove("FERRY_CONFIG")
        .output()
        .expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "ferry {args:?} failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Per service: promotions to prod that finished succeeded / failed, the
/// succeeded ones a rollback named, and the rollbacks that started.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    succeeded: u64,
    failed: u64,
    undone: u64,
    rollbacks_started: u64,
}

fn count(events: &[Value]) -> (BTreeMap<String, Counts>, Vec<String>) {
    let mut prod: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut finished: BTreeMap<String, String> = BTreeMap::new();
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut failed_billing = Vec::new();
    for e in events {
        let k = &e["kind"];
        let id = k["deployment"].as_str().unwrap_or_default().to_string();
        match k["type"].as_str().unwrap_or_default() {
            "deployment_created" if k["stage"] == "prod" => {
                let service = k["service"].as_str().unwrap_or_default().to_string();
                let kind = k["kind"].as_str().unwrap_or_default().to_string();
                counts.entry(service.clone()).or_default();
                if kind == "rollback"
                    && let Some(target) = k["rolls_back"].as_str()
                {
                    named.insert(target.to_string());
                }
                prod.insert(id, (service, kind));
            }
            "deployment_started" => {
                if let Some((service, kind)) = prod.get(&id)
                    && (kind == "rollback" || kind == "redeploy")
                {
                    counts.entry(service.clone()).or_default().rollbacks_started += 1;
                }
            }
            "deployment_finished" => {
                let status = k["status"].as_str().unwrap_or_default().to_string();
                finished.entry(id).or_insert(status);
            }
            _ => {}
        }
    }
    for (id, (service, kind)) in &prod {
        if kind != "promote" {
            continue;
        }
        let c = counts.entry(service.clone()).or_default();
        match finished.get(id).map(String::as_str) {
            Some("succeeded") => {
                c.succeeded += 1;
                c.undone += u64::from(named.contains(id));
            }
            Some("failed") => {
                c.failed += 1;
                if service == "billing" {
                    failed_billing.push(id.clone());
                }
            }
            _ => {}
        }
    }
    (counts, failed_billing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_match_the_event_stream_and_review_tells_the_billing_rollback() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let demo = dir.clone();
    tokio::task::spawn_blocking(move || run_demo(&demo))
        .await
        .expect("the demo ran");
    let config = dir.join("ferry.toml");
    give_dev_a_token(&config);
    let server = Server::start(&config, &dir.join("data"));
    let api = Api::new(&server.url, TOKEN);
    let seq = api.get("/healthz").await["seq"].as_u64().expect("seq");
    let events = api.events(0, seq).await;
    let (expected, failed_billing) = count(&events);
    assert!(expected.contains_key("billing"), "{expected:?}");

    let url = server.url.clone();
    let json = ferry(&url, &["insights", "--json"]);
    let report: Value = serde_json::from_str(&json).expect("insights JSON");
    let mut got = BTreeMap::new();
    for s in report["services"].as_array().expect("services") {
        assert_eq!(s["stage"], "prod", "{s}");
        let m = &s["metrics"];
        let n = |v: &Value| v.as_u64().expect("a count");
        got.insert(
            s["service"].as_str().unwrap_or_default().to_string(),
            Counts {
                succeeded: n(&m["frequency"]["succeeded"]),
                failed: n(&m["change_fail_rate"]["failed"]),
                undone: n(&m["change_fail_rate"]["undone"]),
                rollbacks_started: n(&m["rework_rate"]["reworks"]),
            },
        );
        assert_eq!(
            n(&m["deployments"]),
            n(&m["frequency"]["succeeded"]) + n(&m["change_fail_rate"]["failed"])
        );
    }
    assert_eq!(got, expected);
    let all = &report["all_services"]["metrics"];
    let total: u64 = expected.values().map(|c| c.succeeded + c.failed).sum();
    assert_eq!(all["deployments"].as_u64(), Some(total));

    // The readable table shows the counts behind the ratios.
    let table = ferry(&url, &["insights"]);
    println!("{table}");
    assert!(table.contains("billing → prod"), "{table}");
    assert!(table.contains("change fail rate"), "{table}");

    // billing 1.1.0 failed in prod and was rolled back.
    let failed = failed_billing.first().expect("billing failed in prod");
    let reply = ferry(
        &url,
        &["note", failed, "the health check caught it: keep it strict"],
    );
    assert!(!reply.trim().is_empty());
    let review = ferry(&url, &["review", failed]);
    println!("{review}");
    for section in [
        "# Post-incident review: billing 1.1.0 in prod",
        "## What was deployed",
        "## Gates and results",
        "## Approvals",
        "## What failed",
        "Last lines of its log",
        "## Rollback",
        "automatic",
        "## Time to detect and restore",
        "- Time to detect: ",
        "- Time to restore: ",
        "was live again",
        "## Notes",
        "the health check caught it: keep it strict",
    ] {
        assert!(review.contains(section), "no {section:?} in\n{review}");
    }
    let history = ferry(&url, &["history", "billing", "prod"]);
    assert!(history.contains("keep it strict"), "{history}");
}
