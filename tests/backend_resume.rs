//! The console's backend client against the real server binary: snapshot,
//! then watch; the server is killed and restarted mid-stream on the same
//! port, and the client resumes from the last event it saw, missing none and
//! repeating none.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferry::backend::{Client, WatchMessage};
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_resumes_after_a_server_restart_without_gaps_or_repeats() {
    let ws = Workspace::new();
    let mut server = Server::start(&ws.config(), &ws.data());
    let address = server.url.trim_start_matches("http://").to_string();
    let client = Client::new(&server.url, Some(DEV_TOKEN.to_string())).expect("client");
    let snapshot = client.dashboard().await.expect("snapshot");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = client.clone();
    let task = tokio::spawn(async move {
        let mut stream = Box::pin(watcher.watch(snapshot.seq));
        while let Some(message) = stream.next().await {
            if tx.send(message).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<u64> = Vec::new();
    let mut reconnects = 0;
    // Read until `until` holds, with a deadline.
    let mut pump =
        async |seen: &mut Vec<u64>, reconnects: &mut u32, until: &dyn Fn(&[u64], u32) -> bool| {
            let start = Instant::now();
            while !until(seen, *reconnects) {
                let left = DEADLINE.saturating_sub(start.elapsed());
                match tokio::time::timeout(left.max(Duration::from_millis(1)), rx.recv()).await {
                    Ok(Some(WatchMessage::Event(e))) => seen.push(e.seq),
                    Ok(Some(WatchMessage::Reconnecting { .. })) => *reconnects += 1,
                    Ok(Some(WatchMessage::Connected)) => {}
                    Ok(None) => panic!("the watch stream ended"),
                    Err(_) => panic!("timed out; saw {seen:?}, {reconnects} reconnects"),
                }
            }
        };

    // Live events flow: the first build and promotions.
    pump(&mut seen, &mut reconnects, &|s, _| s.len() >= 5).await;
    server.kill();
    // While the server is down, the client keeps trying.
    pump(&mut seen, &mut reconnects, &|_, r| r >= 1).await;
    let _server = Server::start_on(&ws.config(), &ws.data(), &address);
    let api = Api::new(&format!("http://{address}"), DEV_TOKEN);
    // The restart records the interrupted work; a new commit adds more.
    ws.commit("1.1.0", "more");
    awaiting_prod(&api, "1.1.0").await;
    let last = api.dashboard().await["seq"].as_u64().expect("seq");
    pump(&mut seen, &mut reconnects, &|s, _| {
        s.last().copied().unwrap_or(0) >= last
    })
    .await;
    task.abort();

    let expected: Vec<u64> = (snapshot.seq + 1..=seen.last().copied().unwrap_or(0)).collect();
    assert_eq!(
        seen, expected,
        "every event once, in order, across the restart"
    );
    assert!(reconnects >= 1);
}
