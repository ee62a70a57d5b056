//! stdout for the scripted commands, tolerating a closed pipe
//! (`ferry logs d-17 | head -3`): Rust ignores SIGPIPE, so `println!` would
//! panic there.

use std::io::Write as _;

use serde::Serialize;

use crate::errors::Error;

/// `write!` to stdout, ignoring a closed pipe: Rust ignores SIGPIPE, so
/// `print!` would panic there (`ferry history app | head -3`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}
/// `out!` and a newline.
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}
pub(super) use {out, outln};

/// One line on stdout.
pub(super) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.write_all(b"\n");
}

/// A value as pretty JSON on stdout.
pub(super) fn print_json<T: Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::new(format!("could not write JSON: {e}")))?;
    say(&text);
    Ok(())
}
