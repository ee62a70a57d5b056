//! Tests of git.rs against real repositories made in a temporary directory.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::config::{ServiceConfig, Source};
use crate::engine::{Command, Input, Principal};
use crate::runner::poller::spawn_pollers;
use crate::runner::tests::support::test_config;

/// A public source: no credentials.
const NONE: SourceAccess = SourceAccess {
    webhook_secret_env: None,
    token_env: None,
    token_username: None,
    ssh_key: None,
    known_hosts: None,
};

/// Run git synchronously for test setup, with a fixed identity.
fn sh_git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "user.name=Ada Lovelace",
            "-c",
            "user.email=ada@example.com",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn init_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    sh_git(dir, &["init", "--quiet", "-b", "main"]);
}

fn commit(dir: &Path, file: &str, content: &str, subject: &str) -> String {
    std::fs::write(dir.join(file), content).unwrap();
    sh_git(dir, &["add", "."]);
    sh_git(dir, &["commit", "--quiet", "-m", subject]);
    sh_git(dir, &["rev-parse", "HEAD"])
}

#[tokio::test]
async fn fetch_head_follows_the_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let data = tmp.path().join("data");
    init_repo(&repo);
    let c1 = commit(&repo, "a.txt", "1", "first \u{1b}[31mcommit");
    let repo_s = repo.to_str().unwrap();

    let head = fetch_head(&data, "web", repo_s, &NONE, "main")
        .await
        .unwrap();
    assert_eq!(head.sha, c1);
    // Subjects come from outside: escape sequences are stripped.
    assert_eq!(head.subject, "first commit");
    assert_eq!(head.author, "Ada Lovelace");
    assert!(data.join("git/web.git/config").is_file());

    let c2 = commit(&repo, "a.txt", "2", "second");
    let head = fetch_head(&data, "web", repo_s, &NONE, "main")
        .await
        .unwrap();
    assert_eq!(
        (head.sha.as_str(), head.subject.as_str()),
        (c2.as_str(), "second")
    );

    let err = fetch_head(&data, "web", repo_s, &NONE, "nope")
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("branch `nope` not found"),
        "{err:#}"
    );
}

#[tokio::test]
async fn missing_repo_and_bad_names_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let err = fetch_head(tmp.path(), "web", missing.to_str().unwrap(), &NONE, "main")
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("could not clone"), "{msg}");
    // Nothing half-made is left behind.
    assert!(!tmp.path().join("git/web.git").exists());

    let err = fetch_head(tmp.path(), "../evil", "x", &NONE, "main")
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("cannot name a git mirror"));
}

#[tokio::test]
async fn checkout_gives_a_clean_tree_of_that_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let data = tmp.path().join("data");
    init_repo(&repo);
    let c1 = commit(&repo, "a.txt", "one", "first");
    sh_git(&repo, &["tag", "v1.0.0"]);
    let _c2 = commit(&repo, "a.txt", "two", "second");
    let repo_s = repo.to_str().unwrap();

    // No mirror yet: checkout makes it.
    let dest = tmp.path().join("work");
    checkout(&data, "web", repo_s, &NONE, &c1, &dest)
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(dest.join("a.txt")).unwrap(), "one");
    assert_eq!(sh_git(&dest, &["rev-parse", "HEAD"]), c1);
    assert_eq!(sh_git(&dest, &["status", "--porcelain"]), "");
    assert_eq!(sh_git(&dest, &["describe", "--tags", "--always"]), "v1.0.0");

    // A commit made after the mirror was fetched is fetched on demand.
    let c3 = commit(&repo, "a.txt", "three", "third");
    let dest3 = tmp.path().join("work3");
    checkout(&data, "web", repo_s, &NONE, &c3, &dest3)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dest3.join("a.txt")).unwrap(),
        "three"
    );

    let err = checkout(
        &data,
        "web",
        repo_s,
        &NONE,
        "0123456789abcdef",
        &tmp.path().join("x"),
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("not found"), "{err:#}");
    let err = checkout(
        &data,
        "web",
        repo_s,
        &NONE,
        "--upload-pack=x",
        &tmp.path().join("y"),
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("is not a commit"), "{err:#}");
}

#[tokio::test]
async fn commits_between_lists_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let data = tmp.path().join("data");
    init_repo(&repo);
    let c1 = commit(&repo, "a.txt", "1", "one");
    let c2 = commit(&repo, "a.txt", "2", "two");
    let c3 = commit(&repo, "a.txt", "3", "three");
    fetch_head(&data, "web", repo.to_str().unwrap(), &NONE, "main")
        .await
        .unwrap();

    let got = commits_between(&data, "web", Some(&c1), &c3, 50)
        .await
        .unwrap();
    let shas: Vec<_> = got.iter().map(|c| c.sha.clone()).collect();
    assert_eq!(shas, vec![c3.clone(), c2.clone()]);
    assert_eq!(got[0].subject, "three");

    let all = commits_between(&data, "web", None, &c3, 2).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(commits_between(&data, "other", None, &c3, 2).await.is_err());
}

