//! Push webhooks from git hosts, authenticated by the host's own scheme
//! instead of a bearer token:
//!
//! - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`,
//!   `X-GitHub-Event` (`push`, `ping`), `X-GitHub-Delivery` (an id);
//! - GitLab: `X-Gitlab-Token: <secret>`, `X-Gitlab-Event` (`Push Hook`),
//!   `X-Gitlab-Event-UUID` / `Idempotency-Key` (an id).
//!
//! The secret of a source is read from the environment variable its
//! `webhook_secret_env` names. The signature is checked in constant time
//! against every configured secret *before* the body is parsed; only the
//! services whose own secret matched may be polled, so one repository's
//! secret cannot trigger another's builds. A delivery id seen before is
//! answered and ignored (hosts redeliver, attackers replay).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::{Config, Source};

use super::super::Shared;
use super::super::error::ApiErr;

/// Delivery ids remembered for replay detection (the newest ones).
const REMEMBERED: usize = 4096;

/// What a hook answers when it was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HookReply {
    pub message: String,
    /// The services polled now.
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host {
    GitHub,
    GitLab,
}

impl Host {
    fn signature_header(self) -> &'static str {
        match self {
            Host::GitHub => "X-Hub-Signature-256",
            Host::GitLab => "X-Gitlab-Token",
        }
    }
    fn expected(self) -> &'static str {
        match self {
            Host::GitHub => "X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, body)>",
            Host::GitLab => "X-Gitlab-Token: <the secret>",
        }
    }
}

pub(super) async fn github(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<HookReply>), ApiErr> {
    handle(&shared, Host::GitHub, &headers, &body)
}

pub(super) async fn gitlab(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<HookReply>), ApiErr> {
    handle(&shared, Host::GitLab, &headers, &body)
}

fn handle(
    shared: &Shared,
    host: Host,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Json<HookReply>), ApiErr> {
    let secrets = secrets(&shared.config);
    if secrets.is_empty() {
        return Err(ApiErr::unauthorized(format!(
            "no git source of this server has a webhook secret, so no {} can be verified",
            host.signature_header()
        ))
        .hint("set webhook_secret_env = \"NAME\" on the service's source and NAME in the server's environment"));
    }
    let verified = verify(host, headers, body, &secrets);
    if verified.is_empty() {
        return Err(ApiErr::unauthorized(format!(
            "missing or wrong {} header",
            host.signature_header()
        ))
        .hint(format!(
            "send {}, with the secret of the source's webhook_secret_env",
            host.expected()
        )));
    }
    // Authentic from here on: the body may be parsed.
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| ApiErr::bad_request(format!("the hook's body is not JSON: {e}")))?;
    let event = header(headers, event_header(host)).unwrap_or_default();
    if is_ping(host, &event, &payload) {
        return Ok(reply(
            StatusCode::OK,
            "pong: the signature is valid",
            vec![],
        ));
    }
    if let Some(id) = delivery_id(host, headers)
        && !first_delivery(host, &id)
    {
        return Ok(reply(
            StatusCode::OK,
            &format!("delivery {id} was already handled; ignored"),
            vec![],
        ));
    }
    if !is_push(host, &event, &payload) {
        return Ok(reply(
            StatusCode::OK,
            &format!("event {event:?} ignored: only pushes are acted on"),
            vec![],
        ));
    }
    let Some(branch) = payload["ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("refs/heads/"))
    else {
        return Ok(reply(
            StatusCode::OK,
            "not a branch push (a tag?); ignored",
            vec![],
        ));
    };
    let urls = repo_urls(host, &payload);
    let mut polled = Vec::new();
    for svc in &shared.config.services {
        let Source::Git {
            repo,
            branch: wanted,
            ..
        } = &svc.source
        else {
            continue;
        };
        if wanted == branch
            && verified.contains(&svc.name)
            && urls.iter().any(|u| same_repo(u, repo))
        {
            shared.poller.poke(&svc.name);
            polled.push(svc.name.clone());
        }
    }
    if polled.is_empty() {
        return Ok(reply(
            StatusCode::OK,
            &format!(
                "no service follows branch {branch} of {}",
                urls.first()
                    .map(String::as_str)
                    .unwrap_or("this repository")
            ),
            vec![],
        ));
    }
    let message = format!("polling {} now", polled.join(", "));
    Ok(reply(StatusCode::ACCEPTED, &message, polled))
}

