//! Leadership between replicas: a lease (holder, epoch, expiry in database
//! time), heartbeats per replica, and the tail followers wait on.
//!
//! The protocol a replica runs on top of this (the server's job):
//! - `acquire` when `current()` shows no live holder; the grant's epoch is
//!   one more than any before, and every `append_fenced` carries it;
//! - `renew` every `ttl / 3`; stop acting (kill steps, stop appending)
//!   before `Grant::valid_until`, which is measured on this process's
//!   monotonic clock from *before* the request was sent, so it is never later
//!   than the expiry the database recorded;
//! - a `Deposed` error from `append_fenced` or a `None` from `renew` means
//!   another replica took over: stand down at once.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};
use futures::future::BoxFuture;

use crate::model::Seq;

/// A leadership term. Strictly increasing across takeovers; 0 = never held.
pub type Epoch = u64;

/// A lease this replica holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub holder: String,
    pub epoch: Epoch,
    pub ttl: Duration,
    /// The last local instant at which the lease is surely still ours.
    pub valid_until: Instant,
}

impl Grant {
    pub fn is_valid(&self) -> bool {
        Instant::now() < self.valid_until
    }
}

/// The lease row as the database sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    pub holder: Option<String>,
    pub epoch: Epoch,
    /// Time left before expiry, by the database's clock; `None` when expired
    /// or released.
    pub expires_in: Option<Duration>,
}

impl LeaseState {
    /// The holder while the lease is live.
    pub fn leader(&self) -> Option<&str> {
        self.expires_in.and(self.holder.as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
        }
    }

    pub(super) fn parse(s: &str) -> Role {
        if s == "leader" {
            Role::Leader
        } else {
            Role::Follower
        }
    }
}

/// What a replica reports about itself every renewal interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Stable per process start, e.g. "host:pid:uuid".
    pub replica: String,
    /// Where its API listens, so followers can forward writes to the leader.
    pub address: String,
    pub role: Role,
    /// The last event folded into its read state.
    pub applied_seq: Seq,
}

/// A heartbeat row and its age by the database's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub beat: Heartbeat,
    pub age: Duration,
}

/// An append refused because `epoch` is no longer the live leader epoch.
/// Nothing of the batch was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposed {
    pub epoch: Epoch,
    pub current: LeaseState,
}

impl fmt::Display for Deposed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = match self.current.leader() {
            Some(h) => format!("{h} leads with epoch {}", self.current.epoch),
            None => format!("the lease (epoch {}) has expired", self.current.epoch),
        };
        write!(
            f,
            "lease epoch {} is no longer current ({now}); nothing was appended; \
             hint: this replica must stand down",
            self.epoch
        )
    }
}

impl std::error::Error for Deposed {}

pub trait Lease: Send + Sync {
    /// Take the lease for `holder` when it is free or expired; `None` when
    /// another holder's lease is live. Always starts a new epoch.
    fn acquire<'a>(
        &'a self,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Grant>>>;
    /// Extend `grant` by its ttl; `None` when another replica took over.
    fn renew<'a>(&'a self, grant: &'a Grant) -> BoxFuture<'a, Result<Option<Grant>>>;
    /// Give the lease up now (clean shutdown), so a follower need not wait
    /// for the expiry.
    fn release<'a>(&'a self, grant: &'a Grant) -> BoxFuture<'a, Result<()>>;
    fn current(&self) -> BoxFuture<'_, Result<LeaseState>>;
    fn heartbeat<'a>(&'a self, beat: &'a Heartbeat) -> BoxFuture<'a, Result<()>>;
    /// Every replica that ever beat, most recent first.
    fn replicas(&self) -> BoxFuture<'_, Result<Vec<Replica>>>;
}

/// Waits for the log to grow.
pub trait Tail: Send {
    /// The newest sequence once it is past everything returned before (or
    /// past `after` given to `Store::tail`).
    fn next(&mut self) -> BoxFuture<'_, Result<Seq>>;
}

/// One process owns an SQLite store (the data directory lock sees to it), so
/// it is always the leader, with epoch 1.
#[derive(Default)]
pub(super) struct SingleNode {
    beats: Mutex<BTreeMap<String, (Heartbeat, Instant)>>,
}

impl SingleNode {
    pub const fn new() -> Self {
        SingleNode {
            beats: Mutex::new(BTreeMap::new()),
        }
    }
}

pub(super) const SINGLE_EPOCH: Epoch = 1;

impl SingleNode {
    pub fn check(&self, epoch: Epoch) -> Result<()> {
        if epoch == SINGLE_EPOCH {
            return Ok(());
        }
        Err(eyre!(Deposed {
            epoch,
            current: single_state(),
        }))
    }
}

fn single_state() -> LeaseState {
    LeaseState {
        holder: Some("this process".into()),
        epoch: SINGLE_EPOCH,
        expires_in: Some(Duration::MAX),
    }
}

impl Lease for SingleNode {
    fn acquire<'a>(
        &'a self,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Grant>>> {
        let start = Instant::now();
        Box::pin(async move {
            Ok(Some(Grant {
                holder: holder.to_string(),
                epoch: SINGLE_EPOCH,
                ttl,
                valid_until: start + ttl,
            }))
        })
    }

    fn renew<'a>(&'a self, grant: &'a Grant) -> BoxFuture<'a, Result<Option<Grant>>> {
        let start = Instant::now();
        Box::pin(async move {
            Ok(Some(Grant {
                valid_until: start + grant.ttl,
                ..grant.clone()
            }))
        })
    }

    fn release<'a>(&'a self, _grant: &'a Grant) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn current(&self) -> BoxFuture<'_, Result<LeaseState>> {
        Box::pin(async { Ok(single_state()) })
    }

    fn heartbeat<'a>(&'a self, beat: &'a Heartbeat) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // A poisoned lock only means a panic elsewhere mid-insert; the map is still usable.
            let mut beats = self.beats.lock().unwrap_or_else(|p| p.into_inner());
            beats.insert(beat.replica.clone(), (beat.clone(), Instant::now()));
            Ok(())
        })
    }

    fn replicas(&self) -> BoxFuture<'_, Result<Vec<Replica>>> {
        Box::pin(async move {
            let beats = self.beats.lock().unwrap_or_else(|p| p.into_inner());
            let mut out: Vec<Replica> = beats
                .values()
                .map(|(beat, at)| Replica {
                    beat: beat.clone(),
                    age: at.elapsed(),
                })
                .collect();
            out.sort_by_key(|r| r.age);
            Ok(out)
        })
    }
}
