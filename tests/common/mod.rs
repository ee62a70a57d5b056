//! Shared helpers for the end-to-end tests: a real `ferry server` child
//! process on 127.0.0.1 port 0, a real git repository, and waiting on
//! conditions with a deadline (never on sleeps).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn ferry_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry"))
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Run git in `dir` with a fixed identity, failing the test on error.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=dev",
            "-c",
            "user.email=dev@example.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A running `ferry server`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Start the real binary and learn its address from its first line.
    pub fn start(config: &Path, data_dir: &Path) -> Server {
        Server::start_on(config, data_dir, "127.0.0.1:0")
    }

    /// Start on a given address (a restart on the port a client knows).
    pub fn start_on(config: &Path, data_dir: &Path, listen: &str) -> Server {
        Server::start_env(config, data_dir, listen, &[])
    }

    /// Start with extra environment variables (secrets a config names).
    pub fn start_env(config: &Path, data_dir: &Path, listen: &str, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(ferry_bin())
            .args(["server", "--config"])
            .arg(config)
            .args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .env("FERRY_LOG", "ferry=info,warn")
            .env_remove("FERRY_SERVER")
            .env_remove("FERRY_TOKEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ferry server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
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
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    /// A clean stop (SIGTERM), which leaves a snapshot at the end; asserts
    /// that the server exited successfully.
    pub fn stop_cleanly(&mut self) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(ok.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "clean exit: {status}");
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Api {
    pub url: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(url: &str, token: &str) -> Api {
        Api {
            url: url.to_string(),
            token: token.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let send = || {
            self.http
                .get(format!("{}/api/v1{path}", self.url))
                .bearer_auth(&self.token)
                .send()
        };
        // The server closes a connection after a request it could not parse
        // (a 414, a 431); a pooled connection may be the closed one, so a
        // GET is tried once more on a fresh connection.
        let resp = match send().await {
            Err(e) if e.is_request() || e.is_connect() => send().await,
            first => first,
        }
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    /// POST and return (status, body) without judging.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn dashboard(&self) -> Value {
        self.get("/dashboard").await
    }

    /// Poll the dashboard until `check` returns Some, or fail after the deadline
    /// with the last dashboard in the message.
    pub async fn wait_for<T>(&self, what: &str, mut check: impl FnMut(&Value) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            let d = self.dashboard().await;
            if let Some(v) = check(&d) {
                return v;
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "timed out waiting for {what}; last dashboard:\n{}",
                    serde_json::to_string_pretty(&d["state"]["services"]).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every event from `since` until at least `upto`, read from the SSE stream.
    pub async fn events(&self, since: u64, upto: u64) -> Vec<Value> {
        use futures::StreamExt;
        let resp = self
            .http
            .get(format!("{}/api/v1/events?since={since}", self.url))
            .bearer_auth(&self.token)
            .timeout(DEADLINE)
            .send()
            .await
            .expect("events");
        assert!(resp.status().is_success(), "events: {}", resp.status());
        let mut stream = resp.bytes_stream();
        let mut buf = String::new();
        let mut events = Vec::new();
        let start = Instant::now();
        while events
            .last()
            .map(|e: &Value| e["seq"].as_u64().unwrap_or(0))
            .unwrap_or(since)
            < upto
        {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out reading events up to {upto}"
            );
            let Some(chunk) = stream.next().await else {
                break;
            };
            buf.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|l| l.trim_start())
                    .collect::<Vec<_>>()
                    .join("\n");
                let ping = block.lines().any(|l| l.trim() == "event: ping");
                if !data.is_empty() && !ping {
                    events.push(serde_json::from_str(&data).expect("event json"));
                }
            }
        }
        events
    }
}

/// The stage object of the dashboard.
pub fn stage<'a>(d: &'a Value, service: &str, stage: &str) -> &'a Value {
    d["state"]["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == service))
        .and_then(|s| s["stages"].as_array())
        .and_then(|s| s.iter().find(|s| s["name"] == stage))
        .unwrap_or(&Value::Null)
}

pub fn deployment<'a>(d: &'a Value, id: &str) -> &'a Value {
    &d["state"]["deployments"][id]
}

