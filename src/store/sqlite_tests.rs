//! Tests of the SQLite store on real database files in a temporary directory.

use std::collections::BTreeSet;
use std::sync::Arc;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::*;
use crate::model::{
    Actor, DeploymentKind, DeploymentStatus, EventKind, StepKind, StepOutcome, StepPlan,
    StepStatus, TestCounts,
};

fn step_finished(i: u64) -> NewEvent {
    NewEvent {
        at: 1_700_000_000_000 + i as i64,
        actor: Actor::ferry(),
        reason: format!("step {i} ended"),
        kind: EventKind::StepFinished {
            run: format!("d-{i}"),
            step: 1,
            outcome: StepOutcome {
                status: StepStatus::Passed,
                exit_code: Some(0),
                tests: Some(TestCounts {
                    passed: 12,
                    failed: 0,
                    skipped: 1,
                }),
                message: "12 tests passed".into(),
            },
        },
    }
}

fn deployment_created(id: &str) -> NewEvent {
    NewEvent {
        at: 1_700_000_000_000,
        actor: Actor::user("alice"),
        reason: "promote v1.2.3 to test".into(),
        kind: EventKind::DeploymentCreated {
            deployment: id.into(),
            service: "shop".into(),
            stage: "test".into(),
            artifact: "a-1".into(),
            kind: DeploymentKind::Promote,
            status: DeploymentStatus::Queued,
            requested_by: Actor::user("alice"),
            approval: None,
            steps: vec![StepPlan {
                name: "deploy".into(),
                kind: StepKind::Deploy,
            }],
            rolls_back: None,
            version: String::new(),
            digest: String::new(),
        },
    }
}

fn seqs(events: &[Event]) -> Vec<Seq> {
    events.iter().map(|e| e.seq).collect()
}

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
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert!(store.events_after(0, 100).await.unwrap().is_empty());

    let first = store
        .append(vec![deployment_created("d-1"), step_finished(1)])
        .await
        .unwrap();
    assert_eq!(seqs(&first), vec![1, 2]);
    let second = store.append(vec![step_finished(2)]).await.unwrap();
    assert_eq!(seqs(&second), vec![3]);
    assert!(store.append(Vec::new()).await.unwrap().is_empty());
    assert_eq!(store.last_seq().await.unwrap(), 3);

    let all = store.events_after(0, 100).await.unwrap();
    let mut expected = first.clone();
    expected.extend(second);
    assert_eq!(all, expected, "events come back exactly as appended");
    assert_eq!(seqs(&store.events_after(1, 1).await.unwrap()), vec![2]);
    assert_eq!(seqs(&store.events_after(1, 100).await.unwrap()), vec![2, 3]);
    assert!(store.events_after(3, 100).await.unwrap().is_empty());
    assert!(store.events_after(0, 0).await.unwrap().is_empty());
    assert!(store.events_after(u64::MAX, 10).await.unwrap().is_empty());
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

    let mut poison = step_finished(4);
    poison.reason = "poison".into();
    let err = store
        .append(vec![step_finished(2), step_finished(3), poison])
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("appending 3 event(s)"), "{msg}");
    assert!(msg.contains("ferry.db"), "names the file: {msg}");
    assert!(msg.contains("poisoned event"), "gives the cause: {msg}");

    assert_eq!(store.last_seq().await.unwrap(), 1, "nothing of the batch");
    assert_eq!(store.events_after(0, 100).await.unwrap().len(), 1);

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
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    // A second store on the same file stands in for a second process.
    let other = Arc::new(SqliteStore::open(&path).await.unwrap());

    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let s = if t % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for b in 0..10u64 {
                let size = 1 + ((t + b) % 3);
                let batch = (0..size).map(|i| step_finished(t * 1000 + b * 10 + i));
                let numbered = s.append(batch.collect()).await.unwrap();
                let ns = seqs(&numbered);
                assert!(
                    ns.windows(2).all(|w| w[1] == w[0] + 1),
                    "a batch is contiguous: {ns:?}"
                );
                got.extend(ns);
            }
            got
        }));
    }
    let mut all = BTreeSet::new();
    let mut count = 0;
    for task in tasks {
        for seq in task.await.unwrap() {
            count += 1;
            assert!(all.insert(seq), "seq {seq} handed out twice");
        }
    }
    let expected: BTreeSet<Seq> = (1..=count as Seq).collect();
    assert_eq!(all, expected);
    let stored = store.events_after(0, 10_000).await.unwrap();
    assert_eq!(seqs(&stored), expected.into_iter().collect::<Vec<_>>());
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
