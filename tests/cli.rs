//! The scripted commands, run as a user would: the real binary against a
//! real server, checking output, exit codes and error reports.

mod common;

use common::*;

#[test]
fn token_new_prints_a_token_once_and_the_hash_for_the_config() {
    let out = ferry(
        "http://127.0.0.1:9",
        "",
        &["token", "new", "alice", "--role", "deployer"],
    );
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("ferry_"))
        .expect("a token");
    assert_eq!(token.len(), "ferry_".len() + 64);
    assert!(
        stdout.contains(&format!("token_sha256 = \"{}\"", sha256_hex(token))),
        "{stdout}"
    );
    assert!(stdout.contains("roles = [\"deployer\"]"), "{stdout}");
}

#[test]
fn an_unreachable_server_is_one_line_with_a_hint_and_exit_code_6() {
    let out = ferry("http://127.0.0.1:9", "", &["status"]);
    // Issue 13: "server unreachable" has its own exit code.
    assert_eq!(out.status.code(), Some(6));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: could not reach ferry server at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn an_empty_variable_counts_as_not_set() {
    // `FERRY_CONFIG=` clears the config for one command, as with any tool.
    let out = std::process::Command::new(ferry_bin())
        .args(["status", "--server", "http://127.0.0.1:9"])
        .env("FERRY_CONFIG", "")
        .env("FERRY_TOKEN", "")
        .output()
        .expect("ferry");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("could not reach ferry server"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_approve_history_and_rollback_from_the_command_line() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let url = server.url.clone();
    let api = Api::new(&url, DEV_TOKEN);
    let pending = awaiting_prod(&api, "1.0.0").await;

    let out = ferry(&url, DEV_TOKEN, &["status"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("app") && stdout.contains("prod"),
        "{stdout}"
    );
    assert!(stdout.contains("awaiting approval"), "{stdout}");

    // The developer may not approve: refused with the reason and a hint.
    let out = ferry(&url, DEV_TOKEN, &["approve", &pending]);
    // Issue 13: a refusal by role is an auth failure (exit code 3).
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: dev may not decide on app to prod"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: it takes a user with role release-manager"),
        "{stderr}"
    );

    let out = ferry(
        &url,
        ALICE_TOKEN,
        &["approve", &pending, "--comment", "ship it"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&pending),
        "{}",
        text(&out.stdout)
    );
    api.wait_for("1.0.0 in prod", |d| {
        (last_good_version(d, "app", "prod").as_deref() == Some("1.0.0")).then_some(())
    })
    .await;

    let out = ferry(&url, DEV_TOKEN, &["history", "app", "prod", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).expect("history is JSON");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items[0]["id"], pending.as_str());
    assert_eq!(items[0]["status"], "succeeded");
    assert_eq!(items[0]["approvals"][0]["comment"], "ship it");

    // Nothing earlier to roll back to: a conflict, said plainly.
    let out = ferry(&url, DEV_TOKEN, &["rollback", "app", "prod"]);
    // Issue 13: a conflict with the state has its own exit code (5).
    assert_eq!(out.status.code(), Some(5));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no earlier good release"), "{stderr}");
}
