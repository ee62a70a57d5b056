//! Build steps against real git repositories.

use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::engine::StepAction;
use crate::model::StepStatus;
use crate::runner::tests::support::*;

const WAIT: Duration = Duration::from_secs(60);

fn sh_git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository whose build writes dist/app.tar.gz from the commit id.
fn repo(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    sh_git(dir, &["init", "--quiet", "-b", "main"]);
    std::fs::write(
        dir.join("build.sh"),
        "mkdir -p dist\nprintf 'app %s' \"$FERRY_COMMIT\" > dist/app.tar.gz\necho ' 1.2.3 ' > VERSION\necho built\n",
    )
    .unwrap();
    sh_git(dir, &["add", "."]);
    sh_git(dir, &["commit", "--quiet", "-m", "first"]);
    sh_git(dir, &["tag", "v0.1.0"]);
    sh_git(dir, &["rev-parse", "HEAD"])
}

fn build(repo: &Path, commit: &str, command: &str, version_file: Option<&str>) -> StepAction {
    StepAction::Build {
        repo: repo.to_string_lossy().into_owned(),
        commit: commit.into(),
        command: command.into(),
        artifact: "dist/app.tar.gz".into(),
        version_file: version_file.map(String::from),
        report: None,
        access: Default::default(),
    }
}

#[tokio::test]
async fn builds_stores_the_artifact_and_cleans_up() {
    let mut h = harness();
    let src = h.work.join("src");
    let commit = repo(&src);
    let mut j = job(
        "b-1",
        build(&src, &commit, "sh build.sh", Some("VERSION")),
        &h.work,
        WAIT,
    );
    j.env.insert("FERRY_COMMIT".into(), commit.clone());
    h.runner.run_step(j);
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Passed, "{f:?}");
    assert_eq!(f.outcome.message, "built 1.2.3");
    let built = f.built.expect("built artifact");
    assert_eq!(built.version, "1.2.3");
    let bytes = std::fs::read(&built.uri).unwrap();
    assert_eq!(bytes, format!("app {commit}").into_bytes());
    assert_eq!(built.digest, hex::encode(Sha256::digest(&bytes)));
    assert!(!h.data.join("work/b-1").exists(), "work dir left behind");
    let log = h.log("b-1");
    assert!(log.contains("ferry: checking out"), "{log}");
    assert!(log.contains("\nbuilt\n"), "{log}");

    // Without a version file the version is `git describe`.
    h.runner.run_step(job(
        "b-2",
        build(&src, &commit, "sh build.sh", None),
        &h.work,
        WAIT,
    ));
    let f = h.finish(WAIT).await;
    assert_eq!(f.built.map(|b| b.version), Some("v0.1.0".to_string()));
}

#[tokio::test]
async fn build_failures_are_clear() {
    let mut h = harness();
    let src = h.work.join("src");
    let commit = repo(&src);

    h.runner.run_step(job(
        "b-3",
        build(&src, &commit, "true", None),
        &h.work,
        WAIT,
    ));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert_eq!(
        f.outcome.message,
        "build produced no artifact at dist/app.tar.gz"
    );
    assert!(f.built.is_none());
    assert!(!h.data.join("work/b-3").exists());

    h.runner.run_step(job(
        "b-4",
        build(&src, &commit, "exit 4", None),
        &h.work,
        WAIT,
    ));
    let f = h.finish(WAIT).await;
    assert_eq!(
        (f.outcome.exit_code, f.outcome.message.as_str()),
        (Some(4), "exit code 4")
    );

    h.runner.run_step(job(
        "b-5",
        build(&src, &commit, "sh build.sh", Some("NOPE")),
        &h.work,
        WAIT,
    ));
    let f = h.finish(WAIT).await;
    assert!(
        f.outcome
            .message
            .starts_with("build produced no version file at NOPE")
    );

    h.runner.run_step(job(
        "b-6",
        build(&src, "0123456789abcdef", "true", None),
        &h.work,
        WAIT,
    ));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert!(
        f.outcome
            .message
            .starts_with("could not check out 0123456789ab"),
        "{f:?}"
    );
}

#[tokio::test]
async fn a_build_can_be_cancelled() {
    let mut h = harness();
    let src = h.work.join("src");
    let commit = repo(&src);
    h.runner.run_step(job(
        "b-7",
        build(&src, &commit, "echo pgid=$$; sleep 1000", None),
        &h.work,
        WAIT,
    ));
    let pgid = pgid_from(&h.wait_line("pgid=", WAIT).await);
    h.runner.cancel_step("b-7", 0);
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Cancelled);
    assert!(!crate::runner::pgroup::group_alive(pgid));
    assert!(!h.data.join("work/b-7").exists());
}
