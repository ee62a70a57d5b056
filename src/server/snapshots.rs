//! State snapshots beside the log: a cache of `State::apply`'s fold.
//!
//! Every `every` events (and on a clean shutdown) the leader stores the
//! engine's `State` as JSON, keyed by its seq and a format that names the
//! encoding, the ferry version and the configuration the fold ran under
//! (a stage's gate is part of the state, so a snapshot folded under another
//! configuration is not this one's). A start, and time travel, fold from the
//! newest usable snapshot at or below the seq they want plus the events after
//! it. A snapshot that is missing, of another format, or does not decode is
//! skipped with a log line: the answer is then folded from event 1, the same.
//!
//! Beside each one goes a **view snapshot**: `State::recent(VIEW_KEEP)`, what
//! the dashboard shows (everything live plus each stage's recent history),
//! deflated. It is small whatever the log's length, so one is kept for every
//! `every` events of the whole log, and time travel folds from the nearest:
//! at most `every` events and a small decode. Folding later events onto a
//! recent view gives the same recent view as folding them onto the whole
//! state (`engine::tests::travel`), so the answer is the same as from event 1.

use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr, eyre};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::config::Config;
use crate::engine::State;
use crate::model::Seq;
use crate::store::{Snapshot, Store};

/// Events between two snapshots when `FERRY_SNAPSHOT_EVERY` is not set.
pub const DEFAULT_EVERY: u64 = 10_000;
/// Snapshots kept at each spacing (every, 10×every, 100×every, …).
const KEEP_PER_SPACING: usize = 3;
/// Spacings kept: every, 10×, 100×, 1000×.
const SPACINGS: u32 = 4;
/// Events read from the store per page while folding.
const PAGE: usize = 1000;
/// Bumped whenever the snapshot's encoding changes meaning.
const ENCODING: &str = "state-json-2";
/// The view snapshots' encoding: `State::recent(VIEW_KEEP)` as deflated JSON.
const VIEW_ENCODING: &str = "view-json-deflate-2";
/// Deployments per stage the dashboard shows (live and time-travelled),
/// beside everything live; a view snapshot keeps exactly that much.
pub const VIEW_KEEP: usize = crate::engine::KEPT;

/// How often snapshots are taken: `FERRY_SNAPSHOT_EVERY` events (0: never),
/// default `DEFAULT_EVERY`. A value that is not a number fails the start.
pub(crate) fn every_from_env() -> Result<u64> {
    match std::env::var("FERRY_SNAPSHOT_EVERY") {
        Err(_) => Ok(DEFAULT_EVERY),
        Ok(v) => v.trim().parse::<u64>().map_err(|_| {
            crate::errors::hinted(
                format!("FERRY_SNAPSHOT_EVERY={v:?} is not a number of events"),
                "set it to a whole number such as 10000, or 0 to take no snapshots",
            )
        }),
    }
}

/// The format snapshots of this build under `config` are stored as.
pub fn format(config: &Config) -> String {
    format_of(ENCODING, config)
}

/// The format view snapshots of this build under `config` are stored as.
pub fn view_format(config: &Config) -> String {
    format_of(VIEW_ENCODING, config)
}

fn format_of(encoding: &str, config: &Config) -> String {
    // The empty state carries what the configuration puts into the fold
    // (services, stages, gates, rollback policies): its hash names the config.
    let empty = serde_json::to_vec(&State::new(config)).unwrap_or_default();
    let hash = Sha256::digest(&empty);
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{encoding}/{}/{hex}", env!("CARGO_PKG_VERSION"))
}

/// A view snapshot's body: the recent view as JSON, deflated (fast level:
/// it is made on the leader's path).
fn encode_view(view: &State) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(view).wrap_err("could not encode a view snapshot")?;
    Ok(miniz_oxide::deflate::compress_to_vec(&json, 1))
}

/// The view snapshot of `state` under `config` (what the leader stores).
pub fn view_snapshot(config: &Config, state: &State) -> Result<Snapshot> {
    Ok(Snapshot {
        seq: state.seq,
        format: view_format(config),
        taken_at: crate::now_millis(),
        body: encode_view(&state.recent(VIEW_KEEP))?,
    })
}

