//! Wire types of the HTTP API, shared by the server and its clients.
// STUB (demo worktree): stand-ins with the contract's signatures.
use serde::{Deserialize, Serialize};

use crate::engine::{Principal, State};
use crate::model::Seq;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dashboard {
    pub seq: Seq,
    pub server: ServerInfo,
    pub user: Principal,
    pub state: State,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    pub demo_workspace: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionReply {
    pub message: String,
    pub deployment: Option<String>,
    pub artifact: Option<String>,
    pub build: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    pub deployment: crate::model::Deployment,
}
