//! Folding the log back into the driver's engine (from the newest
//! snapshot) and into the read model's insights (from event 1, in the
//! background after a start).

use color_eyre::eyre::{Result, eyre};

use super::{PAGE, ReadModel};
use crate::engine::Engine;
use crate::insights::Insights;
use crate::model::Seq;
use crate::store::Store;

/// Rebuild `engine` from the store: from the newest usable snapshot (a
/// cache, see `snapshots`) plus the events after it, a page at a time, so a
/// long history is never held in memory whole. Returns the seq it started
/// folding from (the snapshot's, 0 without one).
pub(crate) async fn replay_all(store: &dyn Store, engine: &mut Engine) -> Result<Seq> {
    let config = engine.config().clone();
    let mut state = super::super::snapshots::start_state(store, &config, Seq::MAX).await;
    let from = state.seq;
    super::super::snapshots::fold_to(store, &mut state, Seq::MAX, |_| {}).await?;
    *engine = Engine::from_state(config, state);
    Ok(from)
}

/// The insights of the whole log, folded from event 1 (tests, and
/// servers that start without a snapshot to wait for).
pub(crate) async fn fold_insights(store: &dyn Store) -> Result<Insights> {
    let mut insights = Insights::new();
    let mut after = 0;
    loop {
        let page = store.events_after(after, PAGE).await?;
        let done = page.len() < PAGE;
        if let Some(last) = page.last() {
            after = last.seq;
        }
        for e in &page {
            insights.apply(e);
        }
        if done {
            return Ok(insights);
        }
    }
}

impl ReadModel {
    /// Fold the insights from the whole log in the background, then install
    /// them once they have caught up with the state (checked under the state
    /// lock, so no event is applied twice or missed).
    pub(crate) async fn load_insights(&self, store: &dyn Store) -> Result<()> {
        let started = std::time::Instant::now();
        let mut insights = Insights::new();
        let mut at: Seq = 0;
        loop {
            let target = self.read().seq;
            while at < target {
                let want = usize::try_from(target - at).unwrap_or(usize::MAX).min(PAGE);
                let page = store.events_after(at, want).await?;
                let Some(last) = page.last().map(|e| e.seq) else {
                    return Err(eyre!(
                        "the event log ends at {at}, before the server's seq {target}"
                    ));
                };
                for e in page.iter().filter(|e| e.seq <= target) {
                    insights.apply(e);
                }
                at = last.min(target);
            }
            insights.shrink_to_fit();
            let state = self.read();
            if state.seq == at {
                self.set_insights(insights);
                drop(state);
                release_freed_memory();
                tracing::info!(
                    seq = at,
                    ms = started.elapsed().as_millis() as u64,
                    "insights folded"
                );
                return Ok(());
            }
        }
    }
}

/// Hand the memory a large fold freed back to the system. The fold parsed
/// every event on several threads; glibc keeps what they freed in per-thread
/// arenas, which would otherwise stay in the server's RSS for good.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own
    // heaps to the kernel; it touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
