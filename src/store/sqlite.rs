//! The embedded event store: one SQLite file in WAL mode.
//!
//! Durability: `synchronous=FULL` makes every commit fsync the WAL, so an
//! `append` that returned is on disk. Ordering: all writes go through one
//! connection behind a FIFO mutex, so appends are serialized in this process
//! without a pool's acquire timeout, and every append runs in
//! `BEGIN IMMEDIATE` so a second process on the same file waits (busy
//! timeout) instead of numbering the same sequence twice. Reads use a small
//! separate pool so a long `events_after` never delays an append.

use std::path::{Path, PathBuf};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection, Row};
use tokio::sync::{Mutex, watch};

use super::lease::{Epoch, Lease, SingleNode, Tail};
use super::{Snapshot, Store};
use crate::model::{Event, NewEvent, Seq};

/// Events per INSERT statement (6 parameters each, far below SQLite's limit
/// of 32,766; few enough sizes for the statement cache).
const ROWS_PER_INSERT: usize = 100;
/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers in the pool; reads are short, a few cover the API and SSE clients.
const READERS: u32 = 4;
/// A tail re-reads the log this often in case it missed a wake-up.
const TAIL_POLL: Duration = Duration::from_secs(1);

/// Schema migrations, in order: entry `i` brings the schema to version `i + 1`.
/// The version lives in `PRAGMA user_version`, which is part of the database
/// header and so changes atomically with the migration's transaction.
/// Never edit an entry that has shipped; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the event log. `body` is the whole `model::Event` as JSON; `at`,
    // `actor` and `kind` are copies for ad-hoc SQL inspection.
    "CREATE TABLE events (
        seq   INTEGER PRIMARY KEY,
        at    BIGINT  NOT NULL,
        actor TEXT,
        kind  TEXT    NOT NULL,
        body  TEXT    NOT NULL CHECK (json_valid(body))
    );",
    // 2: snapshots of the fold beside the log, a cache (`server::snapshots`):
    // keyed by their format and the seq they were folded up to.
    "CREATE TABLE snapshots (
        format   TEXT    NOT NULL,
        seq      INTEGER NOT NULL,
        taken_at BIGINT  NOT NULL,
        body     BLOB    NOT NULL,
        PRIMARY KEY (format, seq)
    );",
    // 3: what each event is about (`EventKind::about`: a deployment, build
    // or artifact id), indexed, so one the fold has forgotten can be read
    // back. Existing rows are filled from their bodies the same way.
    "ALTER TABLE events ADD COLUMN about TEXT;
    UPDATE events SET about = coalesce(
        json_extract(body, '$.kind.deployment'),
        json_extract(body, '$.kind.run'),
        json_extract(body, '$.kind.build'),
        json_extract(body, '$.kind.artifact.id'),
        CASE WHEN json_type(body, '$.kind.artifact') = 'text'
            THEN json_extract(body, '$.kind.artifact') END);
    CREATE INDEX events_about ON events (about, seq) WHERE about IS NOT NULL;",
];

/// The schema version this build of ferry writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// SQLite in WAL mode with `synchronous=FULL` and a single writer.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<SqliteConnection>,
    readers: SqlitePool,
    /// Single node: always the leader, epoch 1.
    lease: SingleNode,
    /// The last committed seq, for `tail`s in this process.
    head: watch::Sender<Seq>,
}