/// A view read from a view snapshot, checked to be what it says.
fn decode_view(snap: &Snapshot) -> Result<State> {
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&snap.body, 1 << 30)
        .map_err(|e| eyre!("the view snapshot does not inflate: {e:?}"))?;
    decode(&Snapshot {
        body: json,
        ..snap.clone()
    })
}

/// A `State` read from a snapshot, checked to be what it says.
fn decode(snap: &Snapshot) -> Result<State> {
    let state: State =
        serde_json::from_slice(&snap.body).wrap_err("the snapshot does not decode")?;
    if state.seq != snap.seq {
        return Err(eyre!(
            "the snapshot is keyed seq {} but holds the state at seq {}",
            snap.seq,
            state.seq
        ));
    }
    Ok(state)
}

/// The newest usable snapshot at or below `at_most`, or the empty state.
/// Never fails for the snapshot's sake: a store error or a bad snapshot is
/// logged and the fold starts from event 1.
pub(crate) async fn start_state(store: &dyn Store, config: &Config, at_most: Seq) -> State {
    let format = format(config);
    match store.snapshot_at_most(&format, at_most).await {
        Ok(Some(snap)) => match decode(&snap) {
            Ok(state) => return state,
            Err(e) => warn!(
                seq = snap.seq,
                error = %format!("{e:#}"),
                "ignoring a corrupt snapshot; folding from the first event"
            ),
        },
        Ok(None) => info!(
            at_most,
            "no snapshot to start from; folding from the first event"
        ),
        Err(e) => warn!(
            error = %format!("{e:#}"),
            "could not read snapshots; folding from the first event"
        ),
    }
    State::new(config)
}

/// Fold `state` forward with the stored events after its seq up to `to`
/// (inclusive; `Seq::MAX`: the end), a page at a time; `each` sees every
/// event folded (the insights).
pub(crate) async fn fold_to(
    store: &dyn Store,
    state: &mut State,
    to: Seq,
    mut each: impl FnMut(&crate::model::Event),
) -> Result<()> {
    while state.seq < to {
        let want = usize::try_from(to - state.seq)
            .unwrap_or(usize::MAX)
            .min(PAGE);
        let page = store.events_after(state.seq, want).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            return Ok(());
        };
        for e in page.iter().filter(|e| e.seq <= to) {
            state.apply(e);
            each(e);
        }
        // A gap in the log would leave `state.seq` behind: stop, not spin.
        if state.seq < last.min(to) {
            return Err(eyre!(
                "the event log is not contiguous near seq {}",
                state.seq
            ));
        }
    }
    Ok(())
}

