//! User acceptance as a human sign-off, through the real binary and CLI:
//! preprod waits at `uat` (`ferry why` says awaiting_sign_off and who can
//! sign), the author may not sign under four-eyes, a fail fails the
//! deployment and preprod rolls back, a pass lets it finish and shows in
//! the evidence for prod.

mod common;

use common::*;
use serde_json::{Value, json};

const CAROL_TOKEN: &str = "ca401000000000000000000000000000000000000000000000000000000000003";

/// The workspace's pipeline with a `uat` sign-off by qa in preprod; dev
/// (who writes every commit) and carol hold qa.
fn uat_workspace() -> Workspace {
    let ws = Workspace::new();
    let config = std::fs::read_to_string(ws.config()).expect("config");
    let perf = r#"verify = [{ name = "perf", command = "true", timeout = "1m" }]"#;
    assert!(config.contains(perf), "the fixture's preprod changed");
    let config = config
        .replace(
            perf,
            r#"verify = [{ name = "perf", command = "true", timeout = "1m" },
          { name = "uat", sign_off = { roles = ["qa"], required = 1, allow_self = false } }]"#,
        )
        .replace(
            "roles = [\"deployer\"]\n",
            "roles = [\"deployer\", \"qa\"]\n",
        )
        .replace(
            "[notify]",
            &format!(
                "[[users]]\nname = \"carol\"\nroles = [\"qa\"]\ntoken_sha256 = \"{}\"\n\n[notify]",
                sha256_hex(CAROL_TOKEN)
            ),
        );
    std::fs::write(ws.config(), config).expect("write config");
    ws
}

/// Wait until `version`'s preprod deployment waits at its `uat` step; its id.
async fn waiting_for_uat(api: &Api, version: &str) -> String {
    api.wait_for(&format!("{version} waiting for uat in preprod"), |d| {
        history(d, "app", "preprod")
            .into_iter()
            .find(|dep| {
                dep["version"] == version
                    && dep["status"] == "running"
                    && dep["steps"].as_array().is_some_and(|s| {
                        s.iter()
                            .any(|s| s["name"] == "uat" && s["status"] == "running")
                    })
            })
            .and_then(|dep| dep["id"].as_str().map(String::from))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uat_waits_for_a_person_refuses_the_author_fails_and_passes() {
    let ws = uat_workspace();
    let server = Server::start(&ws.config(), &ws.data());
    let url = server.url.clone();
    let api = Api::new(&url, DEV_TOKEN);

    // 1.0.0 waits in preprod for a person.
    let d1 = waiting_for_uat(&api, "1.0.0").await;
    let out = ferry(&url, DEV_TOKEN, &["why", "app", "preprod", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let why: Value = serde_json::from_slice(&out.stdout).expect("why is JSON");
    assert_eq!(why[0]["reason"], "awaiting_sign_off", "{why}");
    assert_eq!(why[0]["deployment"], d1.as_str(), "{why}");
    // dev wrote the commit: four-eyes leaves only carol.
    assert_eq!(why[0]["who"], json!(["carol"]), "{why}");
    let out = ferry(&url, DEV_TOKEN, &["why", "app", "preprod"]);
    let said = text(&out.stdout);
    assert!(
        said.contains("waiting for UAT sign-off by qa (0 of 1)"),
        "{said}"
    );
    assert!(said.contains("who can unblock it: carol"), "{said}");

    // The author may not sign (403: exit code 3), whatever the role says.
    let out = ferry(&url, DEV_TOKEN, &["sign-off", &d1, "uat", "--pass"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("requested"),
        "{}",
        text(&out.stderr)
    );
    // A fail needs a comment (the CLI says so before asking the server).
    let out = ferry(&url, CAROL_TOKEN, &["sign-off", &d1, "uat", "--fail"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // The API names what is missing (422), and what does not wait (409).
    let carol = Api::new(&url, CAROL_TOKEN);
    let path = format!("/deployments/{d1}/sign-off");
    let (status, body) = carol.post(&path, json!({ "step": "uat" })).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("verdict"),
        "{body}"
    );
    let (status, body) = carol
        .post(&path, json!({ "step": "uat", "verdict": "fail" }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("comment"),
        "{body}"
    );
    let (status, body) = carol
        .post(&path, json!({ "step": "perf", "verdict": "pass" }))
        .await;
    assert_eq!(status, 409, "{body}");
    let dep = api.get(&format!("/deployments/{d1}")).await;
    assert_eq!(dep["sign_offs"], json!([]), "nothing changed: {dep}");

    // carol passes it: preprod finishes and prod waits for approval.
    let out = ferry(
        &url,
        CAROL_TOKEN,
        &[
            "sign-off",
            &d1,
            "uat",
            "--pass",
            "--comment",
            "checkout looks right",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reply: Value = serde_json::from_slice(&out.stdout).expect("reply is JSON");
    assert_eq!(reply["deployment"], d1.as_str(), "{reply}");
    let prod = awaiting_prod(&api, "1.0.0").await;
    let dep = api.get(&format!("/deployments/{d1}")).await;
    assert_eq!(dep["status"], "succeeded", "{dep}");
    assert_eq!(dep["sign_offs"][0]["by"], "carol", "{dep}");
    assert_eq!(dep["sign_offs"][0]["verdict"], "pass", "{dep}");
    let out = ferry(&url, DEV_TOKEN, &["show", &d1]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("uat pass by carol") && shown.contains("checkout looks right"),
        "{shown}"
    );
    // The approver of prod sees it in the evidence.
    let evidence = api.get(&format!("/deployments/{prod}/evidence")).await;
    let s = &evidence["sign_offs"][0];
    assert_eq!(s["stage"], "preprod", "{evidence}");
    assert_eq!(s["sign_off"]["by"], "carol", "{evidence}");
    assert_eq!(
        s["sign_off"]["comment"], "checkout looks right",
        "{evidence}"
    );

    // 1.1.0 fails its UAT: the deployment fails and preprod rolls back.
    ws.commit("1.1.0", "new prices");
    let d2 = waiting_for_uat(&api, "1.1.0").await;
    let out = ferry(
        &url,
        CAROL_TOKEN,
        &[
            "sign-off",
            &d2,
            "uat",
            "--fail",
            "--comment",
            "prices are wrong",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dep = api.get(&format!("/deployments/{d2}")).await;
    assert_eq!(dep["status"], "failed", "{dep}");
    assert!(
        dep["outcome"]
            .as_str()
            .unwrap()
            .contains("prices are wrong"),
        "{dep}"
    );
    let rollback = wait_deployment(&api, "preprod rolled back to 1.0.0", "preprod", |d| {
        d["kind"] == "rollback" && d["version"] == "1.0.0" && d["status"] == "succeeded"
    })
    .await;
    assert_eq!(rollback["rolls_back"], d2.as_str(), "{rollback}");
    assert!(
        ws.target("preprod").starts_with("1.0.0"),
        "{}",
        ws.target("preprod")
    );
    // It waits for nothing now: a late verdict is refused (409: exit code 5).
    let out = ferry(&url, CAROL_TOKEN, &["sign-off", &d2, "uat", "--pass"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
}
