//! Process groups: every step runs in its own, and this is how ferry looks
//! at them (`/proc`) and ends them. Shared by the step runner
//! (`process.rs`) and the orphan reaper (`orphans.rs`), which sit above it.

use std::fs;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::time::Instant;

/// Time between SIGTERM and SIGKILL: long enough for a deploy script to clean
/// up, short enough that cancel feels immediate.
pub const KILL_GRACE: Duration = Duration::from_secs(3);

/// SIGTERM the group, wait up to `KILL_GRACE` for it to go, then SIGKILL.
/// Whether the group is gone.
pub async fn kill_group(pgid: i32) -> bool {
    // Never signal group 0 (our own) or 1.
    if pgid <= 1 {
        return true;
    }
    let pg = Pid::from_raw(pgid);
    if killpg(pg, Signal::SIGTERM).is_err() {
        return true; // ESRCH: nothing left in the group.
    }
    if wait_group_gone(pgid, KILL_GRACE).await {
        return true;
    }
    tracing::warn!(pgid, "process group ignored SIGTERM; sending SIGKILL");
    let _ = killpg(pg, Signal::SIGKILL);
    if !wait_group_gone(pgid, KILL_GRACE).await {
        tracing::error!(pgid, "process group survived SIGKILL");
        return false;
    }
    true
}

async fn wait_group_gone(pgid: i32, within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        if !group_alive(pgid) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether any live (non-zombie) process is in group `pgid`. Zombies are
/// dead already; counting them would make a kill look like it failed until
/// their parent reaps them.
pub fn group_alive(pgid: i32) -> bool {
    match processes() {
        Some(procs) => procs.iter().any(|p| p.pgrp == pgid && p.alive),
        // No /proc: ask the kernel, zombies included.
        None => killpg(Pid::from_raw(pgid), None).is_ok(),
    }
}

/// One process as /proc shows it.
#[derive(Debug, Clone)]
pub(crate) struct ProcEntry {
    pub pid: i32,
    pub pgrp: i32,
    /// Not a zombie: zombies are dead already, only not yet reaped by their
    /// parent (for orphans, init, which may be slow or absent in a
    /// container).
    pub alive: bool,
    pub comm: String,
    /// Start time in clock ticks after boot: with the pid, one process.
    pub start: u64,
}

/// Every process of the system; None without /proc.
pub(crate) fn processes() -> Option<Vec<ProcEntry>> {
    let dir = fs::read_dir("/proc").ok()?;
    let mut procs = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        // Gone since the listing: skip it.
        let Ok(stat) = fs::read(entry.path().join("stat")) else {
            continue;
        };
        if let Some(p) = parse_stat(pid, &stat) {
            procs.push(p);
        }
    }
    Some(procs)
}

/// "pid (comm) state ppid pgrp ...": comm may contain spaces and
/// parentheses, so the fields are read after the last ')'.
pub(crate) fn parse_stat(pid: i32, stat: &[u8]) -> Option<ProcEntry> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let comm = String::from_utf8_lossy(stat.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    // Field 22 of stat; `state` was field 3 and `pgrp` field 5.
    let start = fields.nth(16)?.parse().ok()?;
    Some(ProcEntry {
        pid,
        pgrp,
        alive: state != "Z" && state != "X",
        comm,
        start,
    })
}
