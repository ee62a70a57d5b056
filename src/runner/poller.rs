//! The git pollers: one task per git service that fetches its branch every
//! `poll_interval` (or when poked by a push webhook) and turns a new head
//! commit into a `NewCommit` command. The git commands are in `git.rs`.
//!
//! A failing fetch is retried with exponential backoff (`retry_delay`), and
//! its error is kept in `SourceStatuses` for the dashboard until a fetch
//! succeeds again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::InputSender;
use super::git::fetch_head;
use crate::api::SourceStatus;
use crate::config::{Config, Source, SourceAccess};
use crate::engine::{Command, Input, Principal};
use crate::model::Millis;

/// The longest wait between two fetches of a failing source (unless its
/// own interval is longer): a repository that comes back is seen within it.
pub const BACKOFF_CAP: Duration = Duration::from_secs(600);

/// The wait before the next fetch after `failures` failed ones in a row:
/// the interval when the last fetch succeeded, then twice, four times, ...
/// the interval, capped at `BACKOFF_CAP` (or the interval, if longer).
pub fn retry_delay(interval: Duration, failures: u32) -> Duration {
    let cap = BACKOFF_CAP.max(interval);
    // 2^16 times any interval of a second or more is past the cap already.
    let factor = 1u32 << failures.min(16);
    interval.saturating_mul(factor).min(cap)
}

/// The sources whose last fetch failed, shared by the pollers and the
/// dashboard. `generation` changes whenever the map does, so a cached
/// dashboard can tell it is stale.
#[derive(Default)]
pub struct SourceStatuses {
    failing: Mutex<BTreeMap<String, SourceStatus>>,
    generation: AtomicU64,
}

impl SourceStatuses {
    /// The failing sources (all, or `service`'s only), and the generation.
    pub fn snapshot(&self, service: Option<&str>) -> (BTreeMap<String, SourceStatus>, u64) {
        let failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let map = failing
            .iter()
            .filter(|(s, _)| service.is_none_or(|want| want == s.as_str()))
            .map(|(s, st)| (s.clone(), st.clone()))
            .collect();
        (map, self.generation.load(Ordering::Acquire))
    }

    fn failed(&self, service: &str, error: &str, retry_in: Duration) -> u32 {
        let now = now_ms();
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let entry = failing
            .entry(service.to_string())
            .or_insert_with(|| SourceStatus {
                error: String::new(),
                at: now,
                at_time: String::new(),
                failing_since: now,
                failures: 0,
                retry_in_secs: 0,
            });
        entry.error = error.to_string();
        entry.at = now;
        entry.at_time = rfc3339(now);
        entry.failures = entry.failures.saturating_add(1);
        entry.retry_in_secs = retry_in.as_secs();
        let failures = entry.failures;
        self.generation.fetch_add(1, Ordering::AcqRel);
        failures
    }

    fn succeeded(&self, service: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if failing.remove(service).is_some() {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

fn rfc3339(ms: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The git pollers; dropping this stops them.
#[must_use = "the pollers stop when the Poller is dropped"]
pub struct Poller {
    wakers: HashMap<String, Arc<Notify>>,
    tasks: Vec<tokio::task::AbortHandle>,
    statuses: Arc<SourceStatuses>,
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

    /// The sources whose last fetch failed.
    pub fn statuses(&self) -> &SourceStatuses {
        &self.statuses
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
    let statuses = Arc::new(SourceStatuses::default());
    for service in &config.services {
        let Source::Git {
            repo,
            branch,
            poll_interval,
            access,
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
            access: access.clone(),
            branch: branch.clone(),
            // A zero interval would spin on the repository.
            interval: (*poll_interval).max(Duration::from_secs(1)),
            data_dir: data_dir.clone(),
            inputs: inputs.clone(),
            seen,
            waker,
            statuses: statuses.clone(),
        };
        tasks.push(tokio::spawn(poll.run()).abort_handle());
    }
    Poller {
        wakers,
        tasks,
        statuses,
    }
}

struct PollTask {
    service: String,
    repo: String,
    access: SourceAccess,
    branch: String,
    interval: Duration,
    data_dir: PathBuf,
    inputs: InputSender,
    seen: HashSet<String>,
    waker: Arc<Notify>,
    statuses: Arc<SourceStatuses>,
}

impl PollTask {
    async fn run(mut self) {
        let mut last_error: Option<String> = None;
        let mut failures = 0u32;
        loop {
            let head = fetch_head(
                &self.data_dir,
                &self.service,
                &self.repo,
                &self.access,
                &self.branch,
            )
            .await;
            match head {
                Ok(head) => {
                    failures = 0;
                    self.statuses.succeeded(&self.service);
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
                    // Credentials are masked by the git layer already.
                    let msg = format!("{e:#}");
                    let retry_in = retry_delay(self.interval, failures.saturating_add(1));
                    failures = self.statuses.failed(&self.service, &msg, retry_in);
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
            // A push webhook still wakes a backed-off poller at once.
            tokio::select! {
                _ = tokio::time::sleep(retry_delay(self.interval, failures)) => {}
                _ = self.waker.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_interval_and_is_capped() {
        let ten = Duration::from_secs(10);
        let secs = |n| retry_delay(ten, n).as_secs();
        assert_eq!(secs(0), 10, "after a success: the interval");
        assert_eq!(secs(1), 20);
        assert_eq!(secs(2), 40);
        assert_eq!(secs(5), 320);
        assert_eq!(secs(6), 600, "capped");
        assert_eq!(secs(40), 600, "no overflow however long it fails");
        // An interval longer than the cap is never shortened.
        let hour = Duration::from_secs(3600);
        assert_eq!(retry_delay(hour, 0), hour);
        assert_eq!(retry_delay(hour, 3), hour);
    }

    #[test]
    fn statuses_keep_the_last_error_until_a_success() {
        let st = SourceStatuses::default();
        assert_eq!(st.snapshot(None), (BTreeMap::new(), 0));
        assert_eq!(st.failed("api", "first", Duration::from_secs(20)), 1);
        assert_eq!(st.failed("api", "second", Duration::from_secs(40)), 2);
        let (map, generation) = st.snapshot(Some("api"));
        let s = &map["api"];
        assert_eq!(
            (s.error.as_str(), s.failures, s.retry_in_secs),
            ("second", 2, 40)
        );
        assert!(s.failing_since <= s.at && !s.at_time.is_empty());
        assert!(st.snapshot(Some("web")).0.is_empty());
        st.succeeded("api");
        let (map, after) = st.snapshot(None);
        assert!(map.is_empty());
        assert!(after > generation);
    }
}