/// The version of the artifact a stage currently runs.
pub fn current_version(d: &Value, service: &str, stage_name: &str) -> Option<String> {
    let id = stage(d, service, stage_name)["current"].as_str()?;
    d["state"]["artifacts"][id]["version"]
        .as_str()
        .map(String::from)
}

/// The version of a stage's last good release.
pub fn last_good_version(d: &Value, service: &str, stage_name: &str) -> Option<String> {
    let good = stage(d, service, stage_name)["good"].as_array()?;
    let id = good.last()?["artifact"].as_str()?;
    d["state"]["artifacts"][id]["version"]
        .as_str()
        .map(String::from)
}

/// Deployments of a stage, oldest first.
pub fn history<'a>(d: &'a Value, service: &str, stage_name: &str) -> Vec<&'a Value> {
    stage(d, service, stage_name)["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|id| id.as_str())
                .map(|id| deployment(d, id))
                .collect()
        })
        .unwrap_or_default()
}

pub const DEV_TOKEN: &str = "d3v0000000000000000000000000000000000000000000000000000000000001";
pub const ALICE_TOKEN: &str = "a11ce00000000000000000000000000000000000000000000000000000000002";

/// A workspace: a git repository with a tiny app, and a config whose build,
/// deploy, tests and health checks are shell scripts. What the app's files
/// contain decides what fails: BREAK_TEST fails the integration tests,
/// BREAK_HEALTH fails the health check in prod, SLOW_DEPLOY makes the prod
/// deploy take long enough to kill the server under it.
pub struct Workspace {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub repo: PathBuf,
}

impl Workspace {
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(
            repo.join("build.sh"),
            "set -e\nmkdir -p dist\ncat VERSION app.txt > dist/app.txt\necho built $(cat VERSION)\n",
        )
        .unwrap();
        let ws = Workspace {
            _dir: dir,
            root: root.clone(),
            repo,
        };
        ws.commit("1.0.0", "hello");
        let scripts = root.join("scripts");
        std::fs::create_dir_all(&scripts).unwrap();
        std::fs::write(
            scripts.join("deploy.sh"),
            r#"set -e
mkdir -p "targets/$FERRY_STAGE"
if [ "$FERRY_STAGE" = prod ] && grep -q SLOW_DEPLOY "$FERRY_ARTIFACT"; then
  echo "slow deploy of $FERRY_VERSION"; touch "$FERRY_DATA_DIR/../slow-deploy-started"; sleep 30
fi
cp "$FERRY_ARTIFACT" "targets/$FERRY_STAGE/current.txt"
echo "deployed $FERRY_VERSION to $FERRY_STAGE ($FERRY_KIND)"
"#,
        )
        .unwrap();
        std::fs::write(
            scripts.join("integration.sh"),
            r#"echo "running integration tests against $FERRY_STAGE"
if grep -q BREAK_TEST "targets/$FERRY_STAGE/current.txt"; then
  echo "FAIL: checkout total is wrong" >&2
  exit 3
fi
echo ok
"#,
        )
        .unwrap();
        std::fs::write(
            scripts.join("health.sh"),
            r#"if [ "$FERRY_STAGE" = prod ] && grep -q BREAK_HEALTH "targets/$FERRY_STAGE/current.txt"; then exit 1; fi
exit 0
"#,
        )
        .unwrap();
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
roles = ["release-manager", "deployer"]
token_sha256 = "{alice}"

[notify]
commands = [{{ command = "cat >> {root}/notifications.jsonl; echo >> {root}/notifications.jsonl" }}]

[templates.web]
build = {{ command = "sh build.sh", artifact = "dist/app.txt", version_file = "VERSION", timeout = "1m" }}

[[templates.web.stages]]
name = "test"
deploy = {{ command = "sh scripts/deploy.sh", timeout = "1m" }}
verify = [{{ name = "integration", command = "sh scripts/integration.sh", timeout = "1m" }}]
rollback = "auto"

[[templates.web.stages]]
name = "preprod"
deploy = {{ command = "sh scripts/deploy.sh", timeout = "1m" }}
verify = [{{ name = "perf", command = "true", timeout = "1m" }}]
health = {{ command = "sh scripts/health.sh", interval = "100ms", retries = 1, bake = "0s", timeout = "5s" }}
rollback = "auto"

[[templates.web.stages]]
name = "prod"
deploy = {{ command = "sh scripts/deploy.sh", timeout = "1m" }}
gate = {{ approval = {{ required = 1, roles = ["release-manager"], allow_self = false }} }}
health = {{ command = "sh scripts/health.sh", interval = "100ms", retries = 1, bake = "300ms", timeout = "5s" }}
rollback = "auto"

[services.app]
template = "web"
source = {{ git = "{repo}", branch = "main", poll_interval = "200ms" }}
"#,
            dev = sha256_hex(DEV_TOKEN),
            alice = sha256_hex(ALICE_TOKEN),
            root = root.display(),
            repo = ws.repo.display(),
        );
        std::fs::write(root.join("ferry.toml"), config).unwrap();
        ws
    }

    pub fn commit(&self, version: &str, content: &str) -> String {
        std::fs::write(self.repo.join("VERSION"), format!("{version}\n")).unwrap();
        std::fs::write(self.repo.join("app.txt"), format!("{content}\n")).unwrap();
        git(&self.repo, &["add", "-A"]);
        git(
            &self.repo,
            &[
                "commit",
                "-q",
                "-m",
                &format!("release {version}: {content}"),
            ],
        );
        git(&self.repo, &["rev-parse", "HEAD"])
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("ferry.toml")
    }

    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn target(&self, stage: &str) -> String {
        std::fs::read_to_string(self.root.join("targets").join(stage).join("current.txt"))
            .unwrap_or_default()
    }

    pub fn notifications(&self) -> String {
        std::fs::read_to_string(self.root.join("notifications.jsonl")).unwrap_or_default()
    }
}

