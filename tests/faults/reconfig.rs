//! A restart against a changed config: a waiting deployment's gate follows
//! the config the server starts with. Approvals of a removed user are void.

use serde_json::json;

use crate::common::*;

const CAROL_TOKEN: &str = "ca401000000000000000000000000000000000000000000000000000000000c1";
const BOB_TOKEN: &str = "b0b00000000000000000000000000000000000000000000000000000000000b2";

fn with_user(config: &str, name: &str, token: &str) -> String {
    config.replacen(
        "[notify]",
        &format!(
            "[[users]]\nname = \"{name}\"\nroles = [\"release-manager\"]\ntoken_sha256 = \"{}\"\n\n[notify]",
            sha256_hex(token)
        ),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_of_a_removed_user_are_void_after_a_restart() {
    let ws = Workspace::new();
    let original = std::fs::read_to_string(ws.config()).expect("config");
    let two = original.replace("required = 1", "required = 2");
    std::fs::write(ws.config(), with_user(&two, "carol", CAROL_TOKEN)).expect("write");
    let mut server = Server::start(&ws.config(), &ws.data());
    let alice = Api::new(&server.url, ALICE_TOKEN);
    let d = awaiting_prod(&alice, "1.0.0").await;
    let carol = Api::new(&server.url, CAROL_TOKEN);
    let (status, body) = carol
        .post(&format!("/deployments/{d}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    server.kill();

    // carol leaves, bob joins; the gate still wants two.
    std::fs::write(ws.config(), with_user(&two, "bob", BOB_TOKEN)).expect("write");
    let server = Server::start(&ws.config(), &ws.data());
    let alice = Api::new(&server.url, ALICE_TOKEN);
    let dash = alice.dashboard().await;
    let dep = deployment(&dash, &d);
    assert_eq!(dep["status"], "awaiting_approval", "{dep}");
    assert_eq!(dep["approvals"].as_array().map(Vec::len), Some(0), "{dep}");
    let (status, body) = alice
        .post(&format!("/deployments/{d}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let dash = alice.dashboard().await;
    assert_eq!(deployment(&dash, &d)["status"], "awaiting_approval");
    let bob = Api::new(&server.url, BOB_TOKEN);
    let (status, body) = bob
        .post(&format!("/deployments/{d}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    wait_deployment(&alice, "1.0.0 in prod", "prod", |x| {
        x["id"] == d.as_str() && x["status"] == "succeeded"
    })
    .await;
    eprintln!("faults/reconfig: tried 1, passed 1");
}
