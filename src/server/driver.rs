//! The one task that owns the engine. Every input (API commands, runner
//! results, git pollers) goes through it, one at a time, so the engine needs
//! no lock and the store sees a single writer. For each input: decide, make
//! the events durable, publish them, then perform the effects.

use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::engine::{Effect, Engine, Input, Output, Rejection, State};
use crate::model::{ArtifactId, BuildId, DeploymentId, Event, Seq};
use crate::runner::Runner;
use crate::store::Store;

/// How many events one store read returns while loading or replaying.
pub(crate) const PAGE: usize = 1000;

mod read_model;
mod replay;

pub(crate) use read_model::ReadModel;
pub(crate) use replay::{fold_insights, release_freed_memory, replay_all};

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
    /// When the next state snapshot is due.
    pub snapshots: super::snapshots::Snapshots,
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

/// At most this many inputs are decided and committed together: a group
/// commit bounds how long the first of them waits for the last.
const GROUP_MAX: usize = 256;

/// One input of a group, with where its verdict goes (None: background).
type Queued = (Input, Option<Reply>);
/// Where one input's verdict goes.
type Reply = oneshot::Sender<Result<Applied, DriverError>>;

impl Driver {
    /// Serve inputs until `stop`, then handle what is already queued and return.
    /// Whatever is queued when the driver wakes is decided in order and
    /// committed in one transaction (group commit), so a burst costs one
    /// fsync, not one per input.
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Submission>,
        mut inputs: crate::runner::InputReceiver,
        stop: CancellationToken,
    ) {
        loop {
            // The engine reads no clock: it names its next deadline (a
            // freeze window closing) and is woken with a Tick then.
            let deadline = self.engine.next_deadline();
            let first: Queued = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Some(req) = requests.recv() => (req.input, Some(req.reply)),
                Some(input) = inputs.recv() => (input, None),
                _ = sleep_until_ms(deadline.unwrap_or_default()), if deadline.is_some() => {
                    (Input::Tick { now: crate::now_millis() }, None)
                }
                else => break,
            };
            let group = drain(first, &mut requests, &mut inputs);
            debug!(inputs = group.len(), "driver: woken");
            self.step_group(group).await;
        }
        while let Ok(req) = requests.try_recv() {
            self.serve(req).await;
        }
        while let Ok(input) = inputs.try_recv() {
            self.background(input).await;
        }
        // A clean stop leaves a snapshot at the end, so the next start folds
        // nothing (unless the engine may be ahead of the store).
        if !self.stale {
            self.snapshots.take(self.store.clone(), self.engine.state());
        }
        self.snapshots.finish().await;
    }

    async fn serve(&mut self, req: Submission) {
        let result = self.step(req.input).await;
        // The handler may have gone (client hung up); the input still counted.
        let _ = req.reply.send(result);
    }

    async fn background(&mut self, input: Input) {
        let result = self.step(input).await;
        log_background(result);
    }

    /// Decide on one input, make its events durable, publish them, run its effects.
    pub async fn step(&mut self, input: Input) -> Result<Applied, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.step_group(vec![(input, Some(tx))]).await;
        rx.await.unwrap_or_else(|_| {
            Err(DriverError::Internal(
                "the driver dropped a verdict".to_string(),
            ))
        })
    }

    /// Decide every input of `group` in order, append all their events in
    /// one transaction, then publish them and run the effects; only then is
    /// any verdict sent, so an accepted reply still means durable.
    async fn step_group(&mut self, mut group: Vec<Queued>) {
        while !group.is_empty() {
            if self.stale {
                let refused = if self
                    .failed_at
                    .is_some_and(|at| at.elapsed() < STORE_BACKOFF)
                {
                    Some("the event store failed a moment ago; retrying shortly".to_string())
                } else {
                    self.rebuild()
                        .await
                        .err()
                        .map(|e| format!("the event store is unavailable: {e:#}"))
                };
                if let Some(why) = refused {
                    for (_, reply) in group.drain(..) {
                        reply_or_log(reply, Err(DriverError::Unavailable(why.clone())));
                    }
                    return;
                }
            }
            let before = self.engine.state().seq;
            let mut decided: Vec<(Output, Option<Reply>)> = Vec::new();
            let mut rest = group.drain(..);
            let mut failed = None;
            for (input, reply) in rest.by_ref() {
                match self.decide(input) {
                    Ok(out) => decided.push((out, reply)),
                    Err(DriverError::Rejected(r)) => {
                        reply_or_log(reply, Err(DriverError::Rejected(r)))
                    }
                    Err(e) => {
                        // The engine panicked and threw away its state: the
                        // inputs decided before it must not be committed
                        // from a rebuilt engine; they are refused too.
                        failed = Some((e, reply));
                        break;
                    }
                }
            }
            let later: Vec<Queued> = rest.collect();
            if let Some((e, reply)) = failed {
                // The inputs decided before the panic were decided on a
                // sound state: their events are committed (and their
                // effects run) before the engine is rebuilt from the store.
                self.commit(before, decided, false).await;
                reply_or_log(reply, Err(e));
                self.stale = true;
                if let Err(e) = self.rebuild().await {
                    error!(error = %format!("{e:#}"), "rebuild failed; will retry on the next input");
                }
                group = later;
                continue;
            }
            self.commit(before, decided, true).await;
            group = later;
        }
    }

    /// Run the engine on one input, guarding against its panics.
    fn decide(&mut self, input: Input) -> Result<Output, DriverError> {
        // An engine bug on one input must not take the whole server down:
        // the state it half-changed is thrown away and rebuilt from the store.
        let (engine, fault) = (&mut self.engine, &mut self.fault);
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Some(fault) = fault {
                fault(engine, &input);
            }
            engine.handle(input, crate::now_millis())
        }));
        match decided {
            Ok(result) => result.map_err(DriverError::Rejected),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                error!(panic = %what, "the engine panicked; rebuilding it from the store");
                Err(DriverError::Internal(format!(
                    "the engine failed on this request ({what}); nothing was changed"
                )))
            }
        }
    }

    /// Append the events of every decided input in one transaction, then
    /// publish them, run the effects and send the verdicts. `sound` is false
    /// when the engine panicked after deciding them: then the store's events
    /// are the truth and the engine and read model are rebuilt from it.
    async fn commit(&mut self, before: Seq, decided: Vec<(Output, Option<Reply>)>, sound: bool) {
        let mut events = Vec::new();
        let mut rest = Vec::with_capacity(decided.len());
        for (out, reply) in decided {
            let applied = Applied {
                deployment: out.deployment,
                artifact: out.artifact,
                build: out.build,
            };
            events.extend(out.events);
            rest.push((applied, out.effects, reply));
        }
        let count = events.len() as Seq;
        if crate::fault::armed_any() {
            for e in &events {
                crate::fault::point(&format!(
                    "decided:{}",
                    fault_label(self.engine.state(), &e.kind)
                ));
            }
        }
        let numbered = if events.is_empty() {
            Vec::new()
        } else {
            debug!(count, "driver: appending");
            match self.store.append_fenced(self.epoch, events).await {
                Ok(numbered) => {
                    debug!(count, "driver: appended");
                    numbered
                }
                Err(e) => {
                    if e.downcast_ref::<crate::store::Deposed>().is_some() {
                        self.deposed.cancel();
                    }
                    error!(error = %format!("{e:#}"), "could not store events; the engine will be rebuilt from the store");
                    // The engine already applied events that are not durable:
                    // rebuild before the next input, after a short pause.
                    self.stale = true;
                    self.failed_at = Some(std::time::Instant::now());
                    let why = format!("could not store the events: {e:#}");
                    for (_, _, reply) in rest {
                        reply_or_log(reply, Err(DriverError::Unavailable(why.clone())));
                    }
                    return;
                }
            }
        };
        if !sound && let Err(e) = self.rebuild().await {
            error!(error = %format!("{e:#}"), "rebuild failed; will retry on the next input");
            self.stale = true;
        }
        let as_assumed = !sound
            || numbered
                .iter()
                .enumerate()
                .all(|(i, e)| e.seq == before + 1 + i as Seq)
                && self.engine.state().seq == before + count;
        if !sound {
            // Rebuilt above.
        } else if as_assumed {
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
        if !self.stale && self.snapshots.due(self.engine.state().seq) {
            // Encoded here (the engine's own state, consistent), stored in the background.
            self.snapshots.take(self.store.clone(), self.engine.state());
        }
        for (applied, effects, reply) in rest {
            for effect in effects {
                match effect {
                    Effect::RunStep(job) => self.runner.run_step(job),
                    Effect::CancelStep { run, step } => self.runner.cancel_step(&run, step),
                    Effect::Notify(n) => self.runner.notify(n),
                    Effect::Redeliver {
                        notification,
                        channels,
                    } => self.runner.redeliver(notification, channels),
                }
            }
            reply_or_log(reply, Ok(applied));
        }
    }

    /// Reload the engine and the read model from the store.
    pub async fn rebuild(&mut self) -> Result<()> {
        replay_all(self.store.as_ref(), &mut self.engine).await?;
        let insights = fold_insights(self.store.as_ref()).await?;
        {
            let mut state = self.read_model.write();
            *state = self.engine.state().clone();
            self.read_model.set_insights(insights);
        }
        self.stale = false;
        self.failed_at = None;
        Ok(())
    }
}

