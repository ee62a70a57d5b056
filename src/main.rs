//! `ferry`: parses the command line and dispatches; nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use ferry::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = color_eyre::install() {
        eprintln!("error: could not install the error reporter: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Some(Command::Server(args)) => {
                let _log = ferry::logging::to_stderr_and_file("server")?;
                ferry::server::run(&cli.global, &args).await?;
                Ok(ExitCode::SUCCESS)
            }
            Some(Command::Demo(args)) => {
                // The demo draws the console: its logs must go to a file.
                let _log = ferry::logging::to_file("demo")?;
                ferry::demo::run(&cli.global, &args).await
            }
            Some(other) => ferry::cli::run(&cli.global, other).await,
            None => {
                let _log = ferry::logging::to_file("console")?;
                ferry::console::run(&cli.global).await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    // Steps and servers may still hold the runtime; don't wait on them.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(report) => {
            ferry::report::print(&report);
            ExitCode::FAILURE
        }
    }
}
