//! `watch` against a scripted SSE server on 127.0.0.1: it must resume from
//! the last delivered event when a connection skips one, and drop repeats.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use futures::StreamExt;

use super::{Client, WatchMessage};
use crate::model::{Actor, EventKind, NewEvent, Seq};

const DEADLINE: Duration = Duration::from_secs(10);

fn frame(seq: Seq) -> String {
    let event = NewEvent {
        at: 1,
        actor: Actor::ferry(),
        reason: "scripted".into(),
        kind: EventKind::DeploymentStarted {
            deployment: format!("d-{seq}").into(),
        },
    }
    .numbered(seq);
    format!(
        "id: {seq}\nevent: deployment_started\ndata: {}\n\n",
        serde_json::to_string(&event).unwrap()
    )
}

#[tokio::test]
async fn a_skipped_event_is_fetched_again_and_repeats_are_dropped() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen_ids = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (c, s) = (calls.clone(), seen_ids.clone());
    let app = Router::new().route(
        "/api/v1/events",
        get(move |headers: HeaderMap| {
            let (c, s) = (c.clone(), s.clone());
            async move {
                let last = headers
                    .get("last-event-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                s.lock().unwrap().push(last);
                // First connection: 1, 2, then 4 (3 is missing) and closes.
                // Second: repeats 2, then 3, 4, 5 and closes.
                let body: String = match c.fetch_add(1, Ordering::SeqCst) {
                    0 => [1, 2, 4].into_iter().map(frame).collect(),
                    1 => [2, 3, 4, 5].into_iter().map(frame).collect(),
                    _ => String::new(),
                };
                ([("content-type", "text/event-stream")], body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::new(&format!("http://{addr}"), None).unwrap();
    let mut watch = Box::pin(client.watch(0));
    let mut delivered = Vec::new();
    let mut reconnects = 0;
    while delivered.len() < 5 {
        let msg = tokio::time::timeout(DEADLINE, watch.next())
            .await
            .expect("watch stalled")
            .expect("watch ended");
        match msg {
            WatchMessage::Event(e) => delivered.push(e.seq),
            WatchMessage::Reconnecting { .. } => reconnects += 1,
            WatchMessage::Connected => {}
        }
    }
    assert_eq!(delivered, vec![1, 2, 3, 4, 5]);
    assert!(reconnects >= 1);
    let ids = seen_ids.lock().unwrap().clone();
    assert_eq!(ids[..2], ["0".to_string(), "2".to_string()]);
    server.abort();
}
