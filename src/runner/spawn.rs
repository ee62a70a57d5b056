//! Starting a step's shell with clone3(2), straight into its cgroup.
//!
//! A process moved into a cgroup after it started (a write to
//! `cgroup.procs`) waits for the kernel's `cgroup_threadgroup_rwsem`, whose
//! writer waits for an RCU grace period: 2 to 15 ms per step on an idle VM,
//! on the path between one step's exit and the next one's start. A process
//! created inside the cgroup (`CLONE_INTO_CGROUP`, Linux 5.7) takes only the
//! reader side. `CLONE_PIDFD` gives a descriptor that becomes readable when
//! the child exits, so waiting needs no SIGCHLD handler.
//!
//! The child is a copy of the server (fork semantics, no shared memory) and
//! does only async-signal-safe system calls before exec: die with the
//! server (`PR_SET_PDEATHSIG`), default SIGPIPE and an empty signal mask (as
//! `std::process` gives), its own process group, the three pipes, the
//! working directory, exec. Where clone3 or `CLONE_INTO_CGROUP` is refused
//! (an older kernel, no cgroup v2), the step starts through `std::process`
//! and moves itself into its cgroup before exec, as before.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;

use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

/// `struct clone_args` of clone3(2) (Linux 5.7 layout, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What to start: `program` (an absolute path) with `args` (after argv[0]).
pub(super) struct Spawn<'a> {
    pub program: &'a Path,
    pub args: &'a [&'a OsStr],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    /// The step's cgroup, to start in.
    pub cgroup: Option<&'a super::cgroup::StepCgroup>,
}

/// A step's shell started by `spawn`.
pub(super) struct StepChild {
    pid: i32,
    pidfd: AsyncFd<OwnedFd>,
    status: Option<ExitStatus>,
    /// Closed by exec when it succeeded; an errno otherwise.
    exec_report: Option<OwnedFd>,
    pub stdin: Option<pipe::Sender>,
    pub stdout: Option<pipe::Receiver>,
    pub stderr: Option<pipe::Receiver>,
}

/// Why `spawn` did not start the child: clone3 is not available here (use
/// the portable path), or the start failed.
pub(super) enum SpawnError {
    Unsupported,
    Failed(io::Error),
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::other("a NUL byte in an argument or variable"))
}

fn pipe_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Start the child held by the caller's gate. See the module doc.
pub(super) fn spawn(s: &Spawn<'_>) -> Result<StepChild, SpawnError> {
    let failed = SpawnError::Failed;
    // Everything the child needs is made here: it may not allocate.
    let program = cstring(s.program.as_os_str().as_bytes()).map_err(failed)?;
    let mut argv: Vec<CString> = vec![program.clone()];
    for a in s.args {
        argv.push(cstring(a.as_bytes()).map_err(failed)?);
    }
    let mut envp: Vec<CString> = Vec::with_capacity(s.env.len());
    for (k, v) in s.env {
        envp.push(cstring(format!("{k}={v}").as_bytes()).map_err(failed)?);
    }
    let cwd = cstring(s.cwd.as_os_str().as_bytes()).map_err(failed)?;
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let (stdin_r, stdin_w) = pipe_pair().map_err(failed)?;
    let (stdout_r, stdout_w) = pipe_pair().map_err(failed)?;
    let (stderr_r, stderr_w) = pipe_pair().map_err(failed)?;
    let (report_r, report_w) = pipe_pair().map_err(failed)?;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };

    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: CLONE_PIDFD
            | if s.cgroup.is_some() {
                CLONE_INTO_CGROUP
            } else {
                0
            },
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: s.cgroup.map_or(0, |c| c.dir_fd() as u64),
        ..CloneArgs::default()
    };
    // SAFETY: clone3 with fork semantics (no CLONE_VM): the child gets a
    // copy of this process and runs `child` below, which makes only
    // async-signal-safe system calls on memory prepared above and never
    // returns. `args` outlives the call.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid == 0 {
        // SAFETY: see above; in the child.
        unsafe {
            child(&Child {
                parent,
                program: program.as_ptr(),
                argv: argv_ptrs.as_ptr(),
                envp: envp_ptrs.as_ptr(),
                cwd: cwd.as_ptr(),
                stdin: stdin_r.as_raw_fd(),
                stdout: stdout_w.as_raw_fd(),
                stderr: stderr_w.as_raw_fd(),
                report: report_w.as_raw_fd(),
            })
        }
    }
    if pid < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            // No clone3, no CLONE_INTO_CGROUP (before 5.7, or cgroup v1), a
            // cgroup this kernel will not start a process in, or a seccomp
            // filter (containers) that refuses clone3 outright.
            Some(
                libc::ENOSYS
                | libc::EINVAL
                | libc::E2BIG
                | libc::EOPNOTSUPP
                | libc::EPERM
                | libc::EACCES,
            ) => SpawnError::Unsupported,
            _ => SpawnError::Failed(e),
        });
    }
    // SAFETY: clone3 returned the pidfd in `pidfd`, now ours alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // The child's ends are its own now.
    drop((stdin_r, stdout_w, stderr_w, report_w));
    let pid = pid as i32;
    let made = (|| {
        Ok(StepChild {
            pid,
            // SAFETY: an OwnedFd keeps its descriptor open and unchanged
            // for as long as the AsyncFd owns it.
            pidfd: unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
                .map_err(io::Error::from)?,
            status: None,
            exec_report: Some(report_r),
            stdin: Some(pipe::Sender::from_owned_fd(stdin_w)?),
            stdout: Some(pipe::Receiver::from_owned_fd(stdout_r)?),
            stderr: Some(pipe::Receiver::from_owned_fd(stderr_r)?),
        })
    })();
    made.map_err(|e| {
        // Held at its gate: it has run nothing. Gone, and reaped.
        // SAFETY: our unreaped child; a blocking wait for a killed process.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        SpawnError::Failed(e)
    })
}