/// Wait until a deployment of the app's `stage` matches `wanted`; return it.
pub async fn wait_deployment(
    api: &Api,
    what: &str,
    stage_name: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    api.wait_for(what, |d| {
        history(d, "app", stage_name)
            .into_iter()
            .find(|dep| wanted(dep))
            .cloned()
    })
    .await
}

/// Wait until `version` waits for approval at prod; return that deployment's id.
pub async fn awaiting_prod(api: &Api, version: &str) -> String {
    let dep = wait_deployment(
        api,
        &format!("{version} awaiting approval at prod"),
        "prod",
        |dep| dep["version"] == version && dep["status"] == "awaiting_approval",
    )
    .await;
    dep["id"].as_str().unwrap_or_default().to_string()
}

/// Release 1.0.0, then 1.1.0 from a second commit, each approved into prod
/// by alice: two good releases there, and nothing running.
pub async fn two_releases_in_prod(ws: &Workspace, api: &Api, url: &str) {
    for version in ["1.0.0", "1.1.0"] {
        if version != "1.0.0" {
            ws.commit(version, "second");
        }
        let pending = awaiting_prod(api, version).await;
        let out = ferry(url, ALICE_TOKEN, &["approve", &pending]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        api.wait_for(&format!("{version} live in prod"), |d| {
            (last_good_version(d, "app", "prod").as_deref() == Some(version)
                && stage(d, "app", "prod")["active"].is_null())
            .then_some(())
        })
        .await;
    }
}

/// Run the real `ferry` CLI against `server` as the holder of `token`
/// (no colour, no local config file).
pub fn ferry(server: &str, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(ferry_bin())
        .args(args)
        .env("FERRY_SERVER", server)
        .env("FERRY_TOKEN", token)
        .env("NO_COLOR", "1")
        .env_remove("FERRY_CONFIG")
        .output()
        .expect("ferry runs")
}

/// The first event of kind `kind` (its `type`) in `events`; panics naming
/// the kind when there is none.
pub fn event_of_kind<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["kind"]["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event"))
}

/// A child's output as text, for assertions and their messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Poll `check` until it answers, within the tests' deadline.
pub async fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
