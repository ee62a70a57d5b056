//! The release console (`ferry` with no subcommand): a live terminal
//! dashboard of every service and stage, with detail, approvals, history and
//! rollback. Its modules, from the bottom up:
//!
//! - `msg`: the messages in (`Msg`, the `Reply` to each request) and the
//!   requests out (`Request`).
//! - `app`: every state type, the folded server state and the screen's.
//! - `keymap`: the one key table; `theme`: colours.
//! - `facts`: what a cell shows and what `p` offers, derived from the state;
//!   `freezes`: the freezes open over a stage (state and server's windows).
//! - `layout`: regions, the grid's geometry, mouse hit-testing.
//! - `dialogs`: the one confirmation (it holds the request it sends) and
//!   the words of roll back, cancel, promote; the approve/reject comment.
//! - `screens`: dashboard, detail, history, approvals: how each opens, its
//!   keys, its replies.
//! - `update`: pure, one message in, the app changed and requests out; it
//!   routes to `screens` and `dialogs` and never imports `views`.
//! - `views`: drawing only.
//! - `runtime`: the select loop, the terminal, and making the requests.
//!
//! The words shared with the CLI and the demo (stage summaries, the event
//! narrator, what cancel/promote/rollback act on) live in `crate::present`.

pub mod app;
pub mod dialogs;
pub mod facts;
pub mod freezes;
pub mod keymap;
pub mod keymap_doc;
pub mod layout;
pub mod msg;
mod runtime;
pub mod screens;
pub mod theme;
pub mod update;
pub mod views;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use color_eyre::Result;
use color_eyre::eyre::eyre;

use crate::backend::Client;
use crate::config::Config;
use crate::errors::hinted;
use crate::server::{self, StartOptions};

pub use app::App;
pub use theme::Theme;

/// What the header says about where the console is connected.
#[derive(Debug, Clone)]
pub struct ConsoleInfo {
    pub server_label: String,
    pub demo_workspace: Option<PathBuf>,
}

/// What `ferry` (the console) was asked for.
#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    /// Configuration file; default ./ferry.toml when it exists.
    pub config: Option<PathBuf>,
    /// URL of a running server; else [console] server, else an embedded one.
    pub server: Option<String>,
}

/// `ferry`: connect to --server / FERRY_SERVER / [console] server, or start
/// an embedded server on 127.0.0.1 and connect to that.
pub async fn run(options: &ConsoleOptions) -> Result<()> {
    let config_path = options.config.clone().or_else(|| {
        Path::new("ferry.toml")
            .exists()
            .then(|| PathBuf::from("ferry.toml"))
    });
    let config = match &config_path {
        Some(p) => Some(Config::load(p).map_err(|e| {
            hinted(
                format!("could not load the configuration {}: {e}", p.display()),
                "check the file, or run `ferry` in a directory without ferry.toml",
            )
        })?),
        None => None,
    };
    let overrides = config
        .as_ref()
        .map(|c| c.console.theme.clone())
        .unwrap_or_default();
    let theme = theme_from_env(&overrides);
    let remote = options
        .server
        .clone()
        .or_else(|| config.as_ref().and_then(|c| c.console.server.clone()));
    // A config with users makes even the embedded server ask for a token.
    let token = std::env::var("FERRY_TOKEN").ok().filter(|t| !t.is_empty());
    if let Some(url) = remote {
        let client = Client::new(&url, token).map_err(|e| {
            hinted(
                format!("could not use the server address {url}: {e}"),
                "give a URL like http://host:7474",
            )
        })?;
        let info = ConsoleInfo {
            server_label: url.clone(),
            demo_workspace: None,
        };
        return run_themed(client, info, theme).await;
    }

    let data_dir = default_data_dir()?;
    // A config file names its own data directory; without one the console's
    // embedded server keeps its data in the user's XDG data directory.
    let (config, data_dir_opt) = match config {
        Some(c) => (c, None),
        None => (Config::empty(data_dir.clone()), Some(data_dir)),
    };
    let opts = StartOptions {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        data_dir: data_dir_opt,
        demo_workspace: None,
    };
    let handle = server::start(Arc::new(config), opts).await.map_err(|e| {
        hinted(
            format!("could not start the embedded server: {e}"),
            "pass --server URL to use a running one",
        )
    })?;
    let client = Client::new(&handle.url, token).map_err(|e| {
        eyre!(
            "could not connect to the embedded server at {}: {e}",
            handle.url
        )
    })?;
    let info = ConsoleInfo {
        server_label: format!("embedded {}", handle.addr),
        demo_workspace: None,
    };
    let result = run_themed(client, info, theme).await;
    let stopped = handle
        .shutdown()
        .await
        .map_err(|e| eyre!("the embedded server did not stop cleanly: {e}"));
    result.and(stopped)
}

/// The console against a given client (used by `ferry demo`).
pub async fn run_with(client: Client, info: ConsoleInfo) -> Result<()> {
    let theme = theme_from_env(&Default::default());
    run_themed(client, info, theme).await
}

async fn run_themed(client: Client, info: ConsoleInfo, theme: Theme) -> Result<()> {
    let app = App::new(
        &info.server_label,
        info.demo_workspace.map(|p| p.display().to_string()),
        (80, 24),
    );
    runtime::run(client, app, theme).await
}

fn theme_from_env(overrides: &std::collections::BTreeMap<String, String>) -> Theme {
    // https://no-color.org: set and not empty means no colour.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let (theme, warnings) = Theme::new(no_color, overrides);
    for w in warnings {
        tracing::warn!("{w}");
    }
    theme
}

fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "ferry")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            hinted(
                "could not find a data directory for the embedded server",
                "set HOME, or pass --config with a [server] data_dir",
            )
        })
}
