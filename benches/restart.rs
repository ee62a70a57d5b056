//! Restart at 1,000,000 events: the real release binary's start to
//! `/healthz` 200 and its RSS then, beside a bare `SELECT seq, body` of
//! every event through sqlx on the same file (the baseline); then time
//! travel (`GET /dashboard?at=seq:N`) latency at that size.
//!
//! The store is built directly (no HTTP): the engine decides a pipeline's
//! inputs in process (25 services × 4 stages, each a deploy and a verify
//! step with one output batch), and the store appends the events in large
//! transactions. The snapshots a server would have taken on its way to the
//! end (the newest few at each spacing) are stored beside them, as the
//! driver stores them. Then:
//!
//! 1. a cold start without any snapshot (folds every event), stopped
//!    cleanly (it leaves a snapshot at the end);
//! 2. three starts from that snapshot: time to `/healthz` 200, RSS then,
//!    and RSS once the insights are folded in the background;
//! 3. the bare SELECT, three times;
//! 4. time travel to a recent seq and to an older one, 5 times each.
//!
//! Run: `cargo bench --bench restart`. Without `--bench` (under `cargo test
//! --all-targets`) it uses 20,000 events.

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};
use ferry::config::Config;
use ferry::engine::{Command as EngineCommand, Effect, Engine, Input, Principal};
use ferry::model::{NewEvent, StepOutcome, StepStatus};
use ferry::store::{Snapshot, SqliteStore, Store};
use sqlx::Row;

const SERVICES: usize = 25;

fn config_text(data: &Path) -> String {
    let mut s = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
        data.display()
    );
    for i in 0..SERVICES {
        s.push_str(&format!("\n[services.svc-{i:02}]\nsource = \"external\"\n"));
        for stage in ["test", "qa", "preprod", "prod"] {
            s.push_str(&format!(
                "[[services.svc-{i:02}.stages]]\nname = \"{stage}\"\ndeploy = {{ command = \"true\" }}\nverify = [{{ name = \"smoke\", command = \"true\" }}]\n"
            ));
        }
    }
    s
}

