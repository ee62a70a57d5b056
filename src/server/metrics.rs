//! Prometheus metrics at `/metrics` (text format, `prometheus-client`).
//!
//! Deployment metrics are derived in ONE place, `Metrics::observe`, from the
//! events the driver publishes (the same stream SSE clients read), so no
//! counter is sprinkled through the engine or the runner. HTTP requests are
//! counted by a middleware with the route template (never the raw path), the
//! store's append latency by a wrapper around the store, and the gauges
//! (queue depth, SSE clients, leadership) are read at scrape time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::model::{
    DeploymentId, DeploymentStatus, Event, EventKind, Millis, NewEvent, Seq, StepKind,
};
use crate::store::{Epoch, Lease, Store, Tail};

use super::Shared;
use super::driver::{Published, ReadModel};

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn seconds_histogram() -> Histogram {
    // 50 ms .. ~7 h: steps run from seconds to hours, approvals for days.
    Histogram::new(exponential_buckets(0.05, 2.0, 20))
}

fn fast_histogram() -> Histogram {
    // 100 µs .. ~3 s: one fsync'd transaction.
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

/// Every series ferry exports.
pub(crate) struct Metrics {
    registry: Registry,
    deployments: Family<Labels, Counter>,
    rollbacks: Family<Labels, Counter>,
    step_seconds: Family<Labels, Histogram>,
    approval_wait: Histogram,
    append_seconds: Histogram,
    http_requests: Family<Labels, Counter>,
    queue_depth: Gauge,
    sse_clients: Gauge,
    leader: Gauge,
    /// What `observe` needs to remember between events: when a deployment
    /// started waiting for approval, and when a step started.
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    awaiting_since: HashMap<DeploymentId, Millis>,
    step_started: HashMap<(String, usize), Millis>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ferry");
        let deployments = Family::<Labels, Counter>::default();
        registry.register(
            "deployments",
            "Finished deployments by service, stage, kind and outcome",
            deployments.clone(),
        );
        let rollbacks = Family::<Labels, Counter>::default();
        registry.register(
            "rollbacks",
            "Rollback deployments created, by service and stage",
            rollbacks.clone(),
        );
        let step_seconds = Family::<Labels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "step_duration_seconds",
            "Duration of finished steps, by kind (build, deploy, verify, health) and outcome",
            step_seconds.clone(),
        );
        let approval_wait = seconds_histogram();
        registry.register(
            "approval_wait_seconds",
            "Time from a deployment awaiting approval to its gate holding",
            approval_wait.clone(),
        );
        let append_seconds = fast_histogram();
        registry.register(
            "store_append_seconds",
            "Latency of one event store append (one durable transaction)",
            append_seconds.clone(),
        );
        let http_requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status",
            http_requests.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Pending deployments (queued or awaiting approval) over all stages",
            queue_depth.clone(),
        );
        let sse_clients = Gauge::default();
        registry.register("sse_clients", "Open event streams", sse_clients.clone());
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this server is the leader (appends events), 0 as a follower",
            leader.clone(),
        );
        registry.register(
            "build",
            "The running ferry build",
            Info::new(vec![
                ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
                ("commit".to_string(), crate::build_info::COMMIT.to_string()),
                ("date".to_string(), crate::build_info::DATE.to_string()),
            ]),
        );
        Metrics {
            registry,
            deployments,
            rollbacks,
            step_seconds,
            approval_wait,
            append_seconds,
            http_requests,
            queue_depth,
            sse_clients,
            leader,
            pending: Mutex::new(Pending::default()),
        }
    }

    /// The one place deployment metrics come from: a published event, read
    /// against the read model the driver already applied it to.
    pub fn observe(&self, event: &Event, read_model: &ReadModel) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match &event.kind {
            EventKind::DeploymentCreated {
                deployment,
                service,
                stage,
                kind,
                status,
                ..
            } => {
                if *kind == crate::model::DeploymentKind::Rollback {
                    self.rollbacks
                        .get_or_create(&labels(&[("service", service), ("stage", stage)]))
                        .inc();
                }
                if *status == DeploymentStatus::AwaitingApproval {
                    pending.awaiting_since.insert(deployment.clone(), event.at);
                }
            }
            EventKind::DeploymentApproved { deployment } => {
                if let Some(since) = pending.awaiting_since.remove(deployment) {
                    self.approval_wait.observe(seconds(since, event.at));
                }
            }
            EventKind::StepStarted { run, step } => {
                pending
                    .step_started
                    .insert((run.to_string(), *step), event.at);
            }
            EventKind::StepFinished { run, step, outcome } => {
                if let Some(since) = pending.step_started.remove(&(run.to_string(), *step)) {
                    // The read model has the run's plan: which kind of step this was.
                    let kind = read_model
                        .read()
                        .steps(run)
                        .and_then(|steps| steps.get(*step))
                        .map_or("unknown", |s| step_kind(s.kind));
                    self.step_seconds
                        .get_or_create(&labels(&[
                            ("kind", kind),
                            ("outcome", outcome.status.as_str()),
                        ]))
                        .observe(seconds(since, event.at));
                }
            }
            EventKind::DeploymentFinished {
                deployment, status, ..
            } => {
                pending.awaiting_since.remove(deployment);
                let state = read_model.read();
                let (service, stage, kind) = match state.deployments.get(deployment) {
                    Some(d) => (d.service.clone(), d.stage.clone(), d.kind.as_str()),
                    None => ("unknown".to_string(), "unknown".to_string(), "unknown"),
                };
                self.deployments
                    .get_or_create(&labels(&[
                        ("service", &service),
                        ("stage", &stage),
                        ("kind", kind),
                        ("outcome", status.as_str()),
                    ]))
                    .inc();
            }
            _ => {}
        }
    }

    pub fn observe_append(&self, started: Instant) {
        self.append_seconds.observe(started.elapsed().as_secs_f64());
    }

    fn count_request(&self, route: &str, method: &str, status: u16) {
        self.http_requests
            .get_or_create(&labels(&[
                ("route", route),
                ("method", method),
                ("status", &status.to_string()),
            ]))
            .inc();
    }

    /// The text exposition, with the scrape-time gauges refreshed.
    pub fn render(&self, shared: &Shared) -> Result<String, std::fmt::Error> {
        {
            let state = shared.read_model.read();
            let queued: usize = state
                .services
                .iter()
                .flat_map(|s| s.stages.iter())
                .map(|st| st.queue.len())
                .sum();
            self.queue_depth
                .set(i64::try_from(queued).unwrap_or(i64::MAX));
        }
        // Every SSE client holds one receiver; the metrics task holds one more.
        let receivers = shared.events.receiver_count().saturating_sub(1);
        self.sse_clients
            .set(i64::try_from(receivers).unwrap_or(i64::MAX));
        // Replication is not wired into the server yet: this one always leads.
        self.leader.set(1);
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// A step kind as a label value: the names the config and the API use.
fn step_kind(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Build => "build",
        StepKind::Deploy => "deploy",
        StepKind::Verify => "verify",
        StepKind::SignOff => "sign_off",
        StepKind::Health => "health",
    }
}

