//! How ferry may reach and be reached by a git source: the webhook secret a
//! git host signs its push notifications with, and the credentials ferry
//! fetches a private repository with. Only *names* of environment variables
//! and *paths* of files are configured; secrets are read from the server's
//! environment when they are needed, and never stored or logged.

use std::path::PathBuf;

use super::error::Result;
use super::walk::At;

/// Per-source access settings (all optional). New credentials for a source
/// go here, so that code building a `Source::Git` by hand needs
/// `access: SourceAccess::default()` only once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAccess {
    /// The environment variable holding the secret GitHub signs with
    /// (`X-Hub-Signature-256`) or GitLab sends (`X-Gitlab-Token`).
    pub webhook_secret_env: Option<String>,
    /// The environment variable holding an HTTPS token (a GitHub or GitLab
    /// access token), handed to git through a credential helper.
    pub token_env: Option<String>,
    /// The user name sent with the token (`x-access-token` when not set:
    /// GitHub and GitLab accept any name with a token).
    pub token_username: Option<String>,
    /// Private key for ssh sources (absolute: resolved against the config file).
    pub ssh_key: Option<PathBuf>,
    /// known_hosts file for ssh sources; host keys are always checked strictly.
    pub known_hosts: Option<PathBuf>,
}

/// The user name git sends with a token when none is configured.
pub const TOKEN_USERNAME: &str = "x-access-token";

impl SourceAccess {
    /// The webhook secret, when configured and set (and not blank).
    pub fn webhook_secret(&self) -> Option<String> {
        let name = self.webhook_secret_env.as_deref()?;
        std::env::var(name).ok().filter(|s| !s.trim().is_empty())
    }
}

/// An environment variable name as a shell accepts it.
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether git reaches `repo` over ssh: `ssh://…` or scp-like `host:path`.
pub fn is_ssh_repo(repo: &str) -> bool {
    let r = repo.trim();
    if let Some((scheme, _)) = r.split_once("://") {
        return matches!(scheme, "ssh" | "git+ssh" | "ssh+git");
    }
    r.split_once(':')
        .is_some_and(|(host, _)| !host.contains('/') && !host.is_empty() && host.len() > 1)
}

/// Whether git reaches `repo` over HTTP(S).
pub fn is_http_repo(repo: &str) -> bool {
    let r = repo.trim().to_ascii_lowercase();
    r.starts_with("https://") || r.starts_with("http://")
}

/// Credentials must fit the repository's transport: a token is sent over
/// HTTPS only, a key and known_hosts are for ssh only. A token in the URL
/// itself is refused once `token_env` is set (it would be sent instead, and
/// shown wherever the URL is).
pub(super) fn check_credentials(
    repo: &At<String>,
    token_env: Option<&At<String>>,
    ssh_key: Option<&At<String>>,
    known_hosts: Option<&At<String>>,
) -> Result<()> {
    let url = repo.value.trim();
    if let Some(t) = token_env {
        if !is_http_repo(url) {
            return Err(t.fault(
                "token_env is for HTTPS repositories; this source is not one",
                "use an https:// URL, or ssh_key (and known_hosts) for an ssh source",
            ));
        }
        if url
            .split_once("://")
            .is_some_and(|(_, rest)| rest.split('/').next().is_some_and(|h| h.contains('@')))
        {
            return Err(repo.fault(
                "the URL carries credentials and token_env is set",
                "remove `user:password@` from the URL; the token is sent from token_env",
            ));
        }
    }
    for path in [ssh_key, known_hosts].into_iter().flatten() {
        if path.value.trim().is_empty() {
            return Err(path.fault("the path is empty", "a file path in quotes"));
        }
        if !is_ssh_repo(url) {
            let key = path.key.rsplit('.').next().unwrap_or("ssh_key");
            return Err(path.fault(
                format!("{key} is for ssh repositories; this source is not one"),
                "use an ssh URL (git@host:org/repo.git or ssh://...), or token_env for HTTPS",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_shell_names() {
        assert!(is_env_name("GITHUB_HOOK_SECRET"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name(""));
        assert!(!is_env_name("1ABC"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name("$SECRET"));
    }

    #[test]
    fn transports_are_told_apart() {
        assert!(is_ssh_repo("git@github.com:acme/api.git"));
        assert!(is_ssh_repo("ssh://git@example.com:2222/acme/api.git"));
        assert!(!is_ssh_repo("https://github.com/acme/api.git"));
        assert!(!is_ssh_repo("/srv/repo"));
        assert!(!is_ssh_repo("C:/repo"), "a drive letter is not a host");
        assert!(is_http_repo("https://github.com/acme/api.git"));
        assert!(is_http_repo("HTTP://127.0.0.1:8080/r.git"));
        assert!(!is_http_repo("git@github.com:acme/api.git"));
    }
}
