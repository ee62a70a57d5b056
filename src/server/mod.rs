//! The promotion server: the engine driver, the HTTP API, auth and SSE.
//! STUB: embedding signatures from the contract so the console compiles; the
//! server helper's real module replaces this file at merge.
#![allow(unused_variables)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use color_eyre::Result;

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

impl ServerHandle {
    pub async fn shutdown(self) -> Result<()> {
        todo!()
    }
}

pub async fn start(config: Arc<Config>, opts: StartOptions) -> Result<ServerHandle> {
    todo!()
}
