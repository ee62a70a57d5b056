//! A step's outcome: passed, failed, stopped or timed out, from how its
//! process ended, with its JUnit report folded in.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::errors::inline_hint;
use crate::model::{FailedTest, MAX_FAILED_TESTS, StepOutcome, StepStatus, TestCounts};

use super::output::LineSender;
use super::process::{ProcEnd, StopReason};
use super::reports;

pub(crate) fn outcome(
    status: StepStatus,
    exit_code: Option<i32>,
    message: impl Into<String>,
) -> StepOutcome {
    StepOutcome {
        status,
        exit_code,
        tests: None,
        message: message.into(),
        failed_tests: Vec::new(),
    }
}

pub(crate) fn failed(message: impl Into<String>) -> StepOutcome {
    outcome(StepStatus::Failed, None, message)
}

pub(crate) fn stopped(reason: StopReason) -> StepOutcome {
    match reason {
        StopReason::Cancel => outcome(StepStatus::Cancelled, None, "cancelled"),
        StopReason::Shutdown => outcome(
            StepStatus::Interrupted,
            None,
            "interrupted: the server is shutting down",
        ),
    }
}

pub(crate) fn timed_out(timeout: Duration) -> StepOutcome {
    outcome(
        StepStatus::TimedOut,
        None,
        format!("timed out after {}", humantime::format_duration(timeout)),
    )
}

pub(crate) fn proc_outcome(end: &ProcEnd, timeout: Duration) -> StepOutcome {
    match end {
        ProcEnd::Exited { code: Some(0), .. } => outcome(StepStatus::Passed, Some(0), "passed"),
        ProcEnd::Exited { code: Some(c), .. } => {
            outcome(StepStatus::Failed, Some(*c), format!("exit code {c}"))
        }
        ProcEnd::Exited { signal, .. } => {
            let name = signal
                .and_then(|s| nix::sys::signal::Signal::try_from(s).ok())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "an unknown signal".into());
            failed(format!("killed by {name}"))
        }
        ProcEnd::TimedOut => timed_out(timeout),
        ProcEnd::Stopped(r) => stopped(*r),
        ProcEnd::SpawnFailed(m) => failed(m.clone()),
    }
}

/// Where a step's JUnit report is.
pub(crate) struct Report<'a> {
    pub path: PathBuf,
    /// Named by the job (`report`), rather than the optional FERRY_REPORT.
    pub explicit: bool,
    /// How messages name it.
    pub shown: &'a str,
    /// When the step's command started: an older report is a leftover.
    pub since: SystemTime,
    /// The step's log, where the failed tests are listed.
    pub log: Option<&'a LineSender>,
}

/// Fold a JUnit report into the outcome of a process that exited. A report
/// with failures fails the step whatever the exit code; a report the job
/// names explicitly must exist (and be new) when the step passed, or its
/// tests did not run.
pub(crate) async fn with_tests(mut o: StepOutcome, report: Report<'_>) -> StepOutcome {
    let passed = o.status == StepStatus::Passed;
    let Report {
        path,
        explicit,
        shown,
        since,
        log,
    } = report;
    // Most steps write no FERRY_REPORT: one stat says so without a trip to
    // the blocking pool (this is on the path to the next step's start).
    if !explicit && std::fs::symlink_metadata(&path).is_err() {
        return o;
    }
    // Reports can be large: parse them off the async threads.
    // A file, a directory or a glob, merged (reports.rs).
    let read = tokio::task::spawn_blocking(move || match reports::read_reports(&path, since) {
        reports::Found::Nothing { stale } => (stale, None),
        reports::Found::Read(r) => (false, Some(r)),
    })
    .await;
    let (stale, read) = match read {
        Ok(r) => r,
        Err(e) => (false, Some(Err(format!("reading it failed: {e}")))),
    };
    match read {
        None if explicit && passed => {
            o.status = StepStatus::Failed;
            o.message = if stale {
                inline_hint(
                    format!(
                        "the step passed but its test report at {shown} is older than the step"
                    ),
                    "the tests did not write it this time",
                )
            } else {
                inline_hint(
                    format!("the step passed but wrote no test report at {shown}"),
                    "check `report` in the config",
                )
            };
        }
        None => {}
        Some(Err(e)) if passed => {
            o.status = StepStatus::Failed;
            o.message = format!("unreadable test report {shown}: {e}");
        }
        // The step failed already; its exit code says more than the report.
        Some(Err(_)) => {}
        Some(Ok(report)) => {
            let t = report.counts;
            o.tests = Some(t);
            if t.failed > 0 {
                let exit = match o.exit_code {
                    Some(c) if c != 0 => format!(" (exit code {c})"),
                    _ => String::new(),
                };
                o.status = StepStatus::Failed;
                o.message = format!("{}{exit}", count_text(t.failed, "failed"));
                // Kept by name (bounded) for `ferry show`, the detail view
                // and the failure's notification.
                o.failed_tests = report
                    .failures
                    .iter()
                    .take(MAX_FAILED_TESTS)
                    .map(|f| FailedTest {
                        // Names come from the report as written: one
                        // clean, bounded line, like the message.
                        name: crate::model::sanitize_text(
                            &f.name.chars().take(300).collect::<String>(),
                        ),
                        message: f.message.clone(),
                    })
                    .collect();
                // Which tests, and why, for the detail view, `ferry logs`
                // and whoever reads the log from a notification's link.
                if let Some(log) = log {
                    for line in reports::failure_lines(&report.failures) {
                        log.note(line).await;
                    }
                }
            } else if passed {
                o.message = tests_passed_text(t);
            }
        }
    }
    o
}

fn count_text(n: u32, what: &str) -> String {
    format!("{n} test{} {what}", if n == 1 { "" } else { "s" })
}

fn tests_passed_text(t: TestCounts) -> String {
    let mut s = count_text(t.passed, "passed");
    if t.skipped > 0 {
        s.push_str(&format!(", {} skipped", t.skipped));
    }
    s
}
