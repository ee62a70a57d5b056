//! A step's log file, by line: from `offset`, or the last `tail` lines.

use std::io::{BufRead, Seek, SeekFrom};
use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use crate::api::LogChunk;
use crate::runner::Runner;
use crate::runner::output::{INDEX_BLOCK, index_path};

use super::super::Shared;
use super::super::error::{ApiErr, QueryArgs};

/// Most lines one answer carries; clients page on with `next_offset`.
pub(crate) const MAX_LINES: u64 = 5000;

#[derive(Debug, Deserialize)]
pub(super) struct LogQuery {
    offset: Option<u64>,
    tail: Option<u64>,
}

pub(super) async fn step_log(
    State(shared): State<Arc<Shared>>,
    Path((run, step)): Path<(String, usize)>,
    QueryArgs(q): QueryArgs<LogQuery>,
) -> Result<Json<LogChunk>, ApiErr> {
    // Only runs the state knows reach the file system, so a crafted run id
    // cannot walk out of the logs directory.
    // Counted in place for a run in memory (a followed log asks often);
    // one the fold has forgotten is read back from the store.
    let held = shared.read_model.read().steps(&run).map(<[_]>::len);
    let steps = match held {
        Some(n) => Some(n),
        None => match crate::server::archive::deployment(&shared, &run).await? {
            Some(d) => Some(d.steps.len()),
            None => crate::server::archive::build(&shared, &run)
                .await?
                .map(|b| b.steps.len()),
        },
    };
    let Some(steps) = steps else {
        return Err(ApiErr::not_found(format!("no build or deployment {run}")));
    };
    if step >= steps {
        return Err(ApiErr::not_found(format!(
            "{run} has {steps} steps (numbered from 0); there is no step {step}"
        )));
    }
    let path = Runner::log_path(&shared.data_dir, &run, step);
    let offset = q.offset.unwrap_or(0);
    let tail = q.tail.map(|t| t.min(MAX_LINES));
    let chunk = tokio::task::spawn_blocking(move || read_chunk(&path, offset, tail))
        .await
        .map_err(|e| ApiErr::internal(format!("reading the log failed: {e}")))?
        .map_err(|e| {
            ApiErr::internal(format!("could not read the log of {run} step {step}: {e}"))
        })?;
    Ok(Json(chunk))
}

/// Seek instead of scan: the log's index (`runner::output::INDEX_BLOCK`)
/// gives where every block of lines starts, so counting the lines reads only
/// what follows the last indexed block, and the lines asked for are read
/// from the start of their block. Without an index (an older log) this is
/// one scan from the start. A missing file is an empty log (the step has
/// not started yet).
pub(crate) fn read_chunk(
    path: &FsPath,
    offset: u64,
    tail: Option<u64>,
) -> std::io::Result<LogChunk> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogChunk {
                lines: Vec::new(),
                offset: 0,
                next_offset: 0,
                total: 0,
            });
        }
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let blocks = read_index(path, len);
    // Line number and byte offset where block `b` starts.
    let block_start = |b: usize| -> (u64, u64) {
        match b.checked_sub(1).and_then(|i| blocks.get(i)) {
            Some(&off) => (b as u64 * INDEX_BLOCK, off),
            None => (0, 0),
        }
    };
    let (base_line, base_off) = block_start(blocks.len());
    file.seek(SeekFrom::Start(base_off))?;
    let total = base_line + count_lines(&mut file)?;
    let (first, want) = match tail {
        Some(t) => (total.saturating_sub(t), t),
        None => (offset.min(total), MAX_LINES),
    };
    let block = usize::try_from(first / INDEX_BLOCK)
        .unwrap_or(usize::MAX)
        .min(blocks.len());
    let (mut line_no, start) = block_start(block);
    file.seek(SeekFrom::Start(start))?;
    let mut reader = std::io::BufReader::new(file);
    let mut buf = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    let end = first.saturating_add(want).min(total);
    while line_no < end {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        if line_no >= first {
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            kept.push(String::from_utf8_lossy(&buf).into_owned());
        }
        line_no += 1;
    }
    Ok(LogChunk {
        next_offset: first + kept.len() as u64,
        offset: first,
        lines: kept,
        total,
    })
}

