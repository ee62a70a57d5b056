// Over 600 lines: the brief asks for the kill section in this one file (cases, flow, oracle, harness).
//! Kill points: for each case, run the real server with `FERRY_FAULT` set
//! to a named point, drive a release flow until the server aborts there
//! (as a SIGKILL would end it), restart it (possibly with a second point,
//! which recovery itself reaches), then restart it clean and check one
//! oracle over what it says:
//!
//! - no acknowledged action lost (every 2xx: artifact, approval, rollback);
//! - seq gap-free;
//! - at most one active deployment per stage;
//! - nothing running without a running step;
//! - no process of a killed server's step alive (its cgroup is empty);
//! - a stage with `rollback = "auto"` on its last good release;
//! - the deploy target agreeing with the server.
//!
//! The deploy step runs as `exec env -i … sh -c '…'`: it sheds its
//! environment, so only the cgroup (or the group leader) marks it.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// One case: a point (or points: the next runs' faults) and a flow long
/// enough to reach it.
const CASES: &[&[&str]] = &[
    // Registration and build-less promotion into test.
    &["after-2xx:artifacts"],
    &["decided:artifact_registered"],
    &["stored:artifact_registered"],
    &["stored:deployment_created:promote"],
    &["decided:deployment_started:promote"],
    &["stored:deployment_started:promote"],
    // Deploy.
    &["stored:step_started:deploy:promote"],
    &["stored:step_output:deploy:promote"],
    &["stored:step_finished:deploy:promote"],
    &["stored:step_output:deploy:promote@3"],
    // Verify.
    &["stored:step_started:verify:promote"],
    &["stored:step_output:verify:promote"],
    &["stored:step_finished:verify:promote"],
    &["stored:deployment_finished:promote"],
    // Approval wait.
    &["stored:deployment_created:promote@2"],
    &["decided:approval_recorded:promote"],
    &["stored:approval_recorded:promote"],
    &["after-2xx:approve"],
    &["stored:deployment_approved:promote"],
    // Health bake.
    &["stored:step_started:health:promote"],
    &["stored:step_output:health:promote"],
    &["stored:step_finished:health:promote"],
    &["stored:step_started:health:promote@2"],
    // Automatic rollback (after 2.0.0-bad fails its health check).
    &["stored:deployment_created:rollback"],
    &["stored:deployment_started:rollback"],
    &["stored:step_started:deploy:rollback"],
    &["stored:step_output:deploy:rollback"],
    &["stored:step_finished:deploy:rollback"],
    &["stored:step_started:health:rollback"],
    &["stored:deployment_finished:rollback"],
    // A rollback interrupted twice: the retries still end on the last good.
    &[
        "stored:step_output:deploy:rollback",
        "stored:step_output:deploy:rollback",
    ],
    // Manual rollback.
    &["after-2xx:rollback"],
    &["stored:deployment_created:rollback@2"],
    &["stored:step_output:deploy:rollback@2"],
    // Notifications.
    &["stored:notification_sent"],
    // During recovery itself, after a crash mid-deploy to prod: the 3rd
    // deploy output is prod's "deploying" line, 0.3 s before the step ends
    // (the 4th, its last line, is committed together with its finish).
    &["stored:step_output:deploy:promote@3", "recovery:start"],
    &["stored:step_output:deploy:promote@3", "recovery:reaped"],
    &["stored:step_output:deploy:promote@3", "recovery:done"],
    &[
        "stored:step_output:deploy:promote@3",
        "stored:step_finished:deploy:promote",
    ],
];

/// Cases run at once (each is mostly waiting on its server).
const PARALLEL: usize = 8;
/// Longest wait for any one condition.
const WAIT: Duration = Duration::from_secs(25);

#[test]
fn kill_points() {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let mut queue: Vec<(usize, &'static [&'static str])> =
        CASES.iter().copied().enumerate().rev().collect();
    let mut running = 0;
    let mut results: Vec<(usize, Result<(), String>)> = Vec::new();
    while results.len() < CASES.len() {
        while running < PARALLEL
            && let Some((i, case)) = queue.pop()
        {
            let tx = tx.clone();
            running += 1;
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    rt.block_on(run_case(case))
                }))
                .unwrap_or_else(|p| {
                    Err(p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".into()))
                });
                let _ = tx.send((i, outcome));
            });
        }
        let Ok(r) = rx.recv_timeout(Duration::from_secs(120)) else {
            break;
        };
        running -= 1;
        results.push(r);
    }
    results.sort_by_key(|(i, _)| *i);
    let passed = results.iter().filter(|(_, r)| r.is_ok()).count();
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("{:?}: {e}", CASES[*i])))
        .collect();
    println!(
        "faults/kills: tried {}, passed {passed} ({:.0?})",
        CASES.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty() && results.len() == CASES.len(),
        "{} of {} kill points failed:\n{}",
        CASES.len() - passed,
        CASES.len(),
        failures.join("\n")
    );
}

