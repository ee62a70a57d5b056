//! The command line's operator conventions through the real binary:
//! completions, the man page, `--version`, and distinct exit codes.

mod common;

use assert_cmd::Command;
use common::*;

#[test]
fn bash_accepts_the_bash_completions_and_every_shell_gets_a_script() {
    let out = Command::new(ferry_bin())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ferry.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&out.stdout).contains("promote"));
    for shell in ["zsh", "fish", "powershell"] {
        let out = Command::new(ferry_bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        assert!(text(&out.stdout).contains("rollback"), "{shell}");
    }
    // An unknown shell is a usage mistake.
    let out = Command::new(ferry_bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_page_and_version() {
    let out = Command::new(ferry_bin()).arg("man").output().unwrap();
    assert!(out.status.success());
    let man = text(&out.stdout);
    assert!(man.starts_with(".ie") || man.contains(".TH ferry"), "{man}");
    let out = Command::new(ferry_bin()).arg("--version").output().unwrap();
    let version = text(&out.stdout);
    // `ferry 0.1.0 (COMMIT DATE)`: the commit is a hash, or "unknown" outside git.
    assert!(version.starts_with("ferry 0.1.0 ("), "{version}");
    let inside = version.trim().trim_end_matches(')');
    let parts: Vec<&str> = inside.split('(').nth(1).unwrap().split(' ').collect();
    assert_eq!(parts.len(), 2, "{version}");
    assert_eq!(parts[1].len(), "2026-01-01".len(), "{version}");
}

#[test]
fn output_formats_and_colour_are_checked_by_clap() {
    let out = Command::new(ferry_bin())
        .args(["status", "-o", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(ferry_bin())
        .args(["status", "--color", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unreachable_server_exits_6() {
    // Port 9 (discard) on loopback: closed on any sane machine.
    let out = ferry("http://127.0.0.1:9", "", &["status"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_not_found_and_conflict_have_their_own_exit_codes() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let url = server.url.clone();

    let out = ferry(&url, "not-a-token", &["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    let out = ferry(&url, DEV_TOKEN, &["approve", "d-999"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));

    // A stage with nothing deployed has nothing to roll back to.
    let out = ferry(&url, DEV_TOKEN, &["rollback", "app", "prod"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));

    // -o wide and -o json work against the same server.
    let out = ferry(&url, DEV_TOKEN, &["history", "app", "-o", "wide"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("DIGEST"),
        "{}",
        text(&out.stdout)
    );
    let out = ferry(&url, DEV_TOKEN, &["history", "app", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
}
