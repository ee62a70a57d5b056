//! `ferry`: parses the command line, hands it to `cli`, and renders a
//! failure through `errors`; nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use color_eyre::eyre::Report;
use ferry::cli::Cli;
use ferry::errors::{self, Error};

/// Variables clap reads for options; set but empty, they mean "not set"
/// (the shell's way to clear one for a command: `FERRY_CONFIG= ferry …`),
/// where clap would refuse the empty value.
const OPTION_VARIABLES: [&str; 3] = ["FERRY_CONFIG", "FERRY_SERVER", "FERRY_STORE"];

fn main() -> ExitCode {
    for name in OPTION_VARIABLES {
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            // SAFETY: the first thing `main` does, before any thread exists.
            unsafe { std::env::remove_var(name) };
        }
    }
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
