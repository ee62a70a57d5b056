//! Logs go to a file (tracing-appender), never to a screen the console draws on.
//! Level from FERRY_LOG (an env-filter like "info" or "ferry=debug"), default "info".
//!
//! The server logs to stderr (coloured only on a terminal) and to its own
//! daily-rotated files under `<data dir>/server-logs`, keeping the newest
//! `SERVER_LOG_FILES`; `--log-format json` writes one JSON object a line to both.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use color_eyre::Result;
use color_eyre::eyre::{WrapErr, eyre};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

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
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(stderr_colour(None)),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false),
        )
        .try_init()
        .map_err(|e| eyre!("could not set up logging: {e}"))?;
    Ok(guard)
}

/// How the server writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line (for log shippers).
    Json,
}

/// Daily server log files kept (about a month); older ones are deleted on rotation.
pub const SERVER_LOG_FILES: usize = 31;

/// Where a server with this data directory writes its log files.
pub fn server_log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("server-logs")
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn fmt_layer<W>(writer: W, format: LogFormat, ansi: bool) -> BoxedLayer
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(writer)
            .with_ansi(false)
            .boxed(),
    }
}

/// Whether stderr gets colour: `always`/`never` decide; `auto` means a
/// terminal and no NO_COLOR.
pub fn stderr_colour(choice: Option<bool>) -> bool {
    choice.unwrap_or_else(|| {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
    })
}

/// The server's logging: stderr plus `<data dir>/server-logs/server.YYYY-MM-DD.log`,
/// rotated daily with the oldest files pruned. `colour` is `--color`
/// (None for auto).
pub fn for_server(data_dir: &Path, format: LogFormat, colour: Option<bool>) -> Result<WorkerGuard> {
    let dir = server_log_dir(data_dir);
    std::fs::create_dir_all(&dir)
        .wrap_err_with(|| format!("could not create the log directory {}", dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("server")
        .filename_suffix("log")
        .max_log_files(SERVER_LOG_FILES)
        .build(&dir)
        .wrap_err_with(|| format!("could not open a log file in {}", dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let layers: Vec<BoxedLayer> = vec![
        fmt_layer(
            std::io::stderr,
            format,
            format == LogFormat::Text && stderr_colour(colour),
        ),
        fmt_layer(writer, format, false),
    ];
    tracing_subscriber::registry()
        .with(layers)
        .with(filter())
        .try_init()
        .map_err(|e| eyre!("could not set up logging: {e}"))?;
    Ok(guard)
}
