//! The durable event log behind one trait. Events are appended in one
//! transaction and numbered by the store; a successful append means durable.
//!
//! Two backends: SQLite (embedded, single node, the default) and PostgreSQL
//! (several replicas on one database). Replicas elect a leader with the
//! `Lease` trait and the leader appends with `append_fenced`, which the store
//! refuses once another replica holds a newer epoch. Followers learn about new
//! events through `tail`.

mod lease;
mod postgres;
mod sqlite;
mod url;

#[cfg(test)]
mod suite;

use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr, eyre};
use futures::future::BoxFuture;

use crate::model::{Event, NewEvent, Seq};

use lease::SingleNode;

pub use lease::{Deposed, Epoch, Grant, Heartbeat, Lease, LeaseState, Replica, Role, Tail};
pub use postgres::{PG_SCHEMA_VERSION, PgStore};
pub use sqlite::{Pragmas, SCHEMA_VERSION, SqliteStore};
pub use url::StoreUrl;

pub trait Store: Send + Sync + 'static {
    /// Append `events` in one durable transaction, numbering them after the
    /// last stored sequence; returns them numbered. All or nothing.
    /// Unfenced: for a single node, tools and tests. Replicas use `append_fenced`.
    fn append(&self, events: Vec<NewEvent>) -> BoxFuture<'_, Result<Vec<Event>>>;
    /// Like `append`, but only while `epoch` is the current, unexpired leader
    /// epoch, checked in the same transaction as the insert. Otherwise nothing
    /// is written and the error downcasts to `Deposed`.
    /// The default suits a single-node store: epoch 1 is always current.
    fn append_fenced(
        &self,
        epoch: Epoch,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'_, Result<Vec<Event>>> {
        Box::pin(async move {
            SINGLE_NODE.check(epoch)?;
            self.append(events).await
        })
    }
    /// Events with `seq > after`, in order, at most `limit`.
    fn events_after(&self, after: Seq, limit: usize) -> BoxFuture<'_, Result<Vec<Event>>>;
    /// The sequence of the last stored event (0 when empty).
    fn last_seq(&self) -> BoxFuture<'_, Result<Seq>>;
    /// Every event about the deployment, build or artifact `id`
    /// (`EventKind::about`), in order: how the server reads back one the
    /// fold has forgotten. The stores index it; the default walks the log
    /// (small in-memory test stores).
    fn events_about(&self, id: &str) -> BoxFuture<'_, Result<Vec<Event>>> {
        let id = id.to_string();
        Box::pin(async move {
            let mut out = Vec::new();
            let mut after = 0;
            loop {
                let page = self.events_after(after, 1000).await?;
                let Some(last) = page.last() else {
                    return Ok(out);
                };
                after = last.seq;
                out.extend(
                    page.into_iter()
                        .filter(|e| e.kind.about() == Some(id.as_str())),
                );
            }
        })
    }
    /// Leadership and replica heartbeats on this store. The default: a
    /// single node, always the leader with epoch 1.
    fn lease(&self) -> &dyn Lease {
        &SINGLE_NODE
    }
    /// Wake-ups when the log grows past `after` (from any replica). Stores
    /// that replicas share must implement it; the default refuses.
    fn tail(&self, after: Seq) -> BoxFuture<'_, Result<Box<dyn Tail>>> {
        Box::pin(async move { Err(eyre!("this event store cannot be followed (after {after})")) })
    }
    /// Store a snapshot (a cache of the fold at `snapshot.seq`, see
    /// `server::snapshots`), replacing one with the same seq and format.
    /// The default (in-memory test stores) keeps none.
    fn put_snapshot(&self, snapshot: Snapshot) -> BoxFuture<'_, Result<()>> {
        drop(snapshot);
        Box::pin(async { Ok(()) })
    }
    /// The newest snapshot of `format` with `seq <= at_most`, if any.
    fn snapshot_at_most(
        &self,
        format: &str,
        at_most: Seq,
    ) -> BoxFuture<'_, Result<Option<Snapshot>>> {
        let _ = (format, at_most);
        Box::pin(async { Ok(None) })
    }
    /// The seqs of the stored snapshots of `format`, oldest first.
    fn snapshot_seqs(&self, format: &str) -> BoxFuture<'_, Result<Vec<Seq>>> {
        let _ = format;
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Delete the snapshots of `format` whose seq is not in `keep`, and
    /// every snapshot of another format of the same family (another ferry
    /// version or configuration: see `snapshot_family`); snapshots of other
    /// families (whole states vs views) are left to their own pruning.
    /// Returns how many were deleted.
    fn retain_snapshots(&self, format: &str, keep: Vec<Seq>) -> BoxFuture<'_, Result<u64>> {
        let _ = (format, keep);
        Box::pin(async { Ok(0) })
    }
}

/// A serialised fold of the log up to `seq`, stored beside the log. `format`
/// names what is inside (its encoding version and the configuration it was
/// folded under); a reader only uses a snapshot of its own format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub seq: Seq,
    pub format: String,
    /// Unix milliseconds when it was taken.
    pub taken_at: i64,
    pub body: Vec<u8>,
}

/// The lease of stores that only ever have one writer (in-memory test stores).
static SINGLE_NODE: SingleNode = SingleNode::new();

/// Open the store `url` names: `sqlite:PATH` (or a bare path) or
/// `postgres://…`. Every failure is one line: what, where, and a hint.
/// A snapshot format's family: the encoding before its first `/`
/// (`state-json-1/0.1.0/ab12…` → `state-json-1`), or "" when it has none.
pub fn snapshot_family(format: &str) -> &str {
    format.split_once('/').map_or("", |(family, _)| family)
}

pub async fn open(url: &StoreUrl) -> Result<Arc<dyn Store>> {
    Ok(match url {
        StoreUrl::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        StoreUrl::Postgres(_) => Arc::new(PgStore::open(url).await?),
    })
}

/// One stored row's event, as both stores read it back: the body must parse
/// and say the row's own seq. `hint` says what to do about a body that does not parse.
fn event_of_row(seq: i64, body: &str, hint: &str) -> Result<Event> {
    let event: Event = serde_json::from_str(body).wrap_err_with(|| {
        format!(
            "event {seq} is not a valid event (written by an incompatible ferry?); \
             hint: {hint}"
        )
    })?;
    if event.seq != seq as Seq {
        return Err(eyre!(
            "event in row {seq} says it is event {}; the log is corrupt",
            event.seq
        ));
    }
    Ok(event)
}
