//! Child processes of steps and probes: `sh -c` in a clean environment and in
//! its own process group, output read line by line into the step's sink, and
//! on timeout or stop the whole group signalled (SIGTERM, then SIGKILL), so a
//! step cannot leave a `sleep 1000 &` behind when it is cut short. While it
//! runs, a step's group id is recorded on disk (see `orphans`) so a server
//! that was killed outright can end the group at its next start.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::cgroup;
use super::orphans;
use super::output::LineSender;
use super::pgroup::{KILL_GRACE, kill_group};
use super::spawn;
use crate::errors::inline_hint;
/// How long to keep reading output after the shell exited: a background
/// process that still holds the pipe must not keep the step running.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Bytes kept of one raw line; the sink cuts to `output::MAX_LINE` later,
/// after masking, so this only bounds memory.
const RAW_LINE_LIMIT: usize = 16 * 1024;
/// The shell first waits for `go` on stdin, sent once its group is recorded:
/// a server killed in between leaves a gate that reads EOF and exits without
/// running anything, so no group can run unrecorded. The same shell then
/// runs the command (no second `sh`: one exec less per step), with stdin
/// /dev/null, no positional parameters and none of the gate's variables, as
/// `sh -c command` would. A syntax error still exits 2, as with `sh -c`.
pub(super) const GATE: &str = "IFS= read -r go && [ \"$go\" = go ] || exit 125; exec </dev/null; \
     ferry_cmd=$1; shift; eval \"unset ferry_cmd go\n$ferry_cmd\"";

/// Why a step is being stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `cancel_step`: a person cancelled the deployment or a rollback preempted it.
    Cancel,
    /// The server is shutting down.
    Shutdown,
}

/// Shared by a running step and whoever may stop it.
#[derive(Debug, Default)]
pub struct StopSignal {
    token: CancellationToken,
    reason: OnceLock<StopReason>,
}

impl StopSignal {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// The first reason given wins.
    pub fn stop(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }
    pub async fn stopped(&self) -> StopReason {
        self.token.cancelled().await;
        self.reason()
    }
    pub fn reason(&self) -> StopReason {
        self.reason.get().copied().unwrap_or(StopReason::Cancel)
    }
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcSpec {
    pub command: String,
    pub cwd: PathBuf,
    /// The complete environment: nothing of the server's is inherited.
    pub env: Vec<(String, String)>,
    /// Where to record the group id while it runs (`orphans::record`); None
    /// for processes no later server needs to find.
    pub record: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcEnd {
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    TimedOut,
    Stopped(StopReason),
    /// It never ran; the message says why.
    SpawnFailed(String),
}

impl ProcEnd {
    pub fn success(&self) -> bool {
        matches!(self, ProcEnd::Exited { code: Some(0), .. })
    }
}

/// The variables every step gets from the server's own environment.
pub fn base_env() -> Vec<(String, String)> {
    let get = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_string());
    vec![
        ("PATH".into(), get("PATH", "/usr/local/bin:/usr/bin:/bin")),
        ("HOME".into(), get("HOME", "/")),
        ("LANG".into(), get("LANG", "C.UTF-8")),
        ("TERM".into(), "dumb".into()),
    ]
}

/// Where `sh` is in the steps' `PATH` (from `env`), resolved once per PATH
/// value and cached; `/bin/sh` when the environment has no `PATH`. A `PATH`
/// without an executable `sh` is an error, as exec by name would be.
pub fn shell_for(env: &[(String, String)]) -> Result<PathBuf, String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let Some(path) = path else {
        return Ok(PathBuf::from("/bin/sh"));
    };
    let cache = CACHE.get_or_init(Default::default);
    // A poisoned cache only means another thread panicked mid-insert of a
    // path that is still valid.
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = cache.get(path) {
        return Ok(found.clone());
    }
    // Not cached when missing: rare, and the directory may gain one.
    let found = resolve_shell(path).ok_or_else(|| format!("no `sh` in PATH {path}"))?;
    cache.insert(path.to_string(), found.clone());
    Ok(found)
}

fn resolve_shell(path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':')
        // An empty entry or a relative one would depend on the step's cwd.
        .filter(|d| d.starts_with('/'))
        .map(|d| std::path::Path::new(d).join("sh"))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `deadline` that cannot overflow, for timeouts as long as `Duration::MAX`.
