//! The demo's view of the server: the dashboard snapshot, then every event
//! from the stream folded with the engine's own `State::apply`, published to
//! the scripted developer, the release bot and the story checker. In
//! headless mode each event is also printed as one line for people, in
//! the words of `present::narrate`.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::{Client, WatchMessage};
use crate::engine::State;
use crate::present::narrate::event_line;

/// What the demo's tasks see: the folded state and when it last moved.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: State,
    pub last_event: Instant,
}

pub type StateRx = watch::Receiver<Arc<Snapshot>>;

/// Start folding the event stream from `state` (with `State::new(config)`
/// and seq 0: from the server's first event, so the printed story is whole).
pub fn spawn(client: &Client, mut state: State, print: bool) -> (StateRx, JoinHandle<()>) {
    let (tx, rx) = watch::channel(Arc::new(Snapshot {
        state: state.clone(),
        last_event: Instant::now(),
    }));
    let stream = client.watch(state.seq);
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(msg) = stream.next().await {
            match msg {
                WatchMessage::Connected => {}
                WatchMessage::Reconnecting { attempt, error } => {
                    if print {
                        eprintln!("event stream lost ({error}); reconnecting, attempt {attempt}");
                    }
                }
                WatchMessage::Event(event) => {
                    // The client promises no repeats; stay safe if a
                    // reconnect ever replays one.
                    if event.seq <= state.seq {
                        continue;
                    }
                    state.apply(&event);
                    if print {
                        println!("{}", event_line(&state, &event));
                    }
                    tx.send_replace(Arc::new(Snapshot {
                        state: state.clone(),
                        last_event: Instant::now(),
                    }));
                }
            }
        }
    });
    (rx, task)
}
