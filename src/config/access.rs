//! How ferry may reach and be reached by a git source: the webhook secret a
//! git host signs its push notifications with. Only the *name* of an
//! environment variable is configured; the secret itself is read from the
//! server's environment when a hook arrives, and never stored or logged.

/// Per-source access settings (all optional). New credentials for a source
/// go here, so that code building a `Source::Git` by hand needs
/// `access: SourceAccess::default()` only once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAccess {
    /// The environment variable holding the secret GitHub signs with
    /// (`X-Hub-Signature-256`) or GitLab sends (`X-Gitlab-Token`).
    pub webhook_secret_env: Option<String>,
}

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
}
