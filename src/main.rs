//! `ferry`: parses the command line, hands it to `cli`, and renders a
//! failure through `errors`; nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use color_eyre::eyre::Report;
use ferry::cli::Cli;
use ferry::errors::{self, Error};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = color_eyre::install() {
        // Not fatal: errors still render, only without the fancy reporter.
        errors::print(&Report::new(Error::new(format!(
            "could not install the error reporter: {e}"
        ))));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let report = Report::new(Error::new(format!(
                "could not start the async runtime: {e}"
            )));
            errors::print(&report);
            return errors::exit_code(&report);
        }
    };
    let result = runtime.block_on(ferry::cli::run(cli));
    // Steps and servers may still hold the runtime; don't wait on them.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(report) => {
            errors::print(&report);
            errors::exit_code(&report)
        }
    }
}
