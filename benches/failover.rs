//! Failover time: SIGKILL the leader of two real `ferry server` replicas on
//! one PostgreSQL, then measure until the new leader's first append (a write
//! sent to the survivor every 20 ms succeeds). 10 runs; prints the median and
//! the spread. TTL: `FERRY_FAILOVER_TTL` (default 10s, ferry's default).
//!
//! Run: `eval "$(.ci/postgres.sh start)"; cargo bench --bench failover`.
//! Without FERRY_TEST_POSTGRES, or without `--bench` (under `cargo test
//! --all-targets`), it prints why and does nothing.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

const RUNS: usize = 10;

struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path, data: &Path) -> Result<Replica> {
    let (child, url) = support::spawn_server([
        OsStr::new("--config"),
        config.as_os_str(),
        OsStr::new("--data-dir"),
        data.as_os_str(),
    ])?;
    Ok(Replica { child, url })
}

async fn role(http: &reqwest::Client, url: &str) -> Option<String> {
    let r: serde_json::Value = http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    r["role"].as_str().map(str::to_string)
}

/// Wait (with a deadline) until one of `replicas` leads; its index.
async fn leader(http: &reqwest::Client, replicas: &[Replica]) -> Result<usize> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        for (i, r) in replicas.iter().enumerate() {
            if role(http, &r.url).await.as_deref() == Some("leader") {
                return Ok(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(eyre!("no leader within 120 s"))
}

async fn fresh_db(base: &str) -> Result<String> {
    let name = format!("ferry_failover_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(base).await?;
    // The name is ours (hex), so formatting it into DDL is safe.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let (url, query) = match base.split_once('?') {
        Some((u, q)) => (u.to_string(), format!("?{q}")),
        None => (base.to_string(), String::new()),
    };
    let root = url.rsplit_once('/').map(|(r, _)| r).unwrap_or(&url);
    Ok(format!("{root}/{name}{query}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        println!("failover: run with `cargo bench --bench failover`");
        return Ok(());
    }
    let Ok(base) = std::env::var("FERRY_TEST_POSTGRES") else {
        println!(
            "failover: FERRY_TEST_POSTGRES is not set; run `eval \"$(.ci/postgres.sh start)\"`"
        );
        return Ok(());
    };
    let ttl = std::env::var("FERRY_FAILOVER_TTL").unwrap_or_else(|_| "10s".into());
    let db = fresh_db(&base).await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("ferry.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nstore = \"{db}\"\nlease_ttl = \"{ttl}\"\n\n\
             [services.app]\nsource = \"external\"\n\
             [[services.app.stages]]\nname = \"test\"\ndeploy = {{ command = \"true\" }}\n"
        ),
    )?;
    let data = |i: usize| dir.path().join(format!("data-{i}"));
    let http = reqwest::Client::new();
    let mut replicas = vec![start(&config, &data(0))?, start(&config, &data(1))?];
    let mut times = Vec::new();
    for run in 0..RUNS {
        let l = leader(&http, &replicas).await?;
        let f = 1 - l;
        // Both must be up and following before the kill.
        while role(&http, &replicas[f].url).await.as_deref() != Some("follower") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let killed = Instant::now();
        let _ = replicas[l].child.kill();
        let _ = replicas[l].child.wait();
        let mut n = 0;
        let took = loop {
            n += 1;
            let body = serde_json::json!({
                "service": "app",
                "version": format!("{run}.{n}.0"),
                "digest": format!("{:064x}", run * 100_000 + n),
                "uri": "file:///dev/null",
            });
            let ok = http
                .post(format!("{}/api/v1/artifacts", replicas[f].url))
                .json(&body)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break killed.elapsed();
            }
            if killed.elapsed() > Duration::from_secs(120) {
                return Err(eyre!("no new leader appended within 120 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!("run {run}: {:.2} s", took.as_secs_f64());
        times.push(took);
        // The killed replica comes back as a follower for the next run.
        replicas[l] = start(&config, &data(l + 10 * (run + 1)))?;
    }
    times.sort();
    let median = (times[RUNS / 2 - 1] + times[RUNS / 2]) / 2;
    println!(
        "failover (TTL {ttl}, {RUNS} runs): SIGKILL to the new leader's first append: \
         median {:.2} s, min {:.2} s, max {:.2} s",
        median.as_secs_f64(),
        times[0].as_secs_f64(),
        times[RUNS - 1].as_secs_f64()
    );
    Ok(())
}
