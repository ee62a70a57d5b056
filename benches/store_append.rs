//! How fast the SQLite event store appends durably (WAL, synchronous=FULL,
//! so every append is one fsync). Prints events/second for batches of 1 and
//! 16 and the median and p99 latency of one append. Bounded to a few seconds.
//!
//! Baseline, in the same run on the same disk: a bare loop through sqlx with
//! the store's pragmas (WAL, synchronous=FULL, busy_timeout, foreign_keys)
//! and table, `BEGIN IMMEDIATE`, one INSERT per event of the same JSON
//! bodies (encoded beforehand), `COMMIT`. The ratio is ferry's appends/s
//! over the bare loop's (goal >= 0.9).
//!
//! Run: `cargo bench --bench store_append`. The database lives under
//! cargo's target tmp dir (a real disk, unlike a tmpfs /tmp) unless
//! FERRY_BENCH_DIR names another directory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferry::model::{
    Actor, DeploymentKind, DeploymentStatus, EventKind, NewEvent, StepKind, StepOutcome, StepPlan,
    StepStatus, TestCounts,
};
use ferry::store::{SqliteStore, Store};

/// Time spent on each batch size; the whole run stays under ~4 s.
const BUDGET: Duration = Duration::from_millis(1500);
/// `cargo test --all-targets` also runs this binary (without `--bench`):
/// then it only checks that appending works, in a blink.
const SMOKE_BUDGET: Duration = Duration::from_millis(50);
/// Appends per measurement at most, so a very fast disk also ends quickly.
const MAX_APPENDS: usize = 20_000;

/// A mix like a real pipeline's: a deployment, its steps, their outcomes.
fn event(i: usize) -> NewEvent {
    let run = format!("d-{}", i / 8);
    let kind = match i % 8 {
        0 => EventKind::DeploymentCreated {
            deployment: run.clone().into(),
            service: "shop".into(),
            stage: "preprod".into(),
            artifact: format!("a-{}", i / 8).into(),
            kind: DeploymentKind::Promote,
            status: DeploymentStatus::Queued,
            requested_by: Actor::user("alice"),
            approval: None,
            steps: ["deploy", "smoke", "perf"]
                .iter()
                .map(|n| StepPlan {
                    name: (*n).into(),
                    kind: StepKind::Verify,
                })
                .collect(),
            rolls_back: None,
            version: String::new(),
            digest: String::new(),
        },
        1 => EventKind::DeploymentStarted {
            deployment: run.clone().into(),
        },
        2 | 4 => EventKind::StepStarted {
            run: run.into(),
            step: i % 8 / 2,
        },
        3 => EventKind::StepOutput {
            run: run.into(),
            step: 1,
            lines: (0..20)
                .map(|l| format!("test_checkout_{l} ... ok (0.{l:02}s)"))
                .collect(),
            dropped: 0,
        },
        5 | 6 => EventKind::StepFinished {
            run: run.into(),
            step: i % 8 - 4,
            outcome: StepOutcome {
                status: StepStatus::Passed,
                exit_code: Some(0),
                tests: Some(TestCounts {
                    passed: 143,
                    failed: 0,
                    skipped: 2,
                }),
                message: "143 tests passed, 2 skipped".into(),
                failed_tests: Vec::new(),
            },
        },
        _ => EventKind::DeploymentFinished {
            deployment: run.into(),
            status: DeploymentStatus::Succeeded,
            message: "all steps passed".into(),
        },
    };
    NewEvent {
        at: 1_764_000_000_000 + i as i64,
        actor: Actor::ferry(),
        reason: "pipeline".into(),
        kind,
    }
}

struct Figures {
    appends: usize,
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn empty() -> Self {
        Figures {
            appends: 0,
            events: 0,
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
        }
    }
    fn add(&mut self, other: Figures) {
        self.appends += other.appends;
        self.events += other.events;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.latencies.sort();
    }
}

