//! Several `ferry server` replicas on one PostgreSQL store: who this replica
//! is, whether it leads, and the supervisor that moves it between following
//! (tail the log into the read state) and leading (a `leader::Term`).
//!
//! The lease protocol: followers try `acquire` every TTL/3; the leader renews
//! every TTL/3 and stands down (kills its steps, stops appending) when it
//! cannot renew before `valid_until - margin` by its own monotonic clock.
//! Every append carries the term's epoch, so a paused old leader cannot
//! append after a new one took over.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, bail};
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::Shared;
use super::driver::{self, PAGE, Published};
use super::leader::{DriverInbox, Term};
use crate::engine::Engine;
use crate::model::Seq;
use crate::store::{Epoch, Grant, Heartbeat, Role};

/// What this replica knows about itself, for /readyz, forwarding and status.
pub(crate) struct ReplicaState {
    pub id: String,
    /// False for a single-node (SQLite) server: always the leader.
    pub replicated: bool,
    /// The URL the other replicas forward writes to.
    pub address: String,
    status: RwLock<Status>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Status {
    pub role: &'static str,
    pub epoch: Epoch,
    /// False while the store cannot be reached: reads serve the last known state.
    pub store_ok: bool,
    /// The newest sequence this replica has seen in the log.
    pub log_seq: Seq,
}

impl ReplicaState {
    pub fn new(replicated: bool, address: String) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".to_string());
        let random = uuid::Uuid::new_v4().simple().to_string();
        ReplicaState {
            id: format!("{host}:{}:{}", std::process::id(), &random[..8]),
            replicated,
            address,
            status: RwLock::new(Status {
                role: if replicated { "follower" } else { "leader" },
                epoch: if replicated { 0 } else { 1 },
                store_ok: true,
                log_seq: 0,
            }),
        }
    }

    pub fn status(&self) -> Status {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.write().unwrap_or_else(|p| p.into_inner()));
    }

    fn set_store_ok(&self, ok: bool) {
        self.update(|s| s.store_ok = ok);
    }
}

/// Point `data_dir/artifacts` and `data_dir/logs` at the shared directories
/// (`[server] artifact_dir`, `log_dir`), so every path the runner and the
/// log route compute lands on storage every replica mounts.
pub(crate) fn link_shared_dirs(config: &crate::config::Config, data_dir: &Path) -> Result<()> {
    let r = &config.server.replica;
    for (name, target) in [("artifacts", &r.artifact_dir), ("logs", &r.log_dir)] {
        let Some(target) = target else { continue };
        std::fs::create_dir_all(target).wrap_err_with(|| {
            format!("could not create the shared directory {}", target.display())
        })?;
        let link = data_dir.join(name);
        match std::fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::remove_file(&link)
                    .wrap_err_with(|| format!("could not replace {}", link.display()))?;
            }
            Ok(_) => bail!(
                "{} already exists and is not a link to the shared {}\n  \
                 hint: move its contents to {} and remove it",
                link.display(),
                target.display(),
                target.display()
            ),
            Err(_) => {}
        }
        let target = std::path::absolute(target).unwrap_or_else(|_| target.clone());
        std::os::unix::fs::symlink(&target, &link).wrap_err_with(|| {
            format!("could not link {} to {}", link.display(), target.display())
        })?;
    }
    Ok(())
}

/// Read every event after the read state's sequence, fold it in and stream
/// it, in order and gap-free.
async fn catch_up(shared: &Shared) -> Result<()> {
    loop {
        let seq = shared.read_model.read().seq;
        let page = shared.store.events_after(seq, PAGE).await?;
        let full = page.len() == PAGE;
        let mut next = seq + 1;
        for e in &page {
            if e.seq != next {
                bail!("the log skipped from {} to {}", next - 1, e.seq);
            }
            shared.read_model.apply(std::slice::from_ref(e));
            match Published::new(e) {
                Ok(p) => drop(shared.events.send(p)),
                Err(err) => error!(error = %format!("{err:#}"), "event not streamed"),
            }
            next += 1;
        }
        let last = next - 1;
        shared.replica.update(|s| s.log_seq = s.log_seq.max(last));
        if !full {
            return Ok(());
        }
    }
}

/// Follow the log until `stop`: wake on the tail, fold and stream new events;
/// when the store fails, mark the state stale and reconnect with backoff.
async fn follow(shared: Arc<Shared>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let after = shared.read_model.read().seq;
        let tail = tokio::select! {
            _ = stop.cancelled() => return,
            t = shared.store.tail(after) => t,
        };
        if let Ok(mut tail) = tail {
            loop {
                if let Err(e) = catch_up(&shared).await {
                    warn!(error = %format!("{e:#}"), "following the log failed; reconnecting");
                    break;
                }
                shared.replica.set_store_ok(true);
                backoff = Duration::from_millis(250);
                let woke = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = tail.next() => r,
                };
                match woke {
                    Ok(seq) => shared.replica.update(|s| s.log_seq = s.log_seq.max(seq)),
                    Err(e) => {
                        warn!(error = %format!("{e:#}"), "the log tail failed; reconnecting");
                        break;
                    }
                }
            }
        }
        shared.replica.set_store_ok(false);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn beat(shared: &Shared, role: Role) {
    let beat = Heartbeat {
        replica: shared.replica.id.clone(),
        address: shared.replica.address.clone(),
        role,
        applied_seq: shared.read_model.read().seq,
    };
    if let Err(e) = shared.store.lease().heartbeat(&beat).await {
        warn!(error = %format!("{e:#}"), "heartbeat failed");
    }
}

