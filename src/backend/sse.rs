//! `Client::watch`: the server's event stream as an endless, gap-free
//! sequence. The last delivered sequence number is the only cursor: every
//! (re)connection asks for what follows it, anything at or below it is
//! dropped, and anything beyond the next one means the connection is not
//! trustworthy, so it is replaced.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::Stream;
use futures::stream::{BoxStream, StreamExt};
use reqwest::Method;

use super::{Client, ClientError, WatchMessage};
use crate::model::{Event, Seq};

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The server sends a keep-alive every 15 s; three missed means the
/// connection is dead even if TCP has not noticed.
const IDLE_LIMIT: Duration = Duration::from_secs(45);
/// How long to wait for the stream's response headers.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

type Frames = BoxStream<'static, Result<eventsource_stream::Event, String>>;

struct Watch {
    client: Client,
    last: Seq,
    /// Failures since the last successful connection.
    attempt: u32,
    conn: Option<Frames>,
}

enum Frame {
    Deliver(Box<Event>),
    Skip,
    Broken(String),
}

pub(super) fn watch(
    client: Client,
    after: Seq,
) -> impl Stream<Item = WatchMessage> + Send + 'static {
    let state = Watch {
        client,
        last: after,
        attempt: 0,
        conn: None,
    };
    futures::stream::unfold(state, |mut st| async move {
        let msg = st.next_message().await;
        Some((msg, st))
    })
}

/// 100 ms, 200 ms, 400 ms, ... capped at 5 s.
pub(super) fn backoff(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    BACKOFF_MIN.saturating_mul(factor).min(BACKOFF_MAX)
}

impl Watch {
    async fn next_message(&mut self) -> WatchMessage {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                if self.attempt > 0 {
                    tokio::time::sleep(backoff(self.attempt)).await;
                }
                return match connect(&self.client, self.last).await {
                    Ok(frames) => {
                        self.conn = Some(frames);
                        self.attempt = 0;
                        WatchMessage::Connected
                    }
                    Err(error) => self.failed(error),
                };
            };
            let error = match tokio::time::timeout(IDLE_LIMIT, conn.next()).await {
                Err(_) => format!(
                    "no event or keep-alive from the server for {}s",
                    IDLE_LIMIT.as_secs()
                ),
                Ok(None) => "the server closed the event stream".to_string(),
                Ok(Some(Err(e))) => format!("the event stream broke: {e}"),
                Ok(Some(Ok(frame))) => match self.accept(frame) {
                    Frame::Deliver(event) => return WatchMessage::Event(*event),
                    Frame::Skip => continue,
                    Frame::Broken(why) => why,
                },
            };
            self.conn = None;
            return self.failed(error);
        }
    }

    fn failed(&mut self, error: String) -> WatchMessage {
        self.attempt = self.attempt.saturating_add(1);
        WatchMessage::Reconnecting {
            attempt: self.attempt,
            error,
        }
    }

    fn accept(&mut self, frame: eventsource_stream::Event) -> Frame {
        // The server's keep-alive: proof of life, nothing to apply.
        if frame.event == "ping" {
            return Frame::Skip;
        }
        let Ok(seq) = frame.id.trim().parse::<Seq>() else {
            return Frame::Broken(format!(
                "an event came without a sequence id ({:?})",
                frame.id
            ));
        };
        if seq <= self.last {
            return Frame::Skip;
        }
        if seq != self.last + 1 {
            return Frame::Broken(format!(
                "the stream skipped from event {} to {seq}; resuming from {}",
                self.last, self.last
            ));
        }
        match serde_json::from_str::<Event>(&frame.data) {
            Ok(event) if event.seq == seq => {
                self.last = seq;
                Frame::Deliver(Box::new(event))
            }
            Ok(event) => Frame::Broken(format!(
                "event id {seq} carried event {}; resuming from {}",
                event.seq, self.last
            )),
            Err(e) => Frame::Broken(format!("event {seq} could not be read: {e}")),
        }
    }
}

/// Open the stream after `last`. A free function, so that the `Watch` (whose
/// boxed stream is not `Sync`) is not borrowed across the await.
async fn connect(client: &Client, last: Seq) -> Result<Frames, String> {
    let req = client
        .request(Method::GET, "/events")
        .query(&[("since", last)])
        .header("Last-Event-ID", last.to_string())
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send();
    let resp = match tokio::time::timeout(CONNECT_LIMIT, req).await {
        Err(_) => {
            return Err(format!(
                "the server at {} did not answer within {}s",
                client.base_url,
                CONNECT_LIMIT.as_secs()
            ));
        }
        Ok(Err(e)) => return Err(ClientError::unreachable(&client.base_url, &e).message),
        Ok(Ok(resp)) => resp,
    };
    if !resp.status().is_success() {
        let e = ClientError::from_response(resp).await;
        return Err(match e.hint {
            Some(h) => crate::errors::inline_hint(&e.message, h),
            None => e.message,
        });
    }
    Ok(resp
        .bytes_stream()
        .eventsource()
        .map(|r| r.map_err(|e| e.to_string()))
        .boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keep_alive_ping_is_skipped_whatever_id_it_carries() {
        let client = Client::new("http://127.0.0.1:9", None).expect("client");
        let mut watch = Watch {
            client,
            last: 7,
            attempt: 0,
            conn: None,
        };
        for id in ["", "7", "9"] {
            let ping = eventsource_stream::Event {
                event: "ping".into(),
                data: "{}".into(),
                id: id.into(),
                retry: None,
            };
            assert!(matches!(watch.accept(ping), Frame::Skip));
        }
        assert_eq!(watch.last, 7);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(800));
        assert_eq!(backoff(7), Duration::from_secs(5));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(5));
    }
}
