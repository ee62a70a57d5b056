//! The store suite and the lease/fencing tests on a real PostgreSQL.
//!
//! `FERRY_TEST_POSTGRES` names a cluster (a base URL; `.ci/postgres.sh start`
//! prints one). Each test creates its own database, so tests run in parallel.
//! Without the variable the tests print a note and pass, except under
//! `CI=true`, where they fail: CI must not silently skip them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection};

use super::*;
use crate::store::suite::{self, seqs, step_finished};

/// A new empty database on the test cluster, as a store URL; `None` (after a
/// note) when no cluster is configured outside CI.
async fn fresh_db() -> Option<String> {
    let Some(base) = std::env::var("FERRY_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but FERRY_TEST_POSTGRES is not set: the PostgreSQL store tests must run in CI \
             (.ci/run starts a cluster with .ci/postgres.sh)"
        );
        eprintln!(
            "note: FERRY_TEST_POSTGRES is not set, so this PostgreSQL test does nothing; \
             run `eval \"$(.ci/postgres.sh start)\"` first"
        );
        return None;
    };
    let name = format!("ferry_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::postgres::PgConnection::connect(&base)
        .await
        .expect("FERRY_TEST_POSTGRES must name a reachable cluster");
    // The name is ours (hex), so formatting it into DDL is safe.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    Some(with_database(&base, &name))
}

/// `base` with its database replaced by `name`.
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

async fn open(url: &str) -> PgStore {
    PgStore::open(&StoreUrl::parse(url).unwrap()).await.unwrap()
}

async fn side(url: &str) -> sqlx::postgres::PgConnection {
    sqlx::postgres::PgConnection::connect(url).await.unwrap()
}

/// Wait until `cond` holds, checking every 20 ms, failing after `limit`.
async fn eventually<F, Fut, T>(limit: Duration, what: &str, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn pg_append_and_read_back() {
    let Some(url) = fresh_db().await else { return };
    let store = open(&url).await;
    suite::append_and_read_back(&store).await;
}

#[tokio::test]
async fn pg_reopening_keeps_events_and_continues_numbering() {
    let Some(url) = fresh_db().await else { return };
    let store = open(&url).await;
    let written = store
        .append((1..=5).map(step_finished).collect())
        .await
        .unwrap();
    store.close().await;
    let store = open(&url).await;
    assert_eq!(store.last_seq().await.unwrap(), 5);
    assert_eq!(store.events_after(0, 100).await.unwrap(), written);
    let more = store.append(vec![step_finished(6)]).await.unwrap();
    assert_eq!(seqs(&more), vec![6]);
}

#[tokio::test]
async fn pg_a_failure_mid_batch_stores_nothing_of_it() {
    let Some(url) = fresh_db().await else { return };
    let store = open(&url).await;
    store.append(vec![step_finished(1)]).await.unwrap();
    let mut side = side(&url).await;
    sqlx::raw_sql(
        "CREATE FUNCTION fail_on_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.body LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned event'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER fail_on_poison BEFORE INSERT ON events
           FOR EACH ROW EXECUTE FUNCTION fail_on_poison();",
    )
    .execute(&mut side)
    .await
    .unwrap();
    let db = url.rsplit('/').next().unwrap().to_string();
    suite::a_poisoned_batch_stores_nothing(&store, &db).await;
    sqlx::raw_sql("DROP TRIGGER fail_on_poison ON events")
        .execute(&mut side)
        .await
        .unwrap();
    let next = store.append(vec![step_finished(5)]).await.unwrap();
    assert_eq!(seqs(&next), vec![2], "numbering resumes without a hole");
}

#[tokio::test]
async fn pg_concurrent_appends_are_gap_free() {
    let Some(url) = fresh_db().await else { return };
    let store: Arc<dyn Store> = Arc::new(open(&url).await);
    let other: Arc<dyn Store> = Arc::new(open(&url).await);
    suite::concurrent_appends_are_gap_free(store, other).await;
}

#[tokio::test]
async fn pg_a_newer_schema_is_refused_in_one_line() {
    let Some(url) = fresh_db().await else { return };
    open(&url).await.close().await;
    let mut side = side(&url).await;
    sqlx::query("UPDATE ferry_schema SET version = $1")
        .bind(PG_SCHEMA_VERSION + 1)
        .execute(&mut side)
        .await
        .unwrap();
    let err = PgStore::open(&StoreUrl::parse(&url).unwrap())
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("newer than this ferry knows"), "{msg}");
    assert!(msg.contains("hint:"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[tokio::test]
async fn pg_a_failing_migration_changes_nothing() {
    let Some(url) = fresh_db().await else { return };
    let mut conn = side(&url).await;
    let migrations = [
        "CREATE TABLE one (x BIGINT);",
        "CREATE TABLE two (y BIGINT); INSERT INTO missing VALUES (1);",
    ];
    let err = migrate_with(&mut conn, "here", &migrations)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("migration 2 of"), "{err:#}");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        tables,
        vec!["ferry_schema", "one"],
        "table two was rolled back"
    );
    let fixed = [migrations[0], "CREATE TABLE two (y BIGINT);"];
    migrate_with(&mut conn, "here", &fixed).await.unwrap();
    let v: i64 = sqlx::query_scalar("SELECT version FROM ferry_schema")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, 2);
}

