//! Every error answer is JSON `{error, message, hint}`: handler errors,
//! extractor rejections and the plain-text answers of axum and tower-http
//! (unknown route, body too large, bad path) alike.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::api::ApiError;
use crate::engine::{Rejection, RejectionKind};

use super::driver::DriverError;

#[derive(Debug)]
pub(crate) struct ApiErr {
    pub status: StatusCode,
    pub body: ApiError,
}

impl ApiErr {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiErr {
            status,
            body: ApiError {
                error: code(status).to_string(),
                message: message.into(),
                hint: None,
                request_id: None,
            },
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.body.hint = Some(hint.into());
        self
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiErr::new(StatusCode::NOT_FOUND, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiErr::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiErr::new(StatusCode::FORBIDDEN, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiErr::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        ApiErr::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// The machine-readable name of a status.
pub(crate) fn code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

impl From<Rejection> for ApiErr {
    fn from(r: Rejection) -> Self {
        let status = match r.kind {
            RejectionKind::NotFound => StatusCode::NOT_FOUND,
            RejectionKind::Conflict => StatusCode::CONFLICT,
            RejectionKind::Forbidden => StatusCode::FORBIDDEN,
            RejectionKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiErr {
            status,
            body: ApiError {
                error: code(status).to_string(),
                message: r.message,
                hint: r.hint,
                request_id: None,
            },
        }
    }
}

impl From<DriverError> for ApiErr {
    fn from(e: DriverError) -> Self {
        match e {
            DriverError::Rejected(r) => r.into(),
            DriverError::Unavailable(m) => ApiErr::new(StatusCode::SERVICE_UNAVAILABLE, m)
                .hint("nothing was changed; retry, and check the server's disk and log"),
            DriverError::Internal(m) => {
                ApiErr::internal(m).hint("this is a bug in ferry; the server's log has the details")
            }
        }
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// A JSON request body. Unlike `axum::Json` it accepts a missing content
/// type (curl users), treats an empty body as `{}` (optional fields only),
/// and answers 400 for anything malformed.
pub(crate) struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiErr;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiErr::bad_request(format!(
                    "could not read the request body: {}",
                    e.body_text()
                ))
            }
        })?;
        let slice: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // The path names the field at fault (`metadata.k: invalid type`).
        let mut de = serde_json::Deserializer::from_slice(slice);
        serde_path_to_error::deserialize(&mut de)
            .map(JsonBody)
            .map_err(|e| {
                let path = e.path().to_string();
                let at = if path == "." {
                    String::new()
                } else {
                    format!("`{path}`: ")
                };
                ApiErr::bad_request(format!(
                    "the request body is not valid JSON for this call: {at}{}",
                    e.inner()
                ))
                .hint("see the HTTP API table in the README for the expected fields")
            })
    }
}

fn too_large() -> ApiErr {
    ApiErr::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is larger than 1 MiB",
    )
    .hint("send metadata, not artifacts: register the artifact's uri and digest")
}

/// Turn any error answer that is not JSON yet (axum's unknown route and bad
/// path answers, tower-http's 413) into the API's error shape.
pub(crate) async fn jsonify_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large().into_response();
    }
    let (parts, body) = resp.into_parts();
    // These bodies are short texts written by axum; a cap keeps it so.
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase()
    } else {
        text
    };
    let mut err = ApiErr::new(status, message);
    if status == StatusCode::NOT_FOUND {
        err = err.hint("the API lives under /api/v1; see the route table in the README");
    }
    let mut out = err.into_response();
    // Keep headers such as `allow` on 405.
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Query parameters. Unlike `axum::extract::Query`, a bad value is answered
/// with the JSON error shape naming the parameter and what it allows
/// (`offset=-1` → "`offset` must be a whole number from 0 up").
pub(crate) struct QueryArgs<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for QueryArgs<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiErr;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        use axum::extract::Query;
        let whole = Query::<T>::try_from_uri(&parts.uri);
        let err = match whole {
            Ok(Query(t)) => return Ok(QueryArgs(t)),
            Err(e) => e,
        };
        // Find the parameter at fault: every field is optional, so each
        // parameter alone parses unless it is the bad one.
        let query = parts.uri.query().unwrap_or_default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Ok(uri) = format!("/?{pair}").parse::<axum::http::Uri>() else {
                continue;
            };
            if let Err(e) = Query::<T>::try_from_uri(&uri) {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let text = e.body_text();
                // Every numeric parameter of the API is unsigned.
                let unsigned = ["u64", "u32", "usize", "invalid digit", "number"];
                let allowed = if unsigned.iter().any(|t| text.contains(t)) {
                    "a whole number from 0 up"
                } else if ["i64", "i32"].iter().any(|t| text.contains(t)) {
                    "a whole number"
                } else {
                    "see the README's HTTP API table for its values"
                };
                let value: String = crate::model::sanitize_text(value)
                    .chars()
                    .take(64)
                    .collect();
                return Err(ApiErr::bad_request(format!(
                    "query parameter `{}` has the value `{value}`; allowed: {allowed}",
                    crate::model::sanitize_text(name)
                ))
                .hint(format!(
                    "pass `{}` as {allowed}, or leave it out",
                    crate::model::sanitize_text(name)
                )));
            }
        }
        Err(
            ApiErr::bad_request(format!("invalid query string: {}", err.body_text()))
                .hint("see the README's HTTP API table for the parameters of this call"),
        )
    }
}
