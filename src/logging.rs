//! Logs go to a file (tracing-appender), never to a screen the console draws on.
//! Level from FERRY_LOG (an env-filter like "info" or "ferry=debug"), default "info".

use std::path::PathBuf;

use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::errors::hinted;

fn filter() -> EnvFilter {
    // A bad FERRY_LOG must not stop ferry from starting; say so and use info.
    match std::env::var("FERRY_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(&v).unwrap_or_else(|e| {
            eprintln!("ferry: FERRY_LOG={v:?} is not a valid filter ({e}); using \"info\"");
            EnvFilter::new("info")
        }),
        _ => EnvFilter::new("info"),
    }
}

/// Where log files go: the XDG state directory (~/.local/state/ferry).
pub fn log_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "ferry")
        .ok_or_else(|| hinted("could not find a directory for log files", "set HOME"))?;
    Ok(dirs
        .state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .to_path_buf())
}

fn file_writer(app: &str) -> Result<(tracing_appender::non_blocking::NonBlocking, WorkerGuard)> {
    let dir = log_dir()?;
    std::fs::create_dir_all(&dir)
        .wrap_err_with(|| format!("could not create the log directory {}", dir.display()))?;
    let appender = tracing_appender::rolling::never(&dir, format!("{app}.log"));
    Ok(tracing_appender::non_blocking(appender))
}

/// Log to `<state dir>/ferry/<app>.log` only (the console: the terminal is
/// the screen). Keep the guard alive until exit, or the last lines are lost.
pub fn to_file(app: &str) -> Result<WorkerGuard> {
    let (writer, guard) = file_writer(app)?;
    tracing_subscriber::registry()
        .with(filter())
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false),
        )
        .try_init()
        .map_err(|e| eyre!("could not set up logging: {e}"))?;
    Ok(guard)
}

/// Log to stderr and to the file (the server, the demo in headless mode).
pub fn to_stderr_and_file(app: &str) -> Result<WorkerGuard> {
    let (writer, guard) = file_writer(app)?;
    tracing_subscriber::registry()
        .with(filter())
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false),
        )
        .try_init()
        .map_err(|e| eyre!("could not set up logging: {e}"))?;
    Ok(guard)
}
