//! Kill points for the fault suite (`tests/faults`): with
//! `FERRY_FAULT=point` (or `point@N`, the N-th time it is reached) the
//! process aborts there, as a SIGKILL would end it, so a crash at any named
//! moment can be replayed exactly. Unset (always, in production), a point
//! costs one branch on a value read once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Armed {
    point: String,
    /// Abort when reached this many times.
    nth: usize,
    seen: AtomicUsize,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let value = std::env::var("FERRY_FAULT").ok()?;
            let (point, nth) = match value.rsplit_once('@') {
                Some((p, n)) => (p.to_string(), n.parse().ok()?),
                None => (value, 1),
            };
            Some(Armed {
                point,
                nth,
                seen: AtomicUsize::new(0),
            })
        })
        .as_ref()
}

/// Whether any kill point is armed: callers that build a point's name
/// check this first, so an unarmed server never formats one.
#[inline]
pub fn armed_any() -> bool {
    armed().is_some()
}

/// Abort here if `name` is the armed point (and this is its N-th time).
#[inline]
pub fn point(name: &str) {
    if let Some(a) = armed() {
        hit(a, name);
    }
}

#[cold]
fn hit(a: &Armed, name: &str) {
    if a.point != name {
        return;
    }
    if a.seen.fetch_add(1, Ordering::SeqCst) + 1 == a.nth {
        eprintln!("ferry: kill point {name} reached: aborting");
        std::process::abort();
    }
}
