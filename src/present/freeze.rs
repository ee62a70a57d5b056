//! Whether a stage is frozen, in words: the console's banner and cell, from
//! the folded state. The state knows ad-hoc freezes and the deployments
//! waiting for any window (configured ones too); a configured window with
//! nothing waiting shows once something waits in it.

use crate::engine::State;
use crate::model::{Millis, sanitize_text, short_time};

/// A freeze over one stage, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageFreeze {
    pub until: Millis,
    pub reason: String,
    /// An ad-hoc freeze of this service's stage (or of the stage everywhere):
    /// `f` on the cell ends it.
    pub adhoc: bool,
}

/// The freeze over `service`/`stage` at `now`, if the state knows one.
pub fn stage_freeze(state: &State, service: &str, stage: &str, now: Millis) -> Option<StageFreeze> {
    let adhoc = state
        .freeze
        .adhoc
        .iter()
        .filter(|f| f.covers(service, stage) && f.until > now)
        .max_by_key(|f| f.until)
        .map(|f| StageFreeze {
            until: f.until,
            reason: f.reason.clone(),
            adhoc: true,
        });
    let waiting = state.stage(service, stage).and_then(|st| {
        st.queue
            .iter()
            .filter_map(|id| state.freeze.frozen.get(id))
            .filter(|w| w.until > now)
            .max_by_key(|w| w.until)
            .map(|w| StageFreeze {
                until: w.until,
                reason: w.reason.clone(),
                adhoc: false,
            })
    });
    match (adhoc, waiting) {
        (Some(a), Some(w)) if w.until > a.until => Some(StageFreeze { adhoc: true, ..w }),
        (Some(a), _) => Some(a),
        (None, w) => w,
    }
}

/// "❄ prod frozen until 18:00 UTC — year-end change freeze"
pub fn banner(stage: &str, f: &StageFreeze, now: Millis) -> String {
    sanitize_text(&format!(
        "❄ {stage} frozen until {} — {}",
        short_time(f.until, now),
        f.reason
    ))
}
