//! Bearer tokens and the role policy. Tokens are never stored or logged:
//! the config holds sha256(token) in hex, and the presented token's hash is
//! compared with every user's in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::engine::Principal;
use crate::model::roles;

use super::Shared;
use super::error::ApiErr;

#[derive(Debug, Clone)]
struct User {
    name: String,
    roles: Vec<String>,
    /// sha256 of the token, raw bytes (None when the config's hex is malformed).
    hash: Option<[u8; 32]>,
}

/// Who may call: the configured users, or, with none, the local user.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    users: Vec<User>,
    /// Set when no users are configured: everyone is this admin (loopback only).
    local: Option<Principal>,
}

impl Auth {
    pub fn from_config(config: &Config) -> Self {
        if config.users.is_empty() {
            return Auth {
                users: Vec::new(),
                local: Some(local_principal()),
            };
        }
        let users = config
            .users
            .iter()
            .map(|u| User {
                name: u.name.clone(),
                roles: u.roles.clone(),
                hash: hex::decode(u.token_sha256.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()),
            })
            .collect();
        Auth { users, local: None }
    }

    pub fn is_open(&self) -> bool {
        self.local.is_some()
    }

    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiErr> {
        if let Some(local) = &self.local {
            return Ok(local.clone());
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiErr::unauthorized("this server requires an API token")
                .hint("set FERRY_TOKEN (or send `Authorization: Bearer <token>`); an admin creates one with `ferry token new`"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiErr::unauthorized("the Authorization header is not `Bearer <token>`")
                    .hint("send `Authorization: Bearer <token>`")
            })?;
        self.lookup(token).ok_or_else(|| {
            ApiErr::unauthorized("the API token is not valid")
                .hint("check FERRY_TOKEN; its sha256 must be a user's token_sha256 in the server's config")
        })
    }

    /// The user whose hash matches. Every user is compared, and each
    /// comparison takes the same time, so timing reveals nothing about
    /// which bytes (or which user) matched.
    fn lookup(&self, token: &str) -> Option<Principal> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found: Option<&User> = None;
        for user in &self.users {
            let Some(hash) = &user.hash else { continue };
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(user);
            }
        }
        found.map(|u| Principal {
            name: u.name.clone(),
            roles: u.roles.clone(),
        })
    }
}

/// The user of a server without configured users.
pub(crate) fn local_principal() -> Principal {
    let name = std::env::var("USER")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "local".to_string());
    Principal {
        name,
        roles: vec![roles::ADMIN.to_string()],
    }
}

/// Lowercase hex sha256 of a token: what goes into the config.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The API has no web pages, so a request a browser made on behalf of some
/// other site is never legitimate. Such requests can be "simple" (no CORS
/// preflight: an empty POST, a text/plain body), and without users every
/// caller is an admin, so they are refused by their Origin. DNS rebinding
/// (a hostile name resolving to 127.0.0.1) is refused by the Host header
/// when there are no users to stop it.
fn browser_guard(headers: &HeaderMap, open: bool) -> Result<(), ApiErr> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://").map(|(_, rest)| rest))
            .map(|rest| rest.split('/').next().unwrap_or(rest));
        if !host.is_some_and(is_loopback_host) {
            return Err(
                ApiErr::forbidden("cross-site requests from web pages are refused").hint(
                    "call the API from the ferry CLI, the console or a script, not a browser page",
                ),
            );
        }
    }
    if open
        && let Some(host) = headers.get(header::HOST)
        && !host.to_str().is_ok_and(is_loopback_host)
    {
        return Err(ApiErr::forbidden(
            "this server has no users and answers only requests addressed to a loopback host",
        )
        .hint("use http://127.0.0.1:PORT, or configure [[users]] with tokens"));
    }
    Ok(())
}

