//! Bad inputs across config, API and CLI, table-driven. Each case asserts
//! the exact status (or exit code), that the message names the field and
//! says what is allowed, and that nothing changed (the event log's seq, or
//! for a config, that no data directory was created).

use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;

/// Tally of one section: how many cases ran, and what failed.
struct Tally {
    section: &'static str,
    tried: usize,
    failed: Vec<String>,
}

impl Tally {
    fn new(section: &'static str) -> Tally {
        Tally {
            section,
            tried: 0,
            failed: Vec::new(),
        }
    }
    fn check(&mut self, name: &str, problems: Vec<String>) {
        self.tried += 1;
        if !problems.is_empty() {
            self.failed.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    fn finish(self) -> usize {
        let passed = self.tried - self.failed.len();
        eprintln!(
            "faults/inputs/{}: tried {}, passed {passed}",
            self.section, self.tried
        );
        assert!(
            self.failed.is_empty(),
            "{} case(s) failed:\n  {}",
            self.failed.len(),
            self.failed.join("\n  ")
        );
        self.tried
    }
}

/// Whether `text` names every needle (case-insensitively).
fn names(text: &str, needles: &[&str]) -> Vec<String> {
    let lower = text.to_lowercase();
    needles
        .iter()
        .filter(|n| !lower.contains(&n.to_lowercase()))
        .map(|n| {
            format!(
                "message lacks {n:?}: {}",
                text.chars().take(300).collect::<String>()
            )
        })
        .collect()
}

// ---------------------------------------------------------------- config

const SERVICE: &str = r#"
[services.app]
source = "external"
[[services.app.stages]]
name = "prod"
deploy = { command = "./deploy.sh" }
"#;

fn user(name: &str, roles: &str, byte: &str) -> String {
    format!(
        "[[users]]\nname = \"{name}\"\nroles = [{roles}]\ntoken_sha256 = \"{}\"\n",
        byte.repeat(32)
    )
}

fn gate(spec: &str) -> String {
    SERVICE.replace(
        "}\n",
        &format!("}}\ngate = {{ approval = {{ {spec} }} }}\n"),
    )
}

/// (name, config text, words the report must hold: the field, what is allowed).
fn config_cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let two = |a: &str, b: &str| {
        format!(
            "{}{}",
            user(a, "\"approver\"", "aa"),
            user(b, "\"approver\"", "bb")
        )
    };
    vec![
        ("users differing in case", two("alice", "Alice"), vec!["users[1].name", "ignoring case", "own name"]),
        ("a control character in a user name", user("al\\u0007ice", "", "aa"), vec!["users[0].name", "control character", "printable"]),
        ("an author naming another user", format!("{}authors = [\"alice\"]\n", two("alice", "bob")), vec!["users[1].authors[0]", "never another user"]),
        ("an author claimed twice", format!("{}authors = [\"x@y\"]\n{}authors = [\"X@Y\"]\n", user("a", "", "aa"), user("b", "", "bb")), vec!["users[1].authors[0]", "claimed by both", "one user"]),
        ("required = -1", gate("required = -1, roles = [\"approver\"]"), vec!["required", "required = -1", "from 1 up"]),
        ("required = 0", gate("required = 0, roles = [\"approver\"]"), vec!["required", "required = 0", "from 1 up"]),
        ("required above the holders", format!("{}{}", user("a", "\"approver\"", "aa"), gate("required = 2, roles = [\"approver\"]")), vec!["required", "needs 2 approvals", "lower `required`"]),
        ("a gate role nobody holds", format!("{}{}", user("a", "\"deployer\"", "aa"), gate("required = 1, roles = [\"approver\"]")), vec!["roles[0]", "no user has the role", "add `approver`"]),
        ("an empty gate role list", gate("required = 1, roles = []"), vec!["roles", "at least one role"]),
        ("an unclosed table header", format!("{SERVICE}\n[services.b\nsource = \"external\"\n"), vec!["ferry.toml:8"]),
        ("a token hash that is not hex", "[[users]]\nname = \"a\"\ntoken_sha256 = \"secret\"\n".to_string(), vec!["token_sha256", "64 lowercase hexadecimal", "ferry token new"]),
        ("a misspelled key", SERVICE.replace("[services.app]\n", "[services.app]\nsorce = 1\n"), vec!["sorce", "source"]),
        ("a listen address without a port", "[server]\nlisten = \"localhost\"\n".to_string(), vec!["listen", "127.0.0.1:7474"]),
        ("a zero timeout", SERVICE.replace("command = \"./deploy.sh\"", "command = \"./deploy.sh\", timeout = \"0s\""), vec!["timeout", "longer than zero", "positive duration"]),
        ("a timeout without a unit", SERVICE.replace("command = \"./deploy.sh\"", "command = \"./deploy.sh\", timeout = \"30\""), vec!["timeout", "unit"]),
        ("rollback = \"yes\"", SERVICE.replace("}\n", "}\nrollback = \"yes\"\n"), vec!["rollback", "auto"]),
        ("an upper-case stage name", SERVICE.replace("name = \"prod\"", "name = \"Prod\""), vec!["name", "lowercase letters"]),
        ("a misspelled notification kind", "[notify]\nwebhooks = [{ url = \"http://x\", on = [\"deploy_failed\"] }]\n".to_string(), vec!["notify.webhooks[0].on[0]", "deployment_failed"]),
        ("a webhook URL that is not http", "[notify]\nwebhooks = [{ url = \"ftp://x\" }]\n".to_string(), vec!["url", "http"]),
        ("an environment name with a space", SERVICE.replace("[services.app]\n", "[services.app]\nenv = { \"A B\" = \"y\" }\n"), vec!["env", "A B"]),
        ("a gate that is a word", SERVICE.replace("}\n", "}\ngate = \"manual\"\n"), vec!["gate", "approval"]),
        ("a duplicate stage", format!("{SERVICE}[[services.app.stages]]\nname = \"prod\"\ndeploy = {{ command = \"d\" }}\n"), vec!["stages[1].name", "prod"]),
        ("a user without a name", "[[users]]\nroles = []\ntoken_sha256 = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n".to_string(), vec!["name", "give the user a name"]),
    ]
}

#[test]
fn config_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tally = Tally::new("config");
    for (n, (name, text, words)) in config_cases().into_iter().enumerate() {
        let config = dir.path().join(format!("case{n}")).join("ferry.toml");
        std::fs::create_dir_all(config.parent().expect("parent")).expect("mkdir");
        std::fs::write(&config, &text).expect("write config");
        let data = dir.path().join(format!("case{n}")).join("data");
        let out = Command::new(ferry_bin())
            .args(["server", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env("NO_COLOR", "1")
            .env_remove("FERRY_STORE")
            .output()
            .expect("ferry runs");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit code {:?}, wanted 1", out.status.code()));
        }
        problems.extend(names(&stderr, &words));
        if !stderr.contains("help") && !stderr.contains("hint") {
            problems.push(format!("no help line: {stderr}"));
        }
        if data.exists() {
            problems.push("the data directory was created".into());
        }
        tally.check(name, problems);
    }
    let tried = tally.finish();
    assert!(tried >= 20);
}

// ------------------------------------------------------------------- API

/// What a request should get: its status, and words the error must hold.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    token: Option<&'static str>,
    status: u16,
    words: Vec<&'static str>,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    status: u16,
    words: &[&'static str],
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        body,
        token: Some(DEV_TOKEN),
        status,
        words: words.to_vec(),
    }
}

