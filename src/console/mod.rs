//! The release console: a live terminal dashboard.
// STUB (demo worktree): stand-ins with the contract's signatures.
use std::path::PathBuf;

use color_eyre::eyre::Result;

use crate::backend::Client;

pub struct ConsoleInfo {
    pub server_label: String,
    pub demo_workspace: Option<PathBuf>,
}

pub async fn run_with(client: Client, info: ConsoleInfo) -> Result<()> {
    let _ = (client, info);
    todo!()
}
