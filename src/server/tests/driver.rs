//! The driver when the store disagrees with the engine: the store is the
//! truth, and the engine and the read mirror are rebuilt from it.

use std::sync::Arc;

use super::support::{
    MemStore, Pipeline, config, config_for, created, registered, serve_with_fault,
};
use crate::api::RegisterArtifact;
use crate::backend::Client;
use crate::engine::{Command, Engine, Input};
use crate::model::{Actor, Artifact, ArtifactOrigin, DeploymentStatus, EventKind, NewEvent};
use crate::server::start_with;

#[tokio::test]
async fn events_numbered_unlike_the_engine_assumed_rebuild_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // Without stages, registering an artifact is exactly one event.
    let cfg = config_for(Pipeline::NoStages, dir.path(), Vec::new());
    let store = Arc::new(MemStore::default());
    // Another writer got there first: the store holds an event this
    // engine never saw, so the store numbers the next one 2, not 1.
    store.push(EventKind::ArtifactRegistered {
        artifact: Artifact {
            committed_at: None,
            id: "a-1".into(),
            service: "web".into(),
            version: "0.9".into(),
            commit: None,
            subject: None,
            digest: "ab".repeat(32),
            uri: "u".into(),
            origin: ArtifactOrigin::Registered,
            created_by: Actor::user("other"),
            created_at: 1,
            metadata: Default::default(),
        },
    });
    let blind = Engine::new(cfg.clone());
    let server = start_with(
        cfg,
        store.clone(),
        blind,
        None,
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        None,
    )
    .await
    .unwrap();
    let client = Client::new(&server.url, None).unwrap();
    client
        .register_artifact(&RegisterArtifact {
            committed_at: None,
            service: "web".into(),
            version: "1.0".into(),
            commit: None,
            subject: None,
            digest: "cd".repeat(32),
            uri: "u".into(),
            metadata: Default::default(),
        })
        .await
        .unwrap();
    let dash = client.dashboard().await.unwrap();
    assert_eq!(dash.seq, 2, "the mirror follows the store");
    let fold = Engine::from_events(
        config_for(Pipeline::NoStages, dir.path(), Vec::new()),
        &store.all(),
    )
    .state()
    .clone();
    assert_eq!(
        dash.state, fold,
        "the mirror is the fold of the stored events"
    );
    assert_eq!(store.all().len(), 2);
    // The engine was rebuilt: its next id follows both stored artifacts.
    let reply = client
        .register_artifact(&RegisterArtifact {
            committed_at: None,
            service: "web".into(),
            version: "1.1".into(),
            commit: None,
            subject: None,
            digest: "ef".repeat(32),
            uri: "u".into(),
            metadata: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(reply.artifact.as_deref(), Some("a-3"));
    assert_eq!(client.dashboard().await.unwrap().seq, 3);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_engine_panic_answers_500_and_the_server_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Vec::new());
    let store = Arc::new(MemStore::default());
    // Registered before: registering it again below answers its id and
    // decides nothing, so the promotion is the first deployment.
    store.push(registered("a-1", "1.0", &"cd".repeat(32)));
    // A buggy engine: it changes its state (a deployment id is taken), then panics.
    let fault = Box::new(|engine: &mut Engine, input: &Input| {
        if let Input::Command {
            command: Command::Rollback { service, .. },
            ..
        } = input
            && service == "panic"
        {
            for n in 0..100 {
                let seq = engine.state().seq + 1;
                let taken = created(
                    &format!("d-x{n}"),
                    "nowhere",
                    "a-1",
                    DeploymentStatus::Queued,
                );
                engine.apply(&bug_event(taken).numbered(seq));
            }
            panic!("scripted engine bug");
        }
    });
    let server = serve_with_fault(
        cfg,
        store,
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        fault,
    )
    .await
    .unwrap();
    let client = Client::new(&server.url, None).unwrap();
    let e = client.rollback("panic", "prod", None).await.unwrap_err();
    assert_eq!((e.status, e.error.as_str()), (Some(500), "internal"));
    assert!(e.message.contains("scripted engine bug"), "{}", e.message);
    // The half-changed state was thrown away: ids continue from the store.
    client
        .register_artifact(&RegisterArtifact {
            committed_at: None,
            service: "web".into(),
            version: "1.0".into(),
            commit: None,
            subject: None,
            digest: "cd".repeat(32),
            uri: "u".into(),
            metadata: Default::default(),
        })
        .await
        .unwrap();
    let reply = client.promote("web", "test", "1.0").await.unwrap();
    assert_eq!(reply.deployment.as_deref(), Some("d-1"));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_queued_together_are_committed_in_one_append() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    // Without stages, registering an artifact is exactly one event.
    let cfg = config_for(Pipeline::NoStages, dir.path(), Vec::new());
    let store = Arc::new(MemStore::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    // The driver is held up on the first registration (call 0 is the
    // recovery at start) while the other requests queue behind it.
    let fault: crate::server::driver::Fault = Box::new(move |_, _| {
        if seen.fetch_add(1, Ordering::SeqCst) == 1 {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    });
    let server = serve_with_fault(
        cfg,
        store.clone(),
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
        fault,
    )
    .await
    .unwrap();
    let before = store.appends.load(Ordering::SeqCst);
    let client = Client::new(&server.url, None).unwrap();
    let register = |i: usize| {
        let client = client.clone();
        async move {
            client
                .register_artifact(&RegisterArtifact {
                    service: "web".into(),
                    version: format!("1.{i}"),
                    commit: None,
                    committed_at: None,
                    subject: None,
                    digest: format!("{i:064x}"),
                    uri: "u".into(),
                    metadata: Default::default(),
                })
                .await
        }
    };
    let first = tokio::spawn(register(0));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let rest: Vec<_> = (1..9).map(|i| tokio::spawn(register(i))).collect();
    first.await.unwrap().unwrap();
    for r in rest {
        // Every reply is a success, and so durable.
        r.await.unwrap().unwrap();
    }
    assert_eq!(store.all().len(), 9);
    let appends = store.appends.load(Ordering::SeqCst) - before;
    assert!(appends <= 3, "{appends} appends for 9 inputs");
    server.shutdown().await.unwrap();
}

fn bug_event(kind: EventKind) -> NewEvent {
    NewEvent {
        at: 1,
        actor: Actor::ferry(),
        reason: "bug".into(),
        kind,
    }
}
