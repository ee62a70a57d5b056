//! The console's (and the CLI's) client of the server API: reqwest + SSE.
// STUB (demo worktree): stand-ins with the contract's signatures.
use futures::Stream;

use crate::api::{ActionReply, Dashboard, Evidence};
use crate::model::{Event, Seq};

#[derive(Debug, Clone)]
pub struct Client {}

#[derive(Debug, Clone)]
pub struct ClientError {
    pub status: Option<u16>,
    pub error: String,
    pub message: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {}

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum WatchMessage {
    Connected,
    Event(Event),
    Reconnecting { attempt: u32, error: String },
}

impl Client {
    pub fn new(base_url: &str, token: Option<String>) -> Result<Client, ClientError> {
        let _ = (base_url, token);
        todo!()
    }
    pub fn base_url(&self) -> &str {
        todo!()
    }
    pub async fn dashboard(&self) -> Result<Dashboard, ClientError> {
        todo!()
    }
    pub async fn approve(
        &self,
        deployment: &str,
        comment: Option<String>,
        digest: Option<String>,
    ) -> Result<ActionReply, ClientError> {
        let _ = (deployment, comment, digest);
        todo!()
    }
    pub async fn evidence(&self, id: &str) -> Result<Evidence, ClientError> {
        let _ = id;
        todo!()
    }
    pub fn watch(&self, after: Seq) -> impl Stream<Item = WatchMessage> + Send + 'static {
        let _ = after;
        futures::stream::empty()
    }
}
