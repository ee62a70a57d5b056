// Over 600 lines: records, their reading and the owner rules are one protocol, kept together.
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
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::time::Instant;

use super::cgroup;
use super::pgroup::{KILL_GRACE, ProcEntry, parse_stat, processes};
use super::{Runner, StepCtx, safe_component};

/// Records are small; a bigger file (a step may write in its run directory)
/// is not one of ours.
const RECORD_MAX: u64 = 1024;
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
            f.write_all(format!("{line}\n").as_bytes()).await
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

/// Record `pgid` at `path` (temporary file, then link); returns the
/// record's path. Not fsynced: the record must outlive the server process,
/// and a written page does (the kernel keeps it); after a power loss no
/// step's group survives either, and a torn or stale record is harmless:
/// a group is only killed if a live member carries the run's mark. This
/// keeps two fsyncs off the path between a step's exit and the next spawn. If `path` is taken (the same
/// step running twice), the record is `<step>.<pgid>.pgid` beside it.
pub(crate) async fn record(path: &Path, pgid: i32, cgroup: Option<&Path>) -> io::Result<PathBuf> {
    let path = path.to_path_buf();
    let cgroup = cgroup.map(Path::to_path_buf);
    tokio::task::spawn_blocking(move || record_blocking(&path, pgid, cgroup.as_deref()))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

fn record_blocking(path: &Path, pgid: i32, cgroup: Option<&Path>) -> io::Result<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other("not a file path"));
    };
    let name = name.to_string_lossy();
    let stem = name.strip_suffix(".pgid").unwrap_or(&name);
    let tmp = dir.join(format!("{stem}.pgid.{pgid}.tmp"));
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        writeln!(f, "{pgid}")?;
        if let Some(me) = server_identity() {
            writeln!(f, "server={me}")?;
        }
        // What owns the step whatever it does to its environment: its
        // cgroup, or its leader (pid + start time, this boot).
        if let Some(start) = cgroup::start_time(pgid) {
            writeln!(f, "start={start}")?;
        }
        if let Some(boot) = cgroup::boot_id() {
            writeln!(f, "boot={boot}")?;
        }
        if let Some(cg) = cgroup {
            writeln!(f, "cgroup={}", cg.display())?;
        }
        // No fsync: the record only has to outlive the server process; after
        // a power loss no step survives to be reaped.
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The step may start once this is on disk: from here on it may have had
    // an effect, and a restart must treat it as interrupted mid-step (the
    // directory sync below makes the name durable). Never removed with the
    // record.
    let step = stem.split_once('.').map_or(stem, |(s, _)| s);
    if let (Some(run), Some(runs)) = (dir.file_name(), dir.parent())
        && let Some(data_dir) = runs.parent()
    {
        let began = began_path(data_dir, &run.to_string_lossy(), step);
        if let Some(parent) = began.parent() {
            fs::create_dir_all(parent)?;
            fs::File::create(&began)?;
            fs::File::open(parent)?.sync_all()?;
        }
    }
    // A link fails if the name exists, where a rename would silently drop
    // the record of another group.
    let done = match fs::hard_link(&tmp, path) {
        Ok(()) => {
            // A leftover is deleted by `reap_orphans`.
            let _ = fs::remove_file(&tmp);
            Ok(path.to_path_buf())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let alt = dir.join(format!("{stem}.{pgid}.pgid"));
            fs::rename(&tmp, &alt).map(|()| alt)
        }
        // File systems without hard links.
        Err(_) => fs::rename(&tmp, path).map(|()| path.to_path_buf()),
    };
    if done.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    done
}

/// The mark that a step's process may have started (`<data_dir>/began/<run>/<step>`),
/// kept apart from the run directory, which is the step's own.
fn began_path(data_dir: &Path, run: &str, step: &str) -> PathBuf {
    data_dir.join("began").join(run).join(step)
}