/// What the child works with, all prepared by the parent.
struct Child {
    parent: libc::pid_t,
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    report: RawFd,
}

/// In the child, between clone and exec: async-signal-safe calls only.
unsafe fn child(c: &Child) -> ! {
    unsafe {
        let fail = |report: RawFd| -> ! {
            let errno = *libc::__errno_location();
            let bytes = errno.to_ne_bytes();
            libc::write(report, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127)
        };
        // Dies with the server; if the server died before this line, now.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::getppid() != c.parent {
            libc::_exit(126);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        // The server ignores SIGPIPE; a step's `yes | head` must not.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        if libc::setpgid(0, 0) != 0 {
            fail(c.report);
        }
        for (from, to) in [(c.stdin, 0), (c.stdout, 1), (c.stderr, 2)] {
            // dup2 onto itself keeps close-on-exec: clear it instead.
            let ok = if from == to {
                libc::fcntl(to, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(from, to) == to
            };
            if !ok {
                fail(c.report);
            }
        }
        if libc::chdir(c.cwd) != 0 {
            fail(c.report);
        }
        libc::execve(c.program, c.argv, c.envp);
        fail(c.report)
    }
}

impl StepChild {
    pub fn id(&self) -> i32 {
        self.pid
    }

    /// Whether exec succeeded (waits for the child to get there): the
    /// error otherwise, as `std::process` reports it.
    pub fn exec_result(&mut self) -> io::Result<()> {
        let Some(report) = self.exec_report.take() else {
            return Ok(());
        };
        let mut buf = [0u8; 4];
        loop {
            // SAFETY: reads into `buf` from a descriptor we own.
            let n = unsafe { libc::read(report.as_raw_fd(), buf.as_mut_ptr().cast(), 4) };
            match n {
                0 => return Ok(()),
                4 => return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buf))),
                n if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                _ => return Err(io::Error::other("the step's shell failed to start")),
            }
        }
    }

    /// Wait for the child to exit and reap it (cancel-safe).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            let mut ready = self.pidfd.readable().await?;
            match reap(self.pid)? {
                Some(status) => {
                    self.status = Some(status);
                    return Ok(status);
                }
                None => ready.clear_ready(),
            }
        }
    }

    /// SIGKILL the child itself (its group is killed elsewhere).
    pub fn start_kill(&mut self) {
        if self.status.is_none() {
            // SAFETY: the pid is our unreaped child, so it cannot be reused.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
    }
}

