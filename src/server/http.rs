//! The HTTP listener: an accept loop with a connection cap below the
//! open-file limit and a header-read timeout, so idle connections cannot
//! fill the fd table and starve `/healthz`.
//!
//! hyper answers requests it cannot parse (a 100 KB URL, oversized headers)
//! itself, with an empty body; `JsonParseErrors` rewrites those answers into
//! the API's JSON error shape on their way to the socket.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::tls::HANDSHAKE_TIMEOUT;

/// How long a client may take to send a request's head (also bounds how
/// long an idle keep-alive connection holds its slot).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept free for the store, step logs and step pipes.
const FD_RESERVE_MIN: u64 = 128;

/// Raise the soft open-file limit to the hard one and return the connection
/// cap that leaves room for everything else the server opens.
pub(crate) fn connection_cap() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let limit = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard {
                match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                    Ok(()) => hard,
                    Err(e) => {
                        warn!(error = %e, soft, hard, "could not raise the open-file limit");
                        soft
                    }
                }
            } else {
                soft
            }
        }
        // Unknown: assume the common default.
        Err(_) => 1024,
    };
    // An "unlimited" hard limit is a huge number; no server needs more.
    let limit = limit.min(1 << 20);
    let reserve = FD_RESERVE_MIN.max(limit / 8);
    let cap = limit.saturating_sub(reserve).max(16);
    info!(open_files = limit, connections = cap, "connection cap");
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// Serve `app` on `listener` until `stop`, then let open connections finish.
/// With `tls`, each connection's handshake runs in its own task (holding its
/// slot), bounded by `tls::HANDSHAKE_TIMEOUT`, so a silent client never holds
/// up the accept loop.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    cap: usize,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(cap));
    let open = tokio_util::task::TaskTracker::new();
    loop {
        // Wait for a free slot before accepting: connections beyond the cap
        // wait in the kernel's backlog instead of taking an fd each.
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off rather than spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        open.spawn(async move {
            let _permit = permit;
            let result = match tls {
                None => serve_connection(stream, app, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, app, stop).await,
                        Ok(Err(e)) => {
                            debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    open.close();
    open.wait().await;
}

/// One HTTP/1 connection, plain or TLS, until it ends or `stop`.
async fn serve_connection<S>(stream: S, app: Router, stop: CancellationToken) -> hyper::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let io = TokioIo::new(JsonParseErrors::new(stream));
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

/// Wraps a connection and replaces hyper's bodiless answers to requests it
/// could not parse with JSON error answers. hyper closes the connection
/// after such an answer, so the rewrite never meets a second response.
struct JsonParseErrors<S> {
    inner: S,
    /// A rewritten answer still being written, and how far.
    pending: Option<(Vec<u8>, usize)>,
    /// Only the first write of the connection's answer can be hyper's own.
    in_answer: bool,
}

impl<S> JsonParseErrors<S> {
    fn new(inner: S) -> Self {
        JsonParseErrors {
            inner,
            pending: None,
            in_answer: false,
        }
    }
}

/// hyper's own answers: the status line and what the API says instead.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let (status, reason, message) = if head.starts_with(b"HTTP/1.1 414 ") {
        (
            414,
            "URI Too Long",
            "the request URL is too long (at most 64 KiB)",
        )
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        (
            431,
            "Request Header Fields Too Large",
            "the request headers are too large (at most 400 KiB)",
        )
    } else if head.starts_with(b"HTTP/1.1 400 ")
        && !head.windows(14).any(|w| w == b"content-type: ")
    {
        (400, "Bad Request", "the request is not valid HTTP/1.1")
    } else {
        return None;
    };
    let body = serde_json::json!({
        "error": if status == 400 { "bad_request" } else { "too_large" },
        "message": message,
        "hint": "shorten the request; long values belong in a JSON body",
    })
    .to_string();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // A new request may start once the previous answer went out.
        self.in_answer = false;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() && !this.in_answer {
            this.in_answer = true;
            if let Some(answer) = rewrite(buf) {
                this.pending = Some((answer, 0));
            }
        }
        if let Some((answer, done)) = &mut this.pending {
            while *done < answer.len() {
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*done..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *done += n;
            }
            // Whatever hyper writes after its own answer is dropped: that
            // answer is bodiless and ours said `connection: close`.
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn hyper_answers_to_unparsable_requests_become_json() {
        let out =
            rewrite(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n").expect("rewritten");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with("HTTP/1.1 414 "));
        assert!(text.contains("application/json"));
        assert!(text.contains("\"message\":\"the request URL is too long (at most 64 KiB)\""));
        assert!(rewrite(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
    }
}
