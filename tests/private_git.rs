//! A private repository over HTTPS-style basic auth, through the real
//! binary: a bare repository served by `git http-backend` behind a tiny
//! HTTP server on 127.0.0.1 that answers 401 without the right token. The
//! service's `token_env` names the variable holding it; a build happens only
//! with the right token, a wrong one shows up as the source's fetch error in
//! the dashboard, and the token never appears in the event log, the data
//! directory, the server's log, the git server's request log or `ps`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::*;
use serde_json::Value;

const TOKEN: &str = "ghp_PrivateTokenForTheTest0123456789";
const WRONG: &str = "ghp_WrongTokenForTheTest9876543210";

struct GitServer {
    root: PathBuf,
    /// "Basic <base64(user:token)>" that is let through.
    expected: String,
    /// One line per request: method, path and query, status. Written the
    /// way a web server's access log is, so a token in a URL would be seen.
    log: Mutex<Vec<String>>,
}

fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// CGI: run `git http-backend` for one request and turn its output into a response.
async fn handle(
    State(srv): State<Arc<GitServer>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == srv.expected);
    let line = |status: u16| format!("{method} {uri} {status}");
    if !authorized {
        srv.log.lock().unwrap().push(line(401));
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"git\"")],
            "authentication required",
        )
            .into_response();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &srv.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", "ferry")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git http-backend runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await.expect("http-backend output");
    let _ = writer.await;
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .expect("CGI headers");
    let head = String::from_utf8_lossy(&raw[..split.0]).to_string();
    let mut status = 200u16;
    let mut builder = Response::builder();
    for l in head.lines() {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            status = v
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(500);
        } else {
            builder = builder.header(k.trim(), v);
        }
    }
    srv.log.lock().unwrap().push(line(status));
    builder
        .status(status)
        .body(axum::body::Body::from(raw[split.0 + split.1..].to_vec()))
        .unwrap()
}

/// Serve the bare repositories under `root`; returns the base URL.
async fn serve(srv: Arc<GitServer>) -> String {
    let app = axum::Router::new().fallback(handle).with_state(srv);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// `ferry server` with its log (stderr) written to `log`.
fn start_logged(config: &Path, data: &Path, log: &Path, token: &str) -> Server {
    let mut child = Command::new(ferry_bin())
        .args(["server", "--config"])
        .arg(config)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("FERRY_LOG", "ferry=debug,warn")
        .env("APP_GIT_TOKEN", token)
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("ferry server starts");
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    break rest.split_whitespace().next().unwrap_or("").to_string();
                }
            }
            other => panic!("ferry server exited before listening: {other:?}"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, url }
}

