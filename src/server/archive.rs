//! Reading back what the fold has forgotten (`engine::trim`): an old
//! deployment, build or artifact is folded from its own events, which the
//! store indexes by id (`Store::events_about`). Memory stays bounded; the
//! answers stay those of the whole log.

use crate::engine::State;
use crate::model::{Artifact, Build, Deployment};

use super::Shared;
use super::error::ApiErr;

/// The events about `id`, folded on their own; None when the read model
/// still holds it or no such id was ever handed out.
async fn fold_forgotten(shared: &Shared, id: &str) -> Result<Option<State>, ApiErr> {
    let forgotten = {
        let state = shared.read_model.read();
        state.existed(id)
            && !state.deployments.contains_key(id)
            && !state.builds.contains_key(id)
            && !state.artifacts.contains_key(id)
    };
    if !forgotten {
        return Ok(None);
    }
    let read = |e: color_eyre::Report| {
        ApiErr::internal(format!("could not read {id} from the event store: {e:#}"))
            .hint("check the server's log and its database")
    };
    let events = shared.store.events_about(id).await.map_err(read)?;
    // A deployment created before events carried the version takes it
    // from its artifact's registration.
    let artifact = match events.first().map(|e| &e.kind) {
        Some(crate::model::EventKind::DeploymentCreated {
            artifact, version, ..
        }) if version.is_empty() => shared.store.events_about(artifact).await.map_err(read)?,
        _ => Vec::new(),
    };
    Ok(Some(State::of_run(&events, &artifact)))
}

/// `id` picked from the read model's state, or else from its own events
/// in the store when the fold has forgotten it.
async fn find<T: Clone>(
    shared: &Shared,
    id: &str,
    pick: impl Fn(&State) -> Option<&T>,
) -> Result<Option<T>, ApiErr> {
    let held = pick(&shared.read_model.read()).cloned();
    if held.is_some() {
        return Ok(held);
    }
    Ok(fold_forgotten(shared, id)
        .await?
        .and_then(|state| pick(&state).cloned()))
}

/// A deployment, held in memory or read back from the store.
pub(crate) async fn deployment(shared: &Shared, id: &str) -> Result<Option<Deployment>, ApiErr> {
    find(shared, id, |s| s.deployments.get(id)).await
}

/// A build, held in memory or read back from the store.
pub(crate) async fn build(shared: &Shared, id: &str) -> Result<Option<Build>, ApiErr> {
    find(shared, id, |s| s.builds.get(id)).await
}

/// An artifact, held in memory or read back from the store.
pub(crate) async fn artifact(shared: &Shared, id: &str) -> Result<Option<Artifact>, ApiErr> {
    find(shared, id, |s| s.artifacts.get(id)).await
}

/// A deployment the read model holds, copied out.
pub(crate) fn held_deployment(shared: &Shared, id: &str) -> Option<Deployment> {
    shared.read_model.read().deployments.get(id).cloned()
}

/// A deployment the fold has forgotten, from the store; None when memory
/// holds it or it never existed.
pub(crate) async fn forgotten_deployment(
    shared: &Shared,
    id: &str,
) -> Result<Option<Deployment>, ApiErr> {
    Ok(fold_forgotten(shared, id)
        .await?
        .and_then(|mut s| s.deployments.remove(id)))
}

/// The read model's state with a forgotten deployment `id` and its
/// artifact put back, for views that read a deployment in its state
/// (evidence, review); None when the state holds it or it never existed.
pub(crate) async fn state_with(shared: &Shared, id: &str) -> Result<Option<State>, ApiErr> {
    let Some(d) = forgotten_deployment(shared, id).await? else {
        return Ok(None);
    };
    let artifact = artifact(shared, &d.artifact).await?;
    let mut state = shared.read_model.read().clone();
    if let Some(a) = artifact {
        state.artifacts.entry(a.id.clone()).or_insert(a);
    }
    state.deployments.insert(d.id.clone(), d);
    Ok(Some(state))
}

/// Run `f` on the state that holds deployment `id`: the read model's, or a
/// copy with the deployment read back from the store (evidence, review).
pub(crate) async fn with_state_of<R>(
    shared: &Shared,
    id: &str,
    f: impl FnOnce(&State) -> R,
) -> Result<R, ApiErr> {
    let restored = state_with(shared, id).await?;
    Ok(on(shared, &restored, f))
}

/// Run `f` on `restored` (from `state_with`), or else on the read model's state.
pub(crate) fn on<R>(shared: &Shared, restored: &Option<State>, f: impl FnOnce(&State) -> R) -> R {
    match restored {
        Some(state) => f(state),
        None => f(&shared.read_model.read()),
    }
}