pub fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Run `sh -c command` until it exits, `deadline` passes or `stop` fires.
/// Every output line goes to `out`. On timeout or stop the whole process
/// group is terminated before this returns.
pub async fn run(
    spec: &ProcSpec,
    deadline: Instant,
    stop: &StopSignal,
    out: &LineSender,
) -> ProcEnd {
    if !spec.cwd.is_dir() {
        return ProcEnd::SpawnFailed(inline_hint(
            format!("working directory {} does not exist", spec.cwd.display()),
            "check the service's `workdir`",
        ));
    }
    if stop.is_stopped() {
        return ProcEnd::Stopped(stop.reason());
    }
    // By absolute path, resolved once per PATH: exec needs no search of the
    // steps' PATH in the child (`spawn` execs exactly this file).
    let shell = match shell_for(&spec.env) {
        Ok(s) => s,
        Err(e) => return ProcEnd::SpawnFailed(format!("could not start `sh`: {e}")),
    };
    // A recorded step also gets a cgroup (where the machine has one) that it
    // cannot leave, and every process dies with the server (`spawn`).
    let cgroup = spec
        .record
        .as_ref()
        .and_then(|r| cgroup::StepCgroup::create(&cgroup_name(r), 0));
    let args = [
        OsStr::new("-c"),
        OsStr::new(GATE),
        OsStr::new("sh"),
        OsStr::new(&spec.command),
    ];
    let start = spawn::Spawn {
        program: &shell,
        args: &args,
        env: &spec.env,
        cwd: &spec.cwd,
        cgroup: cgroup.as_ref(),
    };
    tracing::debug!("step: spawning");
    let mut child = match spawn::start(&start) {
        Ok(c) => c,
        Err(e) => {
            if let Some(cg) = &cgroup {
                cg.remove_if_empty();
            }
            return ProcEnd::SpawnFailed(format!("could not start `sh`: {e}"));
        }
    };
    let Some(pgid) = child.id() else {
        child.start_kill();
        return ProcEnd::SpawnFailed("lost track of `sh` as soon as it started".into());
    };
    // If this future is dropped (the step task aborted), the group dies too.
    let mut guard = GroupGuard {
        pgid,
        record: None,
        cgroup,
    };
    tracing::debug!(pgid, "step: spawned");
    if let Some(path) = &spec.record {
        let cg_path = guard.cgroup.as_ref().map(|c| c.path.clone());
        match orphans::record(path, pgid, cg_path.as_deref()).await {
            Ok(p) => guard.record = Some(p),
            Err(e) => {
                // Still held at the gate: nothing of the step has run.
                kill_and_reap(pgid, &mut child).await;
                // Gone: a second signal could reach a reused group id.
                guard.pgid = 0;
                return ProcEnd::SpawnFailed(inline_hint(
                    format!(
                        "could not record the step's process group in {}: {e}",
                        path.display()
                    ),
                    "is the data directory writable?",
                ));
            }
        }
    }
    // Exec'd by now, most likely (it ran while the record was written).
    if let Err(e) = child.exec_result() {
        kill_and_reap(pgid, &mut child).await;
        guard.pgid = 0;
        return ProcEnd::SpawnFailed(format!("could not start `sh`: {e}"));
    }
    if let Some(mut gate) = child.take_stdin() {
        use tokio::io::AsyncWriteExt;
        // A failed write means the shell is gone already; `wait` says how.
        let _ = gate.write_all(b"go\n").await;
    }
    tracing::debug!(pgid, "step: gate opened");
    let mut readers = Vec::new();
    if let Some(s) = child.take_stdout() {
        readers.push(tokio::spawn(read_lines(s, out.clone())));
    }
    if let Some(s) = child.take_stderr() {
        readers.push(tokio::spawn(read_lines(s, out.clone())));
    }

    let end = tokio::select! {
        // A step that has exited counts as exited, even if a stop came at
        // the same time (a drain must not turn a finished step into a failure).
        biased;
        status = child.wait() => match status {
            Ok(s) => {
                tracing::debug!(pgid, "step: process exited");
                use std::os::unix::process::ExitStatusExt;
                ProcEnd::Exited { code: s.code(), signal: s.signal() }
            }
            Err(e) => {
                // Cannot tell what it does any more: make sure it is gone.
                if !kill_group(pgid).await {
                    guard.keep_record();
                }
                ProcEnd::SpawnFailed(format!("lost track of `sh`: {e}"))
            }
        },
        _ = tokio::time::sleep_until(deadline) => {
            if !kill_and_reap(pgid, &mut child).await || !guard.kill_cgroup().await {
                guard.keep_record();
            }
            ProcEnd::TimedOut
        }
        reason = stop.stopped() => {
            if !kill_and_reap(pgid, &mut child).await || !guard.kill_cgroup().await {
                guard.keep_record();
            }
            ProcEnd::Stopped(reason)
        }
    };
    // After a normal exit, leftover background processes are left alone
    // (a deploy may start a daemon); only their hold on our pipes is cut.
    // Its record goes too (when `guard` drops): the step is over, and a
    // restart must not kill a daemon it meant to leave.
    guard.pgid = 0;
    let drain = async {
        for r in &mut readers {
            let _ = r.await;
        }
    };
    if tokio::time::timeout(DRAIN_GRACE, drain).await.is_err() {
        for r in &readers {
            r.abort();
        }
        out.note("ferry: stopped reading output still held open by a background process")
            .await;
    }
    end
}

