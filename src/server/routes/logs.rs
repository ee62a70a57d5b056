//! A step's log file, by line: from `offset`, or the last `tail` lines.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use crate::api::LogChunk;
use crate::runner::Runner;

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
    let steps = {
        let state = shared.read_model.read();
        state.steps(&run).map(|steps| steps.len())
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

/// One pass over the file: count every line, keep the ones asked for.
/// A missing file is an empty log (the step has not started yet).
pub(crate) fn read_chunk(
    path: &FsPath,
    offset: u64,
    tail: Option<u64>,
) -> std::io::Result<LogChunk> {
    let file = match std::fs::File::open(path) {
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
    let mut reader = std::io::BufReader::new(file);
    let mut buf = Vec::new();
    let mut total: u64 = 0;
    let mut kept: VecDeque<String> = VecDeque::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line_no = total;
        total += 1;
        let wanted = match tail {
            Some(_) => true,
            None => line_no >= offset && line_no < offset.saturating_add(MAX_LINES),
        };
        if wanted {
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            kept.push_back(String::from_utf8_lossy(&buf).into_owned());
            if let Some(n) = tail
                && kept.len() as u64 > n
            {
                kept.pop_front();
            }
        }
    }
    let first = match tail {
        Some(_) => total - kept.len() as u64,
        None => offset.min(total),
    };
    Ok(LogChunk {
        next_offset: first + kept.len() as u64,
        offset: first,
        lines: kept.into(),
        total,
    })
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
}
