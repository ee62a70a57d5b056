//! Tests of the runner with real child processes.

use std::time::{Duration, Instant};

pub(super) mod support;

use super::pgroup::group_alive;
use super::*;
use crate::model::{Notification, StepStatus};
use support::*;

const LONG: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn command_step_gets_a_clean_env_and_masked_secrets() {
    let mut h = harness();
    // A unique name: tests share the process environment.
    let secret_name = "FERRY_TEST_SECRET_ENV_1";
    // SAFETY: set once, before any step of this test reads the environment;
    // no other test touches this variable.
    unsafe { std::env::set_var(secret_name, "tops3cret") };
    let mut j = job(
        "d-1",
        command(
            "echo \"svc=$FERRY_SERVICE pw=$FERRY_TEST_SECRET_ENV_1 term=$TERM\"; \
             echo \"report=$FERRY_REPORT\"; echo \"data=$FERRY_DATA_DIR\"; \
             echo \"run=$FERRY_RUN_DIR\"; test -d \"$FERRY_RUN_DIR\"; \
             echo \"cargo=${CARGO:-unset}\"; printf '\\033[31mred\\033[0m\\n'",
        ),
        &h.work,
        LONG,
    );
    j.env.insert("FERRY_SERVICE".into(), "web".into());
    j.secrets = vec![secret_name.into(), "FERRY_TEST_SECRET_UNSET".into()];
    h.runner.run_step(j);
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Passed, "{f:?}");
    assert_eq!(f.outcome.exit_code, Some(0));
    let lines = f.lines();
    assert!(lines.contains(&"svc=web pw=*** term=dumb"), "{lines:?}");
    assert!(lines.contains(&"cargo=unset"), "{lines:?}");
    assert!(lines.contains(&"red"), "{lines:?}");
    let report = Runner::report_path(&h.runner.data_dir, "d-1", 0);
    assert!(lines.contains(&format!("report={}", report.display()).as_str()));
    assert!(lines.iter().any(|l| l.starts_with("data=/")));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("secret FERRY_TEST_SECRET_UNSET is not set"))
    );
    let log = h.log("d-1");
    assert!(log.contains("svc=web pw=*** term=dumb\n"), "{log}");
    assert!(!log.contains("tops3cret"));
    assert_eq!(h.runner.running(), 0);
    let run_dir = Runner::run_dir(&h.runner.data_dir, "d-1");
    assert!(run_dir.is_dir());
    h.runner.remove_run_dir("d-1").await;
    assert!(!run_dir.exists());
    assert!(h.log("d-1").contains("svc=web"), "the log stays");
}

#[tokio::test]
async fn exit_codes_and_spawn_failures_fail_the_step() {
    let mut h = harness();
    h.runner
        .run_step(job("d-2", command("echo oops >&2; exit 3"), &h.work, LONG));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert_eq!(f.outcome.exit_code, Some(3));
    assert_eq!(f.outcome.message, "exit code 3");
    assert_eq!(h.log("d-2"), "oops\n");

    // `sh` cannot be found with this PATH: still exactly one StepFinished.
    let mut j = job("d-3", command("true"), &h.work, LONG);
    j.env.insert("PATH".into(), "/nonexistent".into());
    h.runner.run_step(j);
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert!(
        f.outcome.message.starts_with("could not start `sh`"),
        "{f:?}"
    );

    let missing = h.work.join("missing");
    h.runner
        .run_step(job("d-4", command("true"), &missing, LONG));
    let f = h.finish(WAIT).await;
    assert!(f.outcome.message.contains("does not exist"), "{f:?}");

    h.runner
        .run_step(job("../d-5", command("true"), &h.work, LONG));
    let f = h.finish(WAIT).await;
    assert!(
        f.outcome.message.contains("cannot name a directory"),
        "{f:?}"
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_group() {
    let mut h = harness();
    h.runner.run_step(job(
        "d-6",
        command("sleep 1000 & sleep 1000 & echo pgid=$$; wait"),
        &h.work,
        Duration::from_secs(1),
    ));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::TimedOut, "{f:?}");
    assert_eq!(f.outcome.message, "timed out after 1s");
    let pgid = pgid_from(f.lines()[0]);
    assert!(!group_alive(pgid), "group {pgid} survived the timeout");
    assert!(h.log("d-6").contains("ferry: timed out after 1s"));
}

#[tokio::test]
async fn cancel_kills_the_whole_group_and_leaves_no_orphan() {
    let mut h = harness();
    h.runner.run_step(job(
        "d-7",
        // Grandchildren that ignore nothing and a shell that ignores SIGTERM.
        command("sleep 1000 & (sleep 1000 &) ; trap '' TERM; echo pgid=$$; wait"),
        &h.work,
        LONG,
    ));
    let line = h.wait_line("pgid=", WAIT).await;
    let pgid = pgid_from(&line);
    assert!(group_alive(pgid));
    assert_eq!(h.runner.running(), 1);
    h.runner.cancel_step("d-7", 0);
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Cancelled, "{f:?}");
    assert!(!group_alive(pgid), "group {pgid} survived the cancel");
    assert_eq!(h.runner.running(), 0);
    // Cancelling a finished step is harmless.
    h.runner.cancel_step("d-7", 0);
}

