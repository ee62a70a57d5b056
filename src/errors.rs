//! Errors at the edge, as cargo and ripgrep report them: one error type that
//! knows what the reader should do (`hint`) and how the process should exit
//! (`code`), and one renderer that writes what failed, then the causes, then
//! the hint. `main` prints every failure through `render` and exits with
//! `exit_code`; nothing else prints an error.
//!
//! Configuration errors keep their own cargo-style block (`config::ConfigError`
//! renders file, line, caret and help); the renderer recognises them by type.

use std::fmt;
use std::process::ExitCode;

use color_eyre::eyre::Report;

use crate::backend::ClientError;
use crate::config::ConfigError;

/// Exit code of a failure: something went wrong.
pub const FAILURE: u8 = 1;
/// Exit code of a usage mistake: the command line asked for something impossible.
pub const USAGE: u8 = 2;
/// Exit code when the server refused who we are (no token, a bad one, a missing role).
pub const AUTH: u8 = 3;
/// Exit code when the server has no such thing (deployment, artifact, route).
pub const NOT_FOUND: u8 = 4;
/// Exit code when the request clashes with the current state (already
/// decided, a deployment already running, a version already registered).
pub const CONFLICT: u8 = 5;
/// Exit code when no ferry server answered at all.
pub const UNREACHABLE: u8 = 6;

/// The exit code of the backend's answer: its HTTP status, or the lack of one.
pub fn code_of_client_error(e: &ClientError) -> u8 {
    match e.status {
        None if e.error == "unreachable" => UNREACHABLE,
        Some(401 | 403) => AUTH,
        Some(404) => NOT_FOUND,
        Some(409) => CONFLICT,
        _ => FAILURE,
    }
}

/// What failed, what to do about it, and the exit code it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    hint: Option<String>,
    code: u8,
}

impl Error {
    /// A failure (exit code 1) without a hint.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            hint: None,
            code: FAILURE,
        }
    }

    /// A usage mistake (exit code 2) and how to write it instead.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::new(message).with_hint(hint).with_code(USAGE)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_code(mut self, code: u8) -> Error {
        self.code = code;
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    pub fn code(&self) -> u8 {
        self.code
    }
}

/// Only the message: the hint is the renderer's to place, after the causes.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The server's answer (or its silence) keeps its hint.
impl From<ClientError> for Error {
    fn from(e: ClientError) -> Error {
        let code = code_of_client_error(&e);
        Error {
            message: e.message,
            hint: e.hint,
            code,
        }
    }
}

/// An error with a hint, ready for `?` in code that returns eyre's `Result`.
pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> Report {
    Report::new(Error::new(message).with_hint(hint))
}

/// A hint inside a message that travels as text (a step's outcome, an event,
/// a log line), where no renderer adds it afterwards: `message (hint: ...)`.
pub fn inline_hint(message: impl fmt::Display, hint: impl fmt::Display) -> String {
    format!("{message} (hint: {hint})")
}

/// Render a report: `error: what failed`, `  caused by: ...` for each cause,
/// then `  hint: ...` from the first error in the chain that carries one.
/// A configuration error at the top renders its own block.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut hint: Option<String> = None;
    for (i, cause) in report.chain().enumerate() {
        if hint.is_none() {
            hint = hint_of(cause);
        }
        let text = cause.to_string();
        if i == 0 {
            if cause.downcast_ref::<ConfigError>().is_some() {
                // Already `error: ...` with its location, caret and help.
                out.push_str(&text);
            } else {
                out.push_str(&format!("error: {text}"));
            }
        } else {
            out.push_str(&format!("\n  caused by: {text}"));
        }
    }
    if let Some(h) = hint {
        out.push_str(&format!("\n  hint: {h}"));
    }
    out
}

/// Write the rendered report to stderr.
pub fn print(report: &Report) {
    eprintln!("{}", render(report));
}

/// The exit code the report asks for: the first `Error` (or backend
/// `ClientError`) in its chain decides; anything else is a plain failure.
pub fn exit_code(report: &Report) -> ExitCode {
    let code = report
        .chain()
        .find_map(|c| {
            c.downcast_ref::<Error>()
                .map(Error::code)
                .or_else(|| c.downcast_ref::<ClientError>().map(code_of_client_error))
        })
        .unwrap_or(FAILURE);
    ExitCode::from(code)
}

fn hint_of(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = cause.downcast_ref::<Error>() {
        return e.hint.clone();
    }
    cause
        .downcast_ref::<ClientError>()
        .and_then(|c| c.hint.clone())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use color_eyre::eyre::WrapErr;

    #[test]
    fn renders_what_failed_then_causes_then_the_hint() {
        let err: Result<(), Report> =
            Err(hinted("port 7474 is taken", "pass --listen 127.0.0.1:0"));
        let report = err.wrap_err("could not start the server").unwrap_err();
        assert_eq!(
            render(&report),
            "error: could not start the server\n  caused by: port 7474 is taken\n  hint: pass --listen 127.0.0.1:0"
        );
    }

    #[test]
    fn a_config_error_is_recognised_by_type_not_by_its_text() {
        let config = match crate::config::Config::parse("[server\n", Path::new("ferry.toml")) {
            Ok(_) => panic!("a broken header must not load"),
            Err(e) => e,
        };
        let block = config.to_string();
        assert_eq!(render(&Report::new(config)), block);
        // A message that merely starts with "error" is still prefixed.
        let plain = Report::new(Error::new("errors were found"));
        assert_eq!(render(&plain), "error: errors were found");
    }

    #[test]
    fn a_hint_inside_travelling_text_is_one_spelling() {
        assert_eq!(
            inline_hint("no git mirror yet", "wait for the first poll"),
            "no git mirror yet (hint: wait for the first poll)"
        );
    }

    #[test]
    fn backend_statuses_map_to_distinct_exit_codes() {
        let answer = |status: Option<u16>, error: &str| {
            Error::from(ClientError {
                status,
                error: error.to_string(),
                message: "m".to_string(),
                hint: None,
            })
            .code()
        };
        assert_eq!(answer(Some(401), "unauthorized"), AUTH);
        assert_eq!(answer(Some(403), "forbidden"), AUTH);
        assert_eq!(answer(Some(404), "not_found"), NOT_FOUND);
        assert_eq!(answer(Some(409), "conflict"), CONFLICT);
        assert_eq!(answer(None, "unreachable"), UNREACHABLE);
        assert_eq!(answer(Some(500), "internal"), FAILURE);
        assert_eq!(answer(None, "invalid"), FAILURE);
    }

    #[test]
    fn the_exit_code_comes_from_the_error() {
        let usage = Report::new(Error::usage("bad flag", "use --x"));
        assert_eq!(exit_code(&usage), ExitCode::from(USAGE));
        let wrapped = Err::<(), _>(Report::new(Error::new("boom")))
            .wrap_err("outer")
            .unwrap_err();
        assert_eq!(exit_code(&wrapped), ExitCode::from(FAILURE));
        assert_eq!(
            exit_code(&color_eyre::eyre::eyre!("plain")),
            ExitCode::from(FAILURE)
        );
    }
}
