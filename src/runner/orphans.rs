//! Step process groups that outlive the server.
//!
//! A server killed outright (SIGKILL, the OOM killer, a crash) cannot kill
//! its steps' groups, and they keep running after it restarts: a slow deploy could copy old files over the release that the
//! automatic rollback has just put back. So each step's group id is recorded
//! durably in `<data_dir>/runs/<run>/<step>.pgid` while it runs (the step's
//! shell waits at a gate until the record is on disk, see `process::GATE`),
//! and `Runner::reap_orphans` ends every recorded group that is still there
//! before the engine recovers.
//!
//! A record names a group id, the server that started it, and what owns
//! the step whatever it does to its environment: its cgroup (`cgroup`), or
//! its leader's pid and start time in this boot. Records of an older ferry
//! without either are matched by `FERRY_RUN_DIR` in a member's environment.
//! A group is killed only if that server is gone, so a call while steps run
//! (or a second server on the same data directory) kills no live step.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::pgroup::{KILL_GRACE, processes};
use super::{Runner, StepCtx, safe_component};

mod owner;
mod record;

use owner::{Owner, RunMark};
use record::{RecordName, began_path, read_record, record_name, server_alive};
pub(crate) use record::{record, remove_record};
/// How often the group table is read while waiting for groups to go.
const POLL: Duration = Duration::from_millis(20);

impl Runner {
    /// Where a step's group id is recorded while it runs.
    pub fn pgid_path(data_dir: &Path, run: &str, step: usize) -> PathBuf {
        Self::run_dir(data_dir, run).join(format!("{step}.pgid"))
    }

    /// End the process groups of steps that a previous server left running
    /// (it was killed without shutting down), and delete every group record.
    /// Call it at start, before `Input::Recover`: those steps are about to
    /// be recorded as interrupted and possibly rolled back, and must not
    /// keep deploying behind the rollback's back. Returns how many groups
    /// were killed.
    pub async fn reap_orphans(&self) -> usize {
        let data_dir = self.data_dir.clone();
        // Directory walks and /proc reads are blocking file system work.
        let orphans = match tokio::task::spawn_blocking(move || find_orphans(&data_dir)).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("looking for orphaned step processes failed: {e}");
                return 0;
            }
        };
        if orphans.is_empty() {
            return 0;
        }
        // Every group gets SIGTERM first and the same grace, so a deploy
        // script can clean up, and many orphans cost one grace, not many.
        let procs = processes().unwrap_or_default();
        for o in &orphans {
            o.owner.signal(&procs, o.pgid, Signal::SIGTERM);
        }
        if !wait_all_gone(&orphans, KILL_GRACE).await {
            let procs = processes().unwrap_or_default();
            for o in &orphans {
                // Checked again: the group may have ended and its id been
                // reused during the grace.
                if !o.owner.members(&procs, o.pgid).is_empty() {
                    tracing::warn!(run = %o.run, step = %o.step, pgid = o.pgid, "orphaned step ignored SIGTERM; sending SIGKILL");
                    o.owner.signal(&procs, o.pgid, Signal::SIGKILL);
                }
            }
            wait_all_gone(&orphans, KILL_GRACE).await;
        }
        let procs = processes().unwrap_or_default();
        for o in &orphans {
            let left = o.owner.members(&procs, o.pgid);
            if left.is_empty() {
                o.owner.forget();
                tracing::warn!(
                    run = %o.run,
                    step = %o.step,
                    pgid = o.pgid,
                    processes = %o.members,
                    "killed the processes of a step left running by a previous server"
                );
                // Whoever reads the interrupted step's log learns why it
                // stopped mid-way.
                self.log_note(
                    o,
                    &format!(
                        "ferry: killed what this step left running when the server stopped: {}",
                        crate::model::sanitize_text(&o.members)
                    ),
                )
                .await;
            } else {
                // SIGKILL is pending (uninterruptible sleep): the record
                // stays, so recovery waits (`orphans_alive`) instead of
                // rolling back under a live step.
                tracing::error!(run = %o.run, step = %o.step, pgid = o.pgid, left = left.len(), "orphaned step processes survived SIGKILL");
                continue;
            }
            remove_record(&o.record);
        }
        orphans.len()
    }

    /// Of the steps recorded as running, those that never started a process
    /// (no `began_path` mark): a restart changes nothing
    /// they did, because they did nothing.
    pub fn not_begun(
        &self,
        running: &[(crate::model::RunId, usize)],
    ) -> Vec<(crate::model::RunId, usize)> {
        running
            .iter()
            .filter(|(run, step)| {
                safe_component(run) && !began_path(&self.data_dir, run, &step.to_string()).exists()
            })
            .cloned()
            .collect()
    }

    /// Whether a step a previous server left running still has a live
    /// process (after `reap_orphans`): then no rollback may start yet.
    pub async fn orphans_alive(&self) -> bool {
        let data_dir = self.data_dir.clone();
        tokio::task::spawn_blocking(move || !find_orphans(&data_dir).is_empty())
            .await
            .unwrap_or(true)
    }
}

