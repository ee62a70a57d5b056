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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, AdhocFreeze};

    #[test]
    fn an_adhoc_freeze_makes_the_banner_until_it_ends() {
        let mut state = State::default();
        // 2026-12-01T18:00:00Z
        let until = 1_796_148_000_000;
        let now = until - 3_600_000;
        state.freeze.adhoc.push(AdhocFreeze {
            stage: "prod".into(),
            service: None,
            until,
            at: now,
            by: Actor("dev".into()),
            reason: "year-end".into(),
        });
        let f = stage_freeze(&state, "billing", "prod", now).expect("frozen");
        assert!(f.adhoc);
        assert_eq!(
            banner("prod", &f, now),
            "❄ prod frozen until 18:00 UTC — year-end"
        );
        assert_eq!(stage_freeze(&state, "billing", "test", now), None);
        assert_eq!(stage_freeze(&state, "billing", "prod", until), None);
    }
}
