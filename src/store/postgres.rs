//! The event store on PostgreSQL, shared by several ferry replicas.
//!
//! Durability: PostgreSQL's default `synchronous_commit = on` flushes the WAL
//! before a commit returns. Ordering and fencing: every append locks the one
//! lease row (`FOR UPDATE`), so appends are serialized across replicas and a
//! takeover (an `UPDATE` of that row) waits for an append in flight and is
//! seen by the next one; a fenced append checks the epoch under that lock and
//! `seq` is the primary key, so no number is handed out twice. After each
//! append a `NOTIFY ferry_events, '<last seq>'` (delivered on commit) wakes the
//! followers' `PgTail`s, which also poll once a second in case a notification
//! was lost with a connection.

use std::str::FromStr;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Report, Result, WrapErr, eyre};
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};

use super::Store;
use super::lease::{Deposed, Epoch, Grant, Heartbeat, Lease, LeaseState, Replica, Role, Tail};
use super::url::{StoreUrl, redact};
use crate::model::{Event, NewEvent, Seq};

/// The channel followers LISTEN on; the payload is the last appended seq.
pub const CHANNEL: &str = "ferry_events";
/// How long opening the store waits for the database before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per replica: appends, reads, lease renewals, heartbeats.
const POOL_SIZE: u32 = 8;
/// A tail checks the log this often even without a notification.
const POLL: Duration = Duration::from_secs(1);
/// Serializes migrations of concurrently starting replicas (an arbitrary key).
const MIGRATION_LOCK: i64 = 0x0066_6572_7279;