fn reply(
    status: StatusCode,
    message: &str,
    services: Vec<String>,
) -> (StatusCode, Json<HookReply>) {
    (
        status,
        Json(HookReply {
            message: message.to_string(),
            services,
        }),
    )
}

/// (service, secret) for every git source with a secret set in the environment.
fn secrets(config: &Config) -> Vec<(String, String)> {
    config
        .services
        .iter()
        .filter_map(|svc| match &svc.source {
            Source::Git { access, .. } => access.webhook_secret().map(|s| (svc.name.clone(), s)),
            Source::External => None,
        })
        .collect()
}

/// The services whose secret the request proves; checks every secret, so
/// the time taken does not say which one matched.
pub(crate) fn verify(
    host: Host,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[(String, String)],
) -> HashSet<String> {
    let mut ok = HashSet::new();
    let Some(presented) = header(headers, host.signature_header()) else {
        return ok;
    };
    for (service, secret) in secrets {
        let good = match host {
            Host::GitHub => github_signature_ok(secret, body, &presented),
            Host::GitLab => bool::from(presented.as_bytes().ct_eq(secret.as_bytes())),
        };
        if good {
            ok.insert(service.clone());
        }
    }
    ok
}

fn github_signature_ok(secret: &str, body: &[u8], presented: &str) -> bool {
    let Some(tag) = presented
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&tag).is_ok()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn event_header(host: Host) -> &'static str {
    match host {
        Host::GitHub => "X-GitHub-Event",
        Host::GitLab => "X-Gitlab-Event",
    }
}

fn is_ping(host: Host, event: &str, payload: &Value) -> bool {
    match host {
        Host::GitHub => event == "ping",
        // GitLab's "Test" button sends a push; a system hook test has no ref.
        Host::GitLab => event == "Test Hook" || payload["object_kind"] == "ping",
    }
}

fn is_push(host: Host, event: &str, payload: &Value) -> bool {
    match host {
        Host::GitHub => event == "push",
        Host::GitLab => event == "Push Hook" || payload["object_kind"] == "push",
    }
}

fn delivery_id(host: Host, headers: &HeaderMap) -> Option<String> {
    match host {
        Host::GitHub => header(headers, "X-GitHub-Delivery"),
        Host::GitLab => {
            header(headers, "Idempotency-Key").or_else(|| header(headers, "X-Gitlab-Event-UUID"))
        }
    }
}

/// Remembered delivery ids, per process: a replica that did not see the
/// first delivery may act on a replay, which only causes one more poll.
static SEEN: Mutex<(VecDeque<String>, Option<HashSet<String>>)> =
    Mutex::new((VecDeque::new(), None));

/// True the first time an id is seen.
fn first_delivery(host: Host, id: &str) -> bool {
    let key = format!("{host:?}:{id}");
    // A poisoned lock only means another request panicked; the set is intact.
    let mut guard = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let (order, set) = &mut *guard;
    let set = set.get_or_insert_with(HashSet::new);
    if !set.insert(key.clone()) {
        return false;
    }
    order.push_back(key);
    while order.len() > REMEMBERED {
        if let Some(old) = order.pop_front() {
            set.remove(&old);
        }
    }
    true
}

/// Every URL the payload gives for its repository.
fn repo_urls(host: Host, payload: &Value) -> Vec<String> {
    let fields: &[(&str, &str)] = match host {
        Host::GitHub => &[
            ("repository", "clone_url"),
            ("repository", "ssh_url"),
            ("repository", "git_url"),
            ("repository", "html_url"),
            ("repository", "url"),
        ],
        Host::GitLab => &[
            ("project", "git_http_url"),
            ("project", "git_ssh_url"),
            ("project", "web_url"),
            ("repository", "git_http_url"),
            ("repository", "git_ssh_url"),
            ("repository", "homepage"),
            ("repository", "url"),
        ],
    };
    fields
        .iter()
        .filter_map(|(o, f)| payload[*o][*f].as_str())
        .map(str::to_string)
        .collect()
}

