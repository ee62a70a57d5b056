//! The console's (and the CLI's) client of the server API: reqwest + SSE.
//! Every failure is a `ClientError` carrying the server's `{error, message,
//! hint}` or, when the server could not be reached, a hint to start it.

mod freeze;
mod sse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use futures::Stream;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    ActionReply, ApiError, Dashboard, DecisionRequest, DeploymentPage, Evidence, LogChunk,
    PromoteRequest, RegisterArtifact, RollbackRequest,
};
// The filters `Client::deployments` takes: the wire type itself, named
// here too so that callers of the client need not know the api module.
pub use crate::api::DeploymentQuery;
use crate::model::{Artifact, Build, Deployment, Event, Seq};

/// Calls answer quickly (the server waits only for an fsync); a stuck one is a bug.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// None when no HTTP answer came back.
    pub status: Option<u16>,
    pub error: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    fn unreachable(base_url: &str, cause: &reqwest::Error) -> Self {
        ClientError {
            status: None,
            error: "unreachable".to_string(),
            message: format!(
                "could not reach ferry server at {base_url}: {}",
                root_cause(cause)
            ),
            hint: Some("is `ferry server` running? set --server or FERRY_SERVER".to_string()),
        }
    }

    fn local(error: &str, message: String) -> Self {
        ClientError {
            status: None,
            error: error.to_string(),
            message,
            hint: None,
        }
    }

    /// An error answer: the server's JSON body when it sent one.
    async fn from_response(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<ApiError>(&text) {
            Ok(e) => ClientError {
                status: Some(status.as_u16()),
                error: e.error,
                message: e.message,
                hint: e.hint,
            },
            Err(_) => ClientError {
                status: Some(status.as_u16()),
                error: "http".to_string(),
                message: format!(
                    "the server answered {status}{}",
                    if text.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", first_line(&text))
                    }
                ),
                hint: (status == StatusCode::NOT_FOUND || status.is_server_error()).then(|| {
                    "is that URL a ferry server of the same version as this client?".to_string()
                }),
            },
        }
    }
}

fn first_line(s: &str) -> String {
    let line = s.trim().lines().next().unwrap_or_default();
    crate::model::sanitize_text(&line.chars().take(200).collect::<String>())
}

/// reqwest's top-level message ("error sending request") hides the reason;
/// the innermost source ("Connection refused") is what people need.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// What `watch` yields.
// Events are nearly every message, so boxing them would only add an
// allocation each; the contract also fixes this shape.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum WatchMessage {
    /// The stream is (re)connected; events follow.
    Connected,
    Event(Event),
    /// The connection failed or dropped; the client retries after a backoff.
    Reconnecting {
        attempt: u32,
        error: String,
    },
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    token: Option<String>,
}

