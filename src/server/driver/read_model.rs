//! The server's read model: a copy of the engine's state kept in step by
//! folding the same numbered events, the insights beside it, and the
//! dashboard's bytes made once per seq, so GET handlers never wait for the
//! driver.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use color_eyre::eyre::{Result, WrapErr};
use tokio::sync::watch;

use crate::engine::State;
use crate::insights::Insights;
use crate::model::{Event, Seq};

/// A read-only copy of the engine's state for GET handlers, kept in step by
/// applying the same numbered events, so reads never wait for the driver;
/// beside it the insights fold, fed the same events in the same place.
#[derive(Default)]
/// The server's read copy of the state, its insights, and the dashboard's
/// serialised bytes for the current seq.
pub(crate) struct ReadModel(
    RwLock<State>,
    RwLock<Insights>,
    DashboardCache,
    /// Whether the insights hold the whole log: after a start from a
    /// snapshot they are folded in the background (`load_insights`), and
    /// until then events are not applied to them.
    watch::Sender<bool>,
);

/// The dashboard's `state` as JSON, made once per seq and shared by every
/// reader; the async lock lets one reader build it while the others wait.
pub(crate) type DashboardCache = tokio::sync::Mutex<Option<Arc<DashboardBytes>>>;

/// The shared start of a dashboard body, `{"state":<state>,`, for one seq,
/// and its gzip prefix, compressed the first time a reader asks for gzip.
pub(crate) struct DashboardBytes {
    pub seq: Seq,
    pub prefix: axum::body::Bytes,
    pub gzip: std::sync::OnceLock<crate::server::gzip::Prefix>,
    /// What waits where and why, at this seq (`engine::blocked_all`).
    pub blocked: Vec<crate::engine::Blocked>,
}

impl DashboardBytes {
    fn new(seq: Seq, state: &[u8], blocked: Vec<crate::engine::Blocked>) -> Self {
        let mut prefix = Vec::with_capacity(state.len() + 16);
        prefix.extend_from_slice(b"{\"state\":");
        prefix.extend_from_slice(state);
        prefix.push(b',');
        DashboardBytes {
            seq,
            prefix: prefix.into(),
            gzip: std::sync::OnceLock::new(),
            blocked,
        }
    }
    /// The gzip prefix, compressed on first use.
    pub fn gzip(&self) -> &crate::server::gzip::Prefix {
        self.gzip
            .get_or_init(|| crate::server::gzip::Prefix::new(&self.prefix))
    }
}

impl ReadModel {
    /// A read model at `state`; `insights` None: not folded yet (call
    /// `load_insights`).
    pub fn new(state: State, insights: Option<Insights>) -> Self {
        let ready = insights.is_some();
        ReadModel(
            RwLock::new(state),
            RwLock::new(insights.unwrap_or_default()),
            DashboardCache::default(),
            watch::Sender::new(ready),
        )
    }
    /// The insights, once they hold the whole log (waiting for the
    /// background fold after a start from a snapshot).
    pub async fn insights(&self) -> RwLockReadGuard<'_, Insights> {
        let mut ready = self.3.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = ready.wait_for(|r| *r).await;
        self.1.read().unwrap_or_else(|e| e.into_inner())
    }
    /// Apply numbered events to the state and to the insights.
    pub(crate) fn apply(&self, events: &[Event]) {
        let mut state = self.write();
        let ready = *self.3.borrow();
        let mut insights = self.1.write().unwrap_or_else(|e| e.into_inner());
        for e in events {
            state.apply(e);
            if ready {
                insights.apply(e);
            }
        }
    }
    /// The recent view of one service only (`?service=`): not cached, the
    /// view is small. None when there is no such service.
    pub fn dashboard_service(
        &self,
        config: &crate::config::Config,
        keep: usize,
        service: &str,
    ) -> Option<Result<DashboardBytes>> {
        let (mut view, blocked) = {
            let state = self.read();
            let svc = state.service(service)?;
            let blocked = svc
                .stages
                .iter()
                .filter_map(|st| crate::engine::blocked(config, &state, service, &st.name))
                .collect();
            (state.recent(keep), blocked)
        };
        view.services.retain(|s| s.name == service);
        view.artifacts.retain(|_, a| a.service == service);
        view.builds.retain(|_, b| b.service == service);
        view.deployments.retain(|_, d| d.service == service);
        view.cancelling
            .retain(|id, _| view.deployments.contains_key(id));
        Some(
            serde_json::to_vec(&view)
                .map(|b| DashboardBytes::new(view.seq, &b, blocked))
                .wrap_err("could not serialise the dashboard"),
        )
    }

    /// The recent view (`State::recent(keep)`) serialised, and its seq;
    /// with `gzip`, its compressed prefix made too (once per seq, while
    /// other readers wait on the async lock rather than compress it again).
    /// The state lock is held only to copy the view, never while
    /// serialising, so the driver is not kept waiting by readers.
    pub async fn dashboard_state(
        &self,
        config: &crate::config::Config,
        keep: usize,
        gzip: bool,
    ) -> Result<Arc<DashboardBytes>> {
        let mut cache = self.2.lock().await;
        let seq = self.read().seq;
        let entry = match cache.as_ref() {
            Some(entry) if entry.seq == seq => entry.clone(),
            _ => {
                // One read: the view and what is blocked are of the same seq.
                let (view, blocked) = {
                    let state = self.read();
                    (
                        state.recent(keep),
                        crate::engine::blocked_all(config, &state),
                    )
                };
                let bytes =
                    serde_json::to_vec(&view).wrap_err("could not serialise the dashboard")?;
                let entry = Arc::new(DashboardBytes::new(view.seq, &bytes, blocked));
                *cache = Some(entry.clone());
                entry
            }
        };
        if gzip {
            entry.gzip();
        }
        Ok(entry)
    }
    // A panic while holding the lock cannot leave a half-applied event behind
    // that matters more than serving reads, so poisoning is ignored.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    /// Hand over insights folded up to the state's seq, and say they are
    /// ready (readers of `insights` waiting on them go on).
    pub(crate) fn set_insights(&self, insights: Insights) {
        *self.1.write().unwrap_or_else(|e| e.into_inner()) = insights;
        self.3.send_replace(true);
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}
