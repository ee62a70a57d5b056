//! The CI helpers as a pipeline uses them, through the real binary against a
//! real server: `artifact push --digest sha256:… --wait`, `wait`, `show`,
//! `logs`, and the stable `--json` of `status` (docs/cli-json.md).

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::Value;

fn ferry(server: &str, args: &[&str]) -> Output {
    std::process::Command::new(ferry_bin())
        .args(args)
        .env("FERRY_SERVER", server)
        .env("FERRY_TOKEN", DEV_TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("FERRY_CONFIG")
        .output()
        .expect("ferry runs")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

/// An external service: `test` deploys and fails any version with "bad" in
/// it; `prod` waits for a release manager.
fn config(root: &Path) -> std::path::PathBuf {
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:0"

[[users]]
name = "dev"
roles = ["deployer"]
token_sha256 = "{dev}"

[[users]]
name = "alice"
roles = ["release-manager"]
token_sha256 = "{alice}"

[services.api]
source = "external"

[[services.api.stages]]
name = "test"
deploy = {{ command = "echo deployed $FERRY_VERSION $FERRY_DIGEST", timeout = "1m" }}
verify = [{{ name = "smoke", command = "case $FERRY_VERSION in *bad*) echo 'smoke: 500 from /health' >&2; exit 3;; esac; echo smoke ok", timeout = "1m" }}]

[[services.api.stages]]
name = "prod"
deploy = {{ command = "echo prod", timeout = "1m" }}
gate = {{ approval = {{ required = 1, roles = ["release-manager"] }} }}
"#,
        dev = sha256_hex(DEV_TOKEN),
        alice = sha256_hex(ALICE_TOKEN),
    );
    let path = root.join("ferry.toml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn a_pipeline_pushes_by_digest_waits_shows_and_reads_logs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()), &dir.path().join("data"));
    let url = server.url.clone();
    let digest = format!("sha256:{}", sha256_hex("image 1.0.0"));

    // Register by OCI digest and wait for the first stage: exit 0, one line.
    let out = ferry(
        &url,
        &[
            "artifact",
            "push",
            "api",
            "--version",
            "1.0.0",
            "--digest",
            &digest,
            "--uri",
            "registry.example.com/api",
            "--wait",
            "test",
            "--timeout",
            "1m",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("succeeded: api 1.0.0 in test"), "{stdout}");

    // The digest is kept as given, times are strings beside epoch ms.
    let out = ferry(&url, &["show", "a-1", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a = json(&out);
    assert_eq!(a["digest"], digest.as_str());
    assert_eq!(a["version"], "1.0.0");
    assert!(
        a["created_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{a}"
    );
    assert!(a["created_at_ms"].as_u64().is_some(), "{a}");
    let test_dep = a["deployments"][0]["id"]
        .as_str()
        .expect("a deployment")
        .to_string();
    assert_eq!(a["deployments"][0]["status"], "succeeded");
    assert_eq!(a["deployments"][0]["digest"], digest.as_str());

    // Registering the same bytes again in bare hex is the same artifact.
    let out = ferry(
        &url,
        &[
            "artifact",
            "push",
            "api",
            "--version",
            "1.0.0",
            "--digest",
            &digest["sha256:".len()..],
            "--uri",
            "registry.example.com/api",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The deployment's log, and its steps in `show`.
    let out = ferry(&url, &["logs", &test_dep]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let logs = text(&out.stdout);
    assert!(logs.contains("==> step 0: deploy <=="), "{logs}");
    assert!(logs.contains(&format!("deployed 1.0.0 {digest}")), "{logs}");
    assert!(logs.contains("smoke ok"), "{logs}");
    let out = ferry(&url, &["logs", &test_dep, "--step", "1"]);
    assert_eq!(text(&out.stdout).trim(), "smoke ok");
    let out = ferry(&url, &["logs", &test_dep, "--step", "9"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = ferry(&url, &["show", &test_dep]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("succeeded") && shown.contains("smoke"),
        "{shown}"
    );

    // An already finished deployment: wait answers at once.
    let out = ferry(&url, &["wait", &test_dep, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["status"], "succeeded");

    // Prod waits for an approval that does not come: exit 2 with the reason.
    let out = ferry(
        &url,
        &[
            "wait",
            "--artifact",
            "a-1",
            "--stage",
            "prod",
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("timed out after 1s"), "{stderr}");
    assert!(stderr.contains("awaiting_approval"), "{stderr}");

    // A broken build fails its tests: exit 1 naming the failure.
    let out = ferry(
        &url,
        &[
            "artifact",
            "push",
            "api",
            "--version",
            "2.0.0-bad",
            "--digest",
            &format!("sha256:{}", sha256_hex("image 2")),
            "--uri",
            "r/api",
            "--wait",
            "test",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("failed: api 2.0.0-bad in test"), "{stderr}");
    // Waiting for it in prod is over too: it will never get there.
    let out = ferry(&url, &["wait", "--artifact", "a-2", "--stage", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("will not reach prod"),
        "{}",
        text(&out.stderr)
    );

    // A digest in neither form is a usage mistake.
    let out = ferry(
        &url,
        &[
            "artifact",
            "push",
            "api",
            "--version",
            "3",
            "--digest",
            "sha512:ab",
            "--uri",
            "u",
        ],
    );
    assert_eq!(out.status.code(), Some(2));

    // `status --json` and `status SERVICE --json` have one shape.
    let all = json(&ferry(&url, &["status", "--json"]));
    let one = json(&ferry(&url, &["status", "api", "--json"]));
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&all), keys(&one));
    assert_eq!(one["services"][0]["name"], "api");
    let test = &one["services"][0]["stages"][0];
    assert_eq!(test["name"], "test");
    assert_eq!(test["last_good"]["version"], "1.0.0");
    assert_eq!(test["last_good"]["digest"], digest.as_str());
    assert_eq!(one["awaiting_approval"][0]["stage"], "prod");
    assert_eq!(keys(&all["services"][0]), keys(&one["services"][0]));
}

#[test]
fn pass_env_lets_named_server_variables_into_steps() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[[users]]
name = "dev"
roles = ["deployer"]
token_sha256 = "{dev}"

[services.api]
source = "external"
pass_env = ["PASS_KUBECONFIG", "PASS_AWS_*"]

[[services.api.stages]]
name = "test"
deploy = {{ command = "echo kube=$PASS_KUBECONFIG aws=$PASS_AWS_REGION other=${{PASS_OTHER:-unset}}", timeout = "1m" }}
"#,
        dev = sha256_hex(DEV_TOKEN),
    );
    let path = dir.path().join("ferry.toml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start_env(
        &path,
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[
            ("PASS_KUBECONFIG", "/etc/ferry/kubeconfig"),
            ("PASS_AWS_REGION", "eu-west-1"),
            ("PASS_OTHER", "must-not-pass"),
        ],
    );
    let out = ferry(
        &server.url,
        &[
            "artifact",
            "push",
            "api",
            "--version",
            "1",
            "--digest",
            &sha256_hex("x"),
            "--uri",
            "u",
            "--wait",
            "test",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = json(&out)["id"]
        .as_str()
        .expect("deployment id")
        .to_string();
    let logs = text(&ferry(&server.url, &["logs", &id]).stdout);
    assert!(
        logs.contains("kube=/etc/ferry/kubeconfig aws=eu-west-1 other=unset"),
        "{logs}"
    );
}
