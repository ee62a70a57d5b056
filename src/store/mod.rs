//! The durable event log behind one trait. Events are appended in one
//! transaction and numbered by the store; a successful append means durable.

mod sqlite;

use color_eyre::eyre::Result;
use futures::future::BoxFuture;

use crate::model::{Event, NewEvent, Seq};

pub use sqlite::{Pragmas, SCHEMA_VERSION, SqliteStore};

pub trait Store: Send + Sync + 'static {
    /// Append `events` in one durable transaction, numbering them after the
    /// last stored sequence; returns them numbered. All or nothing.
    fn append(&self, events: Vec<NewEvent>) -> BoxFuture<'_, Result<Vec<Event>>>;
    /// Events with `seq > after`, in order, at most `limit`.
    fn events_after(&self, after: Seq, limit: usize) -> BoxFuture<'_, Result<Vec<Event>>>;
    /// The sequence of the last stored event (0 when empty).
    fn last_seq(&self) -> BoxFuture<'_, Result<Seq>>;
}
