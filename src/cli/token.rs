//! `ferry token new`: a fresh token, printed once, and the `[[users]]`
//! entry the server's config needs (only the token's hash).

use crate::errors::Error;

use super::args::{GlobalArgs, OutputFormat};
use super::output::{out, outln, print_json};

/// Print a fresh token once, and what the server's config needs: only the hash.
pub(super) fn token_new(global: &GlobalArgs, user: &str, roles: &[String]) -> Result<(), Error> {
    // Refuse what the server's config would refuse, before printing a
    // snippet nobody can use.
    if user.trim().is_empty() {
        return Err(Error::usage(
            "the user name is empty",
            "give the user's name: `ferry token new NAME` (printable text, e.g. alice)",
        ));
    }
    if user.chars().any(char::is_control) {
        return Err(Error::usage(
            format!("the user name {user:?} contains control characters"),
            "user names are printable text: letters, digits, spaces and punctuation",
        ));
    }
    if let Some(role) = roles
        .iter()
        .find(|r| r.trim().is_empty() || r.chars().any(char::is_control))
    {
        return Err(Error::usage(
            format!("the role {role:?} is empty or contains control characters"),
            "roles are names like deployer, approver, admin or a role a gate names",
        ));
    }
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    // The prefix tells a token from its hash at a glance (a 64-hex token
    // pasted into token_sha256 would otherwise look valid), and lets secret
    // scanners find leaked ones.
    let token = format!("ferry_{}", hex::encode(bytes));
    let hash = crate::server::token_sha256(&token);
    if global.format() == OutputFormat::Json {
        return print_json(&serde_json::json!({
            "user": user,
            "roles": roles,
            "token": token,
            "token_sha256": hash,
        }));
    }
    let roles_toml = roles
        .iter()
        .map(|r| toml_string(r))
        .collect::<Vec<_>>()
        .join(", ");
    outln!("token for {user} (shown once; give it to them as FERRY_TOKEN):");
    outln!("  {token}");
    outln!();
    outln!("add this to the server's config:");
    outln!();
    outln!("[[users]]");
    outln!("name = {}", toml_string(user));
    outln!("roles = [{roles_toml}]");
    outln!("token_sha256 = \"{hash}\"");
    Ok(())
}

/// A TOML basic string (names may hold quotes or backslashes).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_quoted() {
        assert_eq!(toml_string("ann"), "\"ann\"");
        for tricky in ["a\"b", "back\\slash", "it's"] {
            let doc: toml::Table = toml::from_str(&format!("k = {}", toml_string(tricky))).unwrap();
            assert_eq!(doc["k"].as_str(), Some(tricky));
        }
    }
}