/// Decide inputs until the log holds at least `target` events, appending
/// them in batches. Returns the snapshots a server would still hold (the
/// engine's state when it passed each boundary `to_keep` keeps, and a view
/// snapshot per `every` events), to store later.
async fn build_store(
    config: Arc<Config>,
    store: &SqliteStore,
    target: u64,
) -> Result<Vec<Snapshot>> {
    let mut engine = Engine::new(config.clone());
    let format = ferry::server::snapshots::format(&config);
    let every = ferry::server::snapshots::DEFAULT_EVERY;
    // The snapshots a server would still hold at the end: the newest few per spacing.
    let boundaries: Vec<u64> = (1..=target / every).map(|k| k * every).collect();
    let mut wanted = ferry::server::snapshots::to_keep(&boundaries, every)
        .into_iter()
        .peekable();
    let mut snapshots = Vec::new();
    // View snapshots: one per `every` events over the whole log.
    let mut next_view = every;
    let mut pending: Vec<NewEvent> = Vec::new();
    let mut now = ferry::now_millis() - 3 * target as i64 * 10;
    let mut round = 0u64;
    while engine.state().seq < target {
        round += 1;
        for i in 0..SERVICES {
            let mut queue = std::collections::VecDeque::new();
            let mut decide =
                |engine: &mut Engine, input: Input, now: &mut i64| -> Result<Vec<Effect>> {
                    *now += 10;
                    let out = engine
                        .handle(input, *now)
                        .map_err(|r| eyre!("the engine refused: {r}"))?;
                    pending.extend(out.events);
                    Ok(out.effects)
                };
            let register = Input::Command {
                by: Principal {
                    name: "ci".into(),
                    roles: vec!["admin".into()],
                },
                command: EngineCommand::RegisterArtifact {
                    service: format!("svc-{i:02}"),
                    version: format!("1.{round}.{i}"),
                    commit: None,
                    subject: Some(format!("change {round} of svc-{i:02}")),
                    digest: format!("{:064x}", round * 1000 + i as u64),
                    uri: "file:///bench".into(),
                    metadata: Default::default(),
                    committed_at: None,
                },
            };
            queue.extend(decide(&mut engine, register, &mut now)?);
            while let Some(effect) = queue.pop_front() {
                let Effect::RunStep(job) = effect else {
                    continue;
                };
                let output = Input::StepOutput {
                    run: job.run.clone(),
                    step: job.step,
                    lines: vec![format!("{} {} ok", job.service, job.name)],
                    dropped: 0,
                };
                queue.extend(decide(&mut engine, output, &mut now)?);
                let finished = Input::StepFinished {
                    run: job.run,
                    step: job.step,
                    outcome: StepOutcome {
                        failed_tests: Vec::new(),
                        status: StepStatus::Passed,
                        exit_code: Some(0),
                        tests: None,
                        message: "exit code 0".into(),
                    },
                    built: None,
                };
                queue.extend(decide(&mut engine, finished, &mut now)?);
            }
            // Past a kept boundary: the state now, as the driver would
            // encode it after the group commit that crossed it.
            let seq = engine.state().seq;
            if seq >= next_view {
                next_view = (seq / every + 1) * every;
                snapshots.push(ferry::server::snapshots::view_snapshot(
                    &config,
                    engine.state(),
                )?);
            }
            if wanted.peek().is_some_and(|b| seq >= *b) {
                while wanted.peek().is_some_and(|b| seq >= *b) {
                    wanted.next();
                }
                snapshots.push(Snapshot {
                    seq,
                    format: format.clone(),
                    taken_at: ferry::now_millis(),
                    body: serde_json::to_vec(engine.state())?,
                });
            }
        }
        if pending.len() >= 20_000 || engine.state().seq >= target {
            store.append(std::mem::take(&mut pending)).await?;
        }
    }
    Ok(snapshots)
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn stop(mut self) -> Result<()> {
        // SIGTERM: a clean stop, which stores a snapshot at the end.
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        self.child.wait()?;
        Ok(())
    }
}