#[tokio::test]
async fn pg_replicas_starting_together_migrate_once() {
    let Some(url) = fresh_db().await else { return };
    let (a, b, c) = tokio::join!(open(&url), open(&url), open(&url));
    a.append(vec![step_finished(1)]).await.unwrap();
    assert_eq!(b.last_seq().await.unwrap(), 1);
    assert_eq!(c.lease().current().await.unwrap().epoch, 0);
}

#[tokio::test]
async fn pg_fencing_refuses_a_stale_epoch() {
    let Some(url) = fresh_db().await else { return };
    suite::fencing_refuses_a_stale_epoch(&open(&url).await).await;
}

#[tokio::test]
async fn pg_an_old_leader_cannot_append_after_a_takeover() {
    let Some(url) = fresh_db().await else { return };
    let a = open(&url).await;
    let b = open(&url).await;
    let ttl = Duration::from_millis(300);
    let ga = a
        .lease()
        .acquire("a", ttl)
        .await
        .unwrap()
        .expect("cold lease");
    assert_eq!(ga.epoch, 1);
    assert!(
        b.lease().acquire("b", ttl).await.unwrap().is_none(),
        "a's lease is live"
    );
    assert_eq!(b.lease().current().await.unwrap().leader(), Some("a"));
    a.append_fenced(ga.epoch, vec![step_finished(1)])
        .await
        .unwrap();

    // a stops renewing (paused); b takes over once the lease expired.
    let gb = eventually(Duration::from_secs(10), "b to take over", || async {
        b.lease()
            .acquire("b", Duration::from_secs(30))
            .await
            .unwrap()
    })
    .await;
    assert_eq!(gb.epoch, 2);

    let err = a
        .append_fenced(ga.epoch, vec![step_finished(2), step_finished(3)])
        .await
        .unwrap_err();
    let deposed = err.downcast_ref::<Deposed>().expect("a Deposed error");
    assert_eq!(deposed.current.leader(), Some("b"));
    assert_eq!(a.last_seq().await.unwrap(), 1, "a wrote nothing");
    assert!(
        a.lease().renew(&ga).await.unwrap().is_none(),
        "a cannot renew"
    );
    a.lease().release(&ga).await.unwrap();
    assert_eq!(
        b.lease().current().await.unwrap().leader(),
        Some("b"),
        "a's release is a no-op"
    );

    let by_b = b
        .append_fenced(gb.epoch, vec![step_finished(4)])
        .await
        .unwrap();
    assert_eq!(seqs(&by_b), vec![2]);
    // A clean hand-over: released, the next holder need not wait for expiry.
    b.lease().release(&gb).await.unwrap();
    let again = a.lease().acquire("a", ttl).await.unwrap().expect("free");
    assert_eq!(again.epoch, 3);
}

