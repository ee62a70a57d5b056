use clap::Parser;
use ferry::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _ = (cli.global, cli.command.map(|c| matches!(c, Command::Server(_))));
    std::process::ExitCode::SUCCESS
}