#[tokio::test]
async fn a_flood_of_output_is_all_logged_and_streamed_in_bounded_batches() {
    let mut h = harness();
    let started = Instant::now();
    h.runner
        .run_step(job("d-8", command("seq 1 100000"), &h.work, LONG));
    let f = h.finish(LONG).await;
    let elapsed = started.elapsed();
    assert_eq!(f.outcome.status, StepStatus::Passed);
    let log = h.log("d-8");
    assert_eq!(log.lines().count(), 100_000);
    assert_eq!(log.lines().last(), Some("100000"));
    let streamed: usize = f.batches.iter().map(|(l, _)| l.len()).sum();
    let dropped: u64 = f.batches.iter().map(|(_, d)| d).sum();
    assert_eq!(streamed as u64 + dropped, 100_000);
    assert!(f.batches.iter().all(|(l, _)| l.len() <= output::MAX_BATCH));
    // At most ten a second, plus the last one.
    let bound = (elapsed.as_secs_f64() * 10.0).ceil() as usize + 2;
    assert!(
        f.batches.len() <= bound,
        "{} batches in {elapsed:?}",
        f.batches.len()
    );
}

fn junit(failed: usize, passed: usize) -> String {
    let mut s = String::from("<testsuite>");
    for i in 0..passed {
        s.push_str(&format!("<testcase name=\"ok{i}\"/>"));
    }
    for i in 0..failed {
        s.push_str(&format!(
            "<testcase name=\"bad{i}\"><failure message=\"no\"/></testcase>"
        ));
    }
    s.push_str("</testsuite>");
    s
}

#[tokio::test]
async fn junit_reports_decide_the_step() {
    let mut h = harness();
    // Failures fail the step even with exit code 0.
    std::fs::write(h.work.join("fail.xml"), junit(3, 2)).unwrap();
    h.runner.run_step(job(
        "d-9",
        command("cp fail.xml \"$FERRY_REPORT\""),
        &h.work,
        LONG,
    ));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert_eq!(f.outcome.message, "3 tests failed");
    assert_eq!(f.outcome.tests.map(|t| (t.passed, t.failed)), Some((2, 3)));

    // An explicit report relative to the workdir.
    std::fs::write(h.work.join("ok.xml"), junit(0, 4)).unwrap();
    let action = StepAction::Shell {
        command: "true".into(),
        report: Some("ok.xml".into()),
    };
    h.runner.run_step(job("d-10", action, &h.work, LONG));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Passed);
    assert_eq!(f.outcome.message, "4 tests passed");

    // A named report that never appeared means the tests did not run.
    let action = StepAction::Shell {
        command: "true".into(),
        report: Some("missing.xml".into()),
    };
    h.runner.run_step(job("d-11", action, &h.work, LONG));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert!(f.outcome.message.contains("no test report at missing.xml"));

    // A report left by an earlier run does not count for this one.
    let old = std::fs::File::options()
        .write(true)
        .open(h.work.join("ok.xml"))
        .unwrap();
    old.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let action = StepAction::Shell {
        command: "true".into(),
        report: Some("ok.xml".into()),
    };
    h.runner.run_step(job("d-15", action, &h.work, LONG));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert!(f.outcome.message.contains("older than the step"), "{f:?}");

    // Exit code and failures together.
    h.runner.run_step(job(
        "d-12",
        command("cp fail.xml \"$FERRY_REPORT\"; exit 2"),
        &h.work,
        LONG,
    ));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.message, "3 tests failed (exit code 2)");
}

#[tokio::test]
async fn shutdown_interrupts_running_steps_and_waits() {
    let mut h = harness();
    h.runner.run_step(job(
        "d-13",
        command("sleep 1000 & echo pgid=$$; wait"),
        &h.work,
        LONG,
    ));
    let pgid = pgid_from(&h.wait_line("pgid=", WAIT).await);
    tokio::time::timeout(WAIT, h.runner.shutdown())
        .await
        .expect("shutdown in time");
    assert_eq!(h.runner.running(), 0);
    assert!(!group_alive(pgid));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Interrupted);

    // After shutdown, new steps end at once.
    h.runner
        .run_step(job("d-14", command("sleep 1000"), &h.work, LONG));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Interrupted);
}