/// Delete a record whose group is gone. Not synced: a record that comes back
/// after a crash is found stale by `reap_orphans` and deleted then.
pub(crate) fn remove_record(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!("could not remove {}: {e}", path.display());
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

/// What kind of file of a run directory this is, by its name alone, so a
/// step's own files there are never touched.
enum RecordName<'a> {
    /// `<step>.pgid` or `<step>.<pgid>.pgid`, with the step.
    Record(&'a str),
    /// `<step>.pgid.<pgid>.tmp`: a record never completed, whose shell
    /// never passed the gate.
    Unfinished,
}

fn record_name(name: &str) -> Option<RecordName<'_>> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(stem) = name.strip_suffix(".pgid") {
        let step = stem.split_once('.').map_or(stem, |(s, _)| s);
        let rest_ok = stem.split_once('.').is_none_or(|(_, p)| digits(p));
        return (digits(step) && rest_ok).then_some(RecordName::Record(step));
    }
    let (step, pgid) = name.strip_suffix(".tmp")?.split_once(".pgid.")?;
    (digits(step) && digits(pgid)).then_some(RecordName::Unfinished)
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

/// How a process of a run's steps is recognised: `FERRY_RUN_DIR` in its
/// environment, as `execute` sets it from the same path.
#[derive(Clone)]
struct RunMark {
    /// The run directory as `execute` spells it.
    dir: Vec<u8>,
    /// The run directory's (device, inode): the same directory under
    /// another spelling (a symlink, a data dir given relative to another
    /// working directory) is still this run's.
    id: Option<(u64, u64)>,
}

impl RunMark {
    fn new(data_dir: &Path, run: &str) -> Self {
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

/// What a record says.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    pgid: i32,
    /// `server_identity()` of the server that started the step.
    server: Option<String>,
    /// The leader's start time, `boot` the boot it started in.
    start: Option<u64>,
    boot: Option<String>,
    /// The step's cgroup.
    cgroup: Option<PathBuf>,
}

/// A record's contents, if it is one whose group may be signalled.
fn read_record(path: &Path) -> Option<Record> {
    let mut text = String::new();
    fs::File::open(path)
        .ok()?
        .take(RECORD_MAX)
        .read_to_string(&mut text)
        .ok()?;
    let mut lines = text.lines();
    // 0 and 1 would signal our own group or init's.
    let pgid = lines
        .next()?
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|&p| p > 1)?;
    let mut rec = Record {
        pgid,
        server: None,
        start: None,
        boot: None,
        cgroup: None,
    };
    for line in lines {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key {
            "server" => rec.server = Some(value.to_string()),
            "start" => rec.start = value.parse().ok(),
            "boot" => rec.boot = Some(value.to_string()),
            "cgroup" => rec.cgroup = Some(PathBuf::from(value)),
            _ => {}
        }
    }
    Some(rec)
}

/// This server process as `<pid>:<start time>`: a pid alone may be reused.
fn server_identity() -> Option<&'static str> {
    static ME: OnceLock<Option<String>> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = i32::try_from(std::process::id()).ok()?;
        let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
        let p = parse_stat(pid, &stat)?;
        Some(format!("{pid}:{}", p.start))
    })
    .as_deref()
}

/// Whether the server a record names still runs: then the group is its
/// live step, not an orphan.
fn server_alive(identity: &str) -> bool {
    let Some((pid, start)) = identity.split_once(':') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
        return false;
    };
    fs::read(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| parse_stat(pid, &stat))
        .is_some_and(|p| p.alive && p.start == start)
}

/// How the processes of a recorded step are told from everyone else's.
#[derive(Clone)]
enum Owner {
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
    fn of(rec: &Record, mark: &RunMark) -> Option<Owner> {
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

    fn members<'a>(&self, procs: &'a [ProcEntry], pgid: i32) -> Vec<&'a ProcEntry> {
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
    fn signal(&self, procs: &[ProcEntry], pgid: i32, sig: Signal) {
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
    fn forget(&self) {
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
