//! The live event stream: replay from the store, then follow the broadcast,
//! with no gap and no duplicate. The subscriber joins the broadcast before
//! the store is read, so every event is in at least one of the two; events
//! already sent are dropped by sequence number. A client that names no
//! position (`?since`, `Last-Event-ID`) starts at the live end; replay from
//! an old position reads the store one page at a time.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tracing::{debug, warn};

use crate::model::Seq;

use super::Shared;
use super::driver::{PAGE, Published};
use super::error::{ApiErr, QueryArgs};

/// Proxies close idle connections; a comment this often keeps it open and
/// lets clients notice a dead connection.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    since: Option<Seq>,
}

pub(crate) async fn events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    QueryArgs(q): QueryArgs<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiErr> {
    // A reconnecting EventSource sends Last-Event-ID; it is newer than the
    // `since` of the URL it first opened, so it wins.
    let since = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<Seq>().ok())
            .map(Some)
            .ok_or_else(|| ApiErr::bad_request("Last-Event-ID must be an event sequence number"))?,
        None => q.since,
    };
    let live = shared.events.subscribe();
    let last = shared.store.last_seq().await.map_err(|e| {
        ApiErr::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("could not read the event store: {e:#}"),
        )
    })?;
    // Without a position the client starts at the live end: replaying a
    // long log from 0 to someone who only wants what happens next would
    // cost the server a full read of the store.
    let since = since.unwrap_or(last);
    if since > last {
        return Err(ApiErr::new(
            StatusCode::CONFLICT,
            format!("this server has {last} events; there is no event after {since}"),
        )
        .hint("the server's data directory changed: reload the dashboard and watch from its seq"));
    }
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(feed(shared, since, live, tx));
    // A real `ping` frame rather than an SSE comment: event-stream parsers
    // drop comments, and a client could not tell a quiet server from a dead one.
    let ping = SseEvent::default().event("ping").data("{}");
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).event(ping)))
}

type Tx = mpsc::Sender<Result<SseEvent, Infallible>>;

fn to_sse(p: &Published) -> SseEvent {
    SseEvent::default()
        .id(p.seq.to_string())
        .event(p.name)
        .data(&*p.json)
}

/// Runs until the client goes, the server closes, or the store fails (the
/// client then reconnects from its last id).
async fn feed(
    shared: Arc<Shared>,
    mut last: Seq,
    mut live: broadcast::Receiver<Published>,
    tx: Tx,
) {
    if !replay(&shared, &mut last, &tx).await {
        return;
    }
    loop {
        let received = tokio::select! {
            _ = shared.closing.cancelled() => return,
            _ = tx.closed() => return,
            r = live.recv() => r,
        };
        match received {
            Ok(p) => {
                if p.seq <= last {
                    continue;
                }
                if p.seq > last + 1 {
                    // Cannot happen while events are broadcast after they are
                    // stored, but a gap must never reach a client.
                    if !replay(&shared, &mut last, &tx).await {
                        return;
                    }
                    if p.seq <= last {
                        continue;
                    }
                    warn!(
                        seq = p.seq,
                        last, "event stream gap the store cannot fill; closing"
                    );
                    return;
                }
                if tx.send(Ok(to_sse(&p))).await.is_err() {
                    return;
                }
                last = p.seq;
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                debug!(missed = n, "slow subscriber; catching up from the store");
                if !replay(&shared, &mut last, &tx).await {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Send every stored event after `last`; false when the stream must end.
async fn replay(shared: &Shared, last: &mut Seq, tx: &Tx) -> bool {
    loop {
        let page = match shared.store.events_after(*last, PAGE).await {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %format!("{e:#}"), "event stream: store read failed");
                return false;
            }
        };
        let full = page.len() == PAGE;
        for event in &page {
            if event.seq <= *last {
                continue;
            }
            let p = match Published::new(event) {
                Ok(p) => p,
                Err(e) => {
                    warn!(error = %format!("{e:#}"), "event stream: event not serialisable");
                    return false;
                }
            };
            if tx.send(Ok(to_sse(&p))).await.is_err() {
                return false;
            }
            *last = event.seq;
        }
        if !full {
            return true;
        }
    }
}
