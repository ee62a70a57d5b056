//! Idle connections must not starve the API: the real binary, started with
//! `ulimit -n 1024`, keeps answering `/healthz` while 1,100 idle TCP
//! connections are open against it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Workspace, ferry_bin};

#[test]
fn healthz_answers_under_1100_idle_connections() {
    // This process opens 1,100 sockets itself: lift its own soft limit.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if hard < 1400 {
        eprintln!("starve: skipped (hard open-file limit {hard} < 1400)");
        return;
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");

    let ws = Workspace::new();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" \"$@\"")
        .arg(ferry_bin())
        .args(["server", "--config"])
        .arg(ws.config())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(ws.data())
        .env("FERRY_LOG", "warn")
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ferry server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    break rest.split_whitespace().next().unwrap_or("").to_string();
                }
            }
            other => {
                let _ = child.kill();
                panic!("ferry server exited before listening: {other:?}");
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let addr = url.trim_start_matches("http://").to_string();

    let mut idle = Vec::new();
    for _ in 0..1100 {
        match TcpStream::connect_timeout(
            &addr.parse().expect("socket address"),
            Duration::from_secs(2),
        ) {
            Ok(s) => idle.push(s),
            // The kernel's backlog is full: the server is not accepting
            // beyond its cap, which is the point.
            Err(_) => break,
        }
    }
    let opened = idle.len();
    assert!(opened >= 1000, "only {opened} idle connections opened");

    let started = Instant::now();
    let deadline = Duration::from_secs(30);
    let answered = loop {
        if healthz(&addr) {
            break true;
        }
        if started.elapsed() > deadline {
            break false;
        }
    };
    let took = started.elapsed();
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        answered,
        "/healthz did not answer within {deadline:?} under {opened} idle connections"
    );
    eprintln!("starve: /healthz answered in {took:?} under {opened} idle connections");
}

/// One GET /healthz over a fresh connection; true on a 200.
fn healthz(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(
        &addr.parse().expect("socket address"),
        Duration::from_secs(25),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(25)));
    if s.write_all(b"GET /api/v1/healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}
