//! Bounded memory: however many releases go through, the fold keeps what
//! decisions and the dashboard need (`trim.rs`), and a state folded from a
//! snapshot forgets exactly what the whole fold forgets.

use super::*;
use crate::engine::KEPT;

/// `n` releases of checkout, each through test, preprod and prod (auto gates).
fn releases(n: usize) -> Harness {
    let mut h = Harness::new(config_with(Gate::Auto));
    for i in 0..n {
        h.register("checkout", &format!("1.{i}.0"));
        for stage in ["test", "preprod", "prod"] {
            h.pass_stage("checkout", stage);
        }
    }
    h
}

#[test]
fn the_state_stays_bounded_however_many_releases_pass() {
    let total = 3 * KEPT;
    let h = releases(total);
    let state = h.state();
    let svc = state.service("checkout").unwrap();
    for st in &svc.stages {
        assert_eq!(
            st.history.len(),
            KEPT,
            "{}: its newest deployments",
            st.name
        );
        assert!(st.good.len() <= crate::engine::GOOD_KEPT);
    }
    assert_eq!(state.deployments.len(), 3 * KEPT, "three stages' worth");
    assert!(
        svc.artifacts.len() < KEPT + 16,
        "artifacts are trimmed in batches: {}",
        svc.artifacts.len()
    );
    assert_eq!(svc.artifacts.len(), state.artifacts.len());
    // `passed` holds only artifacts still in memory.
    for st in &svc.stages {
        assert!(st.passed.iter().all(|a| state.artifacts.contains_key(a)));
    }
    // The newest release is still fully there, and prod runs it.
    let newest = format!("1.{}.0", total - 1);
    assert_eq!(h.version_in("checkout", "prod"), Some(newest));
    // Counters still count everything, so ids are never reused.
    assert_eq!(state.next_artifact, total as u64);
    assert_eq!(state.next_deployment, 3 * total as u64);
    assert!(state.deployment_existed("d-1"), "forgotten, but it existed");
    assert!(!state.deployment_existed(&format!("d-{}", 3 * total + 1)));
    assert!(!state.deployment_existed("x-1"));
}

#[test]
fn a_fold_from_any_point_forgets_what_the_whole_fold_forgets() {
    let h = releases(2 * KEPT + 20);
    let config = h.engine.config().clone();
    let whole = Engine::from_events(config.clone(), &h.log).state().clone();
    assert_eq!(&whole, h.state(), "replay gives the live state");
    for cut in [h.log.len() / 3, h.log.len() / 2, h.log.len() - 7] {
        let snapshot = Engine::from_events(config.clone(), &h.log[..cut])
            .state()
            .clone();
        // Through the stored form, as a snapshot is.
        let mut from_snapshot: crate::engine::State =
            serde_json::from_slice(&serde_json::to_vec(&snapshot).unwrap()).unwrap();
        for e in &h.log[cut..] {
            from_snapshot.apply(e);
        }
        assert_eq!(from_snapshot, whole, "folded on from event {cut}");
    }
}

#[test]
fn a_forgotten_deployment_folds_back_from_its_own_events() {
    let h = releases(KEPT + 5);
    let forgotten = "d-1";
    assert!(!h.state().deployments.contains_key(forgotten));
    let events: Vec<_> = h
        .log
        .iter()
        .filter(|e| e.kind.about() == Some(forgotten))
        .cloned()
        .collect();
    let artifact: Vec<_> = h
        .log
        .iter()
        .filter(|e| e.kind.about() == Some("a-1"))
        .cloned()
        .collect();
    let back = crate::engine::State::of_run(&events, &artifact);
    let d = &back.deployments[forgotten];
    assert_eq!(d.version, "1.0.0");
    assert_eq!(d.stage, "test");
    assert_eq!(d.status, crate::model::DeploymentStatus::Succeeded);
    assert!(d.steps.iter().all(|s| s.status == StepStatus::Passed));
}

#[test]
fn a_release_older_than_what_is_kept_is_refused_with_a_hint() {
    let mut h = releases(2 * KEPT);
    let err = h.promote(&bob(), "preprod", "1.0.0").unwrap_err();
    assert_eq!(err.kind, RejectionKind::NotFound);
    let text = format!("{err:?}");
    assert!(text.contains(&format!("newest {KEPT}")), "{text}");
}

#[test]
fn acting_on_a_forgotten_deployment_says_it_finished_long_ago() {
    let mut h = releases(KEPT + 5);
    assert!(!h.state().deployments.contains_key("d-1"));
    let err = h.approve(&bob(), "d-1").unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    assert!(format!("{err:?}").contains("finished long ago"), "{err:?}");
    let err = h
        .cmd(
            &dev(),
            Command::Cancel {
                deployment: "d-1".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    // An id never handed out is still not found.
    let err = h.approve(&bob(), "d-99999").unwrap_err();
    assert_eq!(err.kind, RejectionKind::NotFound);
    // A lesson can still be noted on it (read back from the store).
    let noted = h.cmd(
        &dev(),
        Command::Note {
            deployment: "d-1".into(),
            text: "the first one".into(),
        },
    );
    assert!(noted.is_ok(), "{noted:?}");
}
