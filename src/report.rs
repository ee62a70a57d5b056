//! Error reports as cargo and ripgrep write them: one line that says what
//! failed, then the causes, then a hint.

use std::fmt;

use color_eyre::eyre::Report;

/// An error that knows what the reader should do about it.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// An error with a hint, ready for `?`.
pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> Report {
    Report::new(Hinted {
        message: message.into(),
        hint: hint.into(),
    })
}

/// Render a report: `error: what failed`, `  caused by: ...` for each cause,
/// then `  hint: ...` when any error in the chain carries one.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut hint: Option<String> = None;
    for (i, cause) in report.chain().enumerate() {
        if hint.is_none() {
            if let Some(h) = cause.downcast_ref::<Hinted>() {
                hint = Some(h.hint.clone());
            } else if let Some(c) = cause.downcast_ref::<crate::backend::ClientError>() {
                hint = c.hint.clone();
            }
        }
        let text = cause.to_string();
        if i == 0 {
            // A config error renders its own multi-line, cargo-style block.
            if text.starts_with("error") {
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

pub fn print(report: &Report) {
    eprintln!("{}", render(report));
}

#[cfg(test)]
mod tests {
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
}
