//! Which store a URL names: `postgres://…` (or `postgresql://…`),
//! `sqlite:PATH`, or a bare path (SQLite). Errors and `Display` never show a
//! password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use color_eyre::eyre::{Result, eyre};
use sqlx::postgres::PgConnectOptions;

#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    /// The URL as given (with its password); print it with `Display`.
    Postgres(String),
}

const PG_HINT: &str = "hint: write postgres://USER:PASSWORD@HOST:PORT/DATABASE";

impl StoreUrl {
    pub fn parse(s: &str) -> Result<StoreUrl> {
        let s = s.trim();
        if s.is_empty() {
            return Err(eyre!(
                "the store URL is empty; hint: leave it out for SQLite in the data directory, \
                 or write postgres://USER:PASSWORD@HOST:PORT/DATABASE"
            ));
        }
        if let Some(rest) = s.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(eyre!(
                    "the store URL `{s}` names no file; hint: write sqlite:/path/to/ferry.db"
                ));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            PgConnectOptions::from_str(s).map_err(|e| {
                eyre!(
                    "malformed store URL `{}`: {}; {PG_HINT}",
                    redact(s),
                    redact(&e.to_string())
                )
            })?;
            return Ok(StoreUrl::Postgres(s.to_string()));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(eyre!(
                "unknown store `{scheme}://` in `{}`; hint: ferry stores events in sqlite:PATH \
                 or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                redact(s)
            ));
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(s)))
    }

    /// Host, port and database, for messages: "127.0.0.1:5432/ferry".
    pub fn place(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => path.display().to_string(),
            StoreUrl::Postgres(url) => {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
                rest.split('?').next().unwrap_or(rest).to_string()
            }
        }
    }
}

impl FromStr for StoreUrl {
    type Err = color_eyre::eyre::Report;
    fn from_str(s: &str) -> Result<Self> {
        StoreUrl::parse(s)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// `scheme://user:secret@host` becomes `scheme://user:***@host`, anywhere in `s`.
pub(super) fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '`')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rsplit_once('@') {
            Some((user, host)) => {
                let user = user.split_once(':').map_or(user, |(u, _)| u);
                out.push_str(user);
                if authority[..authority.len() - host.len() - 1].contains(':') {
                    out.push_str(":***");
                }
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_select_the_backend() {
        assert_eq!(
            StoreUrl::parse("/var/lib/ferry/ferry.db").unwrap(),
            StoreUrl::Sqlite("/var/lib/ferry/ferry.db".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///tmp/x.db").unwrap(),
            StoreUrl::Sqlite("/tmp/x.db".into())
        );
        let pg = StoreUrl::parse("postgres://ferry:s3cret@db.example:5433/ferry").unwrap();
        assert!(matches!(pg, StoreUrl::Postgres(_)));
        assert_eq!(pg.to_string(), "postgres://ferry:***@db.example:5433/ferry");
        assert_eq!(pg.place(), "db.example:5433/ferry");
        assert!(!format!("{pg:?}").contains("s3cret"));
    }

    #[test]
    fn bad_urls_fail_in_one_line_without_the_password() {
        for bad in [
            "postgres://ferry:s3cret@db.example:notaport/ferry",
            "mysql://ferry:s3cret@db/ferry",
            "",
            "sqlite:",
        ] {
            let msg = format!("{:#}", StoreUrl::parse(bad).unwrap_err());
            assert!(!msg.contains("s3cret"), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
            assert!(msg.contains("hint:"), "{msg}");
        }
    }

    #[test]
    fn the_server_section_takes_a_store_url() {
        use crate::config::Config;
        use std::path::Path;
        let origin = Path::new("/etc/ferry/ferry.toml");
        let ok = "[server]\nstore = \"postgres://ferry:pw@db:5432/ferry\"\n";
        let config = Config::parse(ok, origin).unwrap();
        assert_eq!(
            config.server.store.as_deref(),
            Some("postgres://ferry:pw@db:5432/ferry")
        );
        assert_eq!(Config::parse("", origin).unwrap().server.store, None);
        let bad = "[server]\nstore = \"postgres://ferry:pw@db:port/ferry\"\n";
        let err = Config::parse(bad, origin).unwrap_err().to_string();
        assert!(err.contains("malformed store URL"), "{err}");
        // The report quotes the file's own line below; its message does not repeat the password.
        let first = err.lines().next().unwrap_or_default();
        assert!(!first.contains(":pw@"), "{err}");
    }
}
