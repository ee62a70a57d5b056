//! The console's (and the CLI's) client of the server API: reqwest + SSE.
//! STUB: stand-in with the contract's signatures so the console compiles; the
//! server helper's real client replaces this file at merge.
#![allow(unused_variables, clippy::large_enum_variant)]

use std::fmt;

use futures::Stream;

use crate::api::{ActionReply, Dashboard, DeploymentPage, Evidence, LogChunk, RegisterArtifact};
use crate::model::{Deployment, Event, Seq};

#[derive(Debug, Clone)]
pub struct Client {
    base_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub status: Option<u16>,
    pub error: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {}

#[derive(Debug, Clone, PartialEq)]
pub enum WatchMessage {
    Connected,
    Event(Event),
    Reconnecting { attempt: u32, error: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentQuery {
    pub service: Option<String>,
    pub stage: Option<String>,
    pub status: Option<String>,
    pub limit: Option<usize>,
    pub before: Option<String>,
}

impl Client {
    pub fn new(base_url: &str, token: Option<String>) -> Result<Client, ClientError> {
        Ok(Client {
            base_url: base_url.to_string(),
        })
    }
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    pub async fn dashboard(&self) -> Result<Dashboard, ClientError> {
        todo!()
    }
    pub async fn promote(
        &self,
        service: &str,
        stage: &str,
        artifact: &str,
    ) -> Result<ActionReply, ClientError> {
        todo!()
    }
    pub async fn approve(
        &self,
        deployment: &str,
        comment: Option<String>,
        digest: Option<String>,
    ) -> Result<ActionReply, ClientError> {
        todo!()
    }
    pub async fn reject(
        &self,
        deployment: &str,
        comment: Option<String>,
    ) -> Result<ActionReply, ClientError> {
        todo!()
    }
    pub async fn cancel(&self, deployment: &str) -> Result<ActionReply, ClientError> {
        todo!()
    }
    pub async fn rollback(
        &self,
        service: &str,
        stage: &str,
        to: Option<String>,
    ) -> Result<ActionReply, ClientError> {
        todo!()
    }
    pub async fn register_artifact(
        &self,
        req: &RegisterArtifact,
    ) -> Result<ActionReply, ClientError> {
        todo!()
    }
    pub async fn deployment(&self, id: &str) -> Result<Deployment, ClientError> {
        todo!()
    }
    pub async fn deployments(&self, q: &DeploymentQuery) -> Result<DeploymentPage, ClientError> {
        todo!()
    }
    pub async fn evidence(&self, id: &str) -> Result<Evidence, ClientError> {
        todo!()
    }
    pub async fn step_log(
        &self,
        run: &str,
        step: usize,
        offset: u64,
        tail: Option<u64>,
    ) -> Result<LogChunk, ClientError> {
        todo!()
    }
    pub fn watch(&self, after: Seq) -> impl Stream<Item = WatchMessage> + Send + 'static {
        futures::stream::empty()
    }
}
