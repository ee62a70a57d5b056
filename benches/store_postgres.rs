//! Durable appends per second on PostgreSQL (the fenced append a leader
//! makes: lock the lease row, check the epoch, insert, NOTIFY, commit) beside
//! a bare autocommit `INSERT` loop on the same PostgreSQL (the ratio is the
//! store's overhead) and beside the SQLite store. One event per append, so
//! each append is one commit (one WAL flush). About 10 s in all.
//!
//! Run: `eval "$(.ci/postgres.sh start)"; cargo bench --bench store_postgres`.
//! Without FERRY_TEST_POSTGRES it prints why and does nothing. Under
//! `cargo test --all-targets` (no `--bench`) it runs for a blink.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, eyre};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

use ferry::model::{Actor, EventKind, NewEvent, StepOutcome, StepStatus, TestCounts};
use ferry::store::{PgStore, SqliteStore, Store, StoreUrl};

/// Time spent on each of the three measurements.
const BUDGET: Duration = Duration::from_secs(3);
const SMOKE_BUDGET: Duration = Duration::from_millis(50);

fn event(i: usize) -> NewEvent {
    NewEvent {
        at: 1_764_000_000_000 + i as i64,
        actor: Actor::ferry(),
        reason: "pipeline".into(),
        kind: EventKind::StepFinished {
            run: format!("d-{}", i / 8).into(),
            step: 1,
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
    }
}

/// Appends per second of `op`, run back to back for `budget`.
async fn rate<F, Fut>(budget: Duration, mut op: F) -> Result<(f64, usize)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < budget {
        op(n).await?;
        n += 1;
    }
    Ok((
        n as f64 / start.elapsed().as_secs_f64().max(f64::EPSILON),
        n,
    ))
}

fn with_database(base: &str, name: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (base, String::new()),
    };
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let host_end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    format!("{}/{name}{query}", &url[..host_end])
}

async fn run(base: String, budget: Duration) -> Result<()> {
    let name = format!("ferry_bench_{}", std::process::id());
    let mut admin = PgConnection::connect(&base)
        .await
        .wrap_err("cannot connect to FERRY_TEST_POSTGRES")?;
    // Our own name (digits), so formatting it into DDL is safe.
    // Separate statements: several in one string run as one transaction,
    // which DROP/CREATE DATABASE refuse.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut admin)
            .await?;
    }
    let url = with_database(&base, &name);
    let result = measure(&url, budget).await;
    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    result
}

async fn measure(url: &str, budget: Duration) -> Result<()> {
    let store = PgStore::open(&StoreUrl::from_str(url)?).await?;
    let grant = store
        .lease()
        .acquire("bench", Duration::from_secs(600))
        .await?
        .ok_or_else(|| eyre!("the bench database's lease is taken"))?;
    let body = serde_json::to_string(&event(0).numbered(1))?;

    // Warm up the pool and the plans.
    rate(budget / 4, |i| {
        let store = &store;
        async move {
            store
                .append_fenced(grant.epoch, vec![event(i)])
                .await
                .map(|_| ())
        }
    })
    .await?;
    let (fenced, n_fenced) = rate(budget, |i| {
        let store = &store;
        async move {
            store
                .append_fenced(grant.epoch, vec![event(i)])
                .await
                .map(|_| ())
        }
    })
    .await?;

    let mut conn = PgConnection::connect(url).await?;
    sqlx::raw_sql("CREATE TABLE bare (seq BIGINT PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&mut conn)
        .await?;
    let conn = tokio::sync::Mutex::new(conn);
    let (bare, n_bare) = rate(budget, |i| {
        let (conn, body) = (&conn, &body);
        async move {
            let mut c = conn.lock().await;
            sqlx::query("INSERT INTO bare (seq, body) VALUES ($1, $2)")
                .bind(i as i64)
                .bind(body)
                .execute(&mut *c)
                .await?;
            Ok(())
        }
    })
    .await?;

    let dir_base = std::env::var_os("FERRY_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&dir_base)?;
    let dir = tempfile::tempdir_in(&dir_base)?;
    let sqlite = SqliteStore::open(&dir.path().join("ferry.db")).await?;
    let (lite, n_lite) = rate(budget, |i| {
        let sqlite = &sqlite;
        async move { sqlite.append(vec![event(i)]).await.map(|_| ()) }
    })
    .await?;

    println!(
        "store_postgres: one event per durable append ({} s each)",
        budget.as_secs_f64()
    );
    println!("  postgres fenced append  {fenced:>8.0} appends/s  ({n_fenced})");
    println!("  postgres bare INSERT    {bare:>8.0} inserts/s  ({n_bare})");
    println!("  sqlite append           {lite:>8.0} appends/s  ({n_lite})");
    println!(
        "  ratio fenced/bare {:.2}, postgres/sqlite {:.2}",
        fenced / bare.max(f64::EPSILON),
        fenced / lite.max(f64::EPSILON)
    );
    store.close().await;
    Ok(())
}

fn main() {
    let Some(base) = std::env::var("FERRY_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        println!(
            "store_postgres: skipped, FERRY_TEST_POSTGRES is not set \
             (start a cluster with: eval \"$(.ci/postgres.sh start)\")"
        );
        return;
    };
    let budget = if std::env::args().any(|a| a == "--bench") {
        BUDGET
    } else {
        SMOKE_BUDGET
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
    if let Err(e) = runtime.block_on(run(base, budget)) {
        eprintln!("store_postgres: {e:#}");
        std::process::exit(1);
    }
}
