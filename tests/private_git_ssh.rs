//! A private repository over ssh, through the real binary: a throwaway
//! `sshd` on 127.0.0.1 (its own host key, authorized_keys and config in a
//! temp dir, run as the test's user) serves a bare repository through
//! `git-upload-pack`. The service names its deploy key and a known_hosts
//! file; strict host key checking stays on, so a known_hosts that names
//! another key for the host is a fetch error in the dashboard and nothing
//! is built, and the right one lets the commit be built and deployed.
//!
//! Needs `/usr/sbin/sshd` (Debian's openssh-server, installed by .ci/run):
//! under `CI=true` a missing sshd fails the test, elsewhere it is skipped.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const SSHD: &str = "/usr/sbin/sshd";

/// An sshd serving one user on a loopback port; killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    /// `ssh-ed25519 AAAA…`: what a correct known_hosts line names.
    host_key: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ferry-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    // "type key comment": the first two words identify the key.
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A port nobody listens on now (sshd binds it right after).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn start_sshd(dir: &Path, client_public: &str) -> Sshd {
    let host_key = keygen(&dir.join("host_key"));
    std::fs::write(dir.join("authorized_keys"), format!("{client_public}\n")).unwrap();
    // As root, sshd wants its privilege separation directory, which only
    // the packaged service creates.
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = free_port();
    let d = dir.display();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
         PermitRootLogin prohibit-password\nAllowUsers {user}\nLogLevel VERBOSE\n",
        user = user()
    );
    std::fs::write(dir.join("sshd_config"), config).unwrap();
    // -D: stay in the foreground (a child of the test); -e: log to stderr.
    let mut child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sshd starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Server listening")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(());
            }
            // Kept for whoever reads the test's output on a failure.
            eprintln!("sshd: {line}");
        }
    });
    let sshd = Sshd {
        child,
        port,
        host_key,
    };
    rx.recv_timeout(DEADLINE)
        .expect("sshd listens (see its log above)");
    sshd
}

fn source_status(d: &Value) -> Option<Value> {
    d.get("sources").and_then(|s| s.get("app")).cloned()
}

/// The workspace's config with the app's source at `url`, through `key`
/// and `known_hosts`.
fn configure(ws: &Workspace, url: &str, key: &Path, known_hosts: &Path) {
    let config = std::fs::read_to_string(ws.config()).unwrap();
    let old = format!(
        "source = {{ git = \"{}\", branch = \"main\", poll_interval = \"200ms\" }}",
        ws.repo.display()
    );
    assert!(config.contains(&old));
    let new = format!(
        "source = {{ git = \"{url}\", ssh_key = \"{}\", known_hosts = \"{}\", poll_interval = \"200ms\" }}",
        key.display(),
        known_hosts.display()
    );
    std::fs::write(ws.config(), config.replace(&old, &new)).unwrap();
}

fn sshd_available() -> bool {
    if Path::new(SSHD).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{SSHD} is missing; .ci/run installs openssh-server"
    );
    eprintln!("skipped: {SSHD} is missing (apt-get install openssh-server)");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_repository_builds_with_its_key_and_only_a_known_host() {
    if !sshd_available() {
        return;
    }
    let ws = Workspace::new();
    let ssh_dir: PathBuf = ws.root.join("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let served = ws.root.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let bare = served.join("app.git");
    git(
        &ws.root,
        &[
            "clone",
            "-q",
            "--bare",
            ws.repo.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let key = ssh_dir.join("deploy_key");
    let client_public = keygen(&key);
    let sshd = start_sshd(&ssh_dir, &client_public);
    let url = format!("ssh://{}@127.0.0.1:{}{}", user(), sshd.port, bare.display());
    let known_hosts = ssh_dir.join("known_hosts");
    // Another key for the same host: a man in the middle, as ssh sees it.
    let other = keygen(&ssh_dir.join("other_host_key"));
    std::fs::write(&known_hosts, format!("[127.0.0.1]:{} {other}\n", sshd.port)).unwrap();
    configure(&ws, &url, &key, &known_hosts);

    let mut server = Server::start(&ws.config(), &ws.data());
    let api = Api::new(&server.url, DEV_TOKEN);
    let failing = api
        .wait_for("the host key error in the dashboard", source_status)
        .await;
    let error = failing["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Host key verification failed")
            || error.contains("HOST IDENTIFICATION HAS CHANGED"),
        "strict checking refused the unknown key: {failing}"
    );
    let d = api.dashboard().await;
    assert_eq!(
        d["state"]["builds"].as_object().map_or(0, |b| b.len()),
        0,
        "{d}"
    );
    server.kill();

    // The host's real key: fetched with the deploy key, built, deployed.
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} {}\n", sshd.port, sshd.host_key),
    )
    .unwrap();
    let server = Server::start(&ws.config(), &ws.data());
    let api = Api::new(&server.url, DEV_TOKEN);
    let started = Instant::now();
    api.wait_for("1.0.0 deployed to test over ssh", |d| {
        (current_version(d, "app", "test").as_deref() == Some("1.0.0")).then_some(())
    })
    .await;
    let d = api.dashboard().await;
    assert!(
        source_status(&d).is_none(),
        "a success clears the error: {d}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    let artifact = d["state"]["artifacts"]
        .as_object()
        .and_then(|a| a.values().find(|a| a["version"] == "1.0.0"))
        .cloned()
        .unwrap_or_default();
    let head = git(&bare, &["rev-parse", "main"]);
    assert_eq!(
        artifact["commit"].as_str(),
        Some(head.trim()),
        "built from the served repository: {artifact}"
    );
    drop(server);
    drop(sshd);
}