#[tokio::test]
async fn pg_racing_replicas_from_cold_elect_exactly_one() {
    let Some(url) = fresh_db().await else { return };
    let stores: Vec<Arc<PgStore>> = futures::future::join_all((0..4).map(|_| open(&url)))
        .await
        .into_iter()
        .map(Arc::new)
        .collect();
    for round in 1..=5u64 {
        let barrier = Arc::new(tokio::sync::Barrier::new(stores.len()));
        let tasks: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (s, barrier) = (s.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.lease()
                        .acquire(&format!("r{i}"), Duration::from_secs(30))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            if let Some(g) = t.await.unwrap() {
                winners.push(g);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(winners[0].epoch, round);
        stores[0].lease().release(&winners[0]).await.unwrap();
    }
}

#[tokio::test]
async fn pg_a_tail_wakes_for_appends_of_another_replica() {
    let Some(url) = fresh_db().await else { return };
    let store: Arc<dyn Store> = Arc::new(open(&url).await);
    let other: Arc<dyn Store> = Arc::new(open(&url).await);
    suite::a_tail_sees_appends(store, other).await;
}

#[tokio::test]
async fn pg_heartbeats_list_replicas() {
    let Some(url) = fresh_db().await else { return };
    suite::heartbeats_list_replicas(&open(&url).await).await;
}

#[tokio::test]
async fn pg_snapshots_are_kept_by_format_and_seq() {
    let Some(url) = fresh_db().await else { return };
    suite::snapshots_are_kept_by_format_and_seq(&open(&url).await).await;
}

#[tokio::test]
async fn pg_bad_start_fails_in_one_line_with_a_hint() {
    let Some(url) = fresh_db().await else { return };
    let one_line = |err: color_eyre::eyre::Report, want: &str| {
        let msg = format!("{err:#}");
        assert!(msg.contains(want), "{msg}");
        assert!(msg.contains("hint:"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        msg
    };
    // Wrong password: the URL's password swapped for another.
    let at = url.rfind('@').unwrap();
    let colon = url[..at].rfind(':').unwrap();
    let wrong = format!("{}:not-the-password{}", &url[..colon], &url[at..]);
    let err = PgStore::open(&StoreUrl::parse(&wrong).unwrap())
        .await
        .err()
        .unwrap();
    let msg = one_line(err, "refused the login");
    assert!(!msg.contains("not-the-password"), "{msg}");

    let missing = with_database(&url, "no_such_db_here");
    let err = PgStore::open(&StoreUrl::parse(&missing).unwrap())
        .await
        .err()
        .unwrap();
    one_line(err, "no such database");

    // Port 1 on loopback: nobody listens.
    let unreachable = "postgres://ferry:pw@127.0.0.1:1/ferry";
    let err = PgStore::open(&StoreUrl::parse(unreachable).unwrap())
        .await
        .err()
        .unwrap();
    one_line(err, "cannot reach the event store at 127.0.0.1:1/ferry");

    let err = StoreUrl::parse("postgres://ferry:pw@[::1/ferry").unwrap_err();
    one_line(err, "malformed store URL");
}

#[tokio::test]
async fn pg_events_about_reads_one_subject() {
    let Some(url) = fresh_db().await else { return };
    suite::events_about_reads_one_subject(&open(&url).await).await;
}

#[tokio::test]
async fn pg_migrating_fills_in_what_old_events_are_about() {
    let Some(url) = fresh_db().await else { return };
    let mut conn = side(&url).await;
    // A database as the release before the `about` column left it.
    migrate_with(&mut conn, "here", &MIGRATIONS[..2])
        .await
        .unwrap();
    let stored = suite::old_rows();
    for e in &stored {
        sqlx::query("INSERT INTO events (seq, at, actor, kind, body) VALUES ($1, $2, $3, $4, $5)")
            .bind(e.seq as i64)
            .bind(e.at)
            .bind(e.actor.name())
            .bind(e.kind.name())
            .bind(serde_json::to_string(e).unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let store = open(&url).await;
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT seq, about FROM events ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    suite::migrated_about_matches(&stored, &rows);
    assert_eq!(store.events_about("d-7").await.unwrap().len(), 3);
}