/// Sleep until the wall-clock time `at` (epoch ms); at once when it has passed.
async fn sleep_until_ms(at: crate::model::Millis) {
    let wait = at.saturating_sub(crate::now_millis()).max(0) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
}

/// Everything queued right now after `first`, requests first within each
/// round, in arrival order per channel, up to `GROUP_MAX`.
fn drain(
    first: Queued,
    requests: &mut mpsc::Receiver<Submission>,
    inputs: &mut crate::runner::InputReceiver,
) -> Vec<Queued> {
    let mut group = vec![first];
    while group.len() < GROUP_MAX {
        let mut took = false;
        if let Ok(req) = requests.try_recv() {
            group.push((req.input, Some(req.reply)));
            took = true;
        }
        if group.len() < GROUP_MAX
            && let Ok(input) = inputs.try_recv()
        {
            group.push((input, None));
            took = true;
        }
        if !took {
            break;
        }
    }
    group
}

/// Send a verdict to its handler, or log a background input's.
fn reply_or_log(reply: Option<Reply>, result: Result<Applied, DriverError>) {
    match reply {
        // The handler may have gone (client hung up); the input still counted.
        Some(r) => drop(r.send(result)),
        None => log_background(result),
    }
}

fn log_background(result: Result<Applied, DriverError>) {
    match result {
        Ok(_) => {}
        // Runner and poller inputs can race with cancels and duplicates;
        // the engine refusing them is expected.
        Err(DriverError::Rejected(r)) => debug!(reason = %r, "background input refused"),
        Err(DriverError::Unavailable(e) | DriverError::Internal(e)) => {
            warn!(error = %e, "background input lost")
        }
    }
}
