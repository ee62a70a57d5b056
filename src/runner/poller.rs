//! The git pollers: one task per git service that fetches its branch every
//! `poll_interval` (or when poked by a push webhook) and turns a new head
//! commit into a `NewCommit` command. The git commands are in `git.rs`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::InputSender;
use super::git::fetch_head;
use crate::config::{Config, Source};
use crate::engine::{Command, Input, Principal};

/// The git pollers; dropping this stops them.
#[must_use = "the pollers stop when the Poller is dropped"]
pub struct Poller {
    wakers: HashMap<String, Arc<Notify>>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Poller {
    /// Poll `service` now (a push webhook). Unknown services are ignored.
    pub fn poke(&self, service: &str) {
        if let Some(w) = self.wakers.get(service) {
            // notify_one keeps a permit when the poller is busy fetching, so
            // a push during a fetch still causes one more poll right after.
            w.notify_one();
        }
    }

    /// The services that are polled.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.wakers.keys().map(String::as_str)
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One task per git service, polling its branch every `poll_interval` (or
/// when poked); a head commit not in `known` is sent as a `NewCommit`.
pub fn spawn_pollers(
    config: Arc<Config>,
    data_dir: PathBuf,
    inputs: impl Into<InputSender>,
    known: HashSet<(String, String)>,
) -> Poller {
    let inputs = inputs.into();
    let mut wakers = HashMap::new();
    let mut tasks = Vec::new();
    for service in &config.services {
        let Source::Git {
            repo,
            branch,
            poll_interval,
            ..
        } = &service.source
        else {
            continue;
        };
        let waker = Arc::new(Notify::new());
        wakers.insert(service.name.clone(), waker.clone());
        let seen: HashSet<String> = known
            .iter()
            .filter(|(s, _)| s == &service.name)
            .map(|(_, c)| c.clone())
            .collect();
        let poll = PollTask {
            service: service.name.clone(),
            repo: repo.clone(),
            branch: branch.clone(),
            // A zero interval would spin on the repository.
            interval: (*poll_interval).max(Duration::from_secs(1)),
            data_dir: data_dir.clone(),
            inputs: inputs.clone(),
            seen,
            waker,
        };
        tasks.push(tokio::spawn(poll.run()).abort_handle());
    }
    Poller { wakers, tasks }
}

struct PollTask {
    service: String,
    repo: String,
    branch: String,
    interval: Duration,
    data_dir: PathBuf,
    inputs: InputSender,
    seen: HashSet<String>,
    waker: Arc<Notify>,
}

impl PollTask {
    async fn run(mut self) {
        let mut last_error: Option<String> = None;
        loop {
            match fetch_head(&self.data_dir, &self.service, &self.repo, &self.branch).await {
                Ok(head) => {
                    if last_error.take().is_some() {
                        tracing::info!(service = %self.service, "git source reachable again");
                    }
                    if self.seen.insert(head.sha.clone()) {
                        tracing::info!(service = %self.service, commit = %head.sha, "new commit");
                        let input = Input::Command {
                            by: Principal::ferry(),
                            command: Command::NewCommit {
                                service: self.service.clone(),
                                commit: head.sha,
                                subject: Some(head.subject).filter(|s| !s.is_empty()),
                                author: head.author,
                            },
                        };
                        if self.inputs.send(input).is_err() {
                            // The driver is gone: the server is stopping.
                            return;
                        }
                    }
                }
                Err(e) => {
                    let msg = format!("{e:#}");
                    // Warn once per distinct error; a repository that stays
                    // unreachable should not flood the log every interval.
                    if last_error.as_deref() != Some(msg.as_str()) {
                        tracing::warn!(service = %self.service, "git poll failed: {msg}");
                    } else {
                        tracing::debug!(service = %self.service, "git poll failed again: {msg}");
                    }
                    last_error = Some(msg);
                }
            }
            if self.inputs.is_closed() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = self.waker.notified() => {}
            }
        }
    }
}
