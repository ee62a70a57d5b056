//! The HTTP kill point of the fault suite: `after-2xx:<action>` aborts the
//! server right after it answered a write with 2xx, to check that nothing a
//! client was told is done gets lost (`crate::fault`).

use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// Time for the answer to reach a client on the same machine before the
/// abort; the suite's client reads it well within this.
const ANSWER_TIME: Duration = Duration::from_millis(150);

pub(crate) async fn after_2xx(req: Request, next: Next) -> Response {
    if !crate::fault::armed_any() || req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    // The last path segment names the action: approve, promote, artifacts...
    let action = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let res = next.run(req).await;
    if res.status().is_success() {
        tokio::spawn(async move {
            tokio::time::sleep(ANSWER_TIME).await;
            crate::fault::point(&format!("after-2xx:{action}"));
        });
    }
    res
}
