//! Release safety: quarantine, hold, and why a stage is blocked.

use proptest::prelude::*;

use super::properties::{Op, SERVICES, STAGES, apply_op, op};
use super::*;
use crate::engine::{BlockedReason, blocked, blocked_all};

fn quarantine(
    h: &mut Harness,
    by: &Principal,
    artifact: &str,
    reason: &str,
    add: bool,
) -> Result<Output, Rejection> {
    h.cmd(
        by,
        Command::Quarantine {
            artifact: artifact.into(),
            reason: reason.into(),
            add,
        },
    )
}

fn deployer() -> Principal {
    user("dana", &["deployer"])
}

/// 1.0.0 good in prod; 1.1.0 failed its prod health check and was rolled back.
fn after_failed_prod(h: &mut Harness) -> (ArtifactId, DeploymentId) {
    h.release("1.0.0");
    let d = h.waiting_at_prod("1.1.0");
    h.approve(&alice(), &d).unwrap();
    h.fail_at("checkout", "prod", "health");
    h.pass_stage("checkout", "prod");
    let a = h.state().deployments[&d].artifact.clone();
    (a, d)
}

#[test]
fn an_automatic_rollback_quarantines_the_release_and_a_promote_of_it_is_refused() {
    let mut h = Harness::new(config_with(approval(1)));
    let (a, d) = after_failed_prod(&mut h);
    assert!(h.state().is_quarantined(&a));
    let q = &h.state().quarantine[&a];
    let incident = q
        .current()
        .and_then(|c| c.incident.clone())
        .expect("incident");
    assert_eq!(incident.stage, "prod");
    assert_eq!(incident.deployment.as_ref(), Some(&d));
    let err = h.promote(&alice(), "prod", "1.1.0").unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    assert!(err.message.contains("quarantined"), "{}", err.message);
    assert!(
        err.message.contains(d.as_str()),
        "names the incident: {}",
        err.message
    );
    assert!(
        err.message.contains(incident.rollback.as_str()),
        "{}",
        err.message
    );
}

#[test]
fn a_quarantine_withdraws_pending_deployments_elsewhere_and_refuses_approval() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    let d = h.waiting_at_prod("1.1.0");
    quarantine(&mut h, &deployer(), "a-2", "bad migration", true).unwrap();
    let withdrawn = &h.state().deployments[&d];
    assert_eq!(withdrawn.status, DeploymentStatus::Superseded);
    assert!(
        withdrawn
            .outcome
            .as_deref()
            .unwrap_or("")
            .contains("quarantined")
    );
    // A later approval attempt of it is refused (it no longer waits), and a
    // promote is refused with the reason.
    assert!(h.approve(&alice(), &d).is_err());
    let err = h.promote(&alice(), "prod", "1.1.0").unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    assert!(err.message.contains("bad migration"), "{}", err.message);
    let event = h
        .log
        .iter()
        .find(|e| matches!(e.kind, EventKind::ArtifactQuarantined { .. }))
        .unwrap();
    assert_eq!(event.actor.name(), "dana");
    assert_eq!(event.reason, "bad migration");
}

#[test]
fn quarantine_takes_a_reason_and_the_deployer_role() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    let before = h.log.len();
    let err = quarantine(&mut h, &deployer(), "a-1", "  ", true).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Invalid);
    assert!(err.message.contains("reason"));
    let err = quarantine(&mut h, &user("vic", &["viewer"]), "a-1", "x", true).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Forbidden);
    assert_eq!(h.log.len(), before, "nothing changed");
}

#[test]
fn a_lift_lets_the_release_be_promoted_again_and_keeps_the_history() {
    let mut h = Harness::new(config_with(approval(1)));
    let (a, _) = after_failed_prod(&mut h);
    quarantine(
        &mut h,
        &deployer(),
        a.as_str(),
        "fixed the config, not the code",
        false,
    )
    .unwrap();
    assert!(!h.state().is_quarantined(&a));
    let q = &h.state().quarantine[&a];
    let actions: Vec<&str> = q.history.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["added", "lifted"]);
    assert_eq!(q.history[1].by.name(), "dana");
    h.promote(&alice(), "prod", "1.1.0")
        .expect("promote after lift");
}

#[test]
fn a_new_artifact_still_flows_after_a_quarantine() {
    let mut h = Harness::new(config_with(approval(1)));
    after_failed_prod(&mut h);
    let d = h.waiting_at_prod("1.2.0");
    assert_eq!(h.state().deployments[&d].version, "1.2.0");
}

#[test]
fn a_manual_rollback_quarantines_and_holds_the_stage_until_an_explicit_promote() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    for s in STAGES {
        h.pass_stage("checkout", s);
    }
    h.register("checkout", "1.1.0");
    for s in STAGES {
        h.pass_stage("checkout", s);
    }
    h.rollback(&alice(), "prod", None).unwrap();
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
    let held = h.stage("checkout", "prod").held.clone().expect("held");
    assert_eq!(held.by.name(), "alice");
    assert!(h.state().is_quarantined("a-2"));
    // 1.2.0 passes preprod; it waits at prod, held.
    h.register("checkout", "1.2.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    assert!(
        h.running("checkout", "prod").is_none(),
        "held: it must not start"
    );
    let pending = h.pending("checkout", "prod").expect("waits");
    let config = config_with(Gate::Auto);
    let why = blocked(&config, h.state(), "checkout", "prod").expect("blocked");
    assert_eq!(why.reason, BlockedReason::Held);
    assert_eq!(why.deployment.as_deref(), Some(pending.as_str()));
    // An explicit promote ends the hold.
    h.promote(&alice(), "prod", "1.2.0").unwrap();
    assert!(h.stage("checkout", "prod").held.is_none());
    assert!(h.running("checkout", "prod").is_some());
}

