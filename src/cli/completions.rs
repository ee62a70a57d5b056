//! `ferry completions SHELL` and `ferry man`: generated from the same clap
//! definition the binary parses, so they never drift from it.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::errors::Error;

use super::args::Cli;

/// Write the completion script for `shell` to stdout.
pub fn completions(shell: Shell) -> Result<(), Error> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ferry", &mut buf);
    write_stdout(&buf)
}

/// Write the man page (roff) to stdout.
pub fn man() -> Result<(), Error> {
    let cmd = Cli::command();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| Error::new(format!("could not render the man page: {e}")))?;
    write_stdout(&buf)
}

fn write_stdout(bytes: &[u8]) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        // `ferry man | head` closes the pipe early: not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::new(format!("could not write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
