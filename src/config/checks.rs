//! Checks shared by the schema readers (`schema.rs`, `stage.rs`) and the
//! resolver (`resolve.rs`): names, URLs, durations and the help texts they
//! share. They sit here, below all three, so that none imports another
//! for a helper.

use std::time::Duration;

use super::error::Result;
use super::walk::{At, Table};

const NAME_HELP: &str = "names appear in URLs: use lowercase letters, digits, `-` and `_`, starting with a letter or digit";
pub(super) const CMD_HELP: &str = "a shell command in quotes, run with `sh -c`";

/// Service, template and stage names: `[a-z0-9][a-z0-9_-]*`.
pub(super) fn check_name(name: &At<String>, what: &str) -> Result<()> {
    let mut chars = name.value.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if first_ok
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Ok(());
    }
    Err(name.fault(
        format!("`{}` is not a valid {what} name", name.value),
        NAME_HELP,
    ))
}

/// A duration that must not be zero (timeouts, intervals).
pub(super) fn nonzero(table: &Table, name: &str) -> Result<Option<Duration>> {
    match table.duration(name)? {
        Some(d) if d.value.is_zero() => Err(d.fault(
            format!("`{name}` must be longer than zero"),
            "write a positive duration, like \"30s\" or \"5m\"",
        )),
        d => Ok(d.map(|d| d.value)),
    }
}

pub(super) fn check_url(url: At<String>, help: &str) -> Result<String> {
    let rest = url
        .value
        .strip_prefix("http://")
        .or_else(|| url.value.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() => Ok(url.value),
        _ => Err(url.fault(format!("`{}` is not an http(s) URL", url.value), help)),
    }
}

/// Environment variable names: `[A-Za-z_][A-Za-z0-9_]*`.
pub(super) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
