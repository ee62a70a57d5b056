//! One leadership term: the engine driver, the runner and the git pollers,
//! started together when this replica leads and stopped together when it
//! stands down. A single-node server runs one term for its whole life.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use color_eyre::eyre::{Result, bail, eyre};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::Shared;
use super::driver::{self, Driver, DriverError, Submission};
use crate::engine::{Engine, Input};
use crate::model::RunId;
use crate::runner::Runner;
use crate::runner::poller::{Poller, spawn_pollers};
use crate::store::Epoch;

/// The current term's pollers, or none on a follower (push hooks are then ignored).
#[derive(Default)]
pub(crate) struct PollerSlot(Mutex<Option<Poller>>);

impl PollerSlot {
    pub fn poke(&self, service: &str) {
        if let Some(p) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            p.poke(service);
        }
    }
    /// Sources whose last fetch failed, and a generation for caching
    /// (empty and 0 on a follower, which runs no pollers).
    pub fn sources(
        &self,
        service: Option<&str>,
    ) -> (
        std::collections::BTreeMap<String, crate::api::SourceStatus>,
        u64,
    ) {
        match self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(p) => p.statuses().snapshot(service),
            None => Default::default(),
        }
    }
    fn set(&self, poller: Option<Poller>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = poller;
    }
}

/// Where submitted inputs go: the current term's driver, if any.
pub(crate) type DriverInbox = watch::Sender<Option<mpsc::Sender<Submission>>>;

/// Hands every submission to the current term's driver; without a term
/// (a follower that could not forward, or between terms) it answers 503.
pub(crate) async fn route_submissions(
    mut requests: mpsc::Receiver<Submission>,
    inbox: watch::Receiver<Option<mpsc::Sender<Submission>>>,
) {
    while let Some(sub) = requests.recv().await {
        let target = inbox.borrow().clone();
        match target {
            Some(tx) => {
                if let Err(mpsc::error::SendError(sub)) = tx.send(sub).await {
                    let _ = sub.reply.send(Err(not_leader()));
                }
            }
            None => {
                let _ = sub.reply.send(Err(not_leader()));
            }
        }
    }
}

fn not_leader() -> DriverError {
    DriverError::Unavailable(
        "this replica is not the leader right now (leadership is changing); retry in a few seconds"
            .to_string(),
    )
}

/// A running term.
pub(crate) struct Term {
    pub runner: Arc<Runner>,
    driver_stop: CancellationToken,
    driver_task: JoinHandle<()>,
    /// Cancelled by the driver when the store refuses an append as deposed.
    pub deposed: CancellationToken,
}

impl Term {
    /// Rebuild nothing: `engine` must already hold the whole log. Recovers
    /// the previous holder's running steps as interrupted (the restart rules),
    /// then starts the driver, the runner and the pollers.
    pub async fn begin(
        shared: &Arc<Shared>,
        inbox: &DriverInbox,
        engine: Engine,
        epoch: Epoch,
        fault: Option<driver::Fault>,
    ) -> Result<Term> {
        let config = shared.config.clone();
        let (inputs_tx, inputs_rx) =
            crate::runner::input_channel(crate::runner::inputs::BULK_BUDGET);
        let (requests_tx, requests_rx) = mpsc::channel(256);
        let runner = Arc::new(Runner::new(
            config.clone(),
            shared.data_dir.clone(),
            inputs_tx.clone(),
        ));
        let deposed = CancellationToken::new();
        let snapshots =
            super::snapshots::Snapshots::new(&config, shared.snapshot_every, shared.store.as_ref())
                .await;
        let mut driver = Driver {
            engine,
            fault,
            store: shared.store.clone(),
            runner: runner.clone(),
            read_model: shared.read_model.clone(),
            events: shared.events.clone(),
            stale: false,
            failed_at: None,
            epoch,
            deposed: deposed.clone(),
            snapshots,
        };
        // Whatever a killed server's steps left running must stop before a
        // rollback deploys over it.
        crate::fault::point("recovery:start");
        let killed = runner.reap_orphans().await;
        crate::fault::point("recovery:reaped");
        if killed > 0 {
            warn!(killed, "stopped steps a previous server left running");
        }
        // No rollback while any process of an interrupted step lives: it could
        // switch the target forward behind the rollback's back.
        let mut tries = 0;
        while runner.orphans_alive().await {
            tries += 1;
            if tries > 3 {
                bail!(
                    "processes of a step the previous server left running survive SIGKILL; \
                     not recovering (a rollback would race them)\n  \
                     hint: look for them in the step cgroups under ferry/ or with `ps -eo pid,pgid,cmd`"
                );
            }
            runner.reap_orphans().await;
        }
        // Before anyone can send a command: steps that were running when the
        // previous leader stopped are interrupted, and the rollback policy
        // applies; a step that never began is not an interruption.
        let running: Vec<_> = driver
            .engine
            .state()
            .deployments
            .values()
            .filter_map(|d| d.running_step().map(|s| (RunId::from(&d.id), s)))
            .collect();
        let not_begun = runner.not_begun(&running);
        match driver.step(Input::Recover { not_begun }).await {
            Ok(_) => {}
            Err(DriverError::Rejected(r)) => warn!(reason = %r, "recovery refused"),
            Err(DriverError::Unavailable(e) | DriverError::Internal(e)) => {
                bail!("could not record the recovery: {e}")
            }
        }
        crate::fault::point("recovery:done");
        // A build the restart interrupted is not known: its commit is built again.
        let known: HashSet<(String, String)> = shared
            .read_model
            .read()
            .builds
            .values()
            .filter(|b| !b.was_interrupted())
            .map(|b| (b.service.clone(), b.commit.clone()))
            .collect();
        shared.poller.set(Some(spawn_pollers(
            config,
            shared.data_dir.clone(),
            inputs_tx,
            known,
        )));
        let driver_stop = CancellationToken::new();
        let driver_task = tokio::spawn(driver.run(requests_rx, inputs_rx, driver_stop.clone()));
        inbox.send_replace(Some(requests_tx));
        Ok(Term {
            runner,
            driver_stop,
            driver_task,
            deposed,
        })
    }

    /// Stop acting (a planned stop): no new inputs, the pollers stop,
    /// running steps get `step_drain` to finish and their results are
    /// recorded; the driver finishes what it holds, then steps still running
    /// are killed and the next leader recovers them as interrupted.
    pub async fn end(self, shared: &Shared, inbox: &DriverInbox) -> Result<()> {
        inbox.send_replace(None);
        shared.poller.set(None);
        // A step that finishes during the drain is recorded as it ended,
        // not turned into an interruption by the stop.
        if !self.runner.drain(super::step_drain()).await {
            warn!(
                running = self.runner.running(),
                "steps still running after the drain; they are interrupted"
            );
        }
        self.driver_stop.cancel();
        let joined = self.driver_task.await;
        self.runner.shutdown().await;
        joined.map_err(|e| eyre!("the engine driver task failed: {e}"))
    }

    /// Stand down at once: steps are killed while the driver stops, since the
    /// lease may lapse any moment and nothing may act after it.
    pub async fn abandon(self, shared: &Shared, inbox: &DriverInbox) {
        inbox.send_replace(None);
        shared.poller.set(None);
        self.driver_stop.cancel();
        let runner = self.runner.clone();
        let (_, joined) = tokio::join!(runner.shutdown(), self.driver_task);
        if let Err(e) = joined {
            warn!(error = %e, "the engine driver task failed while standing down");
        }
    }
}
