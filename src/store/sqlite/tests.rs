//! Tests of the SQLite store on real database files in a temporary directory.

use std::sync::Arc;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::*;
use crate::store::suite::{self, seqs, step_finished};

/// A separate connection to the same file, as another process would have.
async fn side_connection(path: &Path) -> SqliteConnection {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(5));
    SqliteConnection::connect_with(&opts)
        .await
        .expect("side connection")
}

#[tokio::test]
async fn append_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/ferry.db");
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(
        path.exists(),
        "the file and its parent directory are created"
    );
    suite::append_and_read_back(&store).await;
}

#[tokio::test]
async fn reopening_keeps_events_and_continues_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let written = store
        .append((1..=5).map(step_finished).collect())
        .await
        .unwrap();
    store.close().await.unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.last_seq().await.unwrap(), 5);
    assert_eq!(store.events_after(0, 100).await.unwrap(), written);
    let more = store.append(vec![step_finished(6)]).await.unwrap();
    assert_eq!(seqs(&more), vec![6]);
    drop(store);

    // Also without a clean close: the WAL alone must carry the events.
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.last_seq().await.unwrap(), 6);
    assert_eq!(
        store.writer_pragmas().await.unwrap().user_version,
        SCHEMA_VERSION
    );
}

#[tokio::test]
async fn a_failure_mid_batch_stores_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.append(vec![step_finished(1)]).await.unwrap();

    // A trigger (installed from outside, like a faulty disk or a constraint
    // would) makes the third insert of the next batch fail.
    let mut side = side_connection(&path).await;
    sqlx::raw_sql(
        "CREATE TRIGGER fail_on_poison BEFORE INSERT ON events
         WHEN NEW.body LIKE '%poison%'
         BEGIN SELECT RAISE(ABORT, 'poisoned event'); END;",
    )
    .execute(&mut side)
    .await
    .unwrap();

    suite::a_poisoned_batch_stores_nothing(&store, "ferry.db").await;

    sqlx::raw_sql("DROP TRIGGER fail_on_poison")
        .execute(&mut side)
        .await
        .unwrap();
    let next = store.append(vec![step_finished(5)]).await.unwrap();
    assert_eq!(seqs(&next), vec![2], "numbering resumes without a hole");
}

#[tokio::test]
async fn concurrent_appends_are_gap_free() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    // A second store on the same file stands in for a second process.
    let other: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());

    suite::concurrent_appends_are_gap_free(store, other).await;
}

#[tokio::test]
async fn durability_pragmas_are_in_effect() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    let w = store.writer_pragmas().await.unwrap();
    assert_eq!(w.journal_mode, "wal");
    assert_eq!(w.synchronous, 2, "FULL");
    assert!(w.foreign_keys);
    assert_eq!(w.busy_timeout_ms, 5000);
    assert_eq!(w.user_version, SCHEMA_VERSION);
    let r = store.reader_pragmas().await.unwrap();
    assert_eq!(r.journal_mode, "wal");
    assert_eq!(r.busy_timeout_ms, 5000);
}

#[tokio::test]
async fn readers_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    let res = sqlx::query("DELETE FROM events")
        .execute(&store.readers)
        .await;
    assert!(res.is_err(), "query_only read pool");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    SqliteStore::open(&path)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    let mut side = side_connection(&path).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "PRAGMA user_version = {}",
        SCHEMA_VERSION + 1
    )))
    .execute(&mut side)
    .await
    .unwrap();
    side.close().await.unwrap();

    let err = SqliteStore::open(&path).await.err().expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("newer than this ferry knows"), "{msg}");
    assert!(msg.contains("ferry.db"), "{msg}");
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = SqliteStore::open(&path).await.err().expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("ferry.db"), "{msg}");
}

#[tokio::test]
async fn an_unreadable_row_is_reported_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.append(vec![step_finished(1)]).await.unwrap();
    let mut side = side_connection(&path).await;
    sqlx::raw_sql(
        "INSERT INTO events (seq, at, actor, kind, body) VALUES (2, 0, 'x', 'alien', '{\"seq\":2}')",
    )
    .execute(&mut side)
    .await
    .unwrap();
    let err = store.events_after(0, 10).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("event 2"), "{msg}");
}

#[tokio::test]
async fn a_failing_migration_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let opts = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
    let migrations = [
        "CREATE TABLE one (x INTEGER);",
        // The second statement fails after the first one succeeded.
        "CREATE TABLE two (y INTEGER); INSERT INTO missing VALUES (1);",
    ];
    let err = migrate_with(&mut conn, &path, &migrations)
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("migration 2 of"), "{msg}");
    assert!(msg.contains("m.db"), "{msg}");

    assert_eq!(user_version(&mut conn).await.unwrap(), 1);
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(tables, vec!["one"], "table two was rolled back");

    // Fixed, it applies only what is missing.
    let fixed = [migrations[0], "CREATE TABLE two (y INTEGER);"];
    migrate_with(&mut conn, &path, &fixed).await.unwrap();
    assert_eq!(user_version(&mut conn).await.unwrap(), 2);
}

#[tokio::test]
async fn an_impossible_directory_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let err = SqliteStore::open(&blocker.join("ferry.db"))
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("cannot create the directory"), "{msg}");
    assert!(msg.contains("not-a-dir"), "{msg}");
}

#[tokio::test]
async fn single_node_fencing_knows_only_epoch_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    suite::fencing_refuses_a_stale_epoch(&store).await;
}

#[tokio::test]
async fn a_tail_wakes_for_appends() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("ferry.db"))
            .await
            .unwrap(),
    );
    suite::a_tail_sees_appends(store.clone(), store).await;
}

#[tokio::test]
async fn heartbeats_are_kept_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    suite::heartbeats_list_replicas(&store).await;
}

#[tokio::test]
async fn snapshots_are_kept_by_format_and_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    suite::snapshots_are_kept_by_format_and_seq(&store).await;
}

#[tokio::test]
async fn events_about_reads_one_subject() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    suite::events_about_reads_one_subject(&store).await;
}

#[tokio::test]
async fn migrating_fills_in_what_old_events_are_about() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let opts = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
    // A database as the release before the `about` column left it.
    migrate_with(&mut conn, &path, &MIGRATIONS[..2])
        .await
        .unwrap();
    let stored = suite::old_rows();
    for e in &stored {
        sqlx::query("INSERT INTO events (seq, at, actor, kind, body) VALUES (?, ?, ?, ?, ?)")
            .bind(e.seq as i64)
            .bind(e.at)
            .bind(e.actor.name())
            .bind(e.kind.name())
            .bind(serde_json::to_string(e).unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    drop(conn);
    let store = SqliteStore::open(&path).await.unwrap();
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT seq, about FROM events ORDER BY seq")
            .fetch_all(&store.readers)
            .await
            .unwrap();
    suite::migrated_about_matches(&stored, &rows);
    assert_eq!(store.events_about("d-7").await.unwrap().len(), 3);
}