/// The recent view (`State::recent(keep)`, `keep` ≤ `VIEW_KEEP`) exactly as
/// it was after event `at`: folded from the nearest view snapshot at or below
/// it, or, when there is none usable, from the nearest whole-state snapshot.
pub(crate) async fn view_at(store: &dyn Store, config: &Config, at: Seq) -> Result<State> {
    let format = view_format(config);
    let from_view = match store.snapshot_at_most(&format, at).await {
        Ok(Some(snap)) => match decode_view(&snap) {
            Ok(view) => Some(view),
            Err(e) => {
                warn!(seq = snap.seq, error = %format!("{e:#}"), "ignoring a corrupt view snapshot");
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            warn!(error = %format!("{e:#}"), "could not read view snapshots");
            None
        }
    };
    let mut state = match from_view {
        Some(view) => view,
        None => start_state(store, config, at).await,
    };
    fold_to(store, &mut state, at, |_| {}).await?;
    Ok(state)
}

/// Which of the stored snapshots (`seqs`, any order) to keep: at each
/// spacing `every × 10^k`, the first snapshot in each of the newest
/// `KEEP_PER_SPACING` stretches of that length that have one (snapshots are
/// taken after a group commit, so rarely exactly on a boundary), so recent
/// history is dense and older history still has a few to start from. The
/// first of a stretch stays the same as more arrive, so pruning is stable.
pub fn to_keep(seqs: &[Seq], every: u64) -> Vec<Seq> {
    let mut sorted: Vec<Seq> = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut keep: Vec<Seq> = Vec::new();
    // The newest is always kept: it is what the next start folds from, even
    // when it was taken off the spacing (a clean shutdown).
    keep.extend(sorted.last());
    let mut spacing = every.max(1);
    for _ in 0..SPACINGS {
        let mut firsts: Vec<Seq> = Vec::new();
        for s in &sorted {
            if firsts.last().is_none_or(|f| f / spacing != s / spacing) {
                firsts.push(*s);
            }
        }
        keep.extend(firsts.iter().rev().take(KEEP_PER_SPACING));
        spacing = spacing.saturating_mul(10);
    }
    keep.sort_unstable();
    keep.dedup();
    keep
}

/// Takes snapshots for the driver.
#[derive(Debug)]
pub(crate) struct Snapshots {
    pub every: u64,
    pub format: String,
    pub view_format: String,
    /// The seq of the last snapshot taken (or found at start).
    pub last: Seq,
    /// The last snapshot's store and prune, running in the background.
    pub storing: Option<tokio::task::JoinHandle<()>>,
}

impl Snapshots {
    /// `last`: the newest stored snapshot's seq, found in `store`.
    pub async fn new(config: &Config, every: u64, store: &dyn Store) -> Self {
        let format = format(config);
        let last = match store.snapshot_seqs(&format).await {
            Ok(seqs) => seqs.last().copied().unwrap_or(0),
            Err(e) => {
                warn!(error = %format!("{e:#}"), "could not list snapshots");
                0
            }
        };
        Snapshots {
            every,
            format,
            view_format: view_format(config),
            last,
            storing: None,
        }
    }

    /// Whether a snapshot is due now that the state is at `seq`.
    pub fn due(&self, seq: Seq) -> bool {
        self.every > 0 && seq / self.every > self.last / self.every
    }

    /// Encode `state` now (the caller owns it, so this is consistent), then
    /// store it and prune in the background: the caller does not wait for
    /// the store. Failures are logged; a snapshot is only a cache.
    pub fn take(&mut self, store: Arc<dyn Store>, state: &State) {
        let seq = state.seq;
        if seq == 0 || seq == self.last {
            return;
        }
        self.last = seq;
        let body = match serde_json::to_vec(state) {
            Ok(b) => b,
            Err(e) => {
                warn!(seq, error = %e, "could not encode a snapshot");
                return;
            }
        };
        let snap = Snapshot {
            seq,
            format: self.format.clone(),
            taken_at: crate::now_millis(),
            body,
        };
        // The view is copied here (small) and encoded in the background.
        let view = state.recent(VIEW_KEEP);
        let view_format = self.view_format.clone();
        let every = self.every;
        // One at a time: the previous one is stored (or failed) first.
        let previous = self.storing.take();
        self.storing = Some(tokio::spawn(async move {
            if let Some(p) = previous {
                let _ = p.await;
            }
            store_view(store.as_ref(), view, view_format, every).await;
            let format = snap.format.clone();
            let bytes = snap.body.len();
            if let Err(e) = store.put_snapshot(snap).await {
                warn!(seq, error = %format!("{e:#}"), "could not store a snapshot");
                return;
            }
            info!(seq, bytes, "snapshot stored");
            let pruned = match store.snapshot_seqs(&format).await {
                Ok(seqs) => store.retain_snapshots(&format, to_keep(&seqs, every)).await,
                Err(e) => Err(e),
            };
            if let Err(e) = pruned {
                warn!(error = %format!("{e:#}"), "could not prune snapshots");
            }
        }));
    }

    /// Wait until the snapshots taken are stored (a clean stop).
    pub async fn finish(&mut self) {
        if let Some(task) = self.storing.take() {
            let _ = task.await;
        }
    }
}

/// Store a view snapshot and prune the views to one per `every` events.
async fn store_view(store: &dyn Store, view: State, format: String, every: u64) {
    let seq = view.seq;
    let body = match tokio::task::spawn_blocking(move || encode_view(&view)).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            warn!(seq, error = %format!("{e:#}"), "could not encode a view snapshot");
            return;
        }
        Err(e) => {
            warn!(seq, error = %e, "could not encode a view snapshot");
            return;
        }
    };
    let bytes = body.len();
    let snap = Snapshot {
        seq,
        format: format.clone(),
        taken_at: crate::now_millis(),
        body,
    };
    if let Err(e) = store.put_snapshot(snap).await {
        warn!(seq, error = %format!("{e:#}"), "could not store a view snapshot");
        return;
    }
    info!(seq, bytes, "view snapshot stored");
    let pruned = match store.snapshot_seqs(&format).await {
        Ok(seqs) => {
            store
                .retain_snapshots(&format, views_to_keep(&seqs, every))
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = pruned {
        warn!(error = %format!("{e:#}"), "could not prune view snapshots");
    }
}

/// Which view snapshots to keep: the first in each stretch of `every`
/// events over the whole log, and the newest, so time travel to any point
/// folds at most about `every` events.
pub fn views_to_keep(seqs: &[Seq], every: u64) -> Vec<Seq> {
    let mut sorted: Vec<Seq> = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let every = every.max(1);
    let mut keep: Vec<Seq> = Vec::new();
    for s in &sorted {
        if keep.last().is_none_or(|k| k / every != s / every) {
            keep.push(*s);
        }
    }
    if let Some(newest) = sorted.last()
        && keep.last() != Some(newest)
    {
        keep.push(*newest);
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_few_per_spacing_and_the_newest() {
        let seqs: Vec<Seq> = (1..=250).map(|i| i * 10).chain([2505]).collect();
        let keep = to_keep(&seqs, 10);
        assert_eq!(
            keep,
            vec![10, 1000, 2000, 2300, 2400, 2480, 2490, 2500, 2505],
            "newest; the first of the newest 3 stretches of 10, 100, 1000, 10000"
        );
        // Off the boundaries (taken after group commits): the first of each stretch.
        let seqs = [3, 9, 15, 22, 31, 37, 42, 53, 59, 64, 66];
        assert_eq!(to_keep(&seqs, 7), vec![3, 53, 59, 64, 66]);
        assert!(to_keep(&[], 10).is_empty());
    }

    #[test]
    fn keeps_one_view_per_stretch_over_the_whole_log_and_the_newest() {
        let seqs: Vec<Seq> = (1..=250).map(|i| i * 10 + 3).chain([2507]).collect();
        let keep = views_to_keep(&seqs, 100);
        assert_eq!(keep.len(), 27, "{keep:?}");
        assert_eq!(&keep[..3], &[13, 103, 203]);
        assert_eq!(keep.last(), Some(&2507));
        assert!(views_to_keep(&[], 10).is_empty());
    }

    #[test]
    fn a_view_snapshot_reads_back_as_the_view() {
        let config = Config::parse(
            "[services.web]\nsource = \"external\"\n[[services.web.stages]]\nname = \"test\"\ndeploy = { command = \"true\" }\n",
            std::path::Path::new("test.toml"),
        )
        .expect("config");
        let mut view = State::new(&config);
        view.seq = 42;
        let snap = Snapshot {
            seq: 42,
            format: view_format(&config),
            taken_at: 0,
            body: encode_view(&view).expect("encode"),
        };
        assert_eq!(decode_view(&snap).expect("decode"), view);
        let bad = Snapshot {
            body: b"not deflate".to_vec(),
            ..snap
        };
        assert!(decode_view(&bad).is_err());
    }

    #[test]
    fn due_once_per_spacing() {
        let s = Snapshots {
            every: 100,
            format: String::new(),
            view_format: String::new(),
            last: 150,
            storing: None,
        };
        assert!(!s.due(199));
        assert!(s.due(200));
        assert!(s.due(420));
        assert!(!Snapshots { every: 0, ..s }.due(10_000));
    }
}
