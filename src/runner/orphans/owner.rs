//! Who owns a recorded group: how the processes of a step a killed server
//! left are told from everyone else's (its cgroup, its leader, or the run's
//! mark in their environment), and how they are signalled.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::record::Record;
use crate::runner::Runner;
use crate::runner::cgroup;
use crate::runner::pgroup::ProcEntry;

/// How a process of a run's steps is recognised: `FERRY_RUN_DIR` in its
/// environment, as `execute` sets it from the same path.
#[derive(Clone)]
pub(super) struct RunMark {
    /// The run directory as `execute` spells it.
    dir: Vec<u8>,
    /// The run directory's (device, inode): the same directory under
    /// another spelling (a symlink, a data dir given relative to another
    /// working directory) is still this run's.
    id: Option<(u64, u64)>,
}

impl RunMark {
    pub(super) fn new(data_dir: &Path, run: &str) -> Self {
        let dir = Runner::run_dir(data_dir, run);
        let id = fs::metadata(&dir).ok().map(|m| (m.dev(), m.ino()));
        RunMark {
            dir: dir.to_string_lossy().as_bytes().to_vec(),
            id,
        }
    }

    /// Whether `pid` started with this run's FERRY_RUN_DIR. Unreadable
    /// (another user's process, or gone) counts as no.
    fn carried_by(&self, pid: i32) -> bool {
        let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
            return false;
        };
        let Some(value) = env
            .split(|&b| b == 0)
            .find_map(|e| e.strip_prefix(b"FERRY_RUN_DIR=".as_slice()))
        else {
            return false;
        };
        if value == self.dir.as_slice() {
            return true;
        }
        let same_dir = fs::metadata(Path::new(std::ffi::OsStr::from_bytes(value)))
            .ok()
            .map(|m| (m.dev(), m.ino()));
        self.id.is_some() && same_dir == self.id
    }
}

/// How the processes of a recorded step are told from everyone else's.
#[derive(Clone)]
pub(super) enum Owner {
    /// Every live process in the step's cgroup, whatever its group,
    /// environment, uid or name.
    Cgroup(PathBuf),
    /// Group `pgid` while its leader is the one that started at `start`;
    /// after the leader exited, the members that started after it (the id
    /// cannot be reused while any of them lives).
    Leader { start: u64 },
    /// A record of an older ferry, without either: a member must carry the
    /// run's FERRY_RUN_DIR.
    Legacy(RunMark),
}

impl Owner {
    /// None for a record of a previous boot (everything of it is gone) or
    /// naming a cgroup that is not a step's.
    pub(super) fn of(rec: &Record, mark: &RunMark) -> Option<Owner> {
        if let Some(cg) = &rec.cgroup {
            return cgroup::is_step_cgroup(cg).then(|| Owner::Cgroup(cg.clone()));
        }
        if let Some(start) = rec.start {
            if rec.boot.is_some() && rec.boot != cgroup::boot_id() {
                return None;
            }
            return Some(Owner::Leader { start });
        }
        Some(Owner::Legacy(mark.clone()))
    }

    pub(super) fn members<'a>(&self, procs: &'a [ProcEntry], pgid: i32) -> Vec<&'a ProcEntry> {
        match self {
            Owner::Cgroup(path) => {
                let pids = cgroup::members(path).unwrap_or_default();
                procs
                    .iter()
                    .filter(|p| p.alive && pids.contains(&p.pid))
                    .collect()
            }
            Owner::Leader { start } => {
                let group: Vec<&ProcEntry> =
                    procs.iter().filter(|p| p.pgrp == pgid && p.alive).collect();
                match procs.iter().find(|p| p.pid == pgid) {
                    Some(leader) if leader.start != *start => Vec::new(),
                    Some(_) => group,
                    None => group.into_iter().filter(|p| p.start >= *start).collect(),
                }
            }
            Owner::Legacy(mark) => members_if_ours(procs, pgid, mark),
        }
    }

    /// Signal every member: the cgroup at once with SIGKILL (`cgroup.kill`),
    /// else each of its processes; a group by its id.
    pub(super) fn signal(&self, procs: &[ProcEntry], pgid: i32, sig: Signal) {
        match self {
            Owner::Cgroup(path) if sig == Signal::SIGKILL => {
                let written = fs::OpenOptions::new()
                    .write(true)
                    .open(path.join("cgroup.kill"))
                    .and_then(|mut f| f.write_all(b"1"));
                if let Err(e) = written {
                    tracing::warn!("could not kill cgroup {}: {e}", path.display());
                }
            }
            Owner::Cgroup(_) => {
                for p in self.members(procs, pgid) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(p.pid), sig);
                }
            }
            Owner::Leader { .. } | Owner::Legacy(_) => {
                let _ = killpg(Pid::from_raw(pgid), sig);
            }
        }
    }

    /// After the last member is gone: remove the step's cgroup.
    pub(super) fn forget(&self) {
        if let Owner::Cgroup(path) = self {
            let _ = fs::remove_dir(path);
        }
    }
}

/// The live processes of group `pgid` if any of them is one of the run's
/// steps; none otherwise.
fn members_if_ours<'a>(procs: &'a [ProcEntry], pgid: i32, mark: &RunMark) -> Vec<&'a ProcEntry> {
    let members: Vec<&ProcEntry> = procs.iter().filter(|p| p.pgrp == pgid && p.alive).collect();
    if members.iter().any(|p| mark.carried_by(p.pid)) {
        members
    } else {
        Vec::new()
    }
}
