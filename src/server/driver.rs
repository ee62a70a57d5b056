//! The one task that owns the engine. Every input (API commands, runner
//! results, git pollers) goes through it, one at a time, so the engine needs
//! no lock and the store sees a single writer. For each input: decide, make
//! the events durable, publish them, then perform the effects.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use color_eyre::eyre::{Result, WrapErr};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::engine::{Effect, Engine, Input, Rejection, State};
use crate::insights::Insights;
use crate::model::{ArtifactId, BuildId, DeploymentId, Event, Seq};
use crate::runner::Runner;
use crate::store::Store;

/// How many events one store read returns while loading or replaying.
pub(crate) const PAGE: usize = 1000;

/// A stand-in for an engine bug, for the one test that needs one: it runs
/// inside the driver's panic guard, just before the engine decides, and may
/// change the engine and panic as a buggy engine would. `None` in production.
pub(crate) type Fault = Box<dyn FnMut(&mut Engine, &Input) + Send>;

/// One event as the SSE endpoint sends it, serialised once for every subscriber.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub seq: Seq,
    pub name: &'static str,
    pub json: Arc<str>,
}

impl Published {
    pub fn new(event: &Event) -> Result<Self> {
        Ok(Published {
            seq: event.seq,
            name: event.kind.name(),
            json: serde_json::to_string(event)
                .wrap_err("could not serialise an event")?
                .into(),
        })
    }
}

/// What an accepted command led to, for the API's reply.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    pub deployment: Option<DeploymentId>,
    pub artifact: Option<ArtifactId>,
    pub build: Option<BuildId>,
}

#[derive(Debug)]
pub(crate) enum DriverError {
    Rejected(Rejection),
    /// The store failed: nothing was applied; the client may retry.
    Unavailable(String),
    /// The engine panicked on this input (a bug); it was rebuilt from the store.
    Internal(String),
}

/// An input handed to the driver by an HTTP handler, with where to send its verdict.
pub(crate) struct Submission {
    pub input: Input,
    pub reply: oneshot::Sender<Result<Applied, DriverError>>,
}

/// A read-only copy of the engine's state for GET handlers, kept in step by
/// applying the same numbered events, so reads never wait for the driver;
/// beside it the insights fold, fed the same events in the same place.
#[derive(Default)]
pub(crate) struct ReadModel(RwLock<State>, RwLock<Insights>);

impl ReadModel {
    pub fn new(state: State, insights: Insights) -> Self {
        ReadModel(RwLock::new(state), RwLock::new(insights))
    }
    pub fn insights(&self) -> RwLockReadGuard<'_, Insights> {
        self.1.read().unwrap_or_else(|e| e.into_inner())
    }
    /// Apply numbered events to the state and to the insights.
    pub(crate) fn apply(&self, events: &[Event]) {
        let mut state = self.write();
        let mut insights = self.1.write().unwrap_or_else(|e| e.into_inner());
        for e in events {
            state.apply(e);
            insights.apply(e);
        }
    }
    // A panic while holding the lock cannot leave a half-applied event behind
    // that matters more than serving reads, so poisoning is ignored.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) struct Driver {
    pub engine: Engine,
    pub fault: Option<Fault>,
    pub store: Arc<dyn Store>,
    pub runner: Arc<Runner>,
    pub read_model: Arc<ReadModel>,
    pub events: broadcast::Sender<Published>,
    /// Set when the engine may hold events the store does not: rebuild first.
    pub stale: bool,
    /// When the store last failed: while it keeps failing, inputs are
    /// refused for a moment instead of each one reloading the whole log.
    pub failed_at: Option<std::time::Instant>,
    /// The leader lease epoch every append is fenced with (1 on a single node).
    pub epoch: crate::store::Epoch,
    /// Cancelled when the store refuses an append because another replica
    /// took over: the term must stand down.
    pub deposed: CancellationToken,
}

/// An event's kill-point name: its kind, and for runs what runs (a build,
/// a promotion's or a rollback's deploy, verify or health step).
fn fault_label(state: &State, kind: &crate::model::EventKind) -> String {
    use crate::model::EventKind as K;
    let run_label = |run: &str, step: Option<usize>| {
        if let Some(d) = state.deployments.get(run) {
            let what = step
                .and_then(|s| d.steps.get(s))
                .map(|s| format!("{:?}", s.kind).to_lowercase());
            match what {
                Some(w) => format!("{w}:{}", d.kind.as_str()),
                None => d.kind.as_str().to_string(),
            }
        } else {
            "build".to_string()
        }
    };
    match kind {
        K::StepStarted { run, step }
        | K::StepFinished { run, step, .. }
        | K::StepOutput { run, step, .. } => {
            format!("{}:{}", kind.name(), run_label(run, Some(*step)))
        }
        K::DeploymentStarted { deployment }
        | K::DeploymentCreated { deployment, .. }
        | K::DeploymentFinished { deployment, .. }
        | K::DeploymentApproved { deployment }
        | K::ApprovalRecorded { deployment, .. }
        | K::DeploymentRequeued { deployment, .. } => {
            format!("{}:{}", kind.name(), run_label(deployment, None))
        }
        _ => kind.name().to_string(),
    }
}

/// How long after a store failure inputs are refused without a retry.
const STORE_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// Rebuild `engine` from every stored event, one page at a time: a long
/// history is never held in memory whole. The insights are folded from the
/// same pages.
pub(crate) async fn replay_all(store: &dyn Store, engine: &mut Engine) -> Result<Insights> {
    *engine = Engine::new(engine.config().clone());
    let mut insights = Insights::new();
    let mut after = 0;
    loop {
        let page = store.events_after(after, PAGE).await?;
        let done = page.len() < PAGE;
        if let Some(last) = page.last() {
            after = last.seq;
        }
        for e in &page {
            engine.apply(e);
            insights.apply(e);
        }
        if done {
            return Ok(insights);
        }
    }
}

