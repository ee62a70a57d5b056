//! Time travel's fold (issue 15): the state at seq N, folded from a
//! snapshot taken at any S ≤ N (serialised and read back, as the store
//! keeps it) plus the events (S, N], is the fold of the first N events,
//! and so is the dashboard made from it (`recent`); folding from a view
//! snapshot (`recent` at S) gives the same dashboard.

use super::properties::{apply_op, op};
use super::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_state_at_n_from_any_snapshot_is_the_fold_of_the_first_n_events(
        ops in proptest::collection::vec(op(), 1..80),
        at in 0.0..=1.0f64,
        from in 0.0..=1.0f64,
        keep in 1..4usize,
        view_extra in 0..3usize,
    ) {
        let config = config_with(approval(1));
        let mut h = Harness::new(config.clone());
        let mut counter = 0;
        for op in &ops {
            apply_op(&mut h, op, &mut counter);
        }
        let log = h.log.clone();
        let n = (log.len() as f64 * at) as usize;
        let s = (n as f64 * from) as usize;
        // The fold of the first N events, from nothing.
        let mut whole = State::new(&config);
        for e in &log[..n] {
            whole.apply(e);
        }
        prop_assert_eq!(whole.seq, log[..n].last().map_or(0, |e| e.seq));
        // A snapshot at S, through its stored form, then (S, N].
        let mut snap = State::new(&config);
        for e in &log[..s] {
            snap.apply(e);
        }
        let bytes = serde_json::to_vec(&snap).unwrap();
        let mut travelled: State = serde_json::from_slice(&bytes).unwrap();
        for e in &log[s..n] {
            travelled.apply(e);
        }
        prop_assert_eq!(&travelled, &whole);
        // A view snapshot at S (the recent view, keeping at least `keep`),
        // through its stored form, then (S, N]: the same recent view and the
        // same blocked cells as from the whole state.
        let view_bytes = serde_json::to_vec(&snap.recent(keep + view_extra)).unwrap();
        let mut viewed: State = serde_json::from_slice(&view_bytes).unwrap();
        for e in &log[s..n] {
            viewed.apply(e);
        }
        // As the server does: releases named later come from the live state.
        adopt_artifacts(&mut viewed, h.state());
        prop_assert_eq!(viewed.recent(keep), whole.recent(keep));
        prop_assert_eq!(
            crate::engine::blocked_all(&config, &viewed),
            crate::engine::blocked_all(&config, &whole)
        );
        prop_assert_eq!(travelled.recent(keep), whole.recent(keep));
        prop_assert_eq!(
            crate::engine::blocked_all(&config, &travelled),
            crate::engine::blocked_all(&config, &whole)
        );
        // The end is the live state.
        if n == log.len() {
            prop_assert_eq!(&travelled, h.state());
        }
    }
}

/// Fill in, from `later` (any state folded at least as far), the artifacts
/// `view`'s deployments, stages and builds name but it lacks. A view smaller
/// than what the fold keeps (`recent(keep)` with keep < `KEPT`; the server's
/// views are the whole trimmed state) lacks them when a later event names an
/// older release (a manual promote of it); artifacts never change once
/// registered, so `later`'s copy is the one the whole fold has.
fn adopt_artifacts(view: &mut State, later: &State) {
    let mut named: std::collections::BTreeSet<ArtifactId> = view
        .deployments
        .values()
        .map(|d| d.artifact.clone())
        .collect();
    named.extend(view.builds.values().filter_map(|b| b.artifact.clone()));
    for st in view.services.iter().flat_map(|s| s.stages.iter()) {
        named.extend(st.current.iter().cloned());
        named.extend(st.good.iter().map(|g| g.artifact.clone()));
    }
    for id in named {
        if view.artifacts.contains_key(&id) {
            continue;
        }
        let Some(a) = later.artifacts.get(&id) else {
            continue;
        };
        view.artifacts.insert(id.clone(), a.clone());
        let (Some(svc), Some(order)) = (
            view.services.iter_mut().find(|s| s.name == a.service),
            later.service(&a.service),
        ) else {
            continue;
        };
        // Keep the service's list in registration order, as `later` has it.
        let rank = |x: &ArtifactId| order.artifacts.iter().position(|y| y == x);
        let at = svc.artifacts.partition_point(|x| rank(x) < rank(&id));
        svc.artifacts.insert(at, id);
    }
}
