//! Health checks against a real HTTP server on 127.0.0.1 and real commands.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::config::{HealthCheck, HealthProbe};
use crate::engine::StepAction;
use crate::model::StepStatus;
use crate::runner::tests::support::*;

const WAIT: Duration = Duration::from_secs(30);

/// A server whose first `bad` answers are 503, then 200.
async fn flaky_server(bad: u32) -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) < bad {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let app = app.route(
        "/moved",
        axum::routing::get(|| async { axum::response::Redirect::temporary("/health") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/health"), hits)
}

fn check(probe: HealthProbe, retries: u32, bake_ms: u64) -> StepAction {
    StepAction::Health(HealthCheck {
        probe,
        interval: Duration::from_millis(50),
        retries,
        bake: Duration::from_millis(bake_ms),
        timeout: Duration::from_millis(500),
    })
}

fn http(url: &str) -> HealthProbe {
    HealthProbe::Http {
        url: url.into(),
        expect_status: 200,
    }
}

#[tokio::test]
async fn http_probe_passes_after_transient_failures() {
    let (url, hits) = flaky_server(2).await;
    let mut h = harness();
    h.runner
        .run_step(job("d-1", check(http(&url), 3, 0), &h.work, WAIT));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Passed, "{f:?}");
    assert_eq!(f.outcome.message, "healthy");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let log = h.log("d-1");
    assert_eq!(
        log.matches("unhealthy: HTTP 503, expected 200").count(),
        2,
        "{log}"
    );
    assert!(log.contains("probe 3: healthy (HTTP 200"), "{log}");
}

#[tokio::test]
async fn http_probe_fails_after_retries_in_a_row() {
    let (url, hits) = flaky_server(u32::MAX).await;
    let mut h = harness();
    h.runner
        .run_step(job("d-2", check(http(&url), 2, 0), &h.work, WAIT));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert_eq!(
        f.outcome.message,
        "unhealthy: 3 probes in a row failed, last: HTTP 503, expected 200"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // Nothing listening: the cause is in the message.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    h.runner
        .run_step(job("d-3", check(http(&dead), 0, 0), &h.work, WAIT));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert!(
        f.outcome
            .message
            .starts_with("unhealthy: 1 probe failed, last: GET http://127.0.0.1:"),
        "{f:?}"
    );
}

#[tokio::test]
async fn bake_keeps_probing_until_it_has_elapsed() {
    let (url, hits) = flaky_server(0).await;
    let mut h = harness();
    let started = Instant::now();
    h.runner
        .run_step(job("d-4", check(http(&url), 1, 400), &h.work, WAIT));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Passed, "{f:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(hits.load(Ordering::SeqCst) >= 3);
    assert!(f.outcome.message.starts_with("healthy for "), "{f:?}");
}

#[tokio::test]
async fn command_probes_use_exit_codes_and_their_timeout() {
    let mut h = harness();
    // Healthy on the third probe: a counter file in the workdir.
    let cmd = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; test $n -ge 3";
    let probe = HealthProbe::Command {
        command: cmd.into(),
    };
    h.runner
        .run_step(job("d-5", check(probe, 2, 0), &h.work, WAIT));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Passed, "{f:?}");
    assert_eq!(h.log("d-5").matches("unhealthy: exit code 1").count(), 2);

    let probe = HealthProbe::Command {
        command: "sleep 30".into(),
    };
    h.runner
        .run_step(job("d-6", check(probe, 0, 0), &h.work, WAIT));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert!(
        f.outcome.message.ends_with("probe timed out after 500ms"),
        "{f:?}"
    );
}

#[tokio::test]
async fn health_check_can_be_cancelled_while_baking() {
    let (url, _) = flaky_server(0).await;
    let mut h = harness();
    h.runner
        .run_step(job("d-7", check(http(&url), 1, 600_000), &h.work, WAIT));
    h.wait_line("probe 1: healthy", WAIT).await;
    h.runner.cancel_step("d-7", 0);
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Cancelled);
}

#[tokio::test]
async fn http_probes_do_not_follow_redirects() {
    let (url, hits) = flaky_server(0).await;
    let moved = url.replace("/health", "/moved");
    let mut h = harness();
    h.runner
        .run_step(job("d-8", check(http(&moved), 0, 0), &h.work, WAIT));
    let f = h.finish(WAIT).await;
    assert_eq!(f.outcome.status, StepStatus::Failed);
    assert!(
        f.outcome.message.ends_with("HTTP 307, expected 200"),
        "{f:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