/// What the flow was told was done (2xx answers).
#[derive(Default, Debug)]
struct Acks {
    artifacts: Vec<String>,
    approvals: Vec<String>,
    deployments: Vec<String>,
}

async fn run_case(faults: &[&str]) -> Result<(), String> {
    let ws = Ws::new();
    let mut acks = Acks::default();
    let mut killed = Vec::new();
    for (n, fault) in faults.iter().enumerate() {
        let mut server = Srv::spawn(&ws, Some(fault));
        if n == 0
            && let Some(url) = server.url.clone()
        {
            // The flow ends when the server is gone (or, failing, when it
            // is done without reaching the point).
            flow(&url, &mut acks).await;
        }
        match server.wait_exit(WAIT) {
            Some(status) if status.signal() == Some(6) => killed.push(server.pid),
            Some(status) => return Err(format!("run {n}: the server ended with {status}")),
            None => return Err(format!("run {n}: {fault} was never reached")),
        }
    }
    let server = Srv::spawn(&ws, None);
    let Some(url) = server.url.clone() else {
        return Err("the clean restart did not listen".into());
    };
    let api = Api::new(&url, DEV_TOKEN);
    // First look, before anything settles.
    let first = api.dashboard().await;
    check_running(&first)?;
    let d = quiet(&api).await?;
    oracle(&ws, &api, &d, &acks, &killed).await
}

/// The release flow: 1.0.0 to prod, 2.0.0-bad failing its health check in
/// prod (automatic rollback), 3.0.0 to prod, then a manual rollback.
async fn flow(url: &str, acks: &mut Acks) -> Option<()> {
    let c = Client::new(url);
    c.register("1.0.0", acks).await?;
    c.approve_at_prod("1.0.0", acks).await?;
    c.until(|d| {
        (last_good_version(d, "app", "prod").as_deref() == Some("1.0.0") && idle(d, "prod"))
            .then_some(())
    })
    .await?;
    c.register("2.0.0-bad", acks).await?;
    c.approve_at_prod("2.0.0-bad", acks).await?;
    c.until(|d| {
        let rolled = history(d, "app", "prod")
            .iter()
            .any(|x| x["kind"] == "rollback" && x["status"] == "succeeded");
        (rolled && idle(d, "prod")).then_some(())
    })
    .await?;
    c.register("3.0.0", acks).await?;
    c.approve_at_prod("3.0.0", acks).await?;
    c.until(|d| {
        (last_good_version(d, "app", "prod").as_deref() == Some("3.0.0") && idle(d, "prod"))
            .then_some(())
    })
    .await?;
    let body = c
        .post(
            ALICE_TOKEN,
            "/rollback",
            json!({"service": "app", "stage": "prod"}),
        )
        .await?;
    if let Some(id) = body["deployment"].as_str() {
        acks.deployments.push(id.to_string());
    }
    c.until(|d| {
        (current_version(d, "app", "prod").as_deref() == Some("1.0.0") && idle(d, "prod"))
            .then_some(())
    })
    .await?;
    Some(())
}

fn idle(d: &Value, stage_name: &str) -> bool {
    stage(d, "app", stage_name)["active"].is_null()
}