/// Whether two repository locations name the same repository:
/// `https://github.com/acme/shop.git`, `git@github.com:acme/shop.git`,
/// `ssh://git@github.com/acme/shop` and `https://github.com/acme/shop` do.
pub(crate) fn same_repo(a: &str, b: &str) -> bool {
    let (a, b) = (normalize(a), normalize(b));
    !a.is_empty() && a == b
}

fn normalize(url: &str) -> String {
    let s = url.trim();
    let rest = if let Some((_, rest)) = s.split_once("://") {
        // Without user info (git@, or user:token@ in an https URL).
        match rest.split_once('@') {
            Some((user, r)) if !user.contains('/') => r.to_string(),
            _ => rest.to_string(),
        }
    } else if let Some((user_host, path)) = s.split_once(':')
        && !s.starts_with(['/', '.'])
        && !user_host.contains('/')
    {
        // scp-like `git@host:path`.
        let host = user_host.rsplit('@').next().unwrap_or(user_host);
        format!("{host}/{path}")
    } else {
        // A local path: as written.
        let p = s.trim_end_matches('/');
        return p.strip_suffix(".git").unwrap_or(p).to_string();
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    // Hosts are case-insensitive; paths are compared as given.
    match rest.split_once('/') {
        Some((host, path)) => format!("{}/{}", host.to_ascii_lowercase(), path),
        None => rest.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_forms_match() {
        let forms = [
            "https://github.com/acme/shop.git",
            "https://GitHub.com/acme/shop",
            "git@github.com:acme/shop.git",
            "ssh://git@github.com/acme/shop",
            "git://github.com/acme/shop.git",
            "https://ci:token@github.com/acme/shop.git/",
        ];
        for a in forms {
            for b in forms {
                assert!(same_repo(a, b), "{a} vs {b}");
            }
        }
        assert!(!same_repo(
            "https://github.com/acme/shop",
            "https://github.com/acme/shop2"
        ));
        assert!(!same_repo(
            "https://github.com/acme/shop",
            "https://gitlab.com/acme/shop"
        ));
        assert!(same_repo("/srv/git/shop.git", "/srv/git/shop"));
        assert!(same_repo("file:///srv/git/shop", "/srv/git/shop/"));
        assert!(!same_repo("", ""));
    }

    fn signed(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn only_the_services_whose_secret_signed_are_verified() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let secrets = vec![
            ("shop".to_string(), "s3cret".to_string()),
            ("blog".to_string(), "other".to_string()),
        ];
        let mut h = HeaderMap::new();
        h.insert(
            "X-Hub-Signature-256",
            signed("s3cret", body).parse().unwrap(),
        );
        let ok = verify(Host::GitHub, &h, body, &secrets);
        assert_eq!(ok, HashSet::from(["shop".to_string()]));
        // The same signature over another body proves nothing.
        assert!(verify(Host::GitHub, &h, b"{}", &secrets).is_empty());
        h.insert("X-Hub-Signature-256", "sha256=zz".parse().unwrap());
        assert!(verify(Host::GitHub, &h, body, &secrets).is_empty());
        let mut g = HeaderMap::new();
        g.insert("X-Gitlab-Token", "other".parse().unwrap());
        assert_eq!(
            verify(Host::GitLab, &g, body, &secrets),
            HashSet::from(["blog".to_string()])
        );
        assert!(verify(Host::GitLab, &HeaderMap::new(), body, &secrets).is_empty());
    }

    #[test]
    fn a_delivery_is_acted_on_once() {
        let id = uuid::Uuid::new_v4().to_string();
        assert!(first_delivery(Host::GitHub, &id));
        assert!(!first_delivery(Host::GitHub, &id));
        assert!(first_delivery(Host::GitLab, &id));
    }
}
