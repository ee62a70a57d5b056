//! What the console derives from the state beyond `present::cells`: the
//! cell a stage shows (with the console's words for a stage without a
//! health check, a rejection, a quarantined release), and what `p` offers
//! (never a quarantined release). Below dialogs and views, which share it.

use crate::engine::{StageState, State};
use crate::model::{ArtifactId, Decision, Deployment, DeploymentStatus, StepKind};
use crate::present::cells::{self, CellKind, RunRef, StageSummary};
use crate::present::targets;

/// What `p` offers for a stage: the newest release that passed the stage
/// before and is not quarantined, with the newer quarantined ones it skipped
/// ("1.1.0 (quarantined since …)"). `Err` says why there is none.
pub fn candidate(
    state: &State,
    service: &str,
    stage: &str,
) -> Result<(ArtifactId, Vec<String>), String> {
    let svc = state
        .service(service)
        .ok_or_else(|| format!("no service {service}"))?;
    let index = svc
        .stages
        .iter()
        .position(|s| s.name == stage)
        .ok_or_else(|| format!("{service} has no stage {stage}"))?;
    let prev = index.checked_sub(1).map(|i| &svc.stages[i]);
    let passed: Vec<&ArtifactId> = svc
        .artifacts
        .iter()
        .rev()
        .filter(|a| prev.is_none_or(|p| p.passed.contains(*a)))
        .collect();
    let mut skipped = Vec::new();
    for a in passed {
        match state.quarantine.get(a).filter(|q| q.active) {
            Some(q) => skipped.push(format!("{} is {}", version_of(state, a), q.describe())),
            // The first release not quarantined: the usual checks apply to it.
            None => {
                return match targets::may_offer(state, service, &svc.stages[index], a) {
                    Ok(()) => Ok((a.clone(), skipped)),
                    Err(why) if skipped.is_empty() => Err(why),
                    Err(why) => Err(format!("skipped {}; {why}", skipped.join("; "))),
                };
            }
        }
    }
    if !skipped.is_empty() {
        return Err(format!(
            "every release that could go is quarantined: {}",
            skipped.join("; ")
        ));
    }
    // Nothing passed: the shared words say why.
    targets::promote_candidate(state, service, stage).map(|a| (a, Vec::new()))
}

fn version_of(state: &State, id: &str) -> String {
    state
        .artifacts
        .get(id)
        .map_or(id.to_string(), |a| a.version.clone())
}

/// A stage's cell as the console shows it: the shared summary, with a
/// stage that has no health check saying "deployed" rather than "healthy",
/// a rejection shown once it is the newest thing that happened there, and a
/// quarantined release marked.
pub fn cell(state: &State, service: &str, st: &StageState) -> StageSummary {
    let mut c = cells::stage_summary(state, st);
    let run = c.run.as_ref().and_then(|r| state.deployments.get(r.id()));
    if c.kind == CellKind::Healthy
        && run.is_some_and(|d| !d.steps.iter().any(|s| s.kind == StepKind::Health))
    {
        c.word = "deployed".into();
        c.short = "deployed".into();
    }
    if c.kind == CellKind::Running {
        // Narrow cells: the same words, shorter, so the count is not cut.
        c.short = c
            .short
            .replace("health check", "health")
            .replace("rolling back", "rollback");
    }
    if c.kind == CellKind::Empty {
        // A narrow cell says it in fewer letters rather than cutting it.
        c.short = "not yet".into();
    }
    if let Some(r) = rejected_since(state, st) {
        c.kind = CellKind::Cancelled;
        c.word = "rejected".into();
        c.short = "rejected".into();
        c.since = r.finished_at.or(Some(r.created_at));
        c.reason = Some(rejection(r));
        c.run = Some(RunRef::Deployment(r.id.clone()));
    }
    if let Some(why) = quarantined_in(state, service, &c) {
        c.reason = Some(match c.reason.take() {
            Some(r) => format!("{r} · {why}"),
            None => why,
        });
    }
    c
}

/// The glyph of a cell: "✓" for a stage deployed without a health check
/// (nothing checked it is healthy), else its kind's.
pub fn glyph(c: &StageSummary) -> &'static str {
    if c.kind == CellKind::Healthy && c.word == "deployed" {
        "✓"
    } else {
        c.kind.glyph()
    }
}

/// The newest deployment of a stage when it was rejected after whatever ran
/// there last and nothing waits or runs now.
fn rejected_since<'a>(state: &'a State, st: &StageState) -> Option<&'a Deployment> {
    if st.active.is_some() || !st.queue.is_empty() {
        return None;
    }
    let d = st.history.last().and_then(|id| state.deployments.get(id))?;
    if d.status != DeploymentStatus::Rejected {
        return None;
    }
    let last_ran = st.last_finished(state).and_then(|f| f.finished_at);
    (d.finished_at >= last_ran).then_some(d)
}

/// "1.2.0 rejected by alice: not during the sale"
pub fn rejection(d: &Deployment) -> String {
    let by = d
        .approvals
        .iter()
        .rev()
        .find(|a| a.decision == Decision::Reject);
    match by {
        Some(a) => match a.comment.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => format!("{} rejected by {}: {c}", d.version, a.by),
            None => format!("{} rejected by {}", d.version, a.by),
        },
        None => format!("{} rejected", d.version),
    }
}

/// "⚑ 1.1.0 quarantined" when the cell shows a quarantined release (what
/// runs, waits or was rolled back from there).
fn quarantined_in(state: &State, service: &str, c: &StageSummary) -> Option<String> {
    let svc = state.service(service)?;
    let shown: Vec<&str> = c
        .version
        .split('→')
        .map(str::trim)
        .chain(c.reason.as_deref().and_then(|r| r.split(' ').next()))
        .collect();
    let bad: Vec<String> = svc
        .artifacts
        .iter()
        .filter(|a| state.is_quarantined(a))
        .filter_map(|a| state.artifacts.get(a))
        .filter(|a| shown.contains(&a.version.as_str()))
        .map(|a| a.version.clone())
        .collect();
    match bad.as_slice() {
        [] => None,
        [one] => Some(format!("{QUARANTINE} {one} quarantined")),
        many => Some(format!("{QUARANTINE} {} quarantined", many.join(", "))),
    }
}

/// The mark of a quarantined release, wherever it appears.
pub const QUARANTINE: &str = "⚑";

/// Whether the artifact with `version` of `service` is quarantined, and why.
pub fn quarantine_of(state: &State, service: &str, artifact: &str) -> Option<String> {
    let q = state.quarantine.get(artifact).filter(|q| q.active)?;
    (q.service == service).then(|| q.describe())
}
