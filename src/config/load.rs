//! Loading a configuration file: TOML syntax, the raw schema (`schema.rs`
//! and `stage.rs` over the spanned tree of `walk.rs`, with the shared checks
//! of `checks.rs`), then defaults, templates and validation (`resolve.rs`). Every failure is a `ConfigError` that names
//! the file, line, column and key.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::config::{Config, ConsoleConfig, NotifyConfig, ServerConfig};

use super::error::{ConfigError, Fault};
use super::walk::{Table, child_key};
use super::{resolve, schema};

impl Config {
    /// Read and check the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::whole_file(
                path,
                format!("cannot read the configuration file {}: {e}", path.display()),
                "pass an existing file with --config (or FERRY_CONFIG); \
                 config.example.toml documents every key"
                    .to_string(),
            )
        })?;
        Config::parse(&text, path)
    }

    /// Check configuration `text` as if read from `origin`: relative paths
    /// in it are relative to `origin`'s directory, and errors name `origin`.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let doc = DeTable::parse(text).map_err(|e| syntax_error(&e, text, origin))?;
        let raw = schema::read(&Table::root(&doc)).map_err(|f| f.locate(origin, text))?;
        let mut config =
            resolve::resolve(raw, &base_dir(origin)).map_err(|f| f.locate(origin, text))?;
        config.path = Some(origin.to_path_buf());
        Ok(config)
    }

    /// No services, listening on a free loopback port: what the console runs
    /// when there is no configuration file.
    pub fn empty(data_dir: PathBuf) -> Config {
        let base_dir = std::env::current_dir().unwrap_or_else(|_| data_dir.clone());
        Config {
            path: None,
            server: ServerConfig {
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                data_dir,
                base_dir,
                store: None,
                replica: Default::default(),
                ops: Default::default(),
            },
            console: ConsoleConfig::default(),
            services: Vec::new(),
            users: Vec::new(),
            notify: NotifyConfig::default(),
            safety: Default::default(),
            freezes: Vec::new(),
        }
    }
}

/// The directory of the configuration file, absolute, so that paths taken
/// relative to it do not change meaning when the server changes directory.
fn base_dir(origin: &Path) -> PathBuf {
    let dir = match origin.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

fn syntax_error(err: &toml::de::Error, text: &str, origin: &Path) -> ConfigError {
    let span = err.span().unwrap_or(0..0);
    let message = err.message().trim().to_string();
    if message.starts_with("duplicate key") {
        return duplicate_key(text, span).locate(origin, text);
    }
    let mut key = header_path(text, span.start);
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let mut help =
        "see the TOML syntax at https://toml.io; config.example.toml shows every key".to_string();
    if let Some((name, value)) = line.split_once('=')
        && !line.trim_start().starts_with('[')
        && line_start + name.len() < span.start
    {
        for part in split_key(name) {
            key = child_key(&key, &part);
        }
        let value = value.split(" #").next().unwrap_or(value).trim();
        if !value.starts_with(['"', '\'', '[', '{']) {
            help = format!(
                "if it is a string, quote it: {} = \"{}\"",
                name.trim(),
                value.replace('"', "\\\"")
            );
        }
    }
    Fault::new(key, span, format!("invalid TOML: {message}"), help).locate(origin, text)
}

/// A key defined twice. TOML itself refuses it before the schema is read,
/// so the key path is rebuilt from the source text around the error.
fn duplicate_key(text: &str, span: std::ops::Range<usize>) -> Fault {
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let upto = (span.end - line_start).min(line.len());
    let (header, index, rest) = if line.trim_start().starts_with('[') {
        (split_key(&line[..upto]), None, Vec::new())
    } else {
        let (header, index) = current_header(text, line_start);
        let mut rest = split_key(line);
        // Inside an inline table the duplicate is a key of the value.
        if line
            .find('=')
            .is_some_and(|eq| line_start + eq < span.start)
        {
            rest.extend(split_key(&text[span.clone()]));
        }
        (header, index, rest)
    };
    let key = key_path(&header, index, &rest);
    let path: Vec<String> = header.iter().chain(&rest).cloned().collect();
    let (message, help) = match path.as_slice() {
        [table, name] if table == "services" || table == "templates" => {
            let what = &table[..table.len() - 1];
            (
                format!("{what} `{name}` is defined twice"),
                format!(
                    "each [{table}.NAME] table may appear only once: \
                     rename one of them or merge their keys"
                ),
            )
        }
        _ => (
            format!("`{key}` is defined twice"),
            "a key may appear only once in a table: remove one of them".to_string(),
        ),
    };
    let mut fault = Fault::new(key, span, message, help);
    if let Some(first) = first_definition(&text[..line_start], &path) {
        fault = fault.first_at(first);
    }
    fault
}

/// Where `path` was first defined: a best-effort parse of the text before
/// the duplicate (the last element of an array of tables is the current one).
fn first_definition(text: &str, path: &[String]) -> Option<std::ops::Range<usize>> {
    let (doc, _) = DeTable::parse_recoverable(text);
    let (last, parents) = path.split_last()?;
    let mut table = doc.get_ref();
    for p in parents {
        table = match table.get(p.as_str())?.get_ref() {
            DeValue::Table(t) => t,
            DeValue::Array(items) => items.last()?.get_ref().as_table()?,
            _ => return None,
        };
    }
    table.get_key_value(last.as_str()).map(|(k, _)| k.span())
}

/// `services.app.stages[1].name` from the header path, the index of the
/// header's table when it is an `[[array]]` header, and the keys after it.
fn key_path(header: &[String], index: Option<usize>, rest: &[String]) -> String {
    let mut key = header
        .iter()
        .fold(String::new(), |acc, p| child_key(&acc, p));
    if let Some(n) = index {
        key.push_str(&format!("[{n}]"));
    }
    rest.iter().fold(key, |acc, p| child_key(&acc, p))
}

/// The key path of the table header in force at `offset`, for errors that
/// come before the schema is read.
fn header_path(text: &str, offset: usize) -> String {
    let (header, index) = current_header(text, offset);
    key_path(&header, index, &[])
}

/// The header in force at `offset` (before its line), and for an
/// `[[array]]` header how many identical headers came before it.
fn current_header(text: &str, offset: usize) -> (Vec<String>, Option<usize>) {
    let before = &text[..offset.min(text.len())];
    // Only whole lines before the one holding `offset`.
    let before = &before[..before.rfind('\n').map_or(0, |i| i + 1)];
    let mut lines = before.lines().rev().map(str::trim);
    let Some(header) = lines.find(|l| l.starts_with('[')) else {
        return (Vec::new(), None);
    };
    let path = split_key(header);
    if !header.starts_with("[[") {
        return (path, None);
    }
    let earlier = lines
        .filter(|l| l.starts_with("[[") && split_key(l) == path)
        .count();
    (path, Some(earlier))
}

/// `[a."b.c".d]` or `a.b = 1` → ["a", "b.c", "d"]; stops at `=` or `]`.
fn split_key(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.trim_start().trim_start_matches('[').chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, '.') => parts.push(std::mem::take(&mut cur)),
            (None, '=' | ']' | '#') => break,
            (None, c) if c.is_whitespace() => {}
            (None, c) => cur.push(c),
        }
    }
    parts.push(cur);
    parts.retain(|p| !p.is_empty());
    parts
}