impl Driver {
    /// Serve inputs until `stop`, then handle what is already queued and return.
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Submission>,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        stop: CancellationToken,
    ) {
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Some(req) = requests.recv() => self.serve(req).await,
                Some(input) = inputs.recv() => self.background(input).await,
                else => break,
            }
        }
        while let Ok(req) = requests.try_recv() {
            self.serve(req).await;
        }
        while let Ok(input) = inputs.try_recv() {
            self.background(input).await;
        }
    }

    async fn serve(&mut self, req: Submission) {
        let result = self.step(req.input).await;
        // The handler may have gone (client hung up); the input still counted.
        let _ = req.reply.send(result);
    }

    async fn background(&mut self, input: Input) {
        match self.step(input).await {
            Ok(_) => {}
            // Runner and poller inputs can race with cancels and duplicates;
            // the engine refusing them is expected.
            Err(DriverError::Rejected(r)) => debug!(reason = %r, "background input refused"),
            Err(DriverError::Unavailable(e) | DriverError::Internal(e)) => {
                warn!(error = %e, "background input lost")
            }
        }
    }

    /// Decide on one input, make its events durable, publish them, run its effects.
    pub async fn step(&mut self, input: Input) -> Result<Applied, DriverError> {
        if self.stale {
            if self
                .failed_at
                .is_some_and(|at| at.elapsed() < STORE_BACKOFF)
            {
                return Err(DriverError::Unavailable(
                    "the event store failed a moment ago; retrying shortly".to_string(),
                ));
            }
            self.rebuild().await.map_err(|e| {
                DriverError::Unavailable(format!("the event store is unavailable: {e:#}"))
            })?;
        }
        let before = self.engine.state().seq;
        // An engine bug on one input must not take the whole server down:
        // the state it half-changed is thrown away and rebuilt from the store.
        let (engine, fault) = (&mut self.engine, &mut self.fault);
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Some(fault) = fault {
                fault(engine, &input);
            }
            engine.handle(input, crate::now_millis())
        }));
        let out = match decided {
            Ok(result) => result.map_err(DriverError::Rejected)?,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                error!(panic = %what, "the engine panicked; rebuilding it from the store");
                self.stale = true;
                if let Err(e) = self.rebuild().await {
                    error!(error = %format!("{e:#}"), "rebuild failed; will retry on the next input");
                }
                return Err(DriverError::Internal(format!(
                    "the engine failed on this request ({what}); nothing was changed"
                )));
            }
        };
        let applied = Applied {
            deployment: out.deployment.clone(),
            artifact: out.artifact.clone(),
            build: out.build.clone(),
        };
        let count = out.events.len() as Seq;
        if crate::fault::armed_any() {
            for e in &out.events {
                crate::fault::point(&format!(
                    "decided:{}",
                    fault_label(self.engine.state(), &e.kind)
                ));
            }
        }
        let numbered = if out.events.is_empty() {
            Vec::new()
        } else {
            match self.store.append_fenced(self.epoch, out.events).await {
                Ok(numbered) => numbered,
                Err(e) => {
                    if e.downcast_ref::<crate::store::Deposed>().is_some() {
                        self.deposed.cancel();
                    }
                    error!(error = %format!("{e:#}"), "could not store events; the engine will be rebuilt from the store");
                    // The engine already applied events that are not durable:
                    // rebuild before the next input, after a short pause.
                    self.stale = true;
                    self.failed_at = Some(std::time::Instant::now());
                    return Err(DriverError::Unavailable(format!(
                        "could not store the events: {e:#}"
                    )));
                }
            }
        };
        let as_assumed = numbered
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == before + 1 + i as Seq)
            && self.engine.state().seq == before + count;
        if as_assumed {
            self.read_model.apply(&numbered);
        } else {
            // Only another writer on the same store can cause this. The stored
            // events are the truth; the effects still run, because the stored
            // events say their steps started.
            error!(
                expected_from = before + 1,
                got = ?numbered.iter().map(|e| e.seq).collect::<Vec<_>>(),
                "the store numbered events differently from the engine; is another server using this data directory?"
            );
            if let Err(e) = self.rebuild().await {
                error!(error = %format!("{e:#}"), "rebuild failed; will retry on the next input");
                self.stale = true;
            }
        }
        if crate::fault::armed_any() {
            for e in &numbered {
                crate::fault::point(&format!(
                    "stored:{}",
                    fault_label(self.engine.state(), &e.kind)
                ));
            }
        }
        for e in &numbered {
            match Published::new(e) {
                // No subscriber is not an error.
                Ok(p) => drop(self.events.send(p)),
                Err(e) => error!(error = %format!("{e:#}"), "event not streamed"),
            }
        }
        for effect in out.effects {
            match effect {
                Effect::RunStep(job) => self.runner.run_step(job),
                Effect::CancelStep { run, step } => self.runner.cancel_step(&run, step),
                Effect::Notify(n) => self.runner.notify(n),
            }
        }
        Ok(applied)
    }

    /// Reload the engine and the read model from the store.
    pub async fn rebuild(&mut self) -> Result<()> {
        let insights = replay_all(self.store.as_ref(), &mut self.engine).await?;
        *self.read_model.write() = self.engine.state().clone();
        *self.read_model.1.write().unwrap_or_else(|e| e.into_inner()) = insights;
        self.stale = false;
        self.failed_at = None;
        Ok(())
    }
}
