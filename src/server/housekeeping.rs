//! Retention: a background sweep deletes what `[server] retention` (default
//! 90 days) has outlived. Step logs (`logs/<run>`), JUnit reports
//! (`reports/<run>`) and run directories (`runs/<run>`) of finished runs go
//! once nothing in them changed for that long; stored artifacts
//! (`artifacts/sha256/<digest>`) go when they are that old AND no stage runs
//! them (current), would roll back to them (last good) or is about to deploy
//! them (a pending or running deployment). Events are never deleted: the
//! log stays the history, only the bulky files beside it expire.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::engine::State;

use super::driver::ReadModel;

/// How often the sweep runs (and how long after start the first one waits,
/// so that a restart is not slowed by it).
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
const FIRST_SWEEP_AFTER: Duration = Duration::from_secs(60);

/// What one sweep deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    pub run_dirs: usize,
    pub artifacts: usize,
}

/// What must stay whatever its age: runs that are not finished and the
/// artifacts stages run, roll back to or are about to deploy.
struct Keep {
    runs: HashSet<String>,
    digests: HashSet<String>,
}

fn keep(state: &State) -> Keep {
    let mut runs = HashSet::new();
    let mut digests = HashSet::new();
    for d in state.deployments.values() {
        if !d.status.is_finished() {
            runs.insert(d.id.to_string());
            digests.insert(d.digest.clone());
            if let Some(a) = state.artifacts.get(&d.artifact) {
                digests.insert(a.digest.clone());
            }
        }
    }
    for b in state.builds.values() {
        if b.finished_at.is_none() {
            runs.insert(b.id.to_string());
        }
    }
    for stage in state.services.iter().flat_map(|s| s.stages.iter()) {
        let referenced = stage
            .current
            .iter()
            .chain(stage.good.last().map(|g| &g.artifact));
        for id in referenced {
            if let Some(a) = state.artifacts.get(id) {
                digests.insert(a.digest.clone());
            }
        }
    }
    Keep { runs, digests }
}

/// The newest modification time of `path` and (for a directory) its entries.
fn last_change(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let mut newest = meta.modified().ok()?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).ok()?.flatten() {
            if let Some(t) = entry.metadata().ok().and_then(|m| m.modified().ok()) {
                newest = newest.max(t);
            }
        }
    }
    Some(newest)
}

fn expired(path: &Path, cutoff: SystemTime) -> bool {
    last_change(path).is_some_and(|t| t < cutoff)
}

/// One sweep of `data_dir` against `state`, deleting what is older than
/// `cutoff`. Failures are logged and skipped: the next sweep tries again.
pub(crate) fn sweep(data_dir: &Path, state: &State, cutoff: SystemTime) -> Swept {
    let keep = keep(state);
    let mut swept = Swept::default();
    for area in ["logs", "reports", "runs"] {
        let Ok(entries) = std::fs::read_dir(data_dir.join(area)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let run = entry.file_name().to_string_lossy().to_string();
            if keep.runs.contains(&run) || !expired(&path, cutoff) {
                continue;
            }
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                Ok(()) => swept.run_dirs += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "retention: could not delete")
                }
            }
        }
    }
    let store = data_dir.join("artifacts").join("sha256");
    if let Ok(entries) = std::fs::read_dir(&store) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            // `.tmp-…` files are copies in progress: never touched here.
            if name.starts_with('.') || keep.digests.contains(&name) || !expired(&path, cutoff) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => swept.artifacts += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "retention: could not delete")
                }
            }
        }
    }
    swept
}

/// Sweep every `SWEEP_EVERY` until `closing`.
pub(crate) fn spawn(
    data_dir: std::path::PathBuf,
    read_model: Arc<ReadModel>,
    retention: Duration,
    closing: CancellationToken,
) {
    tokio::spawn(async move {
        let mut wait = FIRST_SWEEP_AFTER;
        loop {
            tokio::select! {
                _ = closing.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = SWEEP_EVERY;
            let Some(cutoff) = SystemTime::now().checked_sub(retention) else {
                continue;
            };
            let state = read_model.read().clone();
            let dir = data_dir.clone();
            // File system walks block: keep them off the async workers.
            match tokio::task::spawn_blocking(move || sweep(&dir, &state, cutoff)).await {
                Ok(s) if s != Swept::default() => tracing::info!(
                    run_dirs = s.run_dirs,
                    artifacts = s.artifacts,
                    "retention: deleted expired files"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention: the sweep failed"),
            }
        }
    });
}
