//! stdout for the scripted commands, tolerating a closed pipe
//! (`ferry logs d-17 | head -3`): Rust ignores SIGPIPE, so `println!` would
//! panic there.

use std::io::Write as _;

use serde::Serialize;

use crate::errors::Error;

/// `write!` to stdout through `write_stdout`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!($($arg)*))
    };
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

/// Text on stdout; a closed pipe is not an error.
pub(super) fn write_stdout(text: std::fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(text);
}

/// One line on stdout.
pub(super) fn say(line: &str) {
    write_stdout(format_args!("{line}\n"));
}

/// A value as pretty JSON on stdout.
pub(super) fn print_json<T: Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::new(format!("could not write JSON: {e}")))?;
    say(&text);
    Ok(())
}
