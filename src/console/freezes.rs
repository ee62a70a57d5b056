//! The freezes over a stage as the console knows them: ad-hoc freezes and
//! the waits of queued deployments come from the folded state
//! (`present::freeze`); configured `[[freezes]]` windows open now come from
//! the server's dashboard (`App::freezes`), since the console has no
//! configuration. The banner, the cells and the break-glass dialog read this.

use crate::model::{Millis, sanitize_text, short_time};

use super::app::{App, Screen};

/// One freeze open over a stage now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Over {
    /// A configured name ("year-end"), or "ad-hoc freeze of prod".
    pub name: String,
    pub reason: String,
    pub until: Millis,
    /// Set by hand: `f` on the cell ends it.
    pub adhoc: bool,
}

/// Every freeze open over `service`/`stage` at `now`, the one that ends
/// last first.
pub fn over(app: &App, service: &str, stage: &str, now: Millis) -> Vec<Over> {
    let state = &app.state;
    let mut found: Vec<Over> = state
        .freeze
        .adhoc
        .iter()
        .filter(|f| f.covers(service, stage) && f.until > now)
        .map(|f| Over {
            name: f.name(),
            reason: f.reason.clone(),
            until: f.until,
            adhoc: true,
        })
        .collect();
    // The windows the server said were open: not those of a past state.
    let travelling = app.screens.iter().any(|s| matches!(s, Screen::Travel(_)));
    if !travelling {
        found.extend(
            app.freezes
                .iter()
                .filter(|f| f.covers(service, stage) && f.from <= now && now < f.until)
                .map(|f| Over {
                    name: f.name.clone(),
                    reason: f.reason.clone(),
                    until: f.until,
                    adhoc: false,
                }),
        );
    }
    // A deployment waiting names the windows the engine saw; add them when
    // nothing above says so already (e.g. before the first refresh).
    if let Some(st) = state.stage(service, stage) {
        for w in st
            .queue
            .iter()
            .filter_map(|id| state.freeze.frozen.get(id))
            .filter(|w| w.until > now)
        {
            let known = w
                .freeze
                .split(", ")
                .all(|name| found.iter().any(|f| f.name == name));
            if !known && !found.iter().any(|f| f.name == w.freeze) {
                found.push(Over {
                    name: w.freeze.clone(),
                    reason: w.reason.clone(),
                    until: w.until,
                    adhoc: false,
                });
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.until));
    found
}

/// "❄ prod frozen until 18:00 UTC (year-end) — close the books"
pub fn banner(stage: &str, f: &Over, now: Millis) -> String {
    sanitize_text(&format!(
        "❄ {stage} frozen until {} ({}) — {}",
        short_time(f.until, now),
        f.name,
        f.reason
    ))
}

/// "frozen until 18:00 UTC (year-end)", for a cell.
pub fn short(f: &Over, now: Millis) -> String {
    sanitize_text(&format!(
        "❄ frozen until {} ({})",
        short_time(f.until, now),
        f.name
    ))
}

/// "year-end until 18:00 UTC: close the books", for the break-glass dialog.
pub fn in_the_way(f: &Over, now: Millis) -> String {
    sanitize_text(&format!(
        "{} until {}: {}",
        f.name,
        short_time(f.until, now),
        f.reason
    ))
}

/// A stage cell with nothing else to say says that its stage is frozen,
/// even when nothing waits for the window yet.
pub fn mark_cell(
    app: &App,
    service: &str,
    stage: &str,
    cell: &mut crate::present::cells::StageSummary,
    now: Millis,
) {
    if cell.reason.is_some() {
        return;
    }
    if let Some(f) = over(app, service, stage, now).first() {
        cell.reason = Some(short(f, now));
    }
}