impl fmt::Debug for Client {
    // The token stays out of debug output and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Client {
    pub fn new(base_url: &str, token: Option<String>) -> Result<Client, ClientError> {
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base_url).map_err(|e| ClientError {
            status: None,
            error: "invalid_url".to_string(),
            message: format!("the server URL {base_url:?} is not valid: {e}"),
            hint: Some("use a URL like http://127.0.0.1:7474".to_string()),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError {
                status: None,
                error: "invalid_url".to_string(),
                message: format!("the server URL {base_url:?} is not http or https"),
                hint: Some("use a URL like http://127.0.0.1:7474".to_string()),
            });
        }
        let mut builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        // A proxy from the environment must not intercept a local server.
        let loopback = match parsed.host_str() {
            Some("localhost") => true,
            Some(h) => h
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        if loopback {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| {
            ClientError::local("client", format!("could not set up the HTTP client: {e}"))
        })?;
        Ok(Client {
            http,
            base_url,
            token: token.filter(|t| !t.trim().is_empty()),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base_url));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        let resp = req
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| ClientError::unreachable(&self.base_url, &e))?;
        if !resp.status().is_success() {
            return Err(ClientError::from_response(resp).await);
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::unreachable(&self.base_url, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::local(
                "bad_response",
                format!("the server's answer could not be read: {e}"),
            )
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(self.request(Method::GET, path)).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn dashboard(&self) -> Result<Dashboard, ClientError> {
        self.get("/dashboard").await
    }

    /// The dashboard as it was at `at` (`seq:N` or RFC 3339): time travel.
    pub async fn dashboard_at(&self, at: &str) -> Result<crate::api::DashboardAt, ClientError> {
        self.send(self.request(Method::GET, "/dashboard").query(&[("at", at)]))
            .await
    }

    /// The leader lease and every replica's heartbeat (`GET /replicas`).
    pub async fn replicas(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/replicas").await
    }

    pub async fn promote(
        &self,
        service: &str,
        stage: &str,
        artifact: &str,
    ) -> Result<ActionReply, ClientError> {
        let body = PromoteRequest {
            service: service.to_string(),
            stage: stage.to_string(),
            artifact: artifact.to_string(),
            override_freeze: false,
            reason: None,
        };
        self.post("/promote", &body).await
    }

    pub async fn approve(
        &self,
        deployment: &str,
        comment: Option<String>,
        digest: Option<String>,
    ) -> Result<ActionReply, ClientError> {
        let body = DecisionRequest { comment, digest };
        self.post(&format!("/deployments/{}/approve", seg(deployment)), &body)
            .await
    }

    pub async fn reject(
        &self,
        deployment: &str,
        comment: Option<String>,
    ) -> Result<ActionReply, ClientError> {
        let body = DecisionRequest {
            comment,
            digest: None,
        };
        self.post(&format!("/deployments/{}/reject", seg(deployment)), &body)
            .await
    }

    /// `ferry sign-off`: a verdict on a sign-off step the deployment waits at.
    pub async fn sign_off(
        &self,
        deployment: &str,
        step: &str,
        verdict: crate::model::Verdict,
        comment: Option<String>,
    ) -> Result<ActionReply, ClientError> {
        let body = crate::api::SignOffRequest {
            step: Some(step.to_string()),
            verdict: Some(verdict),
            comment,
        };
        self.post(&format!("/deployments/{}/sign-off", seg(deployment)), &body)
            .await
    }

    pub async fn cancel(&self, deployment: &str) -> Result<ActionReply, ClientError> {
        self.post(
            &format!("/deployments/{}/cancel", seg(deployment)),
            &serde_json::json!({}),
        )
        .await
    }

    pub async fn rollback(
        &self,
        service: &str,
        stage: &str,
        to: Option<String>,
    ) -> Result<ActionReply, ClientError> {
        let body = RollbackRequest {
            service: service.to_string(),
            stage: stage.to_string(),
            to,
        };
        self.post("/rollback", &body).await
    }

    pub async fn register_artifact(
        &self,
        req: &RegisterArtifact,
    ) -> Result<ActionReply, ClientError> {
        self.post("/artifacts", req).await
    }

    pub async fn services(&self) -> Result<Vec<crate::engine::ServiceState>, ClientError> {
        self.get("/services").await
    }

    /// Artifacts, newest first (of one service when given).
    pub async fn artifacts(
        &self,
        service: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Artifact>, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s.to_string()));
        }
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        self.send(self.request(Method::GET, "/artifacts").query(&query))
            .await
    }

    pub async fn artifact(&self, id: &str) -> Result<Artifact, ClientError> {
        self.get(&format!("/artifacts/{}", seg(id))).await
    }

    /// An artifact with its quarantine and history.
    pub async fn artifact_view(&self, id: &str) -> Result<crate::api::ArtifactView, ClientError> {
        self.get(&format!("/artifacts/{}", seg(id))).await
    }

    /// `ferry quarantine add|lift`.
    pub async fn quarantine(
        &self,
        artifact: &str,
        reason: &str,
        add: bool,
    ) -> Result<ActionReply, ClientError> {
        let body = crate::api::QuarantineRequest {
            artifact: artifact.to_string(),
            reason: reason.to_string(),
        };
        let path = if add {
            "/quarantine/add"
        } else {
            "/quarantine/lift"
        };
        self.post(path, &body).await
    }

    /// `ferry hold lift`.
    pub async fn lift_hold(
        &self,
        service: &str,
        stage: &str,
        reason: &str,
    ) -> Result<ActionReply, ClientError> {
        let body = crate::api::HoldLiftRequest {
            service: service.to_string(),
            stage: stage.to_string(),
            reason: reason.to_string(),
        };
        self.post("/hold/lift", &body).await
    }

    /// `ferry why`: why the stages of a service (or one stage) wait.
    pub async fn why(
        &self,
        service: &str,
        stage: Option<&str>,
    ) -> Result<Vec<crate::engine::Blocked>, ClientError> {
        let mut path = format!("/why?service={}", seg(service));
        if let Some(stage) = stage {
            path.push_str(&format!("&stage={}", seg(stage)));
        }
        self.get(&path).await
    }

    /// `ferry plan`: what promoting a release into a stage would do now.
    pub async fn plan(
        &self,
        service: &str,
        stage: &str,
        artifact: Option<&str>,
    ) -> Result<crate::present::plan::Plan, ClientError> {
        let mut path = format!("/plan?service={}&stage={}", seg(service), seg(stage));
        if let Some(a) = artifact {
            path.push_str(&format!("&artifact={}", seg(a)));
        }
        self.get(&path).await
    }

    pub async fn build(&self, id: &str) -> Result<Build, ClientError> {
        self.get(&format!("/builds/{}", seg(id))).await
    }

    pub async fn deployment(&self, id: &str) -> Result<Deployment, ClientError> {
        self.get(&format!("/deployments/{}", seg(id))).await
    }

    pub async fn deployments(&self, q: &DeploymentQuery) -> Result<DeploymentPage, ClientError> {
        self.send(self.request(Method::GET, "/deployments").query(q))
            .await
    }

    /// `GET /insights` with `service`, `stage`, `from`, `to` as given.
    pub async fn insights(
        &self,
        query: &[(&str, String)],
    ) -> Result<crate::insights::InsightsReport, ClientError> {
        self.send(self.request(Method::GET, "/insights").query(query))
            .await
    }

    /// The Markdown draft of a post-incident review of a deployment.
    pub async fn review(&self, id: &str) -> Result<String, ClientError> {
        let req = self.request(Method::GET, &format!("/deployments/{}/review", seg(id)));
        let resp = req
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| ClientError::unreachable(&self.base_url, &e))?;
        if !resp.status().is_success() {
            return Err(ClientError::from_response(resp).await);
        }
        resp.text()
            .await
            .map_err(|e| ClientError::unreachable(&self.base_url, &e))
    }

    /// Record a note (a lesson, a comment) on a deployment.
    pub async fn note(&self, id: &str, text: &str) -> Result<ActionReply, ClientError> {
        let body = crate::api::NoteRequest {
            text: text.to_string(),
        };
        self.post(&format!("/deployments/{}/notes", seg(id)), &body)
            .await
    }

    pub async fn evidence(&self, id: &str) -> Result<Evidence, ClientError> {
        self.get(&format!("/deployments/{}/evidence", seg(id)))
            .await
    }

    pub async fn step_log(
        &self,
        run: &str,
        step: usize,
        offset: u64,
        tail: Option<u64>,
    ) -> Result<LogChunk, ClientError> {
        let mut query = vec![("offset", offset)];
        if let Some(t) = tail {
            query.push(("tail", t));
        }
        self.send(
            self.request(Method::GET, &format!("/runs/{}/steps/{step}/log", seg(run)))
                .query(&query),
        )
        .await
    }

    /// Events after `after`, forever: reconnects with Last-Event-ID (backoff),
    /// never yields one twice or skips one.
    pub fn watch(&self, after: Seq) -> impl Stream<Item = WatchMessage> + Send + 'static {
        sse::watch(self.clone(), after)
    }
}

/// Ids come from users; percent-encode them so "a/b" stays one path segment.
fn seg(s: &str) -> String {
    // `.` and `..` as a whole segment would be normalised away by the URL
    // parser and reach another route.
    if s == "." || s == ".." {
        return s.replace('.', "%2E");
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
