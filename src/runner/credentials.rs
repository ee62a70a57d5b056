//! Credentials for fetching a private git source, from the server's
//! environment and files named in the source's config (`SourceAccess`).
//!
//! - An HTTPS token is handed to git by a credential helper that reads it
//!   from the child's environment (`FERRY_GIT_TOKEN`): the token is never in
//!   the URL, in git's argv (what `ps` shows) or in a log, and every error
//!   text that passes through here has it replaced by `***`.
//! - An ssh source gets `GIT_SSH_COMMAND` with its key, only that key
//!   (`IdentitiesOnly`), its known_hosts file and strict host key checking.

use std::path::Path;

use color_eyre::eyre::{Result, eyre};

use crate::config::{SourceAccess, TOKEN_USERNAME};
use crate::errors::inline_hint;

/// The child environment variables the credential helper reads.
const TOKEN_VAR: &str = "FERRY_GIT_TOKEN";
const USER_VAR: &str = "FERRY_GIT_USERNAME";

/// Answers git's `get` with the user name and token from the environment;
/// `store` and `erase` are ignored (nothing is kept anywhere). Only the
/// variable names appear here, so this is safe to pass in argv.
const HELPER: &str = "credential.helper=!f() { test \"$1\" = get || exit 0; \
                      echo \"username=$FERRY_GIT_USERNAME\"; echo \"password=$FERRY_GIT_TOKEN\"; }; f";

/// What one git invocation needs to reach a source: `-c` options before the
/// subcommand, extra environment, and the secrets to mask in its errors.
#[derive(Default, Clone)]
pub struct GitAuth {
    pub config: Vec<String>,
    pub env: Vec<(String, String)>,
    secrets: Vec<String>,
}

impl std::fmt::Debug for GitAuth {
    // Never print the environment: it holds the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GitAuth {
    /// For local commands on the mirror or a checkout: nothing to send.
    pub fn none() -> Self {
        GitAuth::default()
    }

    /// The credentials `access` names, read now (so a rotated token is
    /// picked up by the next fetch). An error says what is missing.
    pub fn for_source(access: &SourceAccess) -> Result<Self> {
        let mut auth = GitAuth::default();
        if let Some(name) = &access.token_env {
            let token = std::env::var(name).ok().filter(|t| !t.trim().is_empty());
            let Some(token) = token else {
                return Err(eyre!(inline_hint(
                    format!("token_env {name} is not set in the server's environment"),
                    format!("start the server with {name}=<token>"),
                )));
            };
            // Reset first: only this helper answers, whatever git finds.
            auth.config.push("credential.helper=".into());
            auth.config.push(HELPER.into());
            let user = access.token_username.as_deref().unwrap_or(TOKEN_USERNAME);
            auth.env.push((USER_VAR.into(), user.into()));
            auth.env.push((TOKEN_VAR.into(), token.trim().to_string()));
            auth.secrets.push(token.trim().to_string());
        }
        let mut ssh = vec!["ssh".to_string(), "-o BatchMode=yes".into()];
        if let Some(key) = &access.ssh_key {
            readable(key, "ssh_key")?;
            ssh.push(format!("-i {}", shell_quote(&key.to_string_lossy())));
            ssh.push("-o IdentitiesOnly=yes".into());
        }
        if let Some(hosts) = &access.known_hosts {
            readable(hosts, "known_hosts")?;
            ssh.push(format!(
                "-o UserKnownHostsFile={}",
                shell_quote(&hosts.to_string_lossy())
            ));
        }
        if access.ssh_key.is_some() || access.known_hosts.is_some() {
            // Never accept a host key ferry has not been told about.
            ssh.push("-o StrictHostKeyChecking=yes".into());
            auth.env.push(("GIT_SSH_COMMAND".into(), ssh.join(" ")));
        }
        Ok(auth)
    }

    /// `text` with every secret of this source replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if !s.is_empty() {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

fn readable(path: &Path, key: &str) -> Result<()> {
    std::fs::File::open(path).map(drop).map_err(|e| {
        eyre!(inline_hint(
            format!("{key} {} cannot be read: {e}", path.display()),
            "check the path (relative to the config file) and the file's permissions",
        ))
    })
}

/// `text` as one word for `sh` (GIT_SSH_COMMAND is run by a shell).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_goes_to_the_environment_and_never_to_argv() {
        let name = "FERRY_TEST_CRED_TOKEN_A";
        // SAFETY: set once by this test only, before anything reads it.
        unsafe { std::env::set_var(name, "s3cr3t-token") };
        let access = SourceAccess {
            token_env: Some(name.into()),
            ..SourceAccess::default()
        };
        let auth = GitAuth::for_source(&access).expect("auth");
        assert!(auth.config.iter().all(|c| !c.contains("s3cr3t")));
        assert!(
            auth.env
                .contains(&(TOKEN_VAR.to_string(), "s3cr3t-token".to_string()))
        );
        assert_eq!(
            auth.mask("fatal: s3cr3t-token rejected"),
            "fatal: *** rejected"
        );
        assert!(!format!("{auth:?}").contains("s3cr3t"));
    }

    #[test]
    fn an_unset_token_is_named() {
        let access = SourceAccess {
            token_env: Some("FERRY_TEST_CRED_UNSET".into()),
            ..SourceAccess::default()
        };
        let e = GitAuth::for_source(&access).expect_err("unset");
        assert!(format!("{e:#}").contains("FERRY_TEST_CRED_UNSET is not set"));
    }

    #[test]
    fn ssh_gets_its_key_and_strict_host_checking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("it's key");
        let hosts = dir.path().join("known_hosts");
        std::fs::write(&key, "k").expect("key");
        std::fs::write(&hosts, "h").expect("hosts");
        let access = SourceAccess {
            ssh_key: Some(key.clone()),
            known_hosts: Some(hosts.clone()),
            ..SourceAccess::default()
        };
        let auth = GitAuth::for_source(&access).expect("auth");
        let (_, cmd) = auth
            .env
            .iter()
            .find(|(k, _)| k == "GIT_SSH_COMMAND")
            .expect("ssh command");
        assert!(cmd.contains("-o IdentitiesOnly=yes"));
        assert!(cmd.contains("-o StrictHostKeyChecking=yes"));
        assert!(cmd.contains(&format!("UserKnownHostsFile='{}'", hosts.display())));
        assert!(cmd.contains(r"it'\''s key"));
        let missing = SourceAccess {
            ssh_key: Some(dir.path().join("nope")),
            ..SourceAccess::default()
        };
        let e = GitAuth::for_source(&missing).expect_err("missing key");
        assert!(format!("{e:#}").contains("ssh_key"));
    }
}
