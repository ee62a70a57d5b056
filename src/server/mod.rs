//! The promotion server: the engine driver, the HTTP API, auth and SSE.
// STUB (demo worktree): stand-ins with the contract's signatures.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use color_eyre::eyre::Result;

use crate::config::Config;

pub struct StartOptions {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub demo_workspace: Option<PathBuf>,
}

pub struct ServerHandle {
    pub addr: SocketAddr,
    pub url: String,
}

pub async fn start(config: Arc<Config>, opts: StartOptions) -> Result<ServerHandle> {
    let _ = (config, opts);
    todo!()
}

impl ServerHandle {
    pub async fn shutdown(self) -> Result<()> {
        todo!()
    }
}
