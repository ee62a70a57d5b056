//! `GET /insights` over a stored history, its 400s, and the flaky note in a
//! deployment's detail.

use reqwest::Method;

use super::support::{Pipeline, created, raw, registered, with_users};
use crate::model::{DeploymentStatus, EventKind, StepKind, StepOutcome, StepPlan, StepStatus};

/// d-1 fails its `smoke` check on a-1; d-2 passes it on the same artifact.
fn flaky_history() -> Vec<EventKind> {
    let digest = "ab".repeat(32);
    let mut seed = vec![registered("a-1", "1.0", &digest)];
    for (id, step_status, status) in [
        ("d-1", StepStatus::Failed, DeploymentStatus::Failed),
        ("d-2", StepStatus::Passed, DeploymentStatus::Succeeded),
    ] {
        let mut c = created(id, "test", "a-1", DeploymentStatus::Queued);
        if let EventKind::DeploymentCreated {
            steps, digest: d, ..
        } = &mut c
        {
            steps.push(StepPlan {
                name: "smoke".into(),
                kind: StepKind::Verify,
            });
            *d = digest.clone();
        }
        seed.push(c);
        seed.push(EventKind::DeploymentStarted {
            deployment: id.into(),
        });
        seed.push(EventKind::StepFinished {
            run: id.into(),
            step: 1,
            outcome: StepOutcome {
                status: step_status,
                exit_code: Some(0),
                tests: None,
                message: "m".into(),
                failed_tests: Vec::new(),
            },
        });
        seed.push(EventKind::DeploymentFinished {
            deployment: id.into(),
            status,
            message: "done".into(),
        });
    }
    seed
}

#[tokio::test]
async fn insights_answer_from_the_fold_and_name_bad_parameters() {
    let f = with_users(Pipeline::AutoTest, flaky_history()).await;
    let url = |q: &str| format!("{}/api/v1/insights{q}", f.server.url);
    let token = Some(super::support::VIEWER);

    // The stored events are at epoch 1 ms.
    let (status, body) = raw(
        Method::GET,
        url("?service=web&stage=test&from=0&to=1000"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let web = &body["services"][0];
    assert_eq!(web["service"], "web");
    assert_eq!(web["metrics"]["deployments"], 2);
    assert_eq!(web["metrics"]["change_fail_rate"]["text"], "1 of 2");
    assert_eq!(web["flaky_steps"][0]["step"], "smoke");
    assert_eq!(web["flaky_steps"][0]["count"], 1);

    // Default window: the last 30 days, which holds none of them.
    let (status, body) = raw(Method::GET, url("?stage=test"), token, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["services"][0]["metrics"]["deployments"], 0);

    // RFC 3339 works as well as epoch ms.
    let (status, _) = raw(
        Method::GET,
        url("?from=1970-01-01T00:00:00Z&to=1000"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200);

    for (q, parameter) in [
        ("?from=yesterday", "from"),
        ("?to=soon", "to"),
        ("?from=2000&to=1000", "from"),
        ("?service=nope", "service"),
        ("?service=web&stage=nope", "stage"),
    ] {
        let (status, body) = raw(Method::GET, url(q), token, None).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"], "bad_request");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{q}: {message}"
        );
        assert!(
            body["hint"].as_str().is_some_and(|h| h.contains("may be")),
            "{q}: {body}"
        );
    }

    // The failed deployment's detail says its failure was flaky.
    let detail = |id: &str| format!("{}/api/v1/deployments/{id}", f.server.url);
    let (status, body) = raw(Method::GET, detail("d-1"), token, None).await;
    assert_eq!(status, 200);
    let text = body["flaky"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("smoke later passed on the same artifact"),
        "{body}"
    );
    assert_eq!(body["id"], "d-1");
    let (_, body) = raw(Method::GET, detail("d-2"), token, None).await;
    assert!(body.get("flaky").is_none(), "{body}");
    f.server.shutdown().await.unwrap();
}