/// The index's entries that are in order and inside a file of `len` bytes
/// (a partial last entry, or one past what was written, is ignored).
fn read_index(log: &FsPath, len: u64) -> Vec<u64> {
    let Ok(bytes) = std::fs::read(index_path(log)) else {
        return Vec::new();
    };
    let mut out: Vec<u64> = Vec::with_capacity(bytes.len() / 8);
    for chunk in bytes.chunks_exact(8) {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(chunk);
        let off = u64::from_le_bytes(raw);
        if off > len || out.last().is_some_and(|&prev| off <= prev) {
            break;
        }
        out.push(off);
    }
    out
}

/// Lines from the current position to the end; a last line without a
/// newline counts.
fn count_lines(file: &mut std::fs::File) -> std::io::Result<u64> {
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let (mut lines, mut open) = (0u64, false);
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let newlines = buf.iter().filter(|&&b| b == b'\n').count() as u64;
        lines += newlines;
        open = buf[n - 1] != b'\n';
        reader.consume(n);
    }
    Ok(lines + u64::from(open))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let text: String = (0..10).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();

        let all = read_chunk(&path, 0, None).unwrap();
        assert_eq!((all.offset, all.next_offset, all.total), (0, 10, 10));
        assert_eq!(all.lines[9], "line 9");

        let from = read_chunk(&path, 7, None).unwrap();
        assert_eq!(from.lines, vec!["line 7", "line 8", "line 9"]);
        assert_eq!((from.offset, from.next_offset), (7, 10));

        let past = read_chunk(&path, 50, None).unwrap();
        assert!(past.lines.is_empty());
        assert_eq!((past.offset, past.next_offset, past.total), (10, 10, 10));

        let tail = read_chunk(&path, 0, Some(2)).unwrap();
        assert_eq!(tail.lines, vec!["line 8", "line 9"]);
        assert_eq!((tail.offset, tail.next_offset), (8, 10));

        let big_tail = read_chunk(&path, 0, Some(100)).unwrap();
        assert_eq!((big_tail.offset, big_tail.lines.len()), (0, 10));

        let missing = read_chunk(&dir.path().join("nope.log"), 0, None).unwrap();
        assert_eq!(missing.total, 0);
    }

    #[tokio::test]
    async fn the_sinks_index_gives_the_same_answers_as_a_scan() {
        use crate::runner::output::{Masker, spawn_sink};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let (out, sink) = spawn_sink(&path, Masker::default(), "r".into(), 0, tx)
            .await
            .unwrap();
        let n = INDEX_BLOCK * 5 + 17;
        for i in 0..n {
            out.send(format!("line {i} {}", "x".repeat((i % 7) as usize)).into_bytes())
                .await;
        }
        drop(out);
        sink.await.unwrap();
        assert_eq!(read_index(&path, u64::MAX).len(), 5);
        // The same file without its index: the answers of a plain scan.
        let plain = dir.path().join("plain.log");
        std::fs::copy(&path, &plain).unwrap();
        for (offset, tail) in [
            (0, None),
            (INDEX_BLOCK - 1, None),
            (INDEX_BLOCK * 3 + 5, None),
            (n - 1, None),
            (n + 10, None),
            (0, Some(10)),
            (0, Some(INDEX_BLOCK + 3)),
            (0, Some(n + 100)),
        ] {
            let fast = read_chunk(&path, offset, tail).unwrap();
            let slow = read_chunk(&plain, offset, tail).unwrap();
            assert_eq!(
                (fast.offset, fast.next_offset, fast.total, &fast.lines),
                (slow.offset, slow.next_offset, slow.total, &slow.lines),
                "offset {offset} tail {tail:?}"
            );
            assert_eq!(fast.total, n);
        }
        let t = read_chunk(&path, 0, Some(2)).unwrap();
        assert!(t.lines[1].starts_with(&format!("line {} ", n - 1)), "{t:?}");
        // An index pointing past the file (torn or stale) is not trusted.
        std::fs::write(index_path(&plain), u64::MAX.to_le_bytes()).unwrap();
        assert_eq!(read_chunk(&plain, 0, Some(1)).unwrap().total, n);
    }
}