async fn measure(store: &SqliteStore, batch: usize, next: &mut usize, budget: Duration) -> Figures {
    let start = Instant::now();
    let mut latencies = Vec::new();
    while start.elapsed() < budget && latencies.len() < MAX_APPENDS {
        let events: Vec<NewEvent> = (0..batch).map(|k| event(*next + k)).collect();
        *next += batch;
        let t = Instant::now();
        if let Err(e) = store.append(events).await {
            eprintln!("append failed: {e:#}");
            std::process::exit(1);
        }
        latencies.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Figures {
        appends: latencies.len(),
        events: latencies.len() * batch,
        elapsed,
        latencies,
    }
}

/// The bare loop: same file system, same pragmas, same rows, no ferry.
async fn bare(
    path: &std::path::Path,
    batch: usize,
    budget: Duration,
) -> Result<Figures, sqlx::Error> {
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        .synchronous(SqliteSynchronous::Full)
        .journal_mode(SqliteJournalMode::Wal);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS events (
            seq   INTEGER PRIMARY KEY,
            at    BIGINT  NOT NULL,
            actor TEXT,
            kind  TEXT    NOT NULL,
            body  TEXT    NOT NULL CHECK (json_valid(body))
        );",
    )
    .execute(&mut conn)
    .await?;
    let bodies: Vec<(String, String)> = (0..64)
        .map(|i| {
            let e = event(i).numbered(i as u64 + 1);
            let body = serde_json::to_string(&e).unwrap_or_default();
            (e.kind.name().to_string(), body)
        })
        .collect();
    let mut seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
        .fetch_one(&mut conn)
        .await?;
    let start = Instant::now();
    let mut latencies = Vec::new();
    while start.elapsed() < budget && latencies.len() < MAX_APPENDS {
        let t = Instant::now();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        for k in 0..batch {
            seq += 1;
            let (kind, body) = &bodies[(seq as usize + k) % bodies.len()];
            sqlx::query("INSERT INTO events (seq, at, actor, kind, body) VALUES (?, ?, ?, ?, ?)")
                .bind(seq)
                .bind(seq)
                .bind("ferry")
                .bind(kind)
                .bind(body)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        latencies.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Ok(Figures {
        appends: latencies.len(),
        events: latencies.len() * batch,
        elapsed,
        latencies,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let budget = if std::env::args().any(|a| a == "--bench") {
        BUDGET
    } else {
        SMOKE_BUDGET
    };
    let base = std::env::var_os("FERRY_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    if let Err(e) = std::fs::create_dir_all(&base) {
        eprintln!("cannot create {}: {e}", base.display());
        std::process::exit(1);
    }
    let dir = match tempfile::tempdir_in(&base) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot make a temp dir under {}: {e}", base.display());
            std::process::exit(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async {
        let path = dir.path().join("ferry.db");
        let store = match SqliteStore::open(&path).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e:#}");
                std::process::exit(1);
            }
        };
        println!("store_append: durable appends to {}", path.display());
        let mut next = 0;
        // Warm up the statement cache and the file's first pages.
        let _ = measure(&store, 1, &mut next, budget).await;
        let bare_path = dir.path().join("bare.db");
        let _ = bare(&bare_path, 1, budget / 4).await;
        let show = |who: &str, batch: usize, f: &Figures| {
            let secs = f.elapsed.as_secs_f64().max(f64::EPSILON);
            println!(
                "{who:>5} batch {batch:>2}: {:>9.0} events/s  {:>7.0} appends/s  median {:>8.3} ms  p99 {:>8.3} ms  ({} appends, {} events)",
                f.events as f64 / secs,
                f.appends as f64 / secs,
                percentile(&f.latencies, 0.5).as_secs_f64() * 1e3,
                percentile(&f.latencies, 0.99).as_secs_f64() * 1e3,
                f.appends,
                f.events,
            );
            f.appends as f64 / secs
        };
        // Interleaved in slices, so a burst of load from elsewhere on a
        // shared machine hits both sides alike.
        const SLICES: u32 = 4;
        for batch in [1usize, 16] {
            let (mut f, mut b) = (Figures::empty(), Figures::empty());
            for _ in 0..SLICES {
                f.add(measure(&store, batch, &mut next, budget / SLICES).await);
                match bare(&bare_path, batch, budget / SLICES).await {
                    Ok(x) => b.add(x),
                    Err(e) => {
                        eprintln!("bare loop failed: {e}");
                        std::process::exit(1);
                    }
                }
            }
            let ours = show("ferry", batch, &f);
            let theirs = show("bare", batch, &b);
            println!(
                "      batch {batch:>2}: ratio ferry / bare appends/s {:.2}  (goal >= 0.9)",
                ours / theirs.max(f64::EPSILON)
            );
        }
        if let Err(e) = store.close().await {
            eprintln!("{e:#}");
        }
    });
}