/// Every file under `dir` (bytes, lossily), to search for a secret.
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&all_text(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

/// Samples `ps` until stopped; returns every command line that named `needle`.
fn watch_ps(
    needle: &'static str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut samples = 0;
        while !stop.load(Ordering::SeqCst) {
            if let Ok(out) = Command::new("ps").args(["-eww", "-o", "args="]).output() {
                samples += 1;
                for l in String::from_utf8_lossy(&out.stdout).lines() {
                    if l.contains(needle) && !l.contains("private_git") {
                        seen.push(l.to_string());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (samples, seen)
    })
}

fn source_status(d: &Value) -> Option<Value> {
    d.get("sources").and_then(|s| s.get("app")).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_builds_only_with_the_right_token() {
    let ws = Workspace::new();
    let served = ws.root.join("served");
    std::fs::create_dir_all(&served).unwrap();
    git(
        &ws.root,
        &[
            "clone",
            "-q",
            "--bare",
            ws.repo.to_str().unwrap(),
            served.join("app.git").to_str().unwrap(),
        ],
    );
    let srv = Arc::new(GitServer {
        root: served.clone(),
        expected: format!(
            "Basic {}",
            base64(format!("x-access-token:{TOKEN}").as_bytes())
        ),
        log: Mutex::new(Vec::new()),
    });
    let base = serve(srv.clone()).await;
    let url = format!("{base}/app.git");
    let config = std::fs::read_to_string(ws.config()).unwrap();
    let old = format!(
        "source = {{ git = \"{}\", branch = \"main\", poll_interval = \"200ms\" }}",
        ws.repo.display()
    );
    assert!(config.contains(&old));
    let new = format!(
        "source = {{ git = \"{url}\", token_env = \"APP_GIT_TOKEN\", poll_interval = \"200ms\" }}"
    );
    std::fs::write(ws.config(), config.replace(&old, &new)).unwrap();

    // A wrong token: nothing is built, the dashboard says why.
    let log = ws.root.join("server.log");
    let mut server = start_logged(&ws.config(), &ws.data(), &log, WRONG);
    let api = Api::new(&server.url, DEV_TOKEN);
    let failing = api
        .wait_for("the fetch error in the dashboard", source_status)
        .await;
    let error = failing["error"].as_str().unwrap_or_default();
    assert!(error.contains("could not clone"), "{failing}");
    assert!(!error.contains(WRONG), "{failing}");
    assert!(
        failing["at_time"].as_str().is_some_and(|t| t.contains('T')),
        "{failing}"
    );
    assert!(failing["failures"].as_u64() >= Some(1), "{failing}");
    let d = api.dashboard().await;
    assert_eq!(
        d["state"]["builds"].as_object().map_or(0, |b| b.len()),
        0,
        "{d}"
    );
    // `ferry status` shows it too.
    let out = Command::new(ferry_bin())
        .args(["status", "--server", &server.url])
        .env("FERRY_TOKEN", DEV_TOKEN)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("source of app failing since"), "{text}");
    assert!(!text.contains(WRONG));
    server.kill();
    assert!(srv.log.lock().unwrap().iter().all(|l| l.ends_with(" 401")));

    // The right token: the commit is built and reaches test; ps never shows it.
    let stop = Arc::new(AtomicBool::new(false));
    let ps = watch_ps(TOKEN, stop.clone());
    let server = start_logged(&ws.config(), &ws.data(), &log, TOKEN);
    let api = Api::new(&server.url, DEV_TOKEN);
    let started = Instant::now();
    api.wait_for("1.0.0 deployed to test", |d| {
        (current_version(d, "app", "test").as_deref() == Some("1.0.0")).then_some(())
    })
    .await;
    let d = api.dashboard().await;
    assert!(
        source_status(&d).is_none(),
        "a success clears the error: {d}"
    );
    stop.store(true, Ordering::SeqCst);
    let (samples, seen) = ps.join().unwrap();
    assert!(samples > 0, "ps ran ({:?})", started.elapsed());
    assert!(seen.is_empty(), "the token was in argv: {seen:?}");

    let events = api.events(0, d["seq"].as_u64().unwrap()).await;
    let events = serde_json::to_string(&events).unwrap();
    assert!(events.contains("1.0.0"));
    assert!(!events.contains(TOKEN) && !events.contains(WRONG));
    drop(server);
    let server_log = std::fs::read_to_string(&log).unwrap();
    assert!(!server_log.contains(TOKEN), "{server_log}");
    assert!(
        !all_text(&ws.data()).contains(TOKEN),
        "the token is in the data dir"
    );
    let requests = srv.log.lock().unwrap().join("\n");
    assert!(requests.contains("git-upload-pack 200"), "{requests}");
    assert!(
        !requests.contains(TOKEN) && !requests.contains("x-access-token"),
        "{requests}"
    );
}

#[test]
fn credentials_that_do_not_fit_the_source_are_config_errors() {
    let ws = Workspace::new();
    let config = std::fs::read_to_string(ws.config()).unwrap();
    let old = format!(
        "source = {{ git = \"{}\", branch = \"main\", poll_interval = \"200ms\" }}",
        ws.repo.display()
    );
    for (source, wanted) in [
        (
            r#"source = { git = "git@example.com:acme/app.git", token_env = "APP_GIT_TOKEN" }"#,
            "token_env is for HTTPS repositories",
        ),
        (
            r#"source = { git = "https://example.com/app.git", token_env = "ghp_abc-123" }"#,
            "token_env names an environment variable",
        ),
        (
            r#"source = { git = "https://example.com/app.git", ssh_key = "keys/deploy" }"#,
            "ssh_key is for ssh repositories",
        ),
        (
            r#"source = { git = "https://bot:tok@example.com/app.git", token_env = "T" }"#,
            "the URL carries credentials",
        ),
        (
            r#"source = { git = "git@example.com:acme/app.git", ssh_keys = "k" }"#,
            "did you mean `ssh_key`?",
        ),
    ] {
        std::fs::write(ws.config(), config.replace(&old, source)).unwrap();
        let out = Command::new(ferry_bin())
            .args(["server", "--listen", "127.0.0.1:0", "--config"])
            .arg(ws.config())
            .arg("--data-dir")
            .arg(ws.data())
            .env_remove("FERRY_SERVER")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{source}");
        assert!(err.contains(wanted), "{source}: {err}");
        assert!(err.contains("ferry.toml:"), "file and line: {err}");
        assert!(err.contains("services.app.source"), "the key: {err}");
    }
}
