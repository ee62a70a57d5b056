//! Bad inputs across config, API and CLI, table-driven. Each case asserts
//! the exact status (or exit code), that the message names the field and
//! says what is allowed, and that nothing changed (the event log's seq, or
//! for a config, that no data directory was created).

use std::process::Command;

use serde_json::Value;

use crate::common::*;

mod api;
mod config;

use api::{Case, api_cases};

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

// ------------------------------------------------------------------- API

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
            4,
            vec!["7.7.7"],
        ),
        (
            "approve an unknown deployment",
            vec!["approve", "d-9999"],
            4,
            vec!["d-9999"],
        ),
        (
            "rollback to an unknown version",
            vec!["rollback", "app", "test", "--to", "7.7.7"],
            4,
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