/// Reap our child `pid` if it has exited.
fn reap(pid: i32) -> io::Result<Option<ExitStatus>> {
    let mut status = 0;
    // SAFETY: waitpid on our own child, which only we reap.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    match r {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        _ => Ok(Some(ExitStatus::from_raw(status))),
    }
}

impl Drop for StepChild {
    fn drop(&mut self) {
        if self.status.is_some() || matches!(reap(self.pid), Ok(Some(_))) {
            return;
        }
        // Still running (its group is being killed): reap it when it ends,
        // so it does not stay a zombie.
        let pid = self.pid;
        std::thread::spawn(move || {
            let mut status = 0;
            // SAFETY: blocking waitpid on our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        });
    }
}

/// A step's shell: started by clone3, or through `std::process` where that
/// is refused.
pub(super) enum StepProcess {
    Cloned(StepChild),
    Std(tokio::process::Child),
}

pub(super) type Reader = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
pub(super) type Writer = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

impl StepProcess {
    pub fn id(&self) -> Option<i32> {
        match self {
            StepProcess::Cloned(c) => Some(c.id()),
            StepProcess::Std(c) => c.id().and_then(|p| i32::try_from(p).ok()),
        }
    }
    pub fn take_stdin(&mut self) -> Option<Writer> {
        match self {
            StepProcess::Cloned(c) => c.stdin.take().map(|w| Box::new(w) as Writer),
            StepProcess::Std(c) => c.stdin.take().map(|w| Box::new(w) as Writer),
        }
    }
    pub fn take_stdout(&mut self) -> Option<Reader> {
        match self {
            StepProcess::Cloned(c) => c.stdout.take().map(|r| Box::new(r) as Reader),
            StepProcess::Std(c) => c.stdout.take().map(|r| Box::new(r) as Reader),
        }
    }
    pub fn take_stderr(&mut self) -> Option<Reader> {
        match self {
            StepProcess::Cloned(c) => c.stderr.take().map(|r| Box::new(r) as Reader),
            StepProcess::Std(c) => c.stderr.take().map(|r| Box::new(r) as Reader),
        }
    }
    /// Whether the shell was exec'd (std's spawn already waited for that).
    pub fn exec_result(&mut self) -> io::Result<()> {
        match self {
            StepProcess::Cloned(c) => c.exec_result(),
            StepProcess::Std(_) => Ok(()),
        }
    }
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            StepProcess::Cloned(c) => c.wait().await,
            StepProcess::Std(c) => c.wait().await,
        }
    }
    pub fn start_kill(&mut self) {
        match self {
            StepProcess::Cloned(c) => c.start_kill(),
            StepProcess::Std(c) => drop(c.start_kill()),
        }
    }
}

/// Whether clone3 may be tried: off after the kernel refused it once.
static CLONE3: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Start the gated shell of a step in its own process group (and in its
/// cgroup), with clone3 where the kernel allows it.
pub(super) fn start(s: &Spawn<'_>) -> io::Result<StepProcess> {
    use std::sync::atomic::Ordering;
    if CLONE3.load(Ordering::Relaxed) {
        match spawn(s) {
            Ok(c) => return Ok(StepProcess::Cloned(c)),
            Err(SpawnError::Failed(e)) => return Err(e),
            Err(SpawnError::Unsupported) => {
                if CLONE3.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        "clone3 into a cgroup is not available here: steps start through fork and move into their cgroup"
                    );
                }
            }
        }
    }
    start_std(s)
}