/// Move between following and leading until `stop`; on `stop` a leader
/// finishes its term and releases the lease so a follower need not wait.
pub(crate) async fn supervise(shared: Arc<Shared>, inbox: DriverInbox, stop: CancellationToken) {
    let ttl = shared.config.server.replica.lease_ttl;
    let every = ttl / 3;
    loop {
        let follow_stop = CancellationToken::new();
        let follower = tokio::spawn(follow(shared.clone(), follow_stop.clone()));
        let grant = loop {
            beat(&shared, Role::Follower).await;
            match shared.store.lease().acquire(&shared.replica.id, ttl).await {
                Ok(Some(g)) => break Some(g),
                Ok(None) => {}
                Err(e) => {
                    shared.replica.set_store_ok(false);
                    warn!(error = %format!("{e:#}"), "could not try for the leader lease");
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break None,
                _ = tokio::time::sleep(every) => {}
            }
        };
        follow_stop.cancel();
        if let Err(e) = follower.await {
            warn!(error = %e, "the follower task failed");
        }
        let Some(grant) = grant else { return };
        // Won just as the server is stopping: hand it straight back.
        if stop.is_cancelled() {
            let _ = shared.store.lease().release(&grant).await;
            return;
        }
        info!(epoch = grant.epoch, replica = %shared.replica.id, "leading");
        if let Err(e) = lead(&shared, &inbox, grant, &stop).await {
            error!(error = %format!("{e:#}"), "stood down");
        }
        shared.replica.update(|s| s.role = "follower");
        if stop.is_cancelled() {
            return;
        }
    }
}

/// One term as leader: catch up, rebuild the engine from the log, start the
/// term, and lead until the lease is lost, the store deposes us, or `stop`.
/// The lease is renewed by its own task from the moment it is granted, so a
/// slow takeover cannot let it lapse unnoticed.
async fn lead(
    shared: &Arc<Shared>,
    inbox: &DriverInbox,
    grant: Grant,
    stop: &CancellationToken,
) -> Result<()> {
    let epoch = grant.epoch;
    let lost = CancellationToken::new();
    let renewer_stop = CancellationToken::new();
    let renewer = tokio::spawn(renew(
        shared.clone(),
        grant,
        lost.clone(),
        renewer_stop.clone(),
    ));
    let prepared = async {
        catch_up(shared).await?;
        let mut engine = Engine::new(shared.config.clone());
        driver::replay_all(shared.store.as_ref(), &mut engine).await?;
        *shared.read_model.write() = engine.state().clone();
        shared.replica.update(|s| {
            s.role = "leader";
            s.epoch = epoch;
            s.store_ok = true;
        });
        Term::begin(shared, inbox, engine, epoch, None).await
    };
    // Not cancelled midway when the lease is lost: appends are fenced, and a
    // whole term is simpler to stop than half of one.
    let term = prepared.await;
    let release = async || {
        renewer_stop.cancel();
        if let Ok(Some(grant)) = renewer.await {
            let _ = shared.store.lease().release(&grant).await;
        }
    };
    let term = match term {
        Ok(t) => t,
        Err(e) => {
            release().await;
            return Err(e.wrap_err("could not take over"));
        }
    };
    beat(shared, Role::Leader).await;
    tokio::select! {
        _ = stop.cancelled() => {
            let ended = term.end(shared, inbox).await;
            release().await;
            ended
        }
        _ = term.deposed.cancelled() => {
            term.abandon(shared, inbox).await;
            release().await;
            bail!("another replica took over (epoch {epoch} is stale)");
        }
        _ = lost.cancelled() => {
            term.abandon(shared, inbox).await;
            release().await;
            bail!("lost the lease (epoch {epoch}); standing down");
        }
    }
}

/// Renew `grant` every TTL/3 until `stop` (then hand the grant back for
/// release); cancel `lost` when another replica took over or when no renewal
/// succeeded before `valid_until - margin` by this process's clock.
async fn renew(
    shared: Arc<Shared>,
    mut grant: Grant,
    lost: CancellationToken,
    stop: CancellationToken,
) -> Option<Grant> {
    let lease = shared.store.lease();
    let every = grant.ttl / 3;
    // Stop acting a little before the lease could lapse by our own clock.
    let margin = (grant.ttl / 10).max(Duration::from_millis(100));
    loop {
        let deadline = Instant::from_std(grant.valid_until)
            .checked_sub(margin)
            .unwrap_or_else(Instant::now);
        tokio::select! {
            _ = stop.cancelled() => return Some(grant),
            _ = tokio::time::sleep_until(deadline) => {
                warn!(epoch = grant.epoch, "could not renew the lease in time");
                lost.cancel();
                return None;
            }
            _ = tokio::time::sleep(every) => {
                match tokio::time::timeout_at(deadline, lease.renew(&grant)).await {
                    Ok(Ok(Some(g))) => {
                        grant = g;
                        shared.replica.set_store_ok(true);
                        beat(&shared, Role::Leader).await;
                    }
                    Ok(Ok(None)) => {
                        warn!(epoch = grant.epoch, "the lease was taken over");
                        lost.cancel();
                        return None;
                    }
                    Ok(Err(e)) => {
                        shared.replica.set_store_ok(false);
                        warn!(error = %format!("{e:#}"), "lease renewal failed; retrying");
                    }
                    // The deadline branch stands down on the next turn.
                    Err(_) => shared.replica.set_store_ok(false),
                }
            }
        }
    }
}