/// Two attempts 10 ms apart: failures end in milliseconds.
fn fast_retry() -> crate::config::notify::RetryPolicy {
    crate::config::notify::RetryPolicy {
        attempts: 2,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn notify_reports_each_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = (*test_config(vec![], tmp.path())).clone();
    config.notify.webhooks.push(crate::config::Webhook {
        // Nothing listens on the discard port: delivery fails fast.
        url: "http://127.0.0.1:9/hook".into(),
        on: vec![],
        format: None,
        secret_env: None,
    });
    config.notify.retry = fast_retry();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = Runner::new(Arc::new(config), tmp.path().into(), tx);
    let n = Notification {
        id: "n-1".into(),
        kind: crate::model::NotificationKind::DeploymentFailed,
        service: "web".into(),
        stage: Some("prod".into()),
        version: Some("1.0".into()),
        commit: None,
        deployment: Some("d-1".into()),
        build: None,
        message: "deploy failed".into(),
        at: 1,
        failed_tests: None,
    };
    runner.notify(n.clone());
    let got = tokio::time::timeout(LONG, rx.recv())
        .await
        .unwrap()
        .unwrap();
    match got {
        Input::NotificationSent {
            notification, ok, ..
        } => {
            assert_eq!(notification, n);
            assert!(!ok);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_step_started_twice_is_tracked_and_cancelled_twice() {
    let mut h = harness();
    for _ in 0..2 {
        h.runner
            .run_step(job("d-16", command("sleep 1000"), &h.work, LONG));
    }
    assert_eq!(h.runner.running(), 2);
    h.runner.cancel_step("d-16", 0);
    let mut finished = 0;
    while finished < 2 {
        match tokio::time::timeout(WAIT, h.rx.recv()).await.unwrap() {
            Some(Input::StepFinished { outcome, .. }) => {
                assert_eq!(outcome.status, StepStatus::Cancelled);
                finished += 1;
            }
            Some(Input::StepOutput { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(h.runner.running(), 0);
}

#[tokio::test]
async fn a_notify_commands_stderr_is_masked_before_it_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    // A name no other test uses: set once, read by this runner only.
    let name = "FERRY_TEST_NOTIFY_SECRET_8";
    let value = "s3cr3t-notify-value";
    // SAFETY: no other thread of the test binary reads or writes this variable.
    unsafe { std::env::set_var(name, value) };
    let mut config = (*test_config(vec![], tmp.path())).clone();
    config.services.push(crate::config::ServiceConfig {
        name: "web".into(),
        source: crate::config::Source::External,
        build: None,
        stages: vec![],
        workdir: tmp.path().into(),
        env: Default::default(),
        secrets: vec![name.into()],
        pass_env: Default::default(),
    });
    // It prints the secret, its base64 form and an escape sequence.
    config.notify.commands.push(crate::config::NotifyCommand {
        command: format!(
            "printf '\\033[31mtoken {value} b64 %s\\n' \"$(printf %s {value} | base64)\" >&2; exit 1"
        ),
        on: vec![],
    });
    config.notify.retry = fast_retry();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = Runner::new(Arc::new(config), tmp.path().into(), tx);
    runner.notify(Notification {
        id: "n-1".into(),
        kind: crate::model::NotificationKind::DeploymentFailed,
        service: "web".into(),
        stage: None,
        version: None,
        commit: None,
        deployment: None,
        build: None,
        message: "m".into(),
        at: 1,
        failed_tests: None,
    });
    let got = tokio::time::timeout(LONG, rx.recv())
        .await
        .unwrap()
        .unwrap();
    let Input::NotificationSent { ok, detail, .. } = got else {
        panic!("{got:?}");
    };
    assert!(!ok);
    assert!(detail.contains("token *** b64 ***"), "{detail}");
    assert!(
        !detail.contains(value) && !detail.contains('\u{1b}'),
        "{detail}"
    );
}

#[tokio::test]
async fn a_directory_of_reports_is_merged_and_failed_tests_are_named_in_the_log() {
    let mut h = harness();
    let samples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit/surefire-reports");
    let step = StepAction::Shell {
        command: format!("mkdir -p target && cp -r {} target/", samples.display()),
        report: Some("target/surefire-reports".into()),
    };
    h.runner.run_step(job("d-31", step, &h.work, LONG));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert_eq!(f.outcome.message, "2 tests failed");
    let lines = f.lines();
    assert!(
        lines.contains(
            &"ferry: failed test com.acme.shop.CartTest.computesTotal: expected: <5> but was: <4>"
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &"ferry: failed test com.acme.shop.PriceTest.parsesPrice: Prix réduit invalide: 12,50"
        ),
        "{lines:?}"
    );
}
