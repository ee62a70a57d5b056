//! The event stream under pressure: a subscriber that stops reading while
//! far more events than the broadcast buffers are published must still get
//! every event once, in order (it catches up from the store).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::support::{MemStore, config, serve, user};
use crate::backend::{Client, WatchMessage};
use crate::model::EventKind;
use crate::server::driver::Published;

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_catches_up_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), vec![user("ada", &["admin"], "t")]);
    let store = Arc::new(MemStore::default());
    let server = serve(
        cfg,
        store.clone(),
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
    )
    .await
    .unwrap();
    let client = Client::new(&server.url, Some("t".into())).unwrap();
    let mut watch = Box::pin(client.watch(0));
    let first = tokio::time::timeout(DEADLINE, watch.next()).await.unwrap();
    assert_eq!(first, Some(WatchMessage::Connected));

    // Big events so that socket buffers cannot hide the lag: ~20 MB in all,
    // against a broadcast buffer of 1024 events, while nobody reads.
    let line = "x".repeat(100);
    let total: u64 = 2000;
    for _ in 0..total {
        let event = store.push(EventKind::StepOutput {
            run: "d-1".into(),
            step: 0,
            lines: vec![line.clone(); 100],
            dropped: 0,
        });
        // As the driver does: stored first, then published.
        let _ = server.shared.events.send(Published::new(&event).unwrap());
    }

    let mut next = 1;
    while next <= total {
        let msg = tokio::time::timeout(DEADLINE, watch.next())
            .await
            .expect("stream stalled")
            .expect("stream ended");
        match msg {
            WatchMessage::Event(e) => {
                assert_eq!(e.seq, next, "every event once, in order");
                next += 1;
            }
            // A reconnect is allowed; what it delivers is checked above.
            WatchMessage::Reconnecting { .. } | WatchMessage::Connected => {}
        }
    }
    server.shutdown().await.unwrap();
}