fn seconds(from: Millis, to: Millis) -> f64 {
    (to.saturating_sub(from)).max(0) as f64 / 1000.0
}

/// Follow the published events until the server closes.
pub(crate) fn spawn_observer(
    metrics: Arc<Metrics>,
    mut events: broadcast::Receiver<Published>,
    read_model: Arc<ReadModel>,
    closing: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let published = tokio::select! {
                _ = closing.cancelled() => return,
                p = events.recv() => p,
            };
            match published {
                Ok(p) => match serde_json::from_str::<Event>(&p.json) {
                    Ok(event) => metrics.observe(&event, &read_model),
                    Err(e) => tracing::warn!(error = %e, "metrics: unreadable event"),
                },
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "metrics fell behind the event stream")
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(shared): State<Arc<Shared>>) -> Response {
    match shared.metrics.render(&shared) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Count every request by its route template (`/api/v1/deployments/{id}`),
/// so that ids never become label values.
pub(crate) async fn count_requests(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    shared
        .metrics
        .count_request(&route, &method, resp.status().as_u16());
    resp
}

/// The store, with each append timed.
pub(crate) struct TimedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl TimedStore {
    pub fn wrap(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Arc<dyn Store> {
        Arc::new(TimedStore { inner, metrics })
    }
}

impl Store for TimedStore {
    fn append(&self, events: Vec<NewEvent>) -> BoxFuture<'_, color_eyre::Result<Vec<Event>>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.append(events).await;
            self.metrics.observe_append(started);
            r
        })
    }
    fn append_fenced(
        &self,
        epoch: Epoch,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'_, color_eyre::Result<Vec<Event>>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.append_fenced(epoch, events).await;
            self.metrics.observe_append(started);
            r
        })
    }
    fn events_about(&self, id: &str) -> BoxFuture<'_, color_eyre::Result<Vec<Event>>> {
        self.inner.events_about(id)
    }
    fn events_after(
        &self,
        after: Seq,
        limit: usize,
    ) -> BoxFuture<'_, color_eyre::Result<Vec<Event>>> {
        self.inner.events_after(after, limit)
    }
    fn last_seq(&self) -> BoxFuture<'_, color_eyre::Result<Seq>> {
        self.inner.last_seq()
    }
    fn lease(&self) -> &dyn Lease {
        self.inner.lease()
    }
    fn tail(&self, after: Seq) -> BoxFuture<'_, color_eyre::Result<Box<dyn Tail>>> {
        self.inner.tail(after)
    }
    fn put_snapshot(
        &self,
        snapshot: crate::store::Snapshot,
    ) -> BoxFuture<'_, color_eyre::Result<()>> {
        self.inner.put_snapshot(snapshot)
    }
    fn snapshot_at_most(
        &self,
        format: &str,
        at_most: Seq,
    ) -> BoxFuture<'_, color_eyre::Result<Option<crate::store::Snapshot>>> {
        self.inner.snapshot_at_most(format, at_most)
    }
    fn snapshot_seqs(&self, format: &str) -> BoxFuture<'_, color_eyre::Result<Vec<Seq>>> {
        self.inner.snapshot_seqs(format)
    }
    fn retain_snapshots(
        &self,
        format: &str,
        keep: Vec<Seq>,
    ) -> BoxFuture<'_, color_eyre::Result<u64>> {
        self.inner.retain_snapshots(format, keep)
    }
}
