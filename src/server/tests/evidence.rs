//! Approval evidence from a stored history: the candidate, what it would
//! replace, and the deployment that passed it in each earlier stage.

use std::sync::Arc;

use super::support::{MemStore, config, serve};
use crate::backend::Client;
use crate::model::EventKind;

#[tokio::test]
async fn evidence_names_the_candidate_and_where_it_passed_before() {
    use crate::model::{Actor, Artifact, ArtifactOrigin, DeploymentKind, DeploymentStatus};
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemStore::default());
    let artifact = |id: &str, version: &str| Artifact {
        committed_at: None,
        id: id.into(),
        service: "web".into(),
        version: version.into(),
        commit: Some(format!("c0ffee{version}")),
        subject: None,
        digest: "ab".repeat(32),
        uri: "file:///x".into(),
        origin: ArtifactOrigin::Registered,
        created_by: Actor::user("ci"),
        created_at: 1,
        metadata: Default::default(),
    };
    let created = |id: &str, stage: &str, artifact: &str, status| EventKind::DeploymentCreated {
        deployment: id.into(),
        service: "web".into(),
        stage: stage.into(),
        artifact: artifact.into(),
        kind: DeploymentKind::Promote,
        status,
        requested_by: Actor::user("ci"),
        approval: None,
        steps: Vec::new(),
        rolls_back: None,
        version: String::new(),
        digest: String::new(),
    };
    let run = |id: &str, status| {
        store.push(EventKind::DeploymentStarted {
            deployment: id.into(),
        });
        store.push(EventKind::DeploymentFinished {
            deployment: id.into(),
            status,
            message: "done".into(),
        });
    };
    store.push(EventKind::ArtifactRegistered {
        artifact: artifact("a-1", "1.0"),
    });
    store.push(EventKind::ArtifactRegistered {
        artifact: artifact("a-2", "1.1"),
    });
    store.push(created("d-1", "test", "a-1", DeploymentStatus::Queued));
    run("d-1", DeploymentStatus::Succeeded);
    store.push(created("d-2", "prod", "a-1", DeploymentStatus::Queued));
    run("d-2", DeploymentStatus::Succeeded);
    store.push(created("d-3", "test", "a-2", DeploymentStatus::Queued));
    run("d-3", DeploymentStatus::Failed);
    store.push(created("d-4", "test", "a-2", DeploymentStatus::Queued));
    run("d-4", DeploymentStatus::Succeeded);
    store.push(created(
        "d-5",
        "prod",
        "a-2",
        DeploymentStatus::AwaitingApproval,
    ));

    let cfg = config(dir.path(), Vec::new());
    let server = serve(
        cfg,
        store.clone(),
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
    )
    .await
    .unwrap();
    let client = Client::new(&server.url, None).unwrap();
    let ev = client.evidence("d-5").await.unwrap();
    assert_eq!(ev.candidate.map(|a| a.version).as_deref(), Some("1.1"));
    assert_eq!(ev.current.map(|a| a.version).as_deref(), Some("1.0"));
    assert_eq!(ev.earlier_stages.len(), 1);
    assert_eq!(ev.earlier_stages[0].stage, "test");
    // The failed attempt does not count; the one that passed does.
    let passed = ev.earlier_stages[0].deployment.as_ref().unwrap();
    assert_eq!(passed.id, "d-4");
    assert!(ev.commits.is_empty());
    assert!(ev.note.unwrap().contains("no git source"));
    // Once it ran, "current" is what was good before it, not itself.
    let ev = client.evidence("d-2").await.unwrap();
    assert_eq!(ev.current, None);
    let e = client.evidence("d-9").await.unwrap_err();
    assert_eq!(e.status, Some(404));
    server.shutdown().await.unwrap();
}
