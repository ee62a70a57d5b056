//! The console's messages: what comes in (`Msg`, with the `Reply` to each
//! request) and what goes out (`Request`, made by the runtime). Plain data;
//! `update` turns one into the other.

use crossterm::event::{KeyEvent, MouseEvent};

use crate::api::{ActionReply, Dashboard, DeploymentPage, Evidence, LogChunk};
use crate::backend::{ClientError, WatchMessage};
use crate::model::{ArtifactId, DeploymentId, RunId, Seq};

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Tick,
    Snapshot(Box<Dashboard>),
    /// The snapshot could not be fetched; the runtime retries.
    Unreachable {
        attempt: u32,
        error: String,
    },
    Watch(WatchMessage),
    /// The server's view of the leader lease (replicas): its epoch and holder.
    Leader {
        epoch: u64,
        leader: Option<String>,
    },
    Reply(Reply),
}

/// Answers to requests, tagged with what they were for.
#[derive(Debug)]
pub enum Reply {
    /// The server's answer to a request that changes something (approve,
    /// reject, roll back, cancel, promote).
    Request {
        id: u64,
        result: Result<ActionReply, ClientError>,
    },
    Log {
        id: u64,
        run: RunId,
        step: usize,
        result: Result<LogChunk, ClientError>,
    },
    Evidence {
        deployment: DeploymentId,
        result: Result<Box<Evidence>, ClientError>,
    },
    History {
        id: u64,
        service: String,
        stage: String,
        result: Result<DeploymentPage, ClientError>,
    },
    Insights {
        id: u64,
        result: Result<Box<crate::insights::InsightsReport>, ClientError>,
    },
    /// Why stages wait, from a fresh dashboard.
    Blocked {
        id: u64,
        result: Result<Vec<crate::api::BlockedNote>, ClientError>,
    },
    Travel {
        id: u64,
        result: Result<Box<crate::api::DashboardAt>, ClientError>,
    },
    /// The configured freeze windows open now, from a fresh dashboard.
    Freezes(Vec<crate::api::FreezeNote>),
}

/// Requests for the runtime to make; each answers with a `Msg::Reply`.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Fetch a fresh snapshot (then watch from it).
    Snapshot,
    Watch {
        after: Seq,
    },
    Approve {
        id: u64,
        deployment: DeploymentId,
        comment: Option<String>,
        digest: Option<String>,
    },
    Reject {
        id: u64,
        deployment: DeploymentId,
        comment: Option<String>,
    },
    Note {
        id: u64,
        deployment: String,
        text: String,
    },
    /// The insights report over the default window (the last 30 days).
    FetchInsights {
        id: u64,
    },
    Rollback {
        id: u64,
        service: String,
        stage: String,
        to: Option<String>,
    },
    Cancel {
        id: u64,
        deployment: DeploymentId,
    },
    SignOff {
        id: u64,
        deployment: DeploymentId,
        step: String,
        verdict: crate::model::Verdict,
        comment: Option<String>,
    },
    Promote {
        id: u64,
        service: String,
        stage: String,
        artifact: ArtifactId,
    },
    /// Break-glass: `POST /promote` with `override_freeze` and the reason
    /// (starts a new promotion, or the one already waiting for the window).
    PromoteOverride {
        id: u64,
        service: String,
        stage: String,
        artifact: ArtifactId,
        reason: String,
    },
    FetchLog {
        id: u64,
        run: RunId,
        step: usize,
        offset: u64,
        tail: Option<u64>,
    },
    FetchEvidence {
        deployment: DeploymentId,
    },
    /// The dashboard's `blocked` (why stages wait), fresh.
    FetchBlocked {
        id: u64,
    },
    FetchHistory {
        id: u64,
        service: String,
        stage: String,
        before: Option<DeploymentId>,
    },
    /// `POST /freeze` for one service's stage (`until` in RFC 3339).
    Freeze {
        id: u64,
        service: String,
        stage: String,
        until: String,
        reason: String,
    },
    Unfreeze {
        id: u64,
        service: String,
        stage: String,
    },
    /// The dashboard as it was at `at` (`seq:N`).
    FetchTravel {
        id: u64,
        at: String,
    },
}

/// A refusal as one line: the message, then the server's hint.
pub fn error_text(e: &ClientError) -> String {
    match &e.hint {
        Some(h) => format!("{} ({h})", e.message),
        None => e.message.clone(),
    }
}