fn register(fields: Value) -> Option<Value> {
    let mut body = json!({
        "service": "app",
        "version": "9.9.9",
        "digest": "c".repeat(64),
        "uri": "file:///tmp/x",
    });
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            b.insert(k.clone(), v.clone());
        }
    }
    Some(body)
}

fn api_cases(waiting: &str, digest: &str) -> Vec<Case> {
    let meta = |n: usize, len: usize| -> Value {
        (0..n)
            .map(|i| (format!("k{i}"), json!("v".repeat(len))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let mut cases = vec![
        case(
            "version shaped like an artifact id",
            "POST",
            "/artifacts",
            register(json!({"version": "a-1"})),
            422,
            &["version", "artifact id", "1.4.2"],
        ),
        case(
            "empty version",
            "POST",
            "/artifacts",
            register(json!({"version": ""})),
            422,
            &["version", "1 to 128"],
        ),
        case(
            "version with a space",
            "POST",
            "/artifacts",
            register(json!({"version": "1 0"})),
            422,
            &["version", "without spaces"],
        ),
        case(
            "version of 200 bytes",
            "POST",
            "/artifacts",
            register(json!({"version": "1".repeat(200)})),
            422,
            &["version", "128"],
        ),
        case(
            "digest not hex",
            "POST",
            "/artifacts",
            register(json!({"digest": "xyz"})),
            422,
            &["digest", "64 lowercase hex"],
        ),
        case(
            "empty uri",
            "POST",
            "/artifacts",
            register(json!({"uri": " "})),
            422,
            &["uri", "where the artifact"],
        ),
        case(
            "uri of 3000 bytes",
            "POST",
            "/artifacts",
            register(json!({"uri": "u".repeat(3000)})),
            422,
            &["uri", "2048"],
        ),
        case(
            "subject of 2000 bytes",
            "POST",
            "/artifacts",
            register(json!({"subject": "s".repeat(2000)})),
            422,
            &["subject", "1024"],
        ),
        case(
            "commit of 200 bytes",
            "POST",
            "/artifacts",
            register(json!({"commit": "c".repeat(200)})),
            422,
            &["commit", "128"],
        ),
        case(
            "metadata value of 5000 bytes",
            "POST",
            "/artifacts",
            register(json!({"metadata": meta(1, 5000)})),
            422,
            &["metadata.k0", "4096"],
        ),
        case(
            "metadata with 65 keys",
            "POST",
            "/artifacts",
            register(json!({"metadata": meta(65, 1)})),
            422,
            &["metadata", "at most 64"],
        ),
        case(
            "metadata of 20 KB",
            "POST",
            "/artifacts",
            register(json!({"metadata": meta(5, 4000)})),
            422,
            &["metadata", "16384"],
        ),
        case(
            "metadata key of 200 bytes",
            "POST",
            "/artifacts",
            register(json!({"metadata": {"k".repeat(200): "v"}})),
            422,
            &["metadata key", "128"],
        ),
        case(
            "metadata value a number",
            "POST",
            "/artifacts",
            register(json!({"metadata": {"k": 1}})),
            400,
            &["metadata", "expected fields"],
        ),
        case(
            "version missing",
            "POST",
            "/artifacts",
            Some(json!({"service": "app", "digest": "c".repeat(64), "uri": "x"})),
            400,
            &["version", "expected fields"],
        ),
        case(
            "unknown service",
            "POST",
            "/artifacts",
            register(json!({"service": "nope"})),
            404,
            &["nope"],
        ),
        case(
            "body of 2 MB",
            "POST",
            "/artifacts",
            register(json!({"metadata": meta(1, 2 * 1024 * 1024)})),
            413,
            &["1 MiB", "metadata"],
        ),
        case(
            "promote an unknown artifact",
            "POST",
            "/promote",
            Some(json!({"service": "app", "stage": "prod", "artifact": "7.7.7"})),
            404,
            &["7.7.7"],
        ),
        case(
            "promote to an unknown stage",
            "POST",
            "/promote",
            Some(json!({"service": "app", "stage": "moon", "artifact": "1.0.0"})),
            404,
            &["moon"],
        ),
        case(
            "promote with a 200-byte service",
            "POST",
            "/promote",
            Some(json!({"service": "s".repeat(200), "stage": "prod", "artifact": "1.0.0"})),
            422,
            &["service", "128"],
        ),
        case(
            "promote without a stage",
            "POST",
            "/promote",
            Some(json!({"service": "app", "artifact": "1.0.0"})),
            400,
            &["stage", "expected fields"],
        ),
        case(
            "promote with a 200-byte artifact",
            "POST",
            "/promote",
            Some(json!({"service": "app", "stage": "prod", "artifact": "1".repeat(200)})),
            422,
            &["artifact", "128"],
        ),
        case(
            "approve an unknown deployment",
            "POST",
            "/deployments/d-9999/approve",
            None,
            404,
            &["d-9999"],
        ),
        case(
            "approve without the gate's role",
            "POST",
            format!("/deployments/{waiting}/approve"),
            None,
            403,
            &["release-manager"],
        ),
        case(
            "reject with a comment of 5000 bytes",
            "POST",
            format!("/deployments/{waiting}/reject"),
            Some(json!({"comment": "c".repeat(5000)})),
            422,
            &["comment", "4096"],
        ),
        case(
            "cancel an unknown deployment",
            "POST",
            "/deployments/d-9999/cancel",
            None,
            404,
            &["d-9999"],
        ),
        case(
            "rollback to an unknown version",
            "POST",
            "/rollback",
            Some(json!({"service": "app", "stage": "test", "to": "7.7.7"})),
            404,
            &["7.7.7"],
        ),
        case(
            "rollback with a 200-byte target",
            "POST",
            "/rollback",
            Some(json!({"service": "app", "stage": "test", "to": "7".repeat(200)})),
            422,
            &["to", "128"],
        ),
        case(
            "rollback of an unknown stage",
            "POST",
            "/rollback",
            Some(json!({"service": "app", "stage": "moon"})),
            404,
            &["moon"],
        ),
        case(
            "body that is not JSON",
            "POST",
            "/promote",
            Some(json!("{not json")),
            400,
            &["JSON"],
        ),
        case(
            "negative deployments limit",
            "GET",
            "/deployments?limit=-1",
            None,
            400,
            &["`limit`", "whole number from 0 up"],
        ),
        case(
            "negative log offset",
            "GET",
            "/runs/d-1/steps/0/log?offset=-1",
            None,
            400,
            &["`offset`", "whole number from 0 up"],
        ),
        case(
            "log tail that is a word",
            "GET",
            "/runs/d-1/steps/0/log?tail=many",
            None,
            400,
            &["`tail`", "whole number from 0 up"],
        ),
        case(
            "negative artifacts limit",
            "GET",
            "/artifacts?limit=-3",
            None,
            400,
            &["`limit`", "whole number from 0 up"],
        ),
        case(
            "a 100 KB URL",
            "GET",
            format!("/deployments?service={}", "x".repeat(100 * 1024)),
            None,
            414,
            &["URL", "64 KiB"],
        ),
        case(
            "an unknown route",
            "GET",
            "/nowhere",
            None,
            404,
            &["/api/v1"],
        ),
        case(
            "an unknown deployment",
            "GET",
            "/deployments/d-9999",
            None,
            404,
            &["d-9999"],
        ),
        case(
            "an unknown artifact",
            "GET",
            "/artifacts/a-9999",
            None,
            404,
            &["a-9999"],
        ),
        case(
            "POST to healthz",
            "POST",
            "/healthz",
            None,
            405,
            &["method"],
        ),
    ];
    let alice = |c: Case| Case {
        token: Some(ALICE_TOKEN),
        ..c
    };
    cases.push(alice(case(
        "approve with a comment of 5000 bytes",
        "POST",
        format!("/deployments/{waiting}/approve"),
        Some(json!({"comment": "c".repeat(5000)})),
        422,
        &["comment", "4096"],
    )));
    cases.push(alice(case(
        "approve another digest",
        "POST",
        format!("/deployments/{waiting}/approve"),
        Some(json!({"digest": "d".repeat(64)})),
        409,
        &["digest", "review the current one"],
    )));
    cases.push(alice(case(
        "approve with a 200-byte digest",
        "POST",
        format!("/deployments/{waiting}/approve"),
        Some(json!({"digest": "d".repeat(200)})),
        422,
        &["digest", "128"],
    )));
    let _ = digest;
    cases.push(Case {
        token: None,
        ..case("no token", "GET", "/dashboard", None, 401, &["token"])
    });
    cases.push(Case {
        token: Some("ferry_wrong"),
        ..case("a wrong token", "GET", "/dashboard", None, 401, &["token"])
    });
    cases
}

/// A request reqwest would refuse to build (a 100 KB URL), over plain TCP.
async fn send_raw(api: &Api, c: &Case) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = api.url.trim_start_matches("http://");
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return (0, Value::Null);
    };
    let head = format!(
        "{} /api/v1{} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\nconnection: close\r\n\r\n",
        c.method,
        c.path,
        c.token.unwrap_or_default()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (
        status,
        serde_json::from_str(body).unwrap_or(Value::String(body.to_string())),
    )
}

async fn send(api: &Api, c: &Case) -> (u16, Value) {
    if c.path.len() > 8 * 1024 {
        return send_raw(api, c).await;
    }
    let url = format!("{}/api/v1{}", api.url, c.path);
    let mut req = match c.method {
        "POST" => api.http.post(&url),
        _ => api.http.get(&url),
    };
    if let Some(token) = c.token {
        req = req.bearer_auth(token);
    }
    req = match &c.body {
        // A JSON string stands for a raw body that is not JSON.
        Some(Value::String(raw)) => req.body(raw.clone()),
        Some(body) => req.json(body),
        None => req,
    };
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_cli_inputs() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let api = Api::new(&server.url, ALICE_TOKEN);
    // A quiet server: 1.0.0 built, through test and preprod, waiting at prod.
    let waiting = awaiting_prod(&api, "1.0.0").await;
    let d = api.dashboard().await;
    let digest = deployment(&d, &waiting)["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let seq = |d: &Value| d["seq"].as_u64().unwrap_or(0);

    let mut tally = Tally::new("api");
    for c in api_cases(&waiting, &digest) {
        let before = seq(&api.dashboard().await);
        let (status, body) = send(&api, &c).await;
        let mut problems = Vec::new();
        if status != c.status {
            let shown: String = body.to_string().chars().take(300).collect();
            problems.push(format!("status {status}, wanted {}: {shown}", c.status));
        }
        let shaped = body["error"].is_string() && body["message"].is_string();
        if !shaped {
            problems.push(format!("not the JSON error shape: {body}"));
        }
        let text = format!(
            "{} {}",
            body["message"].as_str().unwrap_or_default(),
            body["hint"].as_str().unwrap_or_default()
        );
        problems.extend(names(&text, &c.words));
        let after = seq(&api.dashboard().await);
        if after != before {
            problems.push(format!("seq moved from {before} to {after}"));
        }
        tally.check(c.name, problems);
    }
    let api_tried = tally.finish();

    let mut tally = Tally::new("cli");
    let big_meta = format!("k={}", "v".repeat(5000));
    let cli_cases: Vec<(&str, Vec<&str>, i32, Vec<&str>)> = vec![
        (
            "token new with an empty name",
            vec!["token", "new", ""],
            2,
            vec!["user name is empty", "ferry token new NAME"],
        ),
        (
            "token new with a control character",
            vec!["token", "new", "a\u{7}b"],
            2,
            vec!["control characters", "printable"],
        ),
        (
            "token new with an empty role",
            vec!["token", "new", "ann", "--role", ""],
            2,
            vec!["role", "deployer"],
        ),
        (
            "promote without arguments",
            vec!["promote"],
            2,
            vec!["required"],
        ),
        (
            "an unknown command",
            vec!["deploy-now"],
            2,
            vec!["unrecognized subcommand"],
        ),
        (
            "promote an unknown version",
            vec!["promote", "app", "prod", "7.7.7"],
            1,
            vec!["7.7.7"],
        ),
        (
            "approve an unknown deployment",
            vec!["approve", "d-9999"],
            1,
            vec!["d-9999"],
        ),
        (
            "rollback to an unknown version",
            vec!["rollback", "app", "test", "--to", "7.7.7"],
            1,
            vec!["7.7.7"],
        ),
        (
            "artifact push with an id-shaped version",
            vec![
                "artifact",
                "push",
                "app",
                "--version",
                "a-7",
                "--digest",
                "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
                "--uri",
                "file:///x",
            ],
            1,
            vec!["version", "artifact id"],
        ),
        (
            "artifact push with oversized metadata",
            vec![
                "artifact",
                "push",
                "app",
                "--version",
                "9.9.8",
                "--digest",
                "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
                "--uri",
                "file:///x",
                "--meta",
                big_meta.as_str(),
            ],
            1,
            vec!["metadata.k", "4096"],
        ),
        (
            "history with a negative limit",
            vec!["history", "app", "prod", "--limit", "-1"],
            2,
            vec!["-1"],
        ),
    ];
    for (name, args, code, words) in cli_cases {
        let before = seq(&api.dashboard().await);
        let out = Command::new(ferry_bin())
            .args(&args)
            .env("FERRY_SERVER", &server.url)
            .env("FERRY_TOKEN", DEV_TOKEN)
            .env("NO_COLOR", "1")
            .env_remove("FERRY_CONFIG")
            .output()
            .expect("ferry runs");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let mut problems = Vec::new();
        if out.status.code() != Some(code) {
            problems.push(format!(
                "exit code {:?}, wanted {code}: {stderr}",
                out.status.code()
            ));
        }
        problems.extend(names(&stderr, &words));
        let after = seq(&api.dashboard().await);
        if after != before {
            problems.push(format!("seq moved from {before} to {after}"));
        }
        tally.check(name, problems);
    }
    let cli_tried = tally.finish();
    assert!(api_tried + cli_tried >= 40);
}
