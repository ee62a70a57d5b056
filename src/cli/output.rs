//! stdout for the scripted commands, tolerating a closed pipe
//! (`ferry logs d-17 | head -3`): Rust ignores SIGPIPE, so `println!` would
//! panic there.

use std::io::Write as _;

use serde::Serialize;

use crate::errors::Error;

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
