//! Several real `ferry server` replicas on one PostgreSQL database (separate
//! data directories, one shared artifact and log directory, a 2 s lease):
//! failover, fencing and a cold-start race. Needs `FERRY_TEST_POSTGRES`
//! (`eval "$(.ci/postgres.sh start)"`); without it the tests note and pass,
//! except under CI=true, where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};

/// A fresh database on the test cluster, or `None` (with a note) outside CI.
async fn fresh_db() -> Option<String> {
    let Some(base) = std::env::var("FERRY_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but FERRY_TEST_POSTGRES is not set: the replica tests must run in CI"
        );
        eprintln!("note: FERRY_TEST_POSTGRES is not set, so this replica test does nothing");
        return None;
    };
    let name = format!("ferry_replicas_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::postgres::PgConnection::connect(&base)
        .await
        .expect("FERRY_TEST_POSTGRES must name a reachable cluster");
    // The name is ours (hex), so formatting it into DDL is safe.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create database");
    let _ = admin.close().await;
    let (url, query) = match base.split_once('?') {
        Some((u, q)) => (u.to_string(), format!("?{q}")),
        None => (base.clone(), String::new()),
    };
    let root = url.rsplit_once('/').map(|(r, _)| r).unwrap_or(&url);
    Some(format!("{root}/{name}{query}"))
}

/// The workspace's config, pointed at `db` with a short lease and shared dirs.
fn replica_config(ws: &Workspace, db: &str) -> PathBuf {
    let text = std::fs::read_to_string(ws.config()).expect("config");
    let shared = ws.root.join("shared");
    let text = text.replacen(
        "[server]\nlisten = \"127.0.0.1:0\"\n",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nstore = \"{db}\"\nlease_ttl = \"2s\"\n\
             artifact_dir = \"{}\"\nlog_dir = \"{}\"\n",
            shared.join("artifacts").display(),
            shared.join("logs").display()
        ),
        1,
    );
    let path = ws.root.join("replicas.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn start(config: &Path, ws: &Workspace, name: &str) -> Server {
    Server::start(config, &ws.root.join(format!("data-{name}")))
}

async fn readyz(url: &str) -> Option<Value> {
    let resp = reqwest::get(format!("{url}/readyz")).await.ok()?;
    resp.json().await.ok()
}

/// Wait until `check` holds, polling; panic with `what` after the deadline.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The index of the one leader among `servers` once exactly one says so.
async fn one_leader(servers: &[&Server]) -> usize {
    let found = Arc::new(Mutex::new(None));
    until("exactly one leader", || {
        let found = found.clone();
        let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
        async move {
            let mut leaders = Vec::new();
            for (i, u) in urls.iter().enumerate() {
                if let Some(r) = readyz(u).await
                    && r["role"] == "leader"
                {
                    leaders.push(i);
                }
            }
            assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
            *found.lock().unwrap() = leaders.first().copied();
            leaders.len() == 1
        }
    })
    .await;
    found.lock().unwrap().expect("a leader")
}

/// An SSE client kept open for the whole test: every seq it receives.
fn collect_events(url: &str) -> Arc<Mutex<Vec<u64>>> {
    let seqs = Arc::new(Mutex::new(Vec::new()));
    let out = seqs.clone();
    let url = format!("{url}/api/v1/events?since=0");
    tokio::spawn(async move {
        use futures::StreamExt;
        let resp = reqwest::Client::new()
            .get(url)
            .bearer_auth(DEV_TOKEN)
            .send()
            .await
            .expect("events");
        let mut stream = resp.bytes_stream();
        let mut buf = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                if let Some(id) = block.lines().find_map(|l| l.strip_prefix("id:")) {
                    out.lock().unwrap().push(id.trim().parse().expect("seq"));
                }
            }
        }
    });
    seqs
}

