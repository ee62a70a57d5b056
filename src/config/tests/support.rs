//! What the config tests share: parse a text as if read from a fixed
//! file, expect success or an error, and find where a needle sits.

use std::path::Path;

use crate::config::{Config, ConfigError};

pub(super) const ORIGIN: &str = "/srv/ferry/ferry.toml";

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(ORIGIN))
}

pub(super) fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("expected the config to load, got:\n{e}"),
    }
}

pub(super) fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(c) => panic!("expected an error, got {c:#?}"),
        Err(e) => e,
    }
}

/// Line and column (1-based) of the first occurrence of `needle`.
pub(super) fn pos(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("needle in text");
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

pub(super) const SERVICE: &str = r#"
[services.app]
source = "external"
[[services.app.stages]]
name = "prod"
deploy = { command = "./deploy.sh" }
"#;
