//! Orphaned step groups, with real processes and a real server crash (a
//! child process running a Runner, killed with SIGKILL).

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::sync::mpsc;

use super::record::server_identity;
use super::*;
use crate::engine::Input;
use crate::model::StepStatus;
use crate::runner::pgroup::{group_alive, parse_stat, processes};
use crate::runner::process::GATE;
use crate::runner::tests::support::*;

const WAIT: Duration = Duration::from_secs(20);
const LONG: Duration = Duration::from_secs(60);
/// Set only for `crashing_server` in the child process.
const HELPER_DATA: &str = "FERRY_TEST_ORPHANS_DATA";
const HELPER_WORK: &str = "FERRY_TEST_ORPHANS_WORK";
const HELPER_CMD: &str = "FERRY_TEST_ORPHANS_CMD";

/// Poll `cond` until it holds; panic with `what` after `within`.
async fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < end, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn live_members(pgid: i32) -> usize {
    processes()
        .expect("/proc")
        .iter()
        .filter(|p| p.pgrp == pgid && p.alive)
        .count()
}

/// A process of the test's own that must be gone when the test ends, even
/// when it fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server that crashes: run by `a_killed_servers_step_is_reaped_at_the_next_start`
/// in a child process, which it then kills with SIGKILL mid-step.
#[tokio::test]
#[ignore = "helper run in a child process by another test"]
async fn crashing_server() {
    let (Ok(data), Ok(work)) = (std::env::var(HELPER_DATA), std::env::var(HELPER_WORK)) else {
        return;
    };
    let (tx, _rx) = mpsc::unbounded_channel();
    let data = PathBuf::from(data);
    let runner = Runner::new(test_config(vec![], &data), data, tx);
    // A child in the background and a grandchild whose parent has exited:
    // both stay in the step's group. All of them ignore SIGTERM (ignored
    // signals are inherited), so only SIGKILL ends them.
    let default = "trap '' TERM; sleep 1000 & (sleep 1000 &); echo ready; wait".to_string();
    let cmd = std::env::var(HELPER_CMD).unwrap_or(default);
    runner.run_step(job("d-1", command(&cmd), Path::new(&work), LONG));
    // Killed long before this; it only bounds a helper whose test died.
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test]
async fn a_killed_servers_step_is_reaped_at_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let server = Command::new(std::env::current_exe().unwrap())
        .args([
            "runner::orphans::tests::crashing_server",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(HELPER_DATA, &data)
        .env(HELPER_WORK, &work)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = KillOnDrop(server);
    // Runner::new makes the data dir absolute; so must this test.
    let data = std::path::absolute(&data).unwrap();
    let record = Runner::pgid_path(&data, "d-1", 0);
    let log = Runner::log_path(&data, "d-1", 0);
    wait_until("the step printed `ready`", WAIT, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("ready"))
    })
    .await;
    let pgid = read_record(&record)
        .expect("the running step is recorded")
        .pgid;
    wait_until("the shell, its child and grandchild run", WAIT, || {
        live_members(pgid) >= 3
    })
    .await;

    // The crash: no shutdown, no destructor runs.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    assert!(group_alive(pgid), "the step's group survives the crash");
    assert!(record.exists());

    let (tx, _rx) = mpsc::unbounded_channel::<Input>();
    let runner = Runner::new(test_config(vec![], &data), data.clone(), tx);
    assert_eq!(runner.reap_orphans().await, 1);
    assert_eq!(live_members(pgid), 0, "a process of group {pgid} is left");
    assert!(!record.exists());
    let log_text = std::fs::read_to_string(&log).unwrap();
    let listing: Vec<_> = std::fs::read_dir(log.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        log_text.lines().last().is_some_and(|l| l
            .starts_with("ferry: killed what this step left running")
            && l.contains("sleep(")),
        "{log_text}\n{listing:?}"
    );
    let left: Vec<_> = std::fs::read_dir(Runner::run_dir(&data, "d-1"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Nothing left to do at a second start.
    assert_eq!(runner.reap_orphans().await, 0);
}

#[tokio::test]
async fn stale_and_foreign_records_are_deleted_without_killing() {
    let h = harness();
    let run_dir = Runner::run_dir(&h.data, "d-2");
    std::fs::create_dir_all(&run_dir).unwrap();
    let write = |name: &str, text: String| std::fs::write(run_dir.join(name), text).unwrap();

    // A group that is gone.
    let mut done = Command::new("true").process_group(0).spawn().unwrap();
    let gone = done.id();
    done.wait().unwrap();
    write("0.pgid", format!("{gone}\n"));
    // A live group that is not this server's step: the same run id, and the
    // marker of another data directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let stranger = Command::new("sleep")
        .arg("1000")
        .process_group(0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FERRY_DEPLOYMENT", "d-2")
        .env(
            "FERRY_RUN_DIR",
            Runner::run_dir(elsewhere.path(), "d-2").as_os_str(),
        )
        .spawn()
        .unwrap();
    let stranger = KillOnDrop(stranger);
    let stranger_pid = i32::try_from(stranger.0.id()).unwrap();
    write("1.pgid", format!("{stranger_pid}\n"));
    // A live group without any marker.
    let plain = Command::new("sleep")
        .arg("1000")
        .process_group(0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .spawn()
        .unwrap();
    let plain = KillOnDrop(plain);
    let plain_pid = i32::try_from(plain.0.id()).unwrap();
    write("2.1.pgid", format!("{plain_pid}\n"));
    // Not group ids at all; 1 would be init's.
    write("3.pgid", "not a pid".into());
    write("4.pgid", "1\n".into());
    // A record whose write never finished, and one being written now by
    // a live server (this test process).
    write("5.pgid.1234.tmp", "1234\n".into());
    let me = server_identity().expect("/proc");
    write("6.pgid.1234.tmp", format!("1234\nserver={me}\n"));
    // The step's own files in its run directory are not records.
    write("notes.pgid", format!("{stranger_pid}\n"));
    write("output.tmp", "x".into());

    assert_eq!(h.runner.reap_orphans().await, 0);
    let mut left: Vec<String> = std::fs::read_dir(&run_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["6.pgid.1234.tmp", "notes.pgid", "output.tmp"]);
    assert!(group_alive(stranger_pid), "an unrelated process was killed");
    assert!(group_alive(plain_pid), "an unrelated process was killed");
}

#[tokio::test]
async fn a_step_is_recorded_until_its_group_is_gone() {
    let mut h = harness();
    // Cancelled.
    h.runner.run_step(job(
        "d-3",
        command("echo pgid=$$; sleep 1000"),
        &h.work,
        LONG,
    ));
    let pgid = pgid_from(&h.wait_line("pgid=", WAIT).await);
    let record = Runner::pgid_path(&h.data, "d-3", 0);
    let rec = read_record(&record).expect("record");
    assert_eq!(rec.pgid, pgid);
    assert_eq!(rec.server.as_deref(), server_identity());
    // This server is alive: its running step is not an orphan.
    assert_eq!(h.runner.reap_orphans().await, 0);
    assert!(group_alive(pgid) && record.exists());
    h.runner.cancel_step("d-3", 0);
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Cancelled, "{f:?}");
    assert!(!record.exists());

    // Timed out.
    h.runner.run_step(job(
        "d-4",
        command("sleep 1000"),
        &h.work,
        Duration::from_millis(300),
    ));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::TimedOut, "{f:?}");
    assert!(!Runner::pgid_path(&h.data, "d-4", 0).exists());

    // Exited, leaving a daemon: the step is over, and a restart must not
    // kill what it meant to leave running.
    h.runner.run_step(job(
        "d-5",
        command("sleep 1000 >/dev/null 2>&1 & echo bg=$!"),
        &h.work,
        LONG,
    ));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Passed, "{f:?}");
    assert!(!Runner::pgid_path(&h.data, "d-5", 0).exists());
    let bg = pgid_from(f.lines()[0]);
    let daemon = nix::unistd::Pid::from_raw(bg);
    assert_eq!(h.runner.reap_orphans().await, 0);
    assert!(
        nix::sys::signal::kill(daemon, None).is_ok(),
        "daemon killed"
    );
    let _ = nix::sys::signal::kill(daemon, nix::sys::signal::Signal::SIGKILL);

    // Interrupted by shutdown.
    h.runner.run_step(job(
        "d-8",
        command("echo pgid=$$; sleep 1000"),
        &h.work,
        LONG,
    ));
    let pgid = pgid_from(&h.wait_line("pgid=", WAIT).await);
    let record = Runner::pgid_path(&h.data, "d-8", 0);
    assert!(record.exists());
    h.runner.shutdown().await;
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Interrupted, "{f:?}");
    assert!(!group_alive(pgid));
    assert!(!record.exists());
}

