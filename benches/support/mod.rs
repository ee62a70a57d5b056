//! What several benches share: starting the release binary as a server.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use color_eyre::eyre::{Result, WrapErr, eyre};

/// Start `ferry server` with `args` (quiet logs), and return it with the
/// URL it printed once listening; the rest of its stdout is drained.
pub fn spawn_server<I, S>(args: I) -> Result<(Child, String)>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("server")
        .args(args)
        .env("FERRY_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .wrap_err("could not start ferry server")?;
    let stdout = child.stdout.take().ok_or_else(|| eyre!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    break rest.split_whitespace().next().unwrap_or("").to_string();
                }
            }
            _ => return Err(eyre!("ferry server exited before listening")),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((child, url))
}