/// The settings a connection actually runs with, as SQLite reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pragmas {
    pub journal_mode: String,
    /// 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
    pub synchronous: i64,
    pub foreign_keys: bool,
    pub busy_timeout_ms: i64,
    pub user_version: i64,
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path` and run migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.wrap_err_with(|| {
                format!(
                    "cannot create the directory {} for the event store",
                    parent.display()
                )
            })?;
        }
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Full);

        let writer_opts = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let mut writer = SqliteConnection::connect_with(&writer_opts)
            .await
            .wrap_err_with(|| {
                format!(
                    "cannot open the event store {}; hint: check that the file is a SQLite \
                     database and that its directory is writable",
                    path.display()
                )
            })?;
        migrate(&mut writer, path).await?;

        // Readers leave journal_mode alone (WAL is persistent in the file and
        // switching needs an exclusive lock) and refuse writes outright.
        let reader_opts = base.pragma("query_only", "ON");
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(0)
            .connect_with(reader_opts)
            .await
            .wrap_err_with(|| {
                format!(
                    "cannot open read connections to the event store {}",
                    path.display()
                )
            })?;

        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&readers)
            .await
            .wrap_err_with(|| format!("cannot read the event store {}", path.display()))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers,
            lease: SingleNode::default(),
            head: watch::Sender::new(last.max(0) as Seq),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pragmas of the writer connection (the one whose durability matters).
    pub async fn writer_pragmas(&self) -> Result<Pragmas> {
        let mut conn = self.writer.lock().await;
        read_pragmas(&mut conn)
            .await
            .wrap_err_with(|| format!("cannot read the settings of {}", self.path.display()))
    }

    /// The pragmas of one read connection.
    pub async fn reader_pragmas(&self) -> Result<Pragmas> {
        let mut conn = self.readers.acquire().await.wrap_err_with(|| {
            format!("cannot open a read connection to {}", self.path.display())
        })?;
        read_pragmas(&mut conn)
            .await
            .wrap_err_with(|| format!("cannot read the settings of {}", self.path.display()))
    }

    /// Close every connection (checkpointing the WAL); used before a clean exit.
    pub async fn close(self) -> Result<()> {
        self.readers.close().await;
        self.writer
            .into_inner()
            .close()
            .await
            .wrap_err_with(|| format!("cannot close the event store {}", self.path.display()))
    }

    async fn append_inner(&self, events: Vec<NewEvent>) -> Result<Vec<Event>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.writer.lock().await;
        // IMMEDIATE takes the write lock now, so the MAX(seq) read below
        // cannot be overtaken by another process writing to the same file.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        let mut out = Vec::with_capacity(events.len());
        let mut rows = Vec::with_capacity(events.len());
        for (i, new) in events.into_iter().enumerate() {
            let seq = last + 1 + i as i64;
            let event = new.numbered(seq as Seq);
            let body = serde_json::to_string(&event)
                .wrap_err_with(|| format!("cannot encode event {seq} as JSON"))?;
            rows.push((seq, body));
            out.push(event);
        }
        // Many rows per statement: each statement is a round trip to sqlx's
        // SQLite thread, which costs more than the insert itself.
        for (chunk, events) in rows
            .chunks(ROWS_PER_INSERT)
            .zip(out.chunks(ROWS_PER_INSERT))
        {
            let mut insert =
                sqlx::QueryBuilder::new("INSERT INTO events (seq, at, actor, kind, about, body) ");
            insert.push_values(chunk.iter().zip(events), |mut row, ((seq, body), event)| {
                row.push_bind(*seq)
                    .push_bind(event.at)
                    .push_bind(event.actor.name())
                    .push_bind(event.kind.name())
                    .push_bind(event.kind.about())
                    .push_bind(body.as_str());
            });
            insert.build().execute(&mut *tx).await.wrap_err_with(|| {
                let (first, last) = (chunk[0].0, chunk[chunk.len() - 1].0);
                format!("cannot insert events {first}..={last}")
            })?;
        }
        // On any error above `tx` is dropped, which rolls the whole batch back.
        tx.commit().await.wrap_err("cannot commit")?;
        if let Some(last) = out.last() {
            self.head.send_replace(last.seq);
        }
        Ok(out)
    }

    async fn events_after_inner(&self, after: Seq, limit: usize) -> Result<Vec<Event>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.readers)
            .await?;
        decode(rows)
    }

    async fn events_about_inner(&self, id: &str) -> Result<Vec<Event>> {
        let rows = sqlx::query("SELECT seq, body FROM events WHERE about = ? ORDER BY seq")
            .bind(id)
            .fetch_all(&self.readers)
            .await?;
        decode(rows)
    }

    async fn put_snapshot_inner(&self, snap: Snapshot) -> Result<()> {
        let seq = i64::try_from(snap.seq).wrap_err("snapshot seq out of range")?;
        let mut conn = self.writer.lock().await;
        sqlx::query(
            "INSERT OR REPLACE INTO snapshots (format, seq, taken_at, body) VALUES (?, ?, ?, ?)",
        )
        .bind(&snap.format)
        .bind(seq)
        .bind(snap.taken_at)
        .bind(&snap.body)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn snapshot_at_most_inner(&self, format: &str, at_most: Seq) -> Result<Option<Snapshot>> {
        let at_most = i64::try_from(at_most).unwrap_or(i64::MAX);
        let row = sqlx::query(
            "SELECT seq, taken_at, body FROM snapshots WHERE format = ? AND seq <= ? \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(format)
        .bind(at_most)
        .fetch_optional(&self.readers)
        .await?;
        row.map(|row| {
            Ok(Snapshot {
                seq: row.try_get::<i64, _>("seq")?.max(0) as Seq,
                format: format.to_string(),
                taken_at: row.try_get("taken_at")?,
                body: row.try_get("body")?,
            })
        })
        .transpose()
    }

    async fn snapshot_seqs_inner(&self, format: &str) -> Result<Vec<Seq>> {
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM snapshots WHERE format = ? ORDER BY seq")
                .bind(format)
                .fetch_all(&self.readers)
                .await?;
        Ok(seqs.into_iter().map(|s| s.max(0) as Seq).collect())
    }

    async fn retain_snapshots_inner(&self, format: &str, keep: Vec<Seq>) -> Result<u64> {
        let doomed: Vec<i64> = self
            .snapshot_seqs_inner(format)
            .await?
            .into_iter()
            .filter(|s| !keep.contains(s))
            .map(|s| s as i64)
            .collect();
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin().await?;
        let mut deleted = sqlx::query(
            "DELETE FROM snapshots WHERE format <> ?1 AND \
             (CASE WHEN instr(format, '/') > 0 THEN substr(format, 1, instr(format, '/') - 1) \
              ELSE '' END) = ?2",
        )
        .bind(format)
        .bind(super::snapshot_family(format))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        for seq in doomed {
            deleted += sqlx::query("DELETE FROM snapshots WHERE format = ? AND seq = ?")
                .bind(format)
                .bind(seq)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn last_seq_inner(&self) -> Result<Seq> {
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&self.readers)
            .await?;
        Ok(last.max(0) as Seq)
    }
}

impl Store for SqliteStore {
    fn put_snapshot(&self, snapshot: Snapshot) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let seq = snapshot.seq;
            self.put_snapshot_inner(snapshot).await.wrap_err_with(|| {
                format!(
                    "storing the snapshot at seq {seq} in {} failed",
                    self.path.display()
                )
            })
        })
    }

    fn snapshot_at_most(
        &self,
        format: &str,
        at_most: Seq,
    ) -> BoxFuture<'_, Result<Option<Snapshot>>> {
        let format = format.to_string();
        Box::pin(async move {
            self.snapshot_at_most_inner(&format, at_most)
                .await
                .wrap_err_with(|| format!("reading a snapshot from {} failed", self.path.display()))
        })
    }

    fn snapshot_seqs(&self, format: &str) -> BoxFuture<'_, Result<Vec<Seq>>> {
        let format = format.to_string();
        Box::pin(async move {
            self.snapshot_seqs_inner(&format).await.wrap_err_with(|| {
                format!("listing the snapshots in {} failed", self.path.display())
            })
        })
    }

    fn retain_snapshots(&self, format: &str, keep: Vec<Seq>) -> BoxFuture<'_, Result<u64>> {
        let format = format.to_string();
        Box::pin(async move {
            self.retain_snapshots_inner(&format, keep)
                .await
                .wrap_err_with(|| {
                    format!("pruning the snapshots in {} failed", self.path.display())
                })
        })
    }

    fn append(&self, events: Vec<NewEvent>) -> BoxFuture<'_, Result<Vec<Event>>> {
        Box::pin(async move {
            let n = events.len();
            self.append_inner(events).await.wrap_err_with(|| {
                format!(
                    "appending {n} event(s) to {} failed; nothing of this batch was stored",
                    self.path.display()
                )
            })
        })
    }

    fn append_fenced(
        &self,
        epoch: Epoch,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'_, Result<Vec<Event>>> {
        Box::pin(async move {
            self.lease.check(epoch)?;
            self.append(events).await
        })
    }

    fn lease(&self) -> &dyn Lease {
        &self.lease
    }

    fn tail(&self, after: Seq) -> BoxFuture<'_, Result<Box<dyn Tail>>> {
        Box::pin(async move {
            Ok(Box::new(SqliteTail {
                head: self.head.subscribe(),
                readers: self.readers.clone(),
                seen: after,
            }) as Box<dyn Tail>)
        })
    }

    fn events_about(&self, id: &str) -> BoxFuture<'_, Result<Vec<Event>>> {
        let id = id.to_string();
        Box::pin(async move {
            self.events_about_inner(&id).await.wrap_err_with(|| {
                format!(
                    "reading the events of {id} from {} failed",
                    self.path.display()
                )
            })
        })
    }
    fn events_after(&self, after: Seq, limit: usize) -> BoxFuture<'_, Result<Vec<Event>>> {
        Box::pin(async move {
            self.events_after_inner(after, limit)
                .await
                .wrap_err_with(|| {
                    format!(
                        "reading events after {after} from {} failed",
                        self.path.display()
                    )
                })
        })
    }

    fn last_seq(&self) -> BoxFuture<'_, Result<Seq>> {
        Box::pin(async move {
            self.last_seq_inner().await.wrap_err_with(|| {
                format!(
                    "reading the last event number of {} failed",
                    self.path.display()
                )
            })
        })
    }
}

/// Woken by this process's appends; polls too, in case another process
/// (a tool) wrote to the file.
struct SqliteTail {
    head: watch::Receiver<Seq>,
    readers: SqlitePool,
    seen: Seq,
}

impl SqliteTail {
    async fn wait(&mut self) -> Result<Seq> {
        loop {
            let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
                .fetch_one(&self.readers)
                .await?;
            let head = (last.max(0) as Seq).max(*self.head.borrow_and_update());
            if head > self.seen {
                self.seen = head;
                return Ok(head);
            }
            // A closed channel: the store is gone from this process; polling still answers.
            if let Ok(Err(_)) = tokio::time::timeout(TAIL_POLL, self.head.changed()).await {
                tokio::time::sleep(TAIL_POLL).await;
            }
        }
    }
}

impl Tail for SqliteTail {
    fn next(&mut self) -> BoxFuture<'_, Result<Seq>> {
        Box::pin(self.wait())
    }
}

async fn user_version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(conn)
        .await
}

/// Bring the schema up to `SCHEMA_VERSION`, one transaction per migration,
/// refusing a database written by a newer ferry (its data may not fold
/// correctly with this build's rules).
async fn migrate(conn: &mut SqliteConnection, path: &Path) -> Result<()> {
    migrate_with(conn, path, MIGRATIONS).await
}

async fn migrate_with(
    conn: &mut SqliteConnection,
    path: &Path,
    migrations: &[&'static str],
) -> Result<()> {
    let latest = migrations.len() as i64;
    let found = user_version(conn)
        .await
        .wrap_err_with(|| format!("cannot read the schema version of {}", path.display()))?;
    if found > latest {
        return Err(eyre!(
            "the event store {} has schema version {found}, newer than this ferry knows \
             ({latest}); hint: run a newer ferry, or point --data-dir elsewhere",
            path.display()
        ));
    }
    for (i, sql) in migrations.iter().enumerate() {
        let version = i as i64 + 1;
        if found >= version {
            continue;
        }
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.wrap_err_with(|| {
            format!(
                "cannot start migrating {} to version {version}",
                path.display()
            )
        })?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let current = user_version(&mut tx).await?;
        if current >= version {
            continue;
        }
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .wrap_err_with(|| format!("migration {version} of {} failed", path.display()))?;
        // PRAGMA takes no bound parameters; `version` is our own integer.
        sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA user_version = {version}")))
            .execute(&mut *tx)
            .await?;
        tx.commit()
            .await
            .wrap_err_with(|| format!("cannot commit migration {version} of {}", path.display()))?;
    }
    Ok(())
}

async fn read_pragmas(conn: &mut SqliteConnection) -> Result<Pragmas, sqlx::Error> {
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await?;
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await?;
    let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await?;
    let user_version = user_version(conn).await?;
    Ok(Pragmas {
        journal_mode: journal_mode.to_lowercase(),
        synchronous,
        foreign_keys: foreign_keys != 0,
        busy_timeout_ms,
        user_version,
    })
}

/// Events from `seq, body` rows, each checked.
fn decode(rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<Event>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get("seq")?;
        let body: &str = row.try_get("body")?;
        out.push(super::event_of_row(
            seq,
            body,
            "upgrade ferry or move the database aside",
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