#[tokio::test]
async fn a_step_running_twice_has_two_records() {
    let mut h = harness();
    for _ in 0..2 {
        h.runner.run_step(job(
            "d-6",
            command("echo pgid=$$; sleep 1000"),
            &h.work,
            LONG,
        ));
    }
    let mut pgids = vec![
        pgid_from(&h.wait_line("pgid=", WAIT).await),
        pgid_from(&h.wait_line("pgid=", WAIT).await),
    ];
    pgids.sort();
    let run_dir = Runner::run_dir(&h.data, "d-6");
    let mut recorded: Vec<i32> = std::fs::read_dir(&run_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pgid"))
        .filter_map(|e| read_record(&e.path()).map(|r| r.pgid))
        .collect();
    recorded.sort();
    assert_eq!(recorded, pgids);
    h.runner.cancel_step("d-6", 0);
    let mut finished = 0;
    while finished < 2 {
        match tokio::time::timeout(WAIT, h.rx.recv()).await {
            Ok(Some(Input::StepFinished { .. })) => finished += 1,
            Ok(Some(_)) => {}
            other => panic!("no StepFinished: {other:?}"),
        }
    }
    let left = std::fs::read_dir(&run_dir).unwrap().count();
    assert_eq!(left, 0, "records left in {}", run_dir.display());
}

#[test]
fn the_gate_runs_nothing_without_go() {
    // A server that dies before the record is written closes the gate's
    // stdin: the command must not run.
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let status = Command::new("sh")
        .args(["-c", GATE, "sh"])
        .arg(format!("touch {}", marker.display()))
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(125));
    assert!(!marker.exists());
}