/// Entry `i` brings the schema to version `i + 1`, each in its own
/// transaction together with the version bump. Never edit a shipped entry.
const MIGRATIONS: &[&str] = &[
    // 1: the event log (the same columns as SQLite's), the one lease row, and
    // a heartbeat row per replica.
    "CREATE TABLE events (
        seq   BIGINT PRIMARY KEY,
        at    BIGINT NOT NULL,
        actor TEXT,
        kind  TEXT   NOT NULL,
        body  TEXT   NOT NULL CHECK (body::jsonb IS NOT NULL)
    );
    CREATE TABLE ferry_lease (
        name       TEXT PRIMARY KEY,
        holder     TEXT,
        epoch      BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    INSERT INTO ferry_lease (name, holder, epoch, expires_at)
        VALUES ('leader', NULL, 0, to_timestamp(0));
    CREATE TABLE ferry_replicas (
        replica     TEXT PRIMARY KEY,
        address     TEXT NOT NULL,
        role        TEXT NOT NULL,
        applied_seq BIGINT NOT NULL,
        seen_at     TIMESTAMPTZ NOT NULL
    );",
    // 2: snapshots of the fold beside the log, a cache (`server::snapshots`).
    "CREATE TABLE ferry_snapshots (
        format   TEXT   NOT NULL,
        seq      BIGINT NOT NULL,
        taken_at BIGINT NOT NULL,
        body     BYTEA  NOT NULL,
        PRIMARY KEY (format, seq)
    );",
    // 3: what each event is about (`EventKind::about`), indexed, as on SQLite.
    "ALTER TABLE events ADD COLUMN about TEXT;
    UPDATE events SET about = coalesce(
        body::jsonb #>> '{kind,deployment}',
        body::jsonb #>> '{kind,run}',
        body::jsonb #>> '{kind,build}',
        body::jsonb #>> '{kind,artifact,id}',
        CASE WHEN jsonb_typeof(body::jsonb #> '{kind,artifact}') = 'string'
            THEN body::jsonb #>> '{kind,artifact}' END);
    CREATE INDEX events_about ON events (about, seq) WHERE about IS NOT NULL;",
];

/// The schema version this build of ferry writes on PostgreSQL.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The lease row with the time left computed by the database.
const LEASE_ROW: &str = "SELECT holder, epoch,
        CASE WHEN holder IS NOT NULL AND expires_at > now()
             THEN (EXTRACT(EPOCH FROM expires_at - now()) * 1000)::BIGINT END AS left_ms
    FROM ferry_lease WHERE name = 'leader'";
/// The same row, locked until the append's transaction ends.
const LEASE_LOCK: &str = "SELECT holder, epoch,
        CASE WHEN holder IS NOT NULL AND expires_at > now()
             THEN (EXTRACT(EPOCH FROM expires_at - now()) * 1000)::BIGINT END AS left_ms
    FROM ferry_lease WHERE name = 'leader' FOR UPDATE";

pub struct PgStore {
    pool: PgPool,
    /// "host:port/db", for messages (never the password).
    place: String,
}

impl PgStore {
    /// Connect, check the schema and migrate. Each failure is one line.
    pub async fn open(url: &StoreUrl) -> Result<Self> {
        let StoreUrl::Postgres(raw) = url else {
            return Err(eyre!("{url} is not a PostgreSQL URL"));
        };
        let place = url.place();
        let opts = PgConnectOptions::from_str(raw).map_err(|e| {
            eyre!(
                "malformed store URL `{url}`: {}; hint: write postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                redact(&e.to_string())
            )
        })?;
        let mut conn = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            PgConnection::connect_with(&opts),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(connect_error(&e, &place)),
            Err(_) => {
                return Err(eyre!(
                    "cannot reach the event store at {place}: no answer within {}s; hint: check \
                     the host and port, and that a firewall lets ferry through",
                    CONNECT_TIMEOUT.as_secs()
                ));
            }
        };
        migrate_with(&mut conn, &place, MIGRATIONS).await?;
        // Closing is a courtesy; the migration already committed.
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(opts);
        Ok(PgStore { pool, place })
    }

    pub fn place(&self) -> &str {
        &self.place
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(self) {
        self.pool.close().await;
    }

    async fn append_inner(
        &self,
        epoch: Option<Epoch>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>> {
        if events.is_empty() && epoch.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        // The lock serializes appends and orders them with takeovers.
        let row = sqlx::query(LEASE_LOCK).fetch_one(&mut *tx).await?;
        if let Some(epoch) = epoch {
            let current = lease_state(&row)?;
            if current.epoch != epoch || current.expires_in.is_none() {
                // Dropping `tx` rolls back: nothing was written.
                return Err(Report::new(Deposed { epoch, current }));
            }
        }
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        let mut out = Vec::with_capacity(events.len());
        for (i, new) in events.into_iter().enumerate() {
            let seq = last + 1 + i as i64;
            let event = new.numbered(seq as Seq);
            let body = serde_json::to_string(&event)
                .wrap_err_with(|| format!("cannot encode event {seq} as JSON"))?;
            sqlx::query(
                "INSERT INTO events (seq, at, actor, kind, about, body) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(seq)
            .bind(event.at)
            .bind(event.actor.name())
            .bind(event.kind.name())
            .bind(event.kind.about())
            .bind(body)
            .execute(&mut *tx)
            .await
            .wrap_err_with(|| format!("cannot insert event {seq} ({})", event.kind.name()))?;
            out.push(event);
        }
        let head = out.last().map_or(0, |e| e.seq);
        // Delivered only if the transaction commits; a tiny payload, never the events.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(head.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await.wrap_err("cannot commit")?;
        Ok(out)
    }

    async fn events_about_inner(&self, id: &str) -> Result<Vec<Event>> {
        let rows = sqlx::query("SELECT seq, body FROM events WHERE about = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        decode(rows)
    }

    async fn events_after_inner(&self, after: Seq, limit: usize) -> Result<Vec<Event>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query("SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        decode(rows)
    }
}

fn lease_state(row: &PgRow) -> Result<LeaseState> {
    let holder: Option<String> = row.try_get("holder")?;
    let epoch: i64 = row.try_get("epoch")?;
    let left: Option<i64> = row.try_get("left_ms")?;
    Ok(LeaseState {
        holder,
        epoch: epoch.max(0) as Epoch,
        expires_in: left.map(|ms| Duration::from_millis(ms.max(0) as u64)),
    })
}

async fn last_seq(pool: &PgPool) -> Result<Seq> {
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
        .fetch_one(pool)
        .await?;
    Ok(last.max(0) as Seq)
}

/// One line for a failed connection: what, where, a hint.
fn connect_error(e: &sqlx::Error, place: &str) -> Report {
    // The server's own message, without sqlx's prefix and source line.
    let cause = match e.as_database_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    };
    let cause = redact(&cause).replace('\n', " ");
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.to_string());
    match code.as_deref() {
        Some("28P01") | Some("28000") => eyre!(
            "the event store at {place} refused the login: {cause}; hint: check the user and \
             password in the store URL (--store, FERRY_STORE or [server] store)"
        ),
        Some("3D000") => eyre!(
            "the event store at {place} has no such database: {cause}; hint: create it \
             (createdb) or fix the database name in the store URL"
        ),
        _ if matches!(e, sqlx::Error::Io(_) | sqlx::Error::Tls(_)) => eyre!(
            "cannot reach the event store at {place}: {cause}; hint: check that PostgreSQL runs \
             there and accepts TCP connections (listen_addresses, pg_hba.conf)"
        ),
        _ => eyre!(
            "cannot connect to the event store at {place}: {cause}; hint: check the store URL"
        ),
    }
}

async fn schema_version(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS ferry_schema (version BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM ferry_schema")
        .fetch_one(&mut *conn)
        .await?;
    Ok(v.unwrap_or(0))
}

/// Bring the schema to the latest version, one transaction per migration,
/// refusing a schema from a newer ferry. Replicas starting together take
/// turns on an advisory lock.
pub(super) async fn migrate_with(
    conn: &mut PgConnection,
    place: &str,
    migrations: &[&'static str],
) -> Result<()> {
    let latest = migrations.len() as i64;
    for version in 1..=latest.max(1) {
        let mut tx = conn.begin().await.map_err(|e| {
            eyre!(
                "cannot start migrating the event store at {place}: {e}; hint: check the database"
            )
        })?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        let found = schema_version(&mut tx).await.map_err(|e| {
            eyre!(
                "cannot read the schema version of the event store at {place}: {e}; hint: the \
                 user needs CREATE and SELECT rights in the database"
            )
        })?;
        if found > latest {
            return Err(eyre!(
                "the event store at {place} has schema version {found}, newer than this ferry \
                 knows ({latest}); hint: run a newer ferry on every replica"
            ));
        }
        if version > latest || found >= version {
            tx.commit().await?;
            continue;
        }
        let sql = migrations[(version - 1) as usize];
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| eyre!("migration {version} of the event store at {place} failed: {e}"))?;
        sqlx::query("DELETE FROM ferry_schema")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO ferry_schema (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(|e| {
            eyre!("cannot commit migration {version} of the event store at {place}: {e}")
        })?;
    }
    Ok(())
}

impl Store for PgStore {
    fn events_about(&self, id: &str) -> BoxFuture<'_, Result<Vec<Event>>> {
        let id = id.to_string();
        Box::pin(async move {
            self.events_about_inner(&id)
                .await
                .wrap_err_with(|| format!("reading the events of {id} from PostgreSQL failed"))
        })
    }
    fn put_snapshot(&self, snapshot: super::Snapshot) -> BoxFuture<'_, Result<()>> {
        Box::pin(snapshots::put(self, snapshot))
    }
    fn snapshot_at_most(
        &self,
        format: &str,
        at_most: Seq,
    ) -> BoxFuture<'_, Result<Option<super::Snapshot>>> {
        let format = format.to_string();
        Box::pin(async move { snapshots::at_most(self, &format, at_most).await })
    }
    fn snapshot_seqs(&self, format: &str) -> BoxFuture<'_, Result<Vec<Seq>>> {
        let format = format.to_string();
        Box::pin(async move { snapshots::seqs(self, &format).await })
    }
    fn retain_snapshots(&self, format: &str, keep: Vec<Seq>) -> BoxFuture<'_, Result<u64>> {
        let format = format.to_string();
        Box::pin(async move { snapshots::retain(self, &format, keep).await })
    }
    fn append(&self, events: Vec<NewEvent>) -> BoxFuture<'_, Result<Vec<Event>>> {
        Box::pin(async move {
            let n = events.len();
            self.append_inner(None, events).await.wrap_err_with(|| {
                format!(
                    "appending {n} event(s) to {} failed; nothing of this batch was stored",
                    self.place
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
            let n = events.len();
            self.append_inner(Some(epoch), events)
                .await
                .wrap_err_with(|| {
                    format!(
                        "appending {n} event(s) to {} failed; nothing of this batch was stored",
                        self.place
                    )
                })
        })
    }

    fn events_after(&self, after: Seq, limit: usize) -> BoxFuture<'_, Result<Vec<Event>>> {
        Box::pin(async move {
            self.events_after_inner(after, limit)
                .await
                .wrap_err_with(|| {
                    format!("reading events after {after} from {} failed", self.place)
                })
        })
    }

    fn last_seq(&self) -> BoxFuture<'_, Result<Seq>> {
        Box::pin(async move {
            last_seq(&self.pool)
                .await
                .wrap_err_with(|| format!("reading the last event number of {} failed", self.place))
        })
    }

    fn lease(&self) -> &dyn Lease {
        self
    }

    fn tail(&self, after: Seq) -> BoxFuture<'_, Result<Box<dyn Tail>>> {
        Box::pin(async move {
            // Without a listener the tail still works, by polling.
            let listener = match PgListener::connect_with(&self.pool).await {
                Ok(mut l) => match l.listen(CHANNEL).await {
                    Ok(()) => Some(l),
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN failed; following the log by polling");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "no listener connection; following the log by polling");
                    None
                }
            };
            Ok(Box::new(PgTail {
                pool: self.pool.clone(),
                listener,
                seen: after,
            }) as Box<dyn Tail>)
        })
    }
}