/// "localhost", "127.0.0.1:7474", "[::1]:7474" and the like.
fn is_loopback_host(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What a request needs, by method and path. Anything not listed needs admin.
fn required(method: &Method, path: &str) -> Need {
    if method == Method::GET || method == Method::HEAD {
        return Need::Any;
    }
    if method != Method::POST {
        return Need::Admin;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        // The engine checks the gate's (or sign-off's) roles and four-eyes
        // (for a lift: `[safety] quarantine_lift_roles` and four-eyes).
        [
            "api",
            "v1",
            "deployments",
            _,
            "approve" | "reject" | "sign-off",
        ]
        | ["api", "v1", "quarantine", "lift"] => Need::Any,
        ["api", "v1", "deployments", _, "cancel" | "notes"]
        | ["api", "v1", "promote" | "rollback" | "artifacts"]
        | ["api", "v1", "hooks", "push", _]
        | ["api", "v1", "quarantine", "add"]
        | ["api", "v1", "hold", "lift"]
        | ["api", "v1", "freeze" | "unfreeze"] => Need::Deployer,
        _ => Need::Admin,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Any,
    Deployer,
    Admin,
}

fn allowed(p: &Principal, need: Need) -> bool {
    p.is_admin()
        || match need {
            Need::Any => true,
            Need::Deployer => p.has_role(roles::DEPLOYER),
            Need::Admin => false,
        }
}

/// Middleware: authenticate, apply the role policy, and hand the handlers
/// the caller as an `Extension<Principal>`.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Err(e) = browser_guard(req.headers(), shared.auth.is_open()) {
        return e.into_response();
    }
    // Probes carry no token; git hosts' hooks prove themselves with a
    // signature instead (routes/hooks.rs checks it).
    if matches!(
        req.uri().path(),
        "/api/v1/healthz"
            | "/healthz"
            | "/readyz"
            | "/api/v1/hooks/github"
            | "/api/v1/hooks/gitlab"
    ) {
        return next.run(req).await;
    }
    let principal = match shared.auth.authenticate(req.headers()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let need = required(req.method(), req.uri().path());
    if !allowed(&principal, need) {
        let role = match need {
            Need::Deployer => "deployer",
            _ => "admin",
        };
        return ApiErr::forbidden(format!(
            "{} may not {} {}: it needs the {role} role",
            principal.name,
            req.method(),
            req.uri().path()
        ))
        .hint(format!(
            "ask an admin to add \"{role}\" to your roles in the server's config"
        ))
        .into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_denies_by_default() {
        let viewer = Principal {
            name: "v".into(),
            roles: vec!["viewer".into()],
        };
        let deployer = Principal {
            name: "d".into(),
            roles: vec!["deployer".into()],
        };
        let p = |m: Method, path: &str| required(&m, path);
        assert!(allowed(&viewer, p(Method::GET, "/api/v1/dashboard")));
        assert!(!allowed(&viewer, p(Method::POST, "/api/v1/promote")));
        assert!(allowed(
            &viewer,
            p(Method::POST, "/api/v1/deployments/d-1/approve")
        ));
        assert!(allowed(&deployer, p(Method::POST, "/api/v1/promote")));
        assert!(allowed(
            &deployer,
            p(Method::POST, "/api/v1/hooks/push/web")
        ));
        assert!(!allowed(&deployer, p(Method::DELETE, "/api/v1/promote")));
        assert!(!allowed(
            &deployer,
            p(Method::POST, "/api/v1/something-new")
        ));
        assert!(allowed(&Principal::ferry(), p(Method::POST, "/api/v1/x")));
    }

    #[test]
    fn web_pages_of_other_sites_are_refused() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(browser_guard(&headers(&[]), true).is_ok());
        assert!(browser_guard(&headers(&[("host", "127.0.0.1:7474")]), true).is_ok());
        assert!(browser_guard(&headers(&[("host", "localhost")]), true).is_ok());
        assert!(browser_guard(&headers(&[("host", "[::1]:7474")]), true).is_ok());
        assert!(browser_guard(&headers(&[("host", "evil.example:7474")]), true).is_err());
        // With users, tokens protect the server whatever the Host.
        assert!(browser_guard(&headers(&[("host", "ferry.internal:7474")]), false).is_ok());
        let evil = headers(&[("origin", "https://evil.example")]);
        assert!(browser_guard(&evil, false).is_err());
        let local = headers(&[("origin", "http://127.0.0.1:7474")]);
        assert!(browser_guard(&local, true).is_ok());
        assert!(browser_guard(&headers(&[("origin", "null")]), true).is_err());
    }

    #[test]
    fn tokens_match_by_hash_only() {
        let user = |name: &str, hash: String| crate::config::UserConfig {
            name: name.into(),
            roles: vec!["viewer".into()],
            token_sha256: hash,
            authors: Vec::new(),
        };
        let mut config =
            crate::server::tests::support::config(std::path::Path::new("/tmp"), Vec::new());
        Arc::make_mut(&mut config).users = vec![
            user("broken", "not hex".into()),
            user("upper", token_sha256("t-upper").to_uppercase()),
            user("ann", token_sha256("t-ann")),
        ];
        let auth = Auth::from_config(&config);
        assert!(!auth.is_open());
        assert_eq!(auth.lookup("t-ann").map(|p| p.name).as_deref(), Some("ann"));
        assert_eq!(
            auth.lookup("t-upper").map(|p| p.name).as_deref(),
            Some("upper")
        );
        assert!(auth.lookup("t-an").is_none());
        assert!(auth.lookup("not hex").is_none());
        assert!(auth.lookup("").is_none());
        let bearer = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            auth.authenticate(&h)
        };
        assert!(bearer("Bearer t-ann").is_ok());
        assert!(bearer("Basic dDphbm4=").is_err());
        assert!(bearer("Bearer ").is_err());
        assert!(auth.authenticate(&HeaderMap::new()).is_err());
    }

    #[test]
    fn token_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