#[test]
fn record_names() {
    assert!(matches!(
        record_name("0.pgid"),
        Some(RecordName::Record("0"))
    ));
    assert!(matches!(
        record_name("12.345.pgid"),
        Some(RecordName::Record("12"))
    ));
    assert!(matches!(
        record_name("3.pgid.99.tmp"),
        Some(RecordName::Unfinished)
    ));
    for other in [
        "x.pgid",
        ".pgid",
        "1.x.pgid",
        "1.pgid.tmp",
        "a.pgid.1.tmp",
        "1.log",
    ] {
        assert!(record_name(other).is_none(), "{other}");
    }
}

#[test]
fn stat_lines_with_odd_names() {
    let p = parse_stat(
        42,
        b"42 (a) b (c)) S 1 43 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 100 20 x",
    )
    .unwrap();
    assert_eq!((p.pid, p.pgrp, p.alive, p.start), (42, 43, true, 12345));
    assert_eq!(p.comm, "a) b (c)");
    let z = parse_stat(7, b"7 (sh) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99").unwrap();
    assert!(!z.alive);
    assert!(parse_stat(1, b"garbage").is_none());
    assert!(parse_stat(1, b"1 (short) S 1 1").is_none());
    // Our own process parses, and so names this server in records.
    let me = server_identity().expect("this process in /proc");
    assert!(server_alive(me));
    assert!(!server_alive("1:0") && !server_alive("nonsense"));
}

#[tokio::test]
async fn a_group_is_known_by_its_run_directory_under_another_spelling() {
    let h = harness();
    let run_dir = Runner::run_dir(&h.data, "d-7");
    std::fs::create_dir_all(&run_dir).unwrap();
    let link = h.work.join("link-to-run");
    std::os::unix::fs::symlink(&run_dir, &link).unwrap();
    // Left by a server that is gone (no `server=`), marked with a symlink.
    let orphan = Command::new("sleep")
        .arg("1000")
        .process_group(0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FERRY_RUN_DIR", &link)
        .spawn()
        .unwrap();
    let mut orphan = KillOnDrop(orphan);
    let pgid = i32::try_from(orphan.0.id()).unwrap();
    std::fs::write(run_dir.join("0.pgid"), format!("{pgid}\n")).unwrap();
    assert_eq!(h.runner.reap_orphans().await, 1);
    // Our child, so it is a zombie until waited for: it died of SIGTERM.
    let status = orphan.0.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15));
    assert!(!run_dir.join("0.pgid").exists());
}

/// A step that sheds everything a process can shed (its environment with
/// `env -i`, its group and session with `setsid`) is still found after a
/// crash: by its cgroup, which it cannot leave.
#[tokio::test]
async fn a_step_that_cleans_its_environment_and_group_is_still_reaped() {
    if !cgroup_usable() {
        eprintln!("no writable cgroup2 here: the leader fallback cannot follow setsid");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let marker = work.join("escaped.pid");
    let script = format!(
        "exec env -i sh -c 'setsid sh -c \"echo \\$\\$ > {m}; exec sleep 1000\" & echo ready; wait'",
        m = marker.display()
    );
    let server = Command::new(std::env::current_exe().unwrap())
        .args([
            "runner::orphans::tests::crashing_server",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(HELPER_DATA, &data)
        .env(HELPER_WORK, &work)
        .env(HELPER_CMD, &script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = KillOnDrop(server);
    let data = std::path::absolute(&data).unwrap();
    let record = Runner::pgid_path(&data, "d-1", 0);
    wait_until("the escaped process wrote its pid", WAIT, || {
        std::fs::read_to_string(&marker).is_ok_and(|t| t.trim().parse::<i32>().is_ok())
    })
    .await;
    let escaped: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let rec = read_record(&record).expect("recorded");
    assert!(rec.cgroup.is_some(), "{rec:?}");
    let alive = |pid: i32| crate::runner::cgroup::start_time(pid).is_some();
    wait_until("the escaped process runs", WAIT, || alive(escaped)).await;
    let env = std::fs::read(format!("/proc/{escaped}/environ")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&env).contains("FERRY_RUN_DIR"));

    server.0.kill().unwrap();
    server.0.wait().unwrap();
    assert!(alive(escaped), "it survives the crash of the server");

    let (tx, _rx) = mpsc::unbounded_channel::<Input>();
    let runner = Runner::new(test_config(vec![], &data), data.clone(), tx);
    assert_eq!(runner.reap_orphans().await, 1);
    assert!(!alive(escaped), "process {escaped} of the step is left");
    assert!(!runner.orphans_alive().await);
    assert!(!record.exists());
}

fn cgroup_usable() -> bool {
    crate::runner::cgroup::StepCgroup::create("probe", 0)
        .map(|c| c.remove_if_empty())
        .is_some()
}
