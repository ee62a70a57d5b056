use std::path::Path;

use color_eyre::eyre::Result;
use futures::future::BoxFuture;

use super::Store;
use crate::model::{Event, NewEvent, Seq};

/// SQLite in WAL mode with `synchronous=FULL` and a single writer.
pub struct SqliteStore {}

impl SqliteStore {
    /// Open (creating if needed) the database at `path` and run migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let _ = path;
        todo!("store helper")
    }
}

impl Store for SqliteStore {
    fn append(&self, events: Vec<NewEvent>) -> BoxFuture<'_, Result<Vec<Event>>> {
        let _ = events;
        todo!("store helper")
    }
    fn events_after(&self, after: Seq, limit: usize) -> BoxFuture<'_, Result<Vec<Event>>> {
        let _ = (after, limit);
        todo!("store helper")
    }
    fn last_seq(&self) -> BoxFuture<'_, Result<Seq>> {
        todo!("store helper")
    }
}
