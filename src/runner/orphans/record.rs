//! A step's process-group record on disk: writing it (and the mark that the
//! step may have started), reading it back, telling records from a step's
//! own files by name, and whether the server that wrote it still runs.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::runner::cgroup;
use crate::runner::pgroup::parse_stat;

/// Records are small; a bigger file (a step may write in its run directory)
/// is not one of ours.
const RECORD_MAX: u64 = 1024;

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

/// The mark that a step's process may have started
/// (`<data_dir>/logs/<run>/<step>.began`). It lives beside the step's log so
/// that replicas sharing `[server] log_dir` see it: the replica that takes
/// over a dead leader's running step must know whether it had begun.
pub(super) fn began_path(data_dir: &Path, run: &str, step: &str) -> PathBuf {
    data_dir
        .join("logs")
        .join(run)
        .join(format!("{step}.began"))
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

/// What kind of file of a run directory this is, by its name alone, so a
/// step's own files there are never touched.
pub(super) enum RecordName<'a> {
    /// `<step>.pgid` or `<step>.<pgid>.pgid`, with the step.
    Record(&'a str),
    /// `<step>.pgid.<pgid>.tmp`: a record never completed, whose shell
    /// never passed the gate.
    Unfinished,
}

pub(super) fn record_name(name: &str) -> Option<RecordName<'_>> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(stem) = name.strip_suffix(".pgid") {
        let step = stem.split_once('.').map_or(stem, |(s, _)| s);
        let rest_ok = stem.split_once('.').is_none_or(|(_, p)| digits(p));
        return (digits(step) && rest_ok).then_some(RecordName::Record(step));
    }
    let (step, pgid) = name.strip_suffix(".tmp")?.split_once(".pgid.")?;
    (digits(step) && digits(pgid)).then_some(RecordName::Unfinished)
}

/// What a record says.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) pgid: i32,
    /// `server_identity()` of the server that started the step.
    pub(super) server: Option<String>,
    /// The leader's start time, `boot` the boot it started in.
    pub(super) start: Option<u64>,
    pub(super) boot: Option<String>,
    /// The step's cgroup.
    pub(super) cgroup: Option<PathBuf>,
}

/// A record's contents, if it is one whose group may be signalled.
pub(super) fn read_record(path: &Path) -> Option<Record> {
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
pub(super) fn server_identity() -> Option<&'static str> {
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
pub(super) fn server_alive(identity: &str) -> bool {
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
