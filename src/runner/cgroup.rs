//! Step ownership a step cannot shed: a cgroup v2 per step where the
//! machine allows it, else the group leader's pid and start time.
//!
//! A process can clear its environment (`env -i`), change its group
//! (`setsid`), its uid or its name, but it cannot leave its cgroup without
//! write access to another one, and the kernel kills a whole cgroup at once
//! (`cgroup.kill`). So every step's shell is moved into
//! `<cgroup2 mount><server's cgroup>/ferry/<step>` before it execs, and the
//! group's path is written into the step's record (`orphans`). Where there
//! is no writable cgroup2 hierarchy, the record names the group leader's pid
//! and start time instead, which no other process can share.
//!
//! Steps also get PR_SET_PDEATHSIG (SIGKILL): the step's shell dies with the
//! server, whatever it did to its environment.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::pgroup::parse_stat;

/// How often a cgroup's emptiness is read while waiting for it to empty.
const POLL: Duration = Duration::from_millis(20);
/// How old an empty step cgroup of a server not seen here must be to be swept.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// The directory under which step cgroups are made, if the machine allows.
fn base() -> Option<&'static Path> {
    static BASE: OnceLock<Option<PathBuf>> = OnceLock::new();
    BASE.get_or_init(|| {
        if std::env::var_os("FERRY_NO_CGROUP").is_some() {
            return None;
        }
        let mount = cgroup2_mount()?;
        let own = own_cgroup()?;
        let dir = mount.join(own.trim_start_matches('/')).join("ferry");
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                tracing::info!(
                    "no cgroup for steps ({}: {e}); steps are tracked by their group leader",
                    dir.display()
                );
                return None;
            }
        }
        // Needs cgroup.kill (Linux 5.14) to end a group at once.
        if !dir.join("cgroup.kill").exists() {
            return None;
        }
        remove_stale(&dir);
        Some(dir)
    })
    .as_deref()
}

/// Remove the empty step cgroups of servers that are gone (a server killed
/// and its data directory deleted leaves them: nothing else would). Named
/// `<run>.<step>.<server pid>.<n>`; one whose server still runs, or that
/// has processes (rmdir refuses it), stays for its server or the orphan
/// reaper; so does one made in the last minute (a server in another pid
/// namespace, its pid not visible here, may be about to use it).
/// Returns how many were removed.
fn remove_stale(base: &Path) -> usize {
    let Ok(entries) = fs::read_dir(base) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.rsplit('.').nth(1))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < STALE_AFTER);
        if pid == std::process::id() as i32 || start_time(pid).is_some() || recent {
            continue;
        }
        if fs::remove_dir(&path).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            "removed the empty step cgroups of servers that are gone"
        );
    }
    removed
}

/// Where the cgroup2 hierarchy is mounted: /sys/fs/cgroup on a pure v2
/// machine, /sys/fs/cgroup/unified on a hybrid one.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        // "id parent dev root mountpoint opts [optional...] - fstype src opts"
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        if fstype != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// This process's cgroup v2 path ("0::/path" in /proc/self/cgroup).
fn own_cgroup() -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().to_string())
        // A path with " (deleted)" or relative parts is not one to build on.
        .filter(|p| p.starts_with('/') && !p.contains(".."))
}

/// One step's cgroup, made before its shell is spawned.
#[derive(Debug)]
pub(crate) struct StepCgroup {
    pub path: PathBuf,
    /// `cgroup.procs`, open so the child can move itself in between fork
    /// and exec (writing "0" moves the writer), where it cannot be started
    /// in the cgroup directly.
    procs: OwnedFd,
    /// The directory, for clone3's `CLONE_INTO_CGROUP` (`runner::spawn`).
    dir: OwnedFd,
}

impl StepCgroup {
    /// A new cgroup for one step, or None where the machine has none to give.
    pub fn create(run: &str, step: usize) -> Option<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = base()?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("{run}.{step}.{}.{n}", std::process::id()));
        if let Err(e) = fs::create_dir(&path) {
            tracing::warn!("could not make the step's cgroup {}: {e}", path.display());
            return None;
        }
        let opened = fs::OpenOptions::new()
            .write(true)
            .open(path.join("cgroup.procs"))
            .and_then(|procs| Ok((procs, fs::File::open(&path)?)));
        match opened {
            Ok((procs, dir)) => Some(StepCgroup {
                path,
                procs: procs.into(),
                dir: dir.into(),
            }),
            Err(e) => {
                tracing::warn!("could not open {}/cgroup.procs: {e}", path.display());
                let _ = fs::remove_dir(&path);
                None
            }
        }
    }

    /// Its directory, to start a process in (`CLONE_INTO_CGROUP`).
    pub fn dir_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.dir)
    }

    /// Kill everything in it (best effort) and remove it once empty.
    pub async fn kill_and_remove(&self, within: Duration) -> bool {
        kill(&self.path, within).await
    }

    /// Remove it if empty (a daemon a finished step left keeps it).
    pub fn remove_if_empty(&self) {
        let _ = fs::remove_dir(&self.path);
    }
}

