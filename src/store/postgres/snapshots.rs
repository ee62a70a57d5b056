//! Snapshots of the fold in PostgreSQL (`ferry_snapshots`), a cache beside
//! the log; see `Store::put_snapshot`. Not fenced: a snapshot at seq N is
//! the fold of stored events only, whoever wrote it.

use color_eyre::eyre::{Result, WrapErr};
use sqlx::Row;

use super::PgStore;
use crate::model::Seq;
use crate::store::Snapshot;

pub(super) async fn put(store: &PgStore, snap: Snapshot) -> Result<()> {
    let seq = i64::try_from(snap.seq).wrap_err("snapshot seq out of range")?;
    sqlx::query(
        "INSERT INTO ferry_snapshots (format, seq, taken_at, body) VALUES ($1, $2, $3, $4)
         ON CONFLICT (format, seq) DO UPDATE SET taken_at = $3, body = $4",
    )
    .bind(&snap.format)
    .bind(seq)
    .bind(snap.taken_at)
    .bind(&snap.body)
    .execute(store.pool())
    .await
    .wrap_err_with(|| {
        format!(
            "storing the snapshot at seq {seq} in the event store at {} failed",
            store.place()
        )
    })?;
    Ok(())
}

pub(super) async fn at_most(
    store: &PgStore,
    format: &str,
    at_most: Seq,
) -> Result<Option<Snapshot>> {
    let at_most = i64::try_from(at_most).unwrap_or(i64::MAX);
    let row = sqlx::query(
        "SELECT seq, taken_at, body FROM ferry_snapshots WHERE format = $1 AND seq <= $2
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(format)
    .bind(at_most)
    .fetch_optional(store.pool())
    .await
    .wrap_err_with(|| format!("reading a snapshot from {} failed", store.place()))?;
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

pub(super) async fn seqs(store: &PgStore, format: &str) -> Result<Vec<Seq>> {
    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM ferry_snapshots WHERE format = $1 ORDER BY seq")
            .bind(format)
            .fetch_all(store.pool())
            .await
            .wrap_err_with(|| format!("listing the snapshots in {} failed", store.place()))?;
    Ok(seqs.into_iter().map(|s| s.max(0) as Seq).collect())
}

pub(super) async fn retain(store: &PgStore, format: &str, keep: Vec<Seq>) -> Result<u64> {
    let keep: Vec<i64> = keep
        .into_iter()
        .filter_map(|s| i64::try_from(s).ok())
        .collect();
    let deleted = sqlx::query(
        "DELETE FROM ferry_snapshots WHERE (format = $1 AND NOT (seq = ANY($2))) \
             OR (format <> $1 AND (CASE WHEN strpos(format, '/') > 0 \
                 THEN split_part(format, '/', 1) ELSE '' END) = $3)",
    )
    .bind(format)
    .bind(&keep)
    .bind(crate::store::snapshot_family(format))
    .execute(store.pool())
    .await
    .wrap_err_with(|| format!("pruning the snapshots in {} failed", store.place()))?
    .rows_affected();
    Ok(deleted)
}