impl Runner {
    async fn log_note(&self, o: &Orphan, line: &str) {
        use tokio::io::AsyncWriteExt;
        let Ok(step) = o.step.parse::<usize>() else {
            return;
        };
        let path = Self::log_path(&self.data_dir, &o.run, step);
        let written = async {
            let mut f = tokio::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .await?;
            f.write_all(format!("{line}\n").as_bytes()).await?;
            // tokio's File finishes a write on a background thread: without
            // this the note may land after whoever reads the log next.
            f.flush().await
        };
        if let Err(e) = written.await {
            tracing::debug!("could not note the orphan in {}: {e}", path.display());
        }
    }
}

impl StepCtx {
    /// Where this step's processes record their group (`ProcSpec::record`).
    pub(crate) fn pgid_record(&self) -> Option<PathBuf> {
        Some(Runner::pgid_path(
            &self.data_dir,
            &self.job.run,
            self.job.step,
        ))
    }
}

/// One recorded group that is still running and is a step's.
struct Orphan {
    pgid: i32,
    run: String,
    step: String,
    record: PathBuf,
    owner: Owner,
    /// For the log: `comm(pid)` of each process found.
    members: String,
}

/// Every record under `<data_dir>/runs`: stale ones are deleted here; the
/// groups that are still a step's are returned.
fn find_orphans(data_dir: &Path) -> Vec<Orphan> {
    let runs = data_dir.join("runs");
    let run_dirs = match fs::read_dir(&runs) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::error!(
                "could not look for orphaned steps in {}: {e}",
                runs.display()
            );
            return Vec::new();
        }
    };
    let Some(procs) = processes() else {
        // Without /proc a group cannot be told from a stranger that got
        // its id: better leave it than kill someone else's processes.
        tracing::warn!("no /proc: not looking for orphaned step processes");
        return Vec::new();
    };
    let mut orphans = Vec::new();
    for run_dir in run_dirs.flatten() {
        let run = run_dir.file_name().to_string_lossy().into_owned();
        if !safe_component(&run) || !run_dir.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = fs::read_dir(run_dir.path()) else {
            continue;
        };
        let mark = RunMark::new(data_dir, &run);
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let path = file.path();
            let step = match record_name(&name) {
                Some(RecordName::Record(step)) => step,
                Some(RecordName::Unfinished) => {
                    // Unless a live server is writing it right now.
                    let writer = read_record(&path).and_then(|r| r.server);
                    if !writer.as_deref().is_some_and(server_alive) {
                        remove_record(&path);
                    }
                    continue;
                }
                None => continue,
            };
            let Some(rec) = read_record(&path) else {
                tracing::warn!("deleting {}: not a process group record", path.display());
                remove_record(&path);
                continue;
            };
            let pgid = rec.pgid;
            if rec.server.as_deref().is_some_and(server_alive) {
                tracing::debug!(run, step, pgid, "a step of a running server, not an orphan");
                continue;
            }
            let Some(owner) = Owner::of(&rec, &mark) else {
                tracing::info!(
                    run,
                    step,
                    pgid,
                    "deleting the record of a step of another boot"
                );
                remove_record(&path);
                continue;
            };
            let members = owner.members(&procs, pgid);
            if members.is_empty() {
                owner.forget();
                let why = if procs.iter().any(|p| p.pgrp == pgid && p.alive) {
                    "its group id now belongs to other processes"
                } else {
                    "its processes are gone"
                };
                tracing::info!(run, step, pgid, "deleting the record of a step: {why}");
                remove_record(&path);
                continue;
            }
            let members = members
                .iter()
                // A process names itself: no escape sequence of its
                // choosing reaches a log or a terminal.
                .map(|p| format!("{}({})", crate::model::sanitize_text(&p.comm), p.pid))
                .collect::<Vec<_>>()
                .join(" ");
            orphans.push(Orphan {
                pgid,
                run: run.clone(),
                step: step.to_string(),
                record: path,
                owner,
                members,
            });
        }
    }
    orphans
}

async fn wait_all_gone(orphans: &[Orphan], within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        let procs = processes().unwrap_or_default();
        let gone = orphans
            .iter()
            .all(|o| o.owner.members(&procs, o.pgid).is_empty());
        if gone {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests;