/// Start the binary; returns it once `/healthz` answers 200, with the time that took.
async fn start(config: &Path, http: &reqwest::Client) -> Result<(Server, Duration)> {
    let started = Instant::now();
    let (child, url) = support::spawn_server([OsStr::new("--config"), config.as_os_str()])?;
    let deadline = started + Duration::from_secs(120);
    loop {
        let ok = http
            .get(format!("{url}/api/v1/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return Ok((Server { child, url }, started.elapsed()));
        }
        if Instant::now() > deadline {
            return Err(eyre!("no /healthz 200 within 120 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Resident set size of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The baseline: every event body read through sqlx, nothing else.
async fn bare_select(db: &Path) -> Result<Duration> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(db))
        .await?;
    let started = Instant::now();
    let rows = sqlx::query("SELECT seq, body FROM events ORDER BY seq")
        .fetch_all(&pool)
        .await?;
    let mut bytes = 0usize;
    for row in &rows {
        let body: &str = row.try_get("body")?;
        bytes += body.len();
    }
    let took = started.elapsed();
    std::hint::black_box(bytes);
    pool.close().await;
    Ok(took)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.0}–{hi:.0}")
}

async fn travel(http: &reqwest::Client, url: &str, seq: u64) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = http
            .get(format!("{url}/api/v1/dashboard?at=seq:{seq}"))
            .send()
            .await?;
        if r.status() != 200 {
            return Err(eyre!("travel to seq:{seq}: {}", r.status()));
        }
        r.bytes().await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median(times))
}

#[tokio::main]
async fn main() -> Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let target: u64 = if full { 1_000_000 } else { 20_000 };
    let base = std::env::var_os("FERRY_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::tempdir_in(&base)?;
    let data = dir.path().join("data");
    let config_path = dir.path().join("ferry.toml");
    std::fs::write(&config_path, config_text(&data))?;
    let config = Arc::new(Config::load(&config_path)?);
    let db = data.join("ferry.db");

    let t = Instant::now();
    let store = SqliteStore::open(&db).await?;
    let snapshots = build_store(config.clone(), &store, target).await?;
    let end = store.last_seq().await?;
    store.close().await?;
    println!(
        "restart: {end} events ({SERVICES} services x 4 stages), store built in {:.1} s, {} MiB",
        t.elapsed().as_secs_f64(),
        std::fs::metadata(&db).map_or(0, |m| m.len()) / (1 << 20)
    );

    let http = reqwest::Client::new();
    // 1. Cold: no snapshot yet; the clean stop leaves one at the end.
    let (server, cold) = start(&config_path, &http).await?;
    let cold_rss = rss_mib(server.child.id());
    server.stop()?;
    // Beside it, the snapshots a growing server would have left behind.
    {
        let store = SqliteStore::open(&db).await?;
        let n = snapshots.len();
        for s in snapshots {
            store.put_snapshot(s).await?;
        }
        let format = ferry::server::snapshots::format(&config);
        let views = store
            .snapshot_seqs(&ferry::server::snapshots::view_format(&config))
            .await?;
        println!(
            "  snapshots: {n} from the way, and the stop's; whole states at {:?}; {} views ({}..={})",
            store.snapshot_seqs(&format).await?,
            views.len(),
            views.first().copied().unwrap_or(0),
            views.last().copied().unwrap_or(0)
        );
        store.close().await?;
    }

    // 2. Warm starts.
    let (mut starts, mut rss, mut rss_loaded) = (Vec::new(), Vec::new(), Vec::new());
    let mut travel_recent = Vec::new();
    let mut travel_old = Vec::new();
    let mut travel_worst = Vec::new();
    for round in 0..3 {
        let (server, took) = start(&config_path, &http).await?;
        starts.push(took.as_secs_f64() * 1000.0);
        rss.push(rss_mib(server.child.id()));
        // The insights route waits for the background fold.
        http.get(format!("{}/api/v1/insights", server.url))
            .send()
            .await?;
        rss_loaded.push(rss_mib(server.child.id()));
        if round == 0 {
            let recent = end - end.min(3_000);
            let old = end / 2 + 1_234;
            travel_recent.push(travel(&http, &server.url, recent).await?);
            travel_old.push(travel(&http, &server.url, old).await?);
            // The farthest from a view snapshot: just before the next one.
            let every = ferry::server::snapshots::DEFAULT_EVERY;
            let worst = ((end / 3 / every) * every + every - 1).min(end);
            travel_worst.push(travel(&http, &server.url, worst).await?);
        }
        server.stop()?;
    }
    // 3. Baseline.
    let mut selects = Vec::new();
    for _ in 0..3 {
        selects.push(bare_select(&db).await?.as_secs_f64() * 1000.0);
    }
    let (start_ms, select_ms) = (median(starts.clone()), median(selects.clone()));
    println!(
        "  cold start, no snapshot (folds all {end}): {:.0} ms to /healthz, {cold_rss:.0} MiB RSS",
        cold.as_secs_f64() * 1000.0
    );
    println!(
        "  start from a snapshot to /healthz 200: median {start_ms:.0} ms ({} ms over 3)",
        spread(&starts)
    );
    println!(
        "  baseline, bare SELECT of every body: median {select_ms:.0} ms ({} ms)",
        spread(&selects)
    );
    println!(
        "  ratio: {:.2}x (goal: start <= 1000 ms)",
        start_ms / select_ms
    );
    println!(
        "  RSS at /healthz: median {:.0} MiB ({} MiB); after the insights fold: {:.0} MiB (goal <= 100 MB)",
        median(rss.clone()),
        spread(&rss),
        median(rss_loaded.clone())
    );
    println!(
        "  time travel GET /dashboard?at=seq:N, median of 5: {:.0} ms 3,000 events back; {:.0} ms at the middle of the log; {:.0} ms at the farthest from a view snapshot (goal <= 200 ms)",
        median(travel_recent),
        median(travel_old),
        median(travel_worst)
    );
    Ok(())
}