/// Set up `cmd` so its process dies with the server (PR_SET_PDEATHSIG) and,
/// given a cgroup, starts inside it. If the move fails the child exits 126
/// before running anything: a step outside its cgroup would be unowned.
pub(crate) fn prepare(cmd: &mut tokio::process::Command, cgroup: Option<&StepCgroup>) {
    let procs = cgroup.map(|c| c.procs.as_raw_fd());
    // SAFETY: between fork and exec only async-signal-safe calls are made:
    // prctl(2), write(2) and _exit(2), on an fd opened before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            if let Some(fd) = procs {
                let fd = std::os::fd::BorrowedFd::borrow_raw(fd);
                if nix::unistd::write(fd, b"0").is_err() {
                    nix::libc::_exit(126);
                }
            }
            Ok(())
        });
    }
}

/// The pids in the cgroup at `path`; None if it is gone.
pub(crate) fn members(path: &Path) -> Option<Vec<i32>> {
    let text = fs::read_to_string(path.join("cgroup.procs")).ok()?;
    Some(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Whether the cgroup at `path` has live processes (`cgroup.events`).
pub(crate) fn populated(path: &Path) -> bool {
    match fs::read_to_string(path.join("cgroup.events")) {
        Ok(text) => text.lines().any(|l| l.trim() == "populated 1"),
        Err(_) => false,
    }
}

/// Whether `path` is one of the step cgroups this module makes: a record
/// naming anything else is not trusted with `cgroup.kill`.
pub(crate) fn is_step_cgroup(path: &Path) -> bool {
    let Some(base) = base() else {
        // The record was written where cgroups worked; here they do not
        // (another machine layout): still ours if under a ferry directory
        // of a cgroup2 mount.
        return cgroup2_mount().is_some_and(|m| path.starts_with(m))
            && path.parent().and_then(|p| p.file_name()) == Some("ferry".as_ref());
    };
    path.parent() == Some(base) && !path.components().any(|c| c.as_os_str() == "..")
}

/// `cgroup.kill` the group, wait until it is empty, remove it. Whether it
/// is empty (or gone).
pub(crate) async fn kill(path: &Path, within: Duration) -> bool {
    if !path.exists() {
        return true;
    }
    if populated(path) {
        let written = fs::OpenOptions::new()
            .write(true)
            .open(path.join("cgroup.kill"))
            .and_then(|mut f| f.write_all(b"1"));
        if let Err(e) = written {
            tracing::warn!("could not kill cgroup {}: {e}", path.display());
        }
    }
    let end = Instant::now() + within;
    while populated(path) {
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    let _ = fs::remove_dir(path);
    true
}

/// The start time (clock ticks after boot) of `pid`, if it is alive.
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat).filter(|p| p.alive).map(|p| p.start)
}

/// This boot, so a record of a previous boot is never taken for a live one.
pub(crate) fn boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_empty_step_cgroups_of_gone_servers_are_removed() {
        // Where cgroups are not writable, steps fall back to their group
        // leader (tested in `orphans::tests`); there is nothing to sweep.
        let Some(base) = base() else {
            assert!(
                StepCgroup::create("probe", 0).is_none(),
                "no base, so no step cgroup either"
            );
            return;
        };
        // A pid above the kernel's maximum (2^22) is never alive.
        let gone = base.join("d-test.0.4194399.0");
        let mine = base.join(format!("d-test.0.{}.1", std::process::id()));
        fs::create_dir(&gone).expect("a cgroup of a gone server");
        fs::create_dir(&mine).expect("a cgroup of this process");
        assert_eq!(remove_stale(base), 0, "made just now: kept");
        assert!(gone.exists());
        // Aged past `STALE_AFTER` (a cgroup directory takes utimes).
        let old = std::time::SystemTime::now() - STALE_AFTER * 2;
        fs::File::open(&gone)
            .and_then(|f| f.set_modified(old))
            .expect("age the cgroup");
        assert!(remove_stale(base) >= 1);
        assert!(!gone.exists(), "the gone server's empty cgroup is removed");
        assert!(mine.exists(), "this server's is kept");
        fs::remove_dir(&mine).expect("cleanup");
    }

    #[test]
    fn finds_the_cgroup2_mount_when_there_is_one() {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        assert_eq!(
            cgroup2_mount().is_some(),
            info.lines().any(|l| l.contains(" - cgroup2 "))
        );
    }
}