fn git_service(name: &str, repo: &Path) -> ServiceConfig {
    ServiceConfig {
        name: name.into(),
        source: Source::Git {
            repo: repo.to_string_lossy().into_owned(),
            branch: "main".into(),
            // Long: the test drives polls with poke().
            poll_interval: Duration::from_secs(3600),
            access: Default::default(),
        },
        build: None,
        stages: vec![],
        workdir: repo.to_path_buf(),
        env: BTreeMap::new(),
        secrets: vec![],
        pass_env: Vec::new(),
    }
}

async fn next_commit(rx: &mut mpsc::UnboundedReceiver<Input>) -> (String, String, Option<String>) {
    let input = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a NewCommit in time")
        .expect("channel open");
    match input {
        Input::Command {
            by,
            command:
                Command::NewCommit {
                    service,
                    commit,
                    subject,
                    author,
                },
        } => {
            assert_eq!(by, Principal::ferry());
            assert_eq!(author, "Ada Lovelace");
            (service, commit, subject)
        }
        other => panic!("unexpected input {other:?}"),
    }
}

#[tokio::test]
async fn pollers_send_new_heads_once_and_survive_missing_repos() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let repo = tmp.path().join("repo");
    let late = tmp.path().join("late");
    init_repo(&repo);
    let c1 = commit(&repo, "a.txt", "1", "one");
    let config = test_config(
        vec![git_service("web", &repo), git_service("late", &late)],
        &data,
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let poller = spawn_pollers(config, data.clone(), tx, HashSet::new());

    // The first poll of each service happens at once; only `web` exists.
    let (service, commit1, subject) = next_commit(&mut rx).await;
    assert_eq!((service.as_str(), commit1.as_str()), ("web", c1.as_str()));
    assert_eq!(subject.as_deref(), Some("one"));

    let c2 = commit(&repo, "a.txt", "2", "two");
    poller.poke("web");
    let (_, commit2, _) = next_commit(&mut rx).await;
    assert_eq!(commit2, c2);

    // The missing repository appears; its poller kept running and finds it.
    init_repo(&late);
    let l1 = commit(&late, "b.txt", "1", "late one");
    poller.poke("late");
    let (service, commit3, _) = next_commit(&mut rx).await;
    assert_eq!((service.as_str(), commit3.as_str()), ("late", l1.as_str()));

    // A head already sent is not sent again.
    poller.poke("web");
    poller.poke("late");
    poller.poke("unknown");
    let again = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await;
    assert!(again.is_err(), "unexpected {again:?}");
    drop(poller);
}

#[tokio::test]
async fn pollers_skip_known_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let repo = tmp.path().join("repo");
    init_repo(&repo);
    let c1 = commit(&repo, "a.txt", "1", "one");
    let config = test_config(vec![git_service("web", &repo)], &data);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let known = HashSet::from([("web".to_string(), c1)]);
    let poller = spawn_pollers(config, data.clone(), tx, known);
    assert_eq!(poller.services().collect::<Vec<_>>(), vec!["web"]);
    let c2 = commit(&repo, "a.txt", "2", "two");
    poller.poke("web");
    // The first poll (c1, known) sends nothing; the poke finds c2.
    let (_, got, _) = next_commit(&mut rx).await;
    assert_eq!(got, c2);
}

#[test]
fn credentials_in_urls_are_not_shown() {
    assert_eq!(
        display_repo("https://bob:t0ken@example.com/org/app.git"),
        "https://***@example.com/org/app.git"
    );
    assert_eq!(display_repo("/srv/git/app.git"), "/srv/git/app.git");
    assert_eq!(
        redact_userinfo("fatal: unable to access 'https://x@h/r' and ssh://git@h2/r"),
        "fatal: unable to access 'https://***@h/r' and ssh://***@h2/r"
    );
}

#[tokio::test]
async fn relative_repo_paths_keep_working_after_the_first_clone() {
    // The test's cwd is the crate root: make the repo relative to it.
    let tmp = tempfile::tempdir_in(".").unwrap();
    let repo = tmp.path().join("repo");
    init_repo(&repo);
    let c1 = commit(&repo, "a.txt", "1", "one");
    let rel = repo
        .strip_prefix(std::env::current_dir().unwrap())
        .unwrap_or(&repo)
        .to_string_lossy()
        .into_owned();
    let data = tmp.path().join("data");
    assert_eq!(
        fetch_head(&data, "web", &rel, &NONE, "main")
            .await
            .unwrap()
            .sha,
        c1
    );
    let c2 = commit(&repo, "a.txt", "2", "two");
    assert_eq!(
        fetch_head(&data, "web", &rel, &NONE, "main")
            .await
            .unwrap()
            .sha,
        c2
    );
}