fn ttl_secs(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

impl Lease for PgStore {
    fn acquire<'a>(
        &'a self,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Grant>>> {
        Box::pin(async move {
            let start = Instant::now();
            // Conditional: only a free or expired lease is taken; of two racing
            // replicas the second re-checks the row after the first commits.
            let epoch: Option<i64> = sqlx::query_scalar(
                "UPDATE ferry_lease
                    SET holder = $1, epoch = epoch + 1,
                        expires_at = now() + make_interval(secs => $2)
                  WHERE name = 'leader' AND (holder IS NULL OR expires_at <= now())
              RETURNING epoch",
            )
            .bind(holder)
            .bind(ttl_secs(ttl))
            .fetch_optional(&self.pool)
            .await
            .wrap_err_with(|| format!("cannot acquire the leader lease on {}", self.place))?;
            Ok(epoch.map(|e| Grant {
                holder: holder.to_string(),
                epoch: e.max(0) as Epoch,
                ttl,
                valid_until: start + ttl,
            }))
        })
    }

    fn renew<'a>(&'a self, grant: &'a Grant) -> BoxFuture<'a, Result<Option<Grant>>> {
        Box::pin(async move {
            let start = Instant::now();
            // Still ours as long as nobody took it, even if it lapsed meanwhile:
            // the epoch is unchanged, so nobody else appended.
            let renewed: Option<i64> = sqlx::query_scalar(
                "UPDATE ferry_lease SET expires_at = now() + make_interval(secs => $3)
                  WHERE name = 'leader' AND holder = $1 AND epoch = $2
              RETURNING epoch",
            )
            .bind(&grant.holder)
            .bind(grant.epoch as i64)
            .bind(ttl_secs(grant.ttl))
            .fetch_optional(&self.pool)
            .await
            .wrap_err_with(|| format!("cannot renew the leader lease on {}", self.place))?;
            Ok(renewed.map(|_| Grant {
                valid_until: start + grant.ttl,
                ..grant.clone()
            }))
        })
    }

    fn release<'a>(&'a self, grant: &'a Grant) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE ferry_lease SET holder = NULL, expires_at = now()
                  WHERE name = 'leader' AND holder = $1 AND epoch = $2",
            )
            .bind(&grant.holder)
            .bind(grant.epoch as i64)
            .execute(&self.pool)
            .await
            .wrap_err_with(|| format!("cannot release the leader lease on {}", self.place))?;
            Ok(())
        })
    }

    fn current(&self) -> BoxFuture<'_, Result<LeaseState>> {
        Box::pin(async move {
            let row = sqlx::query(LEASE_ROW)
                .fetch_one(&self.pool)
                .await
                .wrap_err_with(|| format!("cannot read the leader lease on {}", self.place))?;
            lease_state(&row)
        })
    }

    fn heartbeat<'a>(&'a self, beat: &'a Heartbeat) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO ferry_replicas (replica, address, role, applied_seq, seen_at)
                 VALUES ($1, $2, $3, $4, now())
                 ON CONFLICT (replica) DO UPDATE SET address = EXCLUDED.address,
                     role = EXCLUDED.role, applied_seq = EXCLUDED.applied_seq, seen_at = now()",
            )
            .bind(&beat.replica)
            .bind(&beat.address)
            .bind(beat.role.as_str())
            .bind(i64::try_from(beat.applied_seq).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await
            .wrap_err_with(|| format!("cannot record a heartbeat on {}", self.place))?;
            Ok(())
        })
    }

    fn replicas(&self) -> BoxFuture<'_, Result<Vec<Replica>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT replica, address, role, applied_seq,
                        (EXTRACT(EPOCH FROM now() - seen_at) * 1000)::BIGINT AS age_ms
                   FROM ferry_replicas ORDER BY seen_at DESC, replica",
            )
            .fetch_all(&self.pool)
            .await
            .wrap_err_with(|| format!("cannot read the replicas on {}", self.place))?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let role: String = row.try_get("role")?;
                let applied: i64 = row.try_get("applied_seq")?;
                let age: i64 = row.try_get("age_ms")?;
                out.push(Replica {
                    beat: Heartbeat {
                        replica: row.try_get("replica")?,
                        address: row.try_get("address")?,
                        role: Role::parse(&role),
                        applied_seq: applied.max(0) as Seq,
                    },
                    age: Duration::from_millis(age.max(0) as u64),
                });
            }
            Ok(out)
        })
    }
}

