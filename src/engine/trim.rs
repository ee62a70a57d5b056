//! Bounded memory: the fold forgets what no decision and no dashboard needs.
//!
//! After each event that adds to a service's lists or ends a deployment or
//! build, the fold trims that service (`State::trim`):
//!
//! - each stage keeps its `KEPT` newest deployments, plus any older one that
//!   still runs, waits, finished last, or is one of the stage's good releases;
//! - the service keeps its `KEPT` newest builds, plus any still running;
//! - artifacts are trimmed in batches (when the service holds `KEPT +
//!   ARTIFACT_SLACK`): the newest `KEPT` stay, and so does any artifact a kept
//!   deployment, build or good release names, that a stage runs, or that is
//!   quarantined now. A forgotten artifact also leaves the stages' `passed`.
//!
//! Trimming is part of the fold: it depends only on the state and the event,
//! so a state folded from a snapshot forgets exactly what the whole fold does.
//! What is forgotten stays in the event log: the server reads an old
//! deployment, build or artifact back from the store by its id
//! (`Store::events_about`, folded by [`State::of_run`]).

use std::collections::HashSet;

use crate::model::{ArtifactId, Event};

use super::state::State;

/// Deployments per stage, builds and artifacts per service kept in memory:
/// as many as a dashboard shows.
pub const KEPT: usize = 50;
/// Artifacts are trimmed once this many more than `KEPT` have piled up, so
/// the walk over a service's references runs once per that many registrations.
const ARTIFACT_SLACK: usize = 16;

impl State {
    /// Forget what `service` no longer needs (see the module doc).
    pub(super) fn trim(&mut self, service: &str) {
        let Some(ix) = self.services.iter().position(|s| s.name == service) else {
            return;
        };
        self.trim_deployments(ix);
        self.trim_builds(ix);
        if self.services[ix].artifacts.len() >= KEPT + ARTIFACT_SLACK {
            self.trim_artifacts(ix);
        }
    }

    fn trim_deployments(&mut self, ix: usize) {
        for st in &mut self.services[ix].stages {
            let (active, finished, queue, good) = (&st.active, &st.finished, &st.queue, &st.good);
            let dropped = keep_newest(&mut st.history, |id| {
                active.as_ref() == Some(id)
                    || finished.as_ref() == Some(id)
                    || queue.contains(id)
                    || good.iter().any(|g| &g.deployment == id)
            });
            for id in dropped {
                self.deployments.remove(&id);
            }
        }
    }

    fn trim_builds(&mut self, ix: usize) {
        let builds = &self.builds;
        let dropped = keep_newest(&mut self.services[ix].builds, |id| {
            builds.get(id).is_some_and(|b| b.finished_at.is_none())
        });
        for id in dropped {
            self.builds.remove(&id);
        }
    }

    fn trim_artifacts(&mut self, ix: usize) {
        let svc = &self.services[ix];
        let newest = svc.artifacts.len().saturating_sub(KEPT);
        let mut named: HashSet<&str> = svc.artifacts[newest..].iter().map(|a| a.as_str()).collect();
        for st in &svc.stages {
            named.extend(st.current.as_deref());
            named.extend(st.good.iter().map(|g| g.artifact.as_str()));
            for id in &st.history {
                named.extend(self.deployments.get(id).map(|d| d.artifact.as_str()));
            }
        }
        for id in &svc.builds {
            named.extend(self.builds.get(id).and_then(|b| b.artifact.as_deref()));
        }
        let forgotten: Vec<ArtifactId> = svc.artifacts[..newest]
            .iter()
            .filter(|a| !named.contains(a.as_str()) && !self.is_quarantined(a))
            .cloned()
            .collect();
        if forgotten.is_empty() {
            return;
        }
        let forgotten: HashSet<ArtifactId> = forgotten.into_iter().collect();
        let svc = &mut self.services[ix];
        svc.artifacts.retain(|a| !forgotten.contains(a));
        for st in &mut svc.stages {
            st.passed.retain(|a| !forgotten.contains(a));
        }
        for id in &forgotten {
            self.artifacts.remove(id);
        }
    }

    /// The deployment or build `run` as its own events fold it (the events
    /// the store indexes under that id, oldest first), for one the state
    /// has forgotten. `artifact_events` are its artifact's, for a
    /// deployment created before events carried the version.
    pub fn of_run(run_events: &[Event], artifact_events: &[Event]) -> State {
        let mut state = State::default();
        for e in artifact_events.iter().chain(run_events) {
            state.apply(e);
        }
        state
    }

    /// Whether a deployment id names one that existed (ids are handed out in
    /// order, `d-1` upwards), even if the state has forgotten it.
    pub fn deployment_existed(&self, id: &str) -> bool {
        self.deployments.contains_key(id) || handed_out(id, "d-", self.next_deployment)
    }

    /// Whether `id` names a deployment, build or artifact that existed,
    /// whether or not the state still holds it.
    pub fn existed(&self, id: &str) -> bool {
        self.deployment_existed(id)
            || self.builds.contains_key(id)
            || self.artifacts.contains_key(id)
            || handed_out(id, "b-", self.next_build)
            || handed_out(id, "a-", self.next_artifact)
    }
}

/// Whether `id` is `prefix` and a number from 1 to `last`.
fn handed_out(id: &str, prefix: &str, last: u64) -> bool {
    id.strip_prefix(prefix)
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n >= 1 && n <= last)
}

/// Keep the newest `KEPT` of `list`, and any older entry `needed` says is
/// still in use (in order); return the others.
fn keep_newest<T>(list: &mut Vec<T>, needed: impl Fn(&T) -> bool) -> Vec<T> {
    let Some(older) = list.len().checked_sub(KEPT).filter(|n| *n > 0) else {
        return Vec::new();
    };
    let (mut kept, dropped): (Vec<T>, Vec<T>) = list.drain(..older).partition(|x| needed(x));
    kept.append(list);
    *list = kept;
    dropped
}
