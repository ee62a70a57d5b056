//! The command line: what clap reads (`args.rs`), the entry points that
//! start the server, the console or the demo with their own plain options,
//! and the scripted commands (`commands.rs`: status, promote, approve,
//! reject, cancel, rollback, history, artifact push; `token.rs`: token new)
//! that talk to a server through the backend client; `listings.rs` draws
//! the status and history tables. Nothing below `cli` imports it.

use std::process::ExitCode;

use color_eyre::eyre::Result;

use crate::console::ConsoleOptions;
use crate::demo::DemoOptions;
use crate::errors::hinted;
use crate::server::ServerOptions;

mod args;
mod commands;
mod completions;
mod freeze;
mod insights;
mod listings;
mod logs;
mod output;
mod plan;
mod safety;
mod show;
mod table;
mod token;
mod views;
mod wait;

pub use args::{
    ArtifactPushArgs, ArtifactVerb, CancelArgs, Cli, ColorChoice, DecisionArgs, DemoArgs,
    GlobalArgs, HistoryArgs, LogsArgs, OutputFormat, PromoteArgs, RollbackArgs, ServerArgs,
    ShowArgs, StatusArgs, TokenVerb, Verb, WaitArgs,
};
pub use commands::DEFAULT_SERVER;

/// Do what the command line asks. Failures come back as reports for `main`
/// to render; a success may still carry an exit code (the demo's verdict).
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let global = cli.global;
    let colour = match global.color {
        ColorChoice::Auto => None,
        ColorChoice::Always => Some(true),
        ColorChoice::Never => Some(false),
    };
    table::set_colour_choice(colour);
    match cli.command {
        Some(Verb::Server(args)) => {
            let options = server_options(&global, &args);
            // A bad configuration fails before the log directory (inside
            // the data directory) is created: nothing changes on disk.
            let config = crate::server::load_config(&options)?;
            let data_dir = options
                .data_dir
                .clone()
                .unwrap_or_else(|| config.server.data_dir.clone());
            let _log = crate::logging::for_server(&data_dir, args.log_format, colour)?;
            crate::server::run_loaded(config, &options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Verb::Completions { shell }) => {
            completions::completions(shell)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Verb::Man) => {
            completions::man()?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Verb::Demo(args)) => {
            let options = demo_options(&args)?;
            // The demo draws the console: its logs must go to a file.
            let _log = crate::logging::to_file("demo")?;
            crate::demo::run(&options).await
        }
        Some(other) => {
            commands::run(&global, other).await?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let _log = crate::logging::to_file("console")?;
            crate::console::run(&console_options(&global)).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn server_options(global: &GlobalArgs, args: &ServerArgs) -> ServerOptions {
    ServerOptions {
        config: global.config.clone(),
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        store: args.store.clone(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
    }
}

/// The data directory the server will use, for its log files: --data-dir,
/// or the config's. A config that does not load falls back to the default
/// directory; `server::run` then reports the config's error properly.
fn console_options(global: &GlobalArgs) -> ConsoleOptions {
    ConsoleOptions {
        config: global.config.clone(),
        server: global.server.clone(),
    }
}

/// The demo brings its own configuration and server: --config and --server
/// name another setup and do not apply to it.
fn demo_options(args: &DemoArgs) -> Result<DemoOptions> {
    let speed = args.speed;
    if !speed.is_finite() || speed <= 0.0 || speed > 1000.0 {
        return Err(hinted(
            format!("invalid --speed {speed}: it must be above 0 and at most 1000"),
            "1 commits every ~15 s, 10 every ~1.5 s",
        ));
    }
    if args.until_idle && !args.headless {
        return Err(hinted(
            "--until-idle only works with --headless",
            "ferry demo --headless --until-idle",
        ));
    }
    Ok(DemoOptions {
        dir: args.dir.clone(),
        listen: args.listen,
        speed,
        headless: args.headless,
        until_idle: args.until_idle,
    })
}