/// SIGKILL the process group of every step recorded in `data_dir`.
fn kill_steps_of(data_dir: &Path) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Ok(runs) = std::fs::read_dir(data_dir.join("runs")) else {
        return;
    };
    for run in runs.flatten() {
        for f in std::fs::read_dir(run.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "pgid")
                && let Ok(text) = std::fs::read_to_string(f.path())
                && let Some(Ok(pgid)) = text.lines().next().map(str::parse::<i32>)
            {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
        }
    }
}

async fn approve(api: &Api, deployment: &str) {
    let (status, body) = api
        .post(
            &format!("/deployments/{deployment}/approve"),
            json!({"comment": "ship it"}),
        )
        .await;
    assert_eq!(status, 200, "approve through a follower: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_drives_a_pipeline_and_a_killed_leader_is_replaced() {
    let Some(db) = fresh_db().await else { return };
    let ws = Workspace::new();
    let config = replica_config(&ws, &db);
    let mut servers = vec![
        start(&config, &ws, "a"),
        start(&config, &ws, "b"),
        start(&config, &ws, "c"),
    ];
    let leader = one_leader(&servers.iter().collect::<Vec<_>>()).await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let f = &servers[followers[0]];
    let dev = Api::new(&f.url, DEV_TOKEN);
    let alice = Api::new(&f.url, ALICE_TOKEN);
    let sse: Vec<_> = followers
        .iter()
        .map(|&i| collect_events(&servers[i].url))
        .collect();

    // The whole pipeline, driven and watched through a follower.
    let d1 = awaiting_prod(&dev, "1.0.0").await;
    approve(&alice, &d1).await;
    dev.wait_for("1.0.0 healthy in prod", |d| {
        (last_good_version(d, "app", "prod").as_deref() == Some("1.0.0")).then_some(())
    })
    .await;
    // Step logs are on the shared log directory: readable on every replica.
    for s in &servers {
        let log = reqwest::Client::new()
            .get(format!("{}/api/v1/runs/{d1}/steps/0/log", s.url))
            .bearer_auth(DEV_TOKEN)
            .send()
            .await
            .expect("log");
        assert_eq!(log.status(), 200, "log on {}", s.url);
        assert!(
            log.text()
                .await
                .unwrap_or_default()
                .contains("deployed 1.0.0")
        );
    }

    // SIGKILL the leader during a slow prod deploy.
    ws.commit("2.0.0", "SLOW_DEPLOY");
    let d2 = awaiting_prod(&dev, "2.0.0").await;
    approve(&alice, &d2).await;
    let marker = ws.root.join("slow-deploy-started");
    dev.wait_for("the slow prod deploy to run", |d| {
        (deployment(d, &d2)["steps"][0]["status"] == "running" && marker.exists()).then_some(())
    })
    .await;
    let killed_at = Instant::now();
    servers[leader].kill();
    // The leader's machine died: its step processes die with it (on one
    // test machine they would outlive it and confuse other tests).
    kill_steps_of(&ws.root.join(format!("data-{}", ["a", "b", "c"][leader])));
    let survivors: Vec<&Server> = followers.iter().map(|&i| &servers[i]).collect();
    one_leader(&survivors).await;
    let took_over = killed_at.elapsed();
    assert!(
        took_over < Duration::from_secs(15),
        "failover took {took_over:?}"
    );

    // Handled as after a restart: interrupted, then rolled back.
    dev.wait_for("recovery: rolled back to 1.0.0", |d| {
        history(d, "app", "prod")
            .into_iter()
            .any(|dep| dep["kind"] == "rollback" && dep["status"] == "succeeded")
            .then_some(())
    })
    .await;
    let dash = dev.dashboard().await;
    let interrupted = deployment(&dash, &d2);
    assert_eq!(interrupted["status"], "failed");
    assert_eq!(interrupted["steps"][0]["status"], "interrupted");

    // Gap-free, no duplicate, and every SSE client got every event once.
    let last = dash["seq"].as_u64().expect("seq");
    let all = dev.events(0, last).await;
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "log has a gap");
    }
    for seqs in &sse {
        until("every SSE client to see the last event", || {
            let done = seqs.lock().unwrap().last().copied().unwrap_or(0) >= last;
            async move { done }
        })
        .await;
        let got: Vec<u64> = seqs
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|&s| s <= last)
            .collect();
        assert_eq!(
            got,
            (1..=last).collect::<Vec<_>>(),
            "SSE client saw a gap or a duplicate"
        );
    }
    servers.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_fenced_and_stands_down() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let Some(db) = fresh_db().await else { return };
    let ws = Workspace::new();
    let config = replica_config(&ws, &db);
    let servers = [start(&config, &ws, "a"), start(&config, &ws, "b")];
    let leader = one_leader(&servers.iter().collect::<Vec<_>>()).await;
    let follower = 1 - leader;
    let old = &servers[leader];
    let new = &servers[follower];
    let api = Api::new(&new.url, DEV_TOKEN);
    api.wait_for("the first build", |d| {
        (d["state"]["builds"]
            .as_object()
            .map(|b| b.len())
            .unwrap_or(0)
            > 0)
        .then_some(())
    })
    .await;
    let epoch = readyz(&old.url).await.expect("readyz")["epoch"].as_u64();

    let pid = Pid::from_raw(old.child.id() as i32);
    kill(pid, Signal::SIGSTOP).expect("SIGSTOP");
    until("the follower to take over", || {
        let url = new.url.clone();
        async move { readyz(&url).await.is_some_and(|r| r["role"] == "leader") }
    })
    .await;
    let new_epoch = readyz(&new.url).await.expect("readyz")["epoch"].as_u64();
    assert!(new_epoch > epoch, "a takeover starts a new epoch");
    let before = api.dashboard().await["seq"].as_u64().expect("seq");
    kill(pid, Signal::SIGCONT).expect("SIGCONT");
    until("the old leader to stand down", || {
        let url = old.url.clone();
        async move { readyz(&url).await.is_some_and(|r| r["role"] == "follower") }
    })
    .await;
    // Nothing of the old term reached the log: it stays gap-free and the
    // new leader still leads.
    let after = api.dashboard().await["seq"].as_u64().expect("seq");
    assert!(after >= before);
    let all = api.events(0, after).await;
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "log has a gap");
    }
    assert_eq!(
        one_leader(&servers.iter().collect::<Vec<_>>()).await,
        follower
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_racing_from_a_cold_start_elect_exactly_one() {
    let Some(db) = fresh_db().await else { return };
    let ws = Workspace::new();
    let config = replica_config(&ws, &db);
    let servers = [start(&config, &ws, "a"), start(&config, &ws, "b")];
    let refs: Vec<&Server> = servers.iter().collect();
    let first = one_leader(&refs).await;
    // And it stays that way over several renewals.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        assert_eq!(one_leader(&refs).await, first);
    }
    // `ferry status` on the follower lists both replicas and the leader.
    let follower = &servers[1 - first];
    let out = std::process::Command::new(ferry_bin())
        .args(["status", "--json", "--server", &follower.url])
        .env("FERRY_TOKEN", DEV_TOKEN)
        .env_remove("FERRY_CONFIG")
        .output()
        .expect("ferry status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).expect("status json");
    let rows = status["replicas"]["replicas"]
        .as_array()
        .expect("replica rows");
    assert_eq!(rows.len(), 2, "{status:#}");
    assert_eq!(rows.iter().filter(|r| r["leader"] == true).count(), 1);
    let leader_id = readyz(&servers[first].url).await.expect("readyz")["replica"].clone();
    assert_eq!(status["replicas"]["leader"], leader_id);
    let table = std::process::Command::new(ferry_bin())
        .args(["status", "--server", &follower.url])
        .env("FERRY_TOKEN", DEV_TOKEN)
        .env_remove("FERRY_CONFIG")
        .output()
        .expect("ferry status");
    assert!(String::from_utf8_lossy(&table.stdout).contains("replicas (lease epoch"));
}

/// A cluster of this test's own (it is stopped and started again), or `None`
/// when PostgreSQL tests are not configured.
fn own_cluster(dir: &Path) -> Option<String> {
    std::env::var("FERRY_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())?;
    let out = std::process::Command::new("bash")
        .arg(".ci/postgres.sh")
        .arg("start")
        .arg(dir)
        .output()
        .expect("postgres.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let url = text
        .lines()
        .find_map(|l| l.strip_prefix("export FERRY_TEST_POSTGRES="))
        .expect("url")
        .trim_matches('\'')
        .to_string();
    Some(url)
}

/// Run `pg_ctl` on the cluster in `dir` (as `postgres` when we are root).
fn pg_ctl(dir: &Path, args: &[&str]) {
    let script = "bin=$(pg_config --bindir 2>/dev/null); [ -x \"$bin/pg_ctl\" ] || \
         bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); \
         if [ \"$(id -u)\" = 0 ]; then runuser -u postgres -- \"$bin/pg_ctl\" \"$@\"; \
         else \"$bin/pg_ctl\" \"$@\"; fi";
    let status = std::process::Command::new("bash")
        .args(["-c", script, "pg_ctl", "-D"])
        .arg(dir.join("data"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("pg_ctl");
    assert!(status.success(), "pg_ctl {args:?} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_database_stands_the_leader_down_and_writes_answer_503() {
    let pg = tempfile::tempdir().expect("tempdir");
    let pg_dir = pg.path().join("cluster");
    let Some(base) = own_cluster(&pg_dir) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but FERRY_TEST_POSTGRES is not set"
        );
        eprintln!("note: FERRY_TEST_POSTGRES is not set, so this replica test does nothing");
        return;
    };
    let port = base
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("port")
        .to_string();
    let ws = Workspace::new();
    let config = replica_config(&ws, &base);
    let servers = [start(&config, &ws, "a"), start(&config, &ws, "b")];
    one_leader(&servers.iter().collect::<Vec<_>>()).await;
    let api = Api::new(&servers[0].url, DEV_TOKEN);
    api.wait_for("the first event", |d| {
        (d["seq"].as_u64() > Some(0)).then_some(())
    })
    .await;

    pg_ctl(&pg_dir, &["-m", "immediate", "-w", "stop"]);
    for s in &servers {
        until("every replica to report the store unreachable", || {
            let url = s.url.clone();
            async move {
                readyz(&url)
                    .await
                    .is_some_and(|r| r["store"] == "unreachable" && r["role"] == "follower")
            }
        })
        .await;
        let (status, body) = api_for(&s.url)
            .post(
                "/promote",
                json!({"service": "app", "stage": "test", "artifact": "a-1"}),
            )
            .await;
        assert_eq!(status, 503, "a write without the database: {body}");
        assert!(body.to_string().contains("hint"), "{body}");
        let read = reqwest::Client::new()
            .get(format!("{}/api/v1/dashboard", s.url))
            .bearer_auth(DEV_TOKEN)
            .send()
            .await
            .expect("dashboard");
        assert_eq!(read.status(), 200, "reads keep serving");
        assert!(
            read.headers().contains_key("ferry-stale"),
            "stale reads are marked"
        );
    }

    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
        pg_dir.display()
    );
    let log = pg_dir.join("server.log");
    pg_ctl(
        &pg_dir,
        &[
            "-l",
            &log.display().to_string(),
            "-w",
            "-t",
            "60",
            "-o",
            &opts,
            "start",
        ],
    );
    one_leader(&servers.iter().collect::<Vec<_>>()).await;
    for s in &servers {
        until("the store to be back", || {
            let url = s.url.clone();
            async move { readyz(&url).await.is_some_and(|r| r["store"] == "ok") }
        })
        .await;
    }
    drop(servers);
    let _ = std::process::Command::new("bash")
        .arg(".ci/postgres.sh")
        .arg("stop")
        .arg(&pg_dir)
        .status();
}

fn api_for(url: &str) -> Api {
    Api::new(url, DEV_TOKEN)
}