/// The portable start: `std::process`, the child moving itself into its
/// cgroup before exec (`cgroup::prepare`).
pub(super) fn start_std(s: &Spawn<'_>) -> io::Result<StepProcess> {
    use std::process::Stdio;
    let mut cmd = tokio::process::Command::new(s.program);
    cmd.args(s.args)
        .current_dir(s.cwd)
        .env_clear()
        .envs(s.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so one signal reaches everything it started.
        .process_group(0);
    super::cgroup::prepare(&mut cmd, s.cgroup);
    cmd.spawn().map(StepProcess::Std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn env() -> Vec<(String, String)> {
        vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("FERRY_TEST".into(), "seen".into()),
        ]
    }

    /// A script that shows what the child got: stdin, env, cwd, its group,
    /// ignored signals, its cgroup; exits 3.
    const SHOW: &str = "read x; echo \"in=$x env=$FERRY_TEST cwd=$(pwd)\"; \
        echo \"pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$\"; \
        grep SigIgn /proc/$$/status; cat /proc/$$/cgroup; echo oops >&2; exit 3";

    async fn run(mut child: StepProcess) -> (String, String, i32) {
        child.exec_result().expect("exec'd");
        let mut stdin = child.take_stdin().unwrap();
        stdin.write_all(b"go\n").await.unwrap();
        drop(stdin);
        let (mut out, mut err) = (String::new(), String::new());
        child
            .take_stdout()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        child
            .take_stderr()
            .unwrap()
            .read_to_string(&mut err)
            .await
            .unwrap();
        let status = child.wait().await.unwrap();
        // A second wait answers the same.
        assert_eq!(child.wait().await.unwrap().code(), status.code());
        (out, err, status.code().unwrap_or(-1))
    }

    fn spec<'a>(
        args: &'a [&'a OsStr],
        env: &'a [(String, String)],
        cgroup: Option<&'a super::super::cgroup::StepCgroup>,
    ) -> Spawn<'a> {
        Spawn {
            program: Path::new("/bin/sh"),
            args,
            env,
            cwd: Path::new("/tmp"),
            cgroup,
        }
    }

    fn check(out: &str, err: &str, code: i32) {
        assert_eq!(code, 3, "{out}{err}");
        assert_eq!(err, "oops\n");
        assert!(out.contains("in=go env=seen cwd=/tmp"), "{out}");
        let pid = out
            .split("pid=")
            .nth(1)
            .and_then(|r| r.lines().next())
            .unwrap();
        assert!(
            out.contains(&format!("pgid={pid} ")),
            "its own group: {out}"
        );
        let ignored = out
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .unwrap();
        let sigpipe = 1u64 << (libc::SIGPIPE - 1);
        assert_eq!(ignored & sigpipe, 0, "SIGPIPE is default again: {out}");
    }

    fn cloned(s: &Spawn<'_>) -> StepChild {
        match spawn(s) {
            Ok(c) => c,
            Err(SpawnError::Unsupported) => panic!("clone3 is refused on this kernel"),
            Err(SpawnError::Failed(e)) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn clone3_starts_the_child_as_std_would() {
        let env = env();
        let args = [OsStr::new("-c"), OsStr::new(SHOW)];
        let child = StepProcess::Cloned(cloned(&spec(&args, &env, None)));
        let (out, err, code) = run(child).await;
        check(&out, &err, code);
        // The portable path behaves the same.
        let child = start_std(&spec(&args, &env, None)).unwrap();
        let (out, err, code) = run(child).await;
        check(&out, &err, code);
    }

    #[tokio::test]
    async fn clone3_starts_the_child_inside_its_cgroup() {
        let Some(cg) = super::super::cgroup::StepCgroup::create("spawn-test", 0) else {
            // No writable cgroup v2 here: steps run without one (and
            // `cgroup::tests` checks that there is no base to make one in).
            return;
        };
        let env = env();
        let args = [OsStr::new("-c"), OsStr::new(SHOW)];
        let child = StepProcess::Cloned(cloned(&spec(&args, &env, Some(&cg))));
        let (out, err, code) = run(child).await;
        check(&out, &err, code);
        let name = cg.path.file_name().unwrap().to_string_lossy().to_string();
        assert!(out.contains(&name), "started in {name}: {out}");
        cg.remove_if_empty();
    }

    #[tokio::test]
    async fn a_shell_that_cannot_be_execd_is_an_error() {
        let env = env();
        let args = [OsStr::new("-c"), OsStr::new("true")];
        let mut s = spec(&args, &env, None);
        s.program = Path::new("/nonexistent/sh");
        let mut child = cloned(&s);
        let err = child.exec_result().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert_eq!(child.wait().await.unwrap().code(), Some(127));
        s.program = Path::new("/bin/sh");
        s.cwd = Path::new("/nonexistent-dir");
        let mut child = cloned(&s);
        let err = child.exec_result().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert_eq!(child.wait().await.unwrap().code(), Some(127));
    }
}
