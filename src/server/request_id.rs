//! Every request gets an `x-request-id` (the caller's, or a fresh UUID): it is
//! echoed in the response, carried by the request's log span, and written
//! into JSON error bodies so that a user's error report finds its log lines.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::api::ApiError;

pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Error bodies are small; anything bigger is passed through untouched.
const ERROR_BODY_CAP: usize = 64 * 1024;

/// Fresh ids are UUID v4: unguessable and without a shared counter.
#[derive(Clone, Copy, Default)]
pub(crate) struct MakeUuid;

impl MakeRequestId for MakeUuid {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// The log span of one request, with its id.
pub(crate) fn span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
}

/// Put the request id into a JSON error body (`ApiError.request_id`).
pub(crate) async fn stamp_errors(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let resp = next.run(req).await;
    let status = resp.status();
    let Some(id) = id else { return resp };
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_CAP).await else {
        return (status, "error body too large").into_response();
    };
    match serde_json::from_slice::<ApiError>(&bytes) {
        Ok(mut err) => {
            err.request_id = Some(id);
            match serde_json::to_vec(&err) {
                Ok(json) => {
                    parts.headers.remove(header::CONTENT_LENGTH);
                    Response::from_parts(parts, Body::from(json))
                }
                Err(_) => Response::from_parts(parts, Body::from(bytes)),
            }
        }
        // Not the API's error shape (a probe's answer): leave it as it was.
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}