/// Whether the group is gone.
async fn kill_and_reap(pgid: i32, child: &mut spawn::StepProcess) -> bool {
    let gone = kill_group(pgid).await;
    // The shell itself is reaped here; its orphans are reaped by init.
    let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
    gone
}

/// Kills the group with SIGKILL when dropped unless disarmed (pgid 0):
/// covers a step task that is aborted or panics while its process runs.
/// Then removes the group's record, if any.
struct GroupGuard {
    pgid: i32,
    record: Option<PathBuf>,
    cgroup: Option<cgroup::StepCgroup>,
}

impl GroupGuard {
    /// Kill what is left in the step's cgroup (processes that left its
    /// group). Whether it is empty.
    async fn kill_cgroup(&mut self) -> bool {
        match &self.cgroup {
            Some(cg) => cg.kill_and_remove(KILL_GRACE).await,
            None => true,
        }
    }

    /// The group outlived SIGKILL: leave its record, so the next server
    /// start tries again.
    fn keep_record(&mut self) {
        if let Some(p) = self.record.take() {
            tracing::error!(pgid = self.pgid, record = %p.display(), "keeping the record of a process group that would not die");
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        // Killed first: a crash between the two leaves a record, not an
        // unrecorded group.
        if self.pgid > 1 {
            let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        }
        if let Some(cg) = self.cgroup.take() {
            if self.pgid > 1 {
                // Aborted mid-step: everything in it goes, at once.
                let _ = std::fs::write(cg.path.join("cgroup.kill"), b"1");
            }
            // Kept while a daemon a finished step started lives in it.
            cg.remove_if_empty();
        }
        if let Some(p) = self.record.take() {
            orphans::remove_record(&p);
        }
    }
}

/// The cgroup's name from the step's record path (`runs/<run>/<step>.pgid`).
fn cgroup_name(record: &std::path::Path) -> String {
    let part = |p: Option<&std::ffi::OsStr>| {
        p.map(|s| s.to_string_lossy().replace(['/', '.'], "_"))
            .unwrap_or_default()
    };
    let step = part(record.file_stem());
    let run = part(record.parent().and_then(|d| d.file_name()));
    format!("{run}-{step}")
}

/// Read `r` line by line into `out`, keeping at most `RAW_LINE_LIMIT` bytes
/// of a line; a last line without a newline still counts.
async fn read_lines<R: AsyncRead + Unpin>(r: R, out: LineSender) {
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut line: Vec<u8> = Vec::new();
    // A read error ends the stream like EOF: the child is gone either way.
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        // Every complete line this read brought goes to the sink as one
        // message (see `LineSender::send_lines`).
        let mut done: Vec<Vec<u8>> = Vec::new();
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let room = RAW_LINE_LIMIT.saturating_sub(line.len());
            line.extend_from_slice(&rest[..i.min(room)]);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            done.push(std::mem::take(&mut line));
            rest = &rest[i + 1..];
        }
        // A line still going on: kept (up to the limit) for the next read.
        let room = RAW_LINE_LIMIT.saturating_sub(line.len());
        line.extend_from_slice(&rest[..rest.len().min(room)]);
        let used = buf.len();
        reader.consume(used);
        out.send_lines(done).await;
    }
    if !line.is_empty() {
        out.send(line).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::output::{Masker, spawn_sink};
    use crate::runner::pgroup::group_alive;

    async fn run_collect(
        command: &str,
        timeout: Duration,
        stop: &StopSignal,
    ) -> (ProcEnd, Vec<String>) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let (out, sink) = spawn_sink(&path, Masker::default(), "r".into(), 0, tx)
            .await
            .unwrap();
        let spec = ProcSpec {
            command: command.into(),
            cwd: tmp.path().to_path_buf(),
            env: base_env(),
            record: None,
        };
        let end = run(&spec, deadline_after(timeout), stop, &out).await;
        drop(out);
        sink.await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        (end, text.lines().map(String::from).collect())
    }

    #[tokio::test]
    async fn reads_both_streams_and_exit_code() {
        let stop = StopSignal::new();
        let (end, lines) = run_collect(
            "echo out; echo err >&2; printf 'no newline'; exit 3",
            Duration::from_secs(20),
            &stop,
        )
        .await;
        assert_eq!(
            end,
            ProcEnd::Exited {
                code: Some(3),
                signal: None
            }
        );
        for l in ["out", "err", "no newline"] {
            assert!(lines.iter().any(|x| x == l), "{lines:?}");
        }
    }

    #[tokio::test]
    async fn environment_is_clean() {
        // Whatever the test process has (CARGO_*, RUST_*, ...) must not leak.
        let stop = StopSignal::new();
        let (end, lines) = run_collect("env | sort", Duration::from_secs(20), &stop).await;
        assert!(end.success());
        let names: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.split('=').next())
            .filter(|n| !["PWD", "SHLVL", "_", "OLDPWD"].contains(n))
            .collect();
        assert_eq!(names, vec!["HOME", "LANG", "PATH", "TERM"]);
    }

    #[tokio::test]
    async fn timeout_kills_the_group_and_drains_quickly() {
        let stop = StopSignal::new();
        let started = Instant::now();
        let (end, lines) = run_collect(
            "sleep 1000 & echo pgid=$$; trap '' TERM; sleep 1000",
            Duration::from_millis(500),
            &stop,
        )
        .await;
        assert_eq!(end, ProcEnd::TimedOut);
        // The shell ignored SIGTERM: SIGKILL came after the grace.
        assert!(started.elapsed() < KILL_GRACE + Duration::from_secs(5));
        let pgid: i32 = lines
            .iter()
            .find_map(|l| l.strip_prefix("pgid="))
            .and_then(|p| p.parse().ok())
            .expect("pgid printed");
        assert!(!group_alive(pgid));
    }

    #[test]
    fn shell_is_found_in_the_steps_path_or_falls_back() {
        let tmp = tempfile::tempdir().unwrap();
        let env = |p: &str| vec![("PATH".to_string(), p.to_string())];
        // Not executable: skipped.
        std::fs::write(tmp.path().join("sh"), "").unwrap();
        let only_tmp = tmp.path().display().to_string();
        assert!(shell_for(&env(&only_tmp)).is_err());
        assert!(shell_for(&env("relative:")).is_err());
        assert_eq!(shell_for(&[]), Ok(PathBuf::from("/bin/sh")));
        let found = shell_for(&base_env()).unwrap();
        assert!(found.is_absolute() && found.ends_with("sh"), "{found:?}");
    }

    #[tokio::test]
    async fn command_runs_like_sh_c() {
        // One shell runs the gate and the command: the command must not see
        // the gate's argument or variables, and its stdin is /dev/null.
        let stop = StopSignal::new();
        let (end, lines) = run_collect(
            "echo \"args=$# go=${go-unset} cmd=${ferry_cmd-unset} 0=$0\"; cat; echo pid=$$ pgid=$(ps -o pgid= -p $$ | tr -d ' ')",
            Duration::from_secs(20),
            &stop,
        )
        .await;
        assert!(end.success(), "{end:?} {lines:?}");
        assert!(
            lines.iter().any(|l| l == "args=0 go=unset cmd=unset 0=sh"),
            "{lines:?}"
        );
        let ids = lines
            .iter()
            .find_map(|l| l.strip_prefix("pid="))
            .expect("pid line");
        let (pid, pgid) = ids.split_once(" pgid=").expect("pgid");
        assert_eq!(pid, pgid, "the shell leads its own group");
        let (end, _) = run_collect("if then", Duration::from_secs(20), &stop).await;
        assert_eq!(
            end,
            ProcEnd::Exited {
                code: Some(2),
                signal: None
            }
        );
    }

    #[tokio::test]
    async fn missing_workdir_is_a_spawn_failure() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let tmp = tempfile::tempdir().unwrap();
        let (out, _sink) = spawn_sink(&tmp.path().join("l"), Masker::default(), "r".into(), 0, tx)
            .await
            .unwrap();
        let spec = ProcSpec {
            command: "true".into(),
            cwd: tmp.path().join("nope"),
            env: base_env(),
            record: None,
        };
        let end = run(
            &spec,
            deadline_after(Duration::MAX),
            &StopSignal::new(),
            &out,
        )
        .await;
        assert!(matches!(end, ProcEnd::SpawnFailed(m) if m.contains("does not exist")));
    }

    #[tokio::test]
    async fn exit_leaves_background_holder_but_returns() {
        let stop = StopSignal::new();
        let started = Instant::now();
        let (end, lines) =
            run_collect("sleep 30 & echo bg=$!", Duration::from_secs(60), &stop).await;
        assert!(end.success());
        assert!(started.elapsed() < DRAIN_GRACE + Duration::from_secs(5));
        let bg: i32 = lines
            .iter()
            .find_map(|l| l.strip_prefix("bg="))
            .and_then(|p| p.parse().ok())
            .expect("bg pid");
        // Clean up the daemon-like leftover this test made on purpose.
        let _ = nix::sys::signal::kill(Pid::from_raw(bg), Signal::SIGKILL);
    }
}