#[test]
fn hold_lift_starts_what_waits_and_takes_a_reason() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    for s in STAGES {
        h.pass_stage("checkout", s);
    }
    h.register("checkout", "1.1.0");
    for s in STAGES {
        h.pass_stage("checkout", s);
    }
    h.rollback(&alice(), "prod", None).unwrap();
    h.pass_stage("checkout", "prod");
    h.register("checkout", "1.2.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let lift = |reason: &str| Command::LiftHold {
        service: "checkout".into(),
        stage: "prod".into(),
        reason: reason.into(),
    };
    let err = h.cmd(&deployer(), lift("")).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Invalid);
    h.cmd(&deployer(), lift("fix verified")).unwrap();
    assert!(h.stage("checkout", "prod").held.is_none());
    assert!(
        h.running("checkout", "prod").is_some(),
        "what waited starts"
    );
    let err = h.cmd(&deployer(), lift("again")).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
}

#[test]
fn why_names_approvers_minus_four_eyes() {
    let mut config = (*config_with(approval(1))).clone();
    let u = |name: &str, roles: &[&str]| crate::config::UserConfig {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        token_sha256: String::new(),
        authors: vec![],
    };
    config.users = vec![
        u("alice", &["release-manager"]),
        u("bob", &["release-manager"]),
        u("dev", &["deployer"]),
    ];
    let config = std::sync::Arc::new(config);
    let mut h = Harness::new(config.clone());
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let why = blocked(&config, h.state(), "checkout", "prod").expect("waits");
    assert_eq!(why.reason, BlockedReason::AwaitingApproval);
    assert!(why.who.contains(&"alice".to_string()));
    assert!(why.who.contains(&"bob".to_string()));
    assert!(!why.who.contains(&"dev".to_string()));
    assert!(blocked(&config, h.state(), "checkout", "test").is_none());
}

#[derive(Debug, Clone)]
enum SafetyOp {
    Base(Op),
    Quarantine {
        service: usize,
        nth: usize,
        add: bool,
    },
    LiftHold {
        service: usize,
        stage: usize,
    },
}

fn safety_op() -> impl Strategy<Value = SafetyOp> {
    prop_oneof![
        8 => op().prop_map(SafetyOp::Base),
        1 => (0..2usize, 0..6usize, any::<bool>())
            .prop_map(|(service, nth, add)| SafetyOp::Quarantine { service, nth, add }),
        1 => (0..2usize, 0..3usize).prop_map(|(service, stage)| SafetyOp::LiftHold { service, stage }),
    ]
}

fn apply_safety_op(h: &mut Harness, op: &SafetyOp, counter: &mut u32) {
    match op {
        SafetyOp::Base(op) => apply_op(h, op, counter),
        SafetyOp::Quarantine { service, nth, add } => {
            let artifact = h
                .state()
                .service(SERVICES[*service])
                .and_then(|s| s.artifacts.get(*nth))
                .cloned();
            if let Some(a) = artifact {
                let _ = quarantine(h, &deployer(), a.as_str(), "test", *add);
            }
        }
        SafetyOp::LiftHold { service, stage } => {
            let _ = h.cmd(
                &deployer(),
                Command::LiftHold {
                    service: SERVICES[*service].into(),
                    stage: STAGES[*stage].into(),
                    reason: "test".into(),
                },
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A quarantined release never enters a stage by promotion: only an
    /// explicit lift makes it a candidate again. And every stage with
    /// something waiting has a `blocked` reason.
    #[test]
    fn quarantined_releases_never_enter_and_every_wait_has_a_reason(
        ops in proptest::collection::vec(safety_op(), 1..80),
    ) {
        let config = config_with(approval(1));
        let mut h = Harness::new(config.clone());
        let mut counter = 0;
        for op in &ops {
            apply_safety_op(&mut h, op, &mut counter);
            for b in blocked_all(&config, h.state()) {
                prop_assert!(!b.message.is_empty());
            }
            for svc in &h.state().services {
                for st in &svc.stages {
                    if !st.queue.is_empty() && st.active.is_none() {
                        // Something waits and nothing runs: it must say why.
                        let why = blocked(&config, h.state(), &svc.name, &st.name);
                        prop_assert!(why.is_some(), "{}/{} waits without a reason", svc.name, st.name);
                    }
                }
            }
        }
        let mut state = State::new(&config);
        for e in &h.log {
            if let EventKind::DeploymentStarted { deployment } = &e.kind {
                let d = &state.deployments[deployment];
                prop_assert!(
                    d.kind == DeploymentKind::Rollback || !state.is_quarantined(&d.artifact),
                    "{} {} entered {} while quarantined", d.service, d.version, d.stage
                );
            }
            state.apply(e);
        }
        let rebuilt = Engine::from_events(config.clone(), h.log.iter());
        prop_assert_eq!(rebuilt.state(), h.state());
    }
}