/// Nothing queued or running anywhere; the dashboard then.
async fn quiet(api: &Api) -> Result<Value, String> {
    let end = Instant::now() + WAIT;
    loop {
        let d = api.dashboard().await;
        let deployments = d["state"]["deployments"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let busy = deployments
            .values()
            .any(|x| x["status"] == "running" || x["status"] == "queued");
        if !busy {
            return Ok(d);
        }
        if Instant::now() > end {
            return Err(format!("never quiet: {}", d["state"]["services"]));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nothing running without a running step, at most one active per stage.
fn check_running(d: &Value) -> Result<(), String> {
    let deployments = d["state"]["deployments"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut per_stage = std::collections::HashMap::new();
    for (id, x) in &deployments {
        if x["status"] == "running" {
            *per_stage
                .entry(x["stage"].as_str().unwrap_or("").to_string())
                .or_insert(0) += 1;
            let steps = x["steps"].as_array().cloned().unwrap_or_default();
            if !steps.iter().any(|s| s["status"] == "running") {
                return Err(format!("{id} is running without a running step"));
            }
        }
    }
    if let Some((stage, n)) = per_stage.iter().find(|(_, n)| **n > 1) {
        return Err(format!("{n} deployments running in {stage}"));
    }
    Ok(())
}

async fn oracle(ws: &Ws, api: &Api, d: &Value, acks: &Acks, killed: &[u32]) -> Result<(), String> {
    check_running(d)?;
    // Gap-free: every seq from 1 to the dashboard's.
    let seq = d["seq"].as_u64().unwrap_or(0);
    let events = api.events(0, seq).await;
    for (i, e) in events.iter().enumerate() {
        if e["seq"].as_u64() != Some(i as u64 + 1) {
            return Err(format!("seq gap at {}: {}", i + 1, e["seq"]));
        }
    }
    // Nothing acknowledged lost.
    for a in &acks.artifacts {
        if d["state"]["artifacts"][a].is_null() {
            return Err(format!("acknowledged artifact {a} lost"));
        }
    }
    for dep in &acks.deployments {
        if d["state"]["deployments"][dep].is_null() {
            return Err(format!("acknowledged deployment {dep} lost"));
        }
    }
    for dep in &acks.approvals {
        let approved = d["state"]["deployments"][dep]["approvals"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["by"] == "alice"));
        if !approved {
            return Err(format!("acknowledged approval of {dep} lost"));
        }
    }
    // No process of a killed server's step alive.
    if let Some(base) = cgroup_base() {
        for pid in killed {
            let mark = format!(".{pid}.");
            for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let procs =
                    std::fs::read_to_string(entry.path().join("cgroup.procs")).unwrap_or_default();
                if name.contains(&mark) && !procs.trim().is_empty() {
                    return Err(format!(
                        "step cgroup {name} of killed server {pid} still has {procs}"
                    ));
                }
            }
        }
    }
    // Stages with `rollback = "auto"` on their last good release, and the
    // target agreeing.
    for stage_name in ["test", "prod"] {
        let Some(good) = last_good_version(d, "app", stage_name) else {
            continue;
        };
        let current = current_version(d, "app", stage_name);
        if current.as_deref() != Some(good.as_str()) {
            return Err(format!(
                "{stage_name} runs {current:?}, its last good is {good}"
            ));
        }
        let target = ws.target(stage_name);
        if target != good {
            return Err(format!(
                "{stage_name}'s target has {target:?}, the server says {good}"
            ));
        }
    }
    Ok(())
}

/// Where this machine's ferry step cgroups are, if it has them.
fn cgroup_base() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| left.split_whitespace().nth(4).map(PathBuf::from))?
    })?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim()
        .to_string();
    let base = mount.join(own.trim_start_matches('/')).join("ferry");
    base.is_dir().then_some(base)
}

/// The workspace: config, scripts, targets.
struct Ws {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Ws {
    fn new() -> Ws {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("targets")).expect("targets");
        // The deploy sheds its environment (`env -i`) and takes a moment
        // between saying it started and switching the target.
        std::fs::write(
            root.join("deploy.sh"),
            r#"exec env -i PATH="$PATH" V="$FERRY_VERSION" S="$FERRY_STAGE" sh -c '
echo "deploying $V to $S"
sleep 0.3
printf %s "$V" > "targets/$S.tmp" && mv "targets/$S.tmp" "targets/$S"
echo "deployed $V"
'
"#,
        )
        .expect("deploy.sh");
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
commands = [{{ command = "cat > /dev/null" }}]

[services.app]
source = "external"
workdir = "{root}"

[[services.app.stages]]
name = "test"
deploy = {{ command = "sh deploy.sh", timeout = "30s" }}
verify = [{{ name = "smoke", command = "echo smoke; test -s targets/test", timeout = "30s" }}]
rollback = "auto"

[[services.app.stages]]
name = "prod"
deploy = {{ command = "sh deploy.sh", timeout = "30s" }}
gate = {{ approval = {{ required = 1, roles = ["release-manager"], allow_self = false }} }}
health = {{ command = "! grep -q bad targets/prod", interval = "100ms", retries = 1, bake = "300ms", timeout = "5s" }}
rollback = "auto"
"#,
            dev = sha256_hex(DEV_TOKEN),
            alice = sha256_hex(ALICE_TOKEN),
            root = root.display(),
        );
        std::fs::write(root.join("ferry.toml"), config).expect("config");
        Ws { _dir: dir, root }
    }

    fn target(&self, stage: &str) -> String {
        std::fs::read_to_string(self.root.join("targets").join(stage)).unwrap_or_default()
    }
}