/// Follows the log with LISTEN/NOTIFY, polling every `POLL` as a fallback.
struct PgTail {
    pool: PgPool,
    listener: Option<PgListener>,
    seen: Seq,
}

impl PgTail {
    async fn wait(&mut self) -> Result<Seq> {
        loop {
            // Appends made before LISTEN took effect only show up in the table.
            let head = last_seq(&self.pool).await?;
            if head > self.seen {
                self.seen = head;
                return Ok(head);
            }
            let Some(listener) = self.listener.as_mut() else {
                tokio::time::sleep(POLL).await;
                continue;
            };
            match tokio::time::timeout(POLL, listener.try_recv()).await {
                Ok(Ok(Some(n))) => {
                    if let Ok(n) = n.payload().parse::<Seq>()
                        && n > self.seen
                    {
                        self.seen = n;
                        return Ok(n);
                    }
                }
                // The listener lost its connection (it reconnects on the next
                // call); notifications may be lost, so the loop polls first.
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "listening for new events failed; polling");
                    tokio::time::sleep(POLL).await;
                }
                Err(_) => {}
            }
        }
    }
}

impl Tail for PgTail {
    fn next(&mut self) -> BoxFuture<'_, Result<Seq>> {
        Box::pin(self.wait())
    }
}

mod snapshots;

/// Events from `seq, body` rows, each checked.
fn decode(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<Event>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get("seq")?;
        let body: &str = row.try_get("body")?;
        out.push(super::event_of_row(seq, body, "upgrade ferry")?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
