//! The event stream through the backend client: a resume gets exactly the
//! missed events, `Last-Event-ID` wins, and shutdown ends open streams.

use futures::{Stream, StreamExt};

use super::support::{
    ADMIN, DEADLINE, Pipeline, artifact, config_for, raw, registered, serve, user, with_users,
};
use crate::backend::{Client, WatchMessage};
use crate::model::{Event, EventKind, Seq};

async fn next_message(stream: &mut (impl Stream<Item = WatchMessage> + Unpin)) -> WatchMessage {
    tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("no watch message before the deadline")
        .expect("watch stream ended")
}

/// The next `n` events, skipping connection messages.
async fn next_events(
    stream: &mut (impl Stream<Item = WatchMessage> + Unpin),
    n: usize,
) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        if let WatchMessage::Event(e) = next_message(stream).await {
            out.push(e);
        }
    }
    out
}

fn seqs(events: &[Event]) -> Vec<Seq> {
    events.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn watch_resumes_with_exactly_the_missed_events() {
    // Three artifacts registered before; test waits for approval, so a
    // promotion is exactly one event.
    let seed = [("a-1", "1.0"), ("a-2", "1.1"), ("a-3", "1.2")]
        .iter()
        .map(|(id, v)| registered(id, v, &"ab".repeat(32)))
        .collect();
    let f = with_users(Pipeline::GatedTest, seed).await;
    let addr = f.server.addr;
    let url = f.server.url.clone();
    let admin = Client::new(&url, Some(ADMIN.into())).unwrap();
    for v in ["1.0", "1.1", "1.2"] {
        admin.register_artifact(&artifact(v)).await.unwrap();
    }

    // From the middle of the log: only what follows 1.
    let mut watch = Box::pin(admin.watch(1));
    assert_eq!(next_message(&mut watch).await, WatchMessage::Connected);
    assert_eq!(seqs(&next_events(&mut watch, 2).await), vec![2, 3]);
    // Live events follow the replay without a gap.
    admin.promote("web", "test", "1.2").await.unwrap();
    let live = next_events(&mut watch, 1).await;
    assert_eq!(seqs(&live), vec![4]);
    assert!(matches!(live[0].kind, EventKind::DeploymentCreated { .. }));

    // The server goes away; events happen while it is down; it comes back
    // on the same port. The client must get exactly 5 and 6, once.
    f.server.shutdown().await.unwrap();
    match next_message(&mut watch).await {
        WatchMessage::Reconnecting { attempt, .. } => assert_eq!(attempt, 1),
        other => panic!("expected a reconnect, got {other:?}"),
    }
    let a = crate::model::Artifact {
        committed_at: None,
        id: "a-4".into(),
        service: "web".into(),
        version: "1.3".into(),
        commit: None,
        subject: None,
        digest: "cd".repeat(32),
        uri: "file:///x".into(),
        origin: crate::model::ArtifactOrigin::Registered,
        created_by: crate::model::Actor::user("ci"),
        created_at: 1,
        metadata: Default::default(),
    };
    f.store.push(EventKind::ArtifactRegistered { artifact: a });
    f.store.push(EventKind::ServerStarted {
        version: "other".into(),
    });
    let cfg = config_for(
        Pipeline::GatedTest,
        f.dir.path(),
        vec![user("ada", &["admin"], ADMIN)],
    );
    let again = serve(cfg, f.store.clone(), addr, f.dir.path().to_path_buf())
        .await
        .unwrap();
    let resumed = next_events(&mut watch, 2).await;
    assert_eq!(seqs(&resumed), vec![5, 6]);
    admin.register_artifact(&artifact("1.4")).await.unwrap();
    assert_eq!(seqs(&next_events(&mut watch, 1).await), vec![7]);
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn last_event_id_wins_over_since() {
    let seed = [("a-1", "1.0"), ("a-2", "1.1"), ("a-3", "1.2")]
        .iter()
        .map(|(id, v)| registered(id, v, &"ab".repeat(32)))
        .collect();
    let f = with_users(Pipeline::AutoTest, seed).await;
    let admin = Client::new(&f.server.url, Some(ADMIN.into())).unwrap();
    for v in ["1.0", "1.1", "1.2"] {
        admin.register_artifact(&artifact(v)).await.unwrap();
    }
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/events?since=0", f.server.url))
        .bearer_auth(ADMIN)
        .header("Last-Event-ID", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(DEADLINE, body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let first = text.split("\n\n").next().unwrap();
    assert!(first.contains("id: 3"), "{first}");
    assert!(first.contains("event: artifact_registered"), "{first}");
    assert!(first.contains("data: {"), "{first}");

    // Asking beyond the log is a client bug worth reporting, not a hang.
    let (status, body) = raw(
        reqwest::Method::GET,
        format!("{}/api/v1/events?since=99", f.server.url),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")));
    drop(body);
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_open_event_streams() {
    let f = with_users(Pipeline::AutoTest, Vec::new()).await;
    let admin = Client::new(&f.server.url, Some(ADMIN.into())).unwrap();
    let mut watch = Box::pin(admin.watch(0));
    assert_eq!(next_message(&mut watch).await, WatchMessage::Connected);
    tokio::time::timeout(DEADLINE, f.server.shutdown())
        .await
        .expect("shutdown waited on an open event stream")
        .unwrap();
}

#[tokio::test]
async fn without_a_position_the_stream_starts_at_the_live_end() {
    let seed = [("a-1", "1.0"), ("a-2", "1.1")]
        .iter()
        .map(|(id, v)| registered(id, v, &"ab".repeat(32)))
        .collect();
    let f = with_users(Pipeline::NoStages, seed).await;
    let admin = Client::new(&f.server.url, Some(ADMIN.into())).unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/events", f.server.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Only what happens after connecting arrives: the next registration.
    admin.register_artifact(&artifact("2.0")).await.unwrap();
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    while !text.contains("id: ") || !text.contains("\n\n") {
        let chunk = tokio::time::timeout(DEADLINE, body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let first = text.split("\n\n").find(|f| f.contains("id: ")).unwrap();
    assert!(first.contains("id: 3"), "{first}");
    f.server.shutdown().await.unwrap();
}