/// One server process; killed when dropped.
struct Srv {
    child: Child,
    pid: u32,
    url: Option<String>,
}

impl Srv {
    /// Start it; `url` is None when it ended before listening (a kill
    /// point during recovery).
    fn spawn(ws: &Ws, fault: Option<&str>) -> Srv {
        let mut cmd = Command::new(ferry_bin());
        cmd.args(["server", "--config"])
            .arg(ws.root.join("ferry.toml"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(ws.root.join("data"))
            .current_dir(&ws.root)
            .env("FERRY_LOG", "ferry=warn")
            .env_remove("FERRY_SERVER")
            .env_remove("FERRY_TOKEN")
            .env_remove("FERRY_FAULT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(f) = fault {
            cmd.env("FERRY_FAULT", f);
        }
        let mut child = cmd.spawn().expect("ferry server starts");
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                    sent = true;
                }
            }
        });
        let end = Instant::now() + WAIT;
        let url = loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(20)) {
                break Some(url);
            }
            if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > end {
                break None;
            }
        };
        Srv { child, pid, url }
    }

    /// Its exit status, once it has exited (within `within`).
    fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + within;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that gives up (None) instead of panicking when the server is gone.
struct Client {
    url: String,
    http: reqwest::Client,
}

impl Client {
    fn new(url: &str) -> Client {
        Client {
            url: url.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        }
    }

    async fn dashboard(&self) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/api/v1/dashboard", self.url))
            .bearer_auth(DEV_TOKEN)
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// POST; the body of a 2xx answer, None otherwise.
    async fn post(&self, token: &str, path: &str, body: Value) -> Option<Value> {
        let r = self
            .http
            .post(format!("{}/api/v1{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    async fn until<T>(&self, mut check: impl FnMut(&Value) -> Option<T>) -> Option<T> {
        let end = Instant::now() + WAIT;
        loop {
            let d = self.dashboard().await?;
            if let Some(v) = check(&d) {
                return Some(v);
            }
            if Instant::now() > end {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    async fn register(&self, version: &str, acks: &mut Acks) -> Option<()> {
        let body = self
            .post(
                DEV_TOKEN,
                "/artifacts",
                json!({"service": "app", "version": version, "digest": sha256_hex(version), "uri": "file:///dev/null"}),
            )
            .await?;
        acks.artifacts.push(body["artifact"].as_str()?.to_string());
        Some(())
    }

    async fn approve_at_prod(&self, version: &str, acks: &mut Acks) -> Option<()> {
        let id = self
            .until(|d| {
                history(d, "app", "prod")
                    .into_iter()
                    .find(|x| x["version"] == version && x["status"] == "awaiting_approval")
                    .and_then(|x| x["id"].as_str().map(String::from))
            })
            .await?;
        self.post(
            ALICE_TOKEN,
            &format!("/deployments/{id}/approve"),
            json!({"comment": "ok"}),
        )
        .await?;
        acks.approvals.push(id);
        Some(())
    }
}

/// A planned restart (SIGTERM) while a deploy runs: the step finishes
/// during the drain and counts as it ended, the next step starts after the
/// restart, and the deployment succeeds; nothing is failed or rolled back.
#[test]
fn a_planned_restart_keeps_a_step_that_finishes_during_the_drain() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let ws = Ws::new();
        let mut server = Srv::spawn(&ws, None);
        let url = server.url.clone().expect("listening");
        let c = Client::new(&url);
        let mut acks = Acks::default();
        c.register("1.0.0", &mut acks).await.expect("registered");
        // The test deploy said it started; it switches the target 0.3 s later.
        let id = c
            .until(|d| {
                history(d, "app", "test").into_iter().find_map(|x| {
                    let deploying = x["steps"][0]["status"] == "running";
                    deploying
                        .then(|| x["id"].as_str().map(String::from))
                        .flatten()
                })
            })
            .await
            .expect("deploying");
        nix_kill(server.pid, "TERM");
        let status = server.wait_exit(WAIT).expect("stopped");
        assert!(status.success(), "{status}");
        let server = Srv::spawn(&ws, None);
        let api = Api::new(server.url.as_deref().expect("listening"), DEV_TOKEN);
        let d = quiet(&api).await.expect("quiet");
        let dep = deployment(&d, &id);
        assert_eq!(dep["status"], "succeeded", "{dep}");
        assert_eq!(dep["steps"][0]["status"], "passed", "{dep}");
        assert_eq!(ws.target("test"), "1.0.0");
    });
}

fn nix_kill(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{signal} {pid}");
}
