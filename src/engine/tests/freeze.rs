//! Freeze windows: promotions wait, rollbacks run, overrides are recorded,
//! and what waited starts on the first Tick after the window; a property
//! test over random inputs that no deployment starts inside a freeze except
//! rollbacks and overrides.

use super::properties::{Op, SERVICES, STAGES, apply_op, op};
use super::*;
use crate::config::{FreezeConfig, FreezeWindow};
use crate::engine::{BlockedReason, blocked, freezes_at};

/// The harness pipeline (prod auto-gated) with a one-off freeze of prod.
fn frozen_config(from: i64, until: i64) -> Arc<Config> {
    let mut config = (*config_with(Gate::Auto)).clone();
    config.freezes.push(FreezeConfig {
        name: "year-end".into(),
        stages: vec!["prod".into()],
        services: Vec::new(),
        window: FreezeWindow::Once { from, until },
        reason: "year-end change freeze".into(),
        override_roles: vec!["release-manager".into()],
    });
    Arc::new(config)
}

impl Harness {
    /// Feed the clock at `now` (the harness adds its 1 s before deciding).
    fn tick(&mut self, now: i64) -> Output {
        self.now = now - 1_000;
        self.input(Input::Tick { now })
            .expect("a tick is never rejected")
    }

    fn kinds(out: &Output) -> Vec<&'static str> {
        out.events.iter().map(|e| e.kind.name()).collect()
    }
}

#[test]
fn a_promotion_into_a_frozen_stage_waits_and_starts_on_the_tick_after_the_window() {
    let until = 1_000_000;
    let mut h = Harness::new(frozen_config(0, until));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h
        .pending("checkout", "prod")
        .expect("created, waiting in prod");
    assert!(
        h.stage("checkout", "prod").active.is_none(),
        "started inside a freeze"
    );
    assert_eq!(h.state().deployments[&d].status, DeploymentStatus::Queued);
    let wait = h.state().freeze.frozen[&d].clone();
    assert_eq!((wait.freeze.as_str(), wait.until), ("year-end", until));
    let b = blocked(h.engine.config(), h.state(), "checkout", "prod").expect("blocked");
    assert_eq!(b.reason, BlockedReason::Frozen);
    assert_eq!(b.until, Some(until));
    assert!(b.message.contains("frozen until"), "{}", b.message);
    assert!(
        b.message.contains("year-end change freeze"),
        "{}",
        b.message
    );
    assert_eq!(h.engine.next_deadline(), Some(until));
    // A tick inside the window changes nothing; one at its end starts it.
    assert!(h.tick(until - 1).events.is_empty());
    let out = h.tick(until);
    assert!(
        Harness::kinds(&out).contains(&"deployment_started"),
        "{:?}",
        Harness::kinds(&out)
    );
    assert_eq!(h.stage("checkout", "prod").active.as_ref(), Some(&d));
    assert_eq!(h.engine.next_deadline(), None);
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
    h.restart().expect("recover");
}

#[test]
fn rollbacks_run_inside_a_freeze() {
    let mut h = Harness::new(frozen_config(0, 10_000_000));
    // 1.0.0 good in prod: through the window by override.
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    h.cmd(
        &alice(),
        Command::PromoteOverride {
            service: "checkout".into(),
            stage: "prod".into(),
            artifact: "1.0.0".into(),
            reason: "first release".into(),
        },
    )
    .expect("override");
    h.pass_stage("checkout", "prod");
    h.register("checkout", "1.1.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let id = h.pending("checkout", "prod").expect("1.1.0 waits");
    h.cmd(
        &alice(),
        Command::PromoteOverride {
            service: "checkout".into(),
            stage: "prod".into(),
            artifact: "1.1.0".into(),
            reason: "hotfix".into(),
        },
    )
    .expect("override of the waiting one");
    assert_eq!(h.stage("checkout", "prod").active.as_ref(), Some(&id));
    // Its health check fails: the automatic rollback runs, freeze or not.
    h.fail_at("checkout", "prod", "health");
    let (rb, _) = h.running("checkout", "prod").expect("the rollback runs");
    assert_eq!(h.state().deployments[&rb].kind, DeploymentKind::Rollback);
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
    assert!(h.log.iter().all(|e| !matches!(&e.kind,
        EventKind::DeploymentFrozen { deployment, .. } if *deployment == rb)));
}

#[test]
fn a_freeze_that_opens_while_a_deployment_runs_does_not_interrupt_it() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let (run, _) = h.running("checkout", "prod").expect("deploying to prod");
    let until = h.now + 1_000_000;
    h.cmd(
        &dev(),
        Command::Freeze {
            stage: "prod".into(),
            service: None,
            until,
            reason: "incident in progress".into(),
        },
    )
    .expect("freeze");
    assert!(
        h.effects
            .iter()
            .all(|e| !matches!(e, Effect::CancelStep { .. }))
    );
    h.pass_stage("checkout", "prod");
    assert_eq!(
        h.state().deployments[&run].status,
        DeploymentStatus::Succeeded
    );
    // The next one waits.
    h.register("checkout", "1.1.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").expect("waits");
    assert_eq!(h.state().freeze.frozen[&d].until, until);
}

#[test]
fn override_needs_a_reason_and_a_role_the_freeze_names_and_is_notified() {
    let mut h = Harness::new(frozen_config(0, 10_000_000));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").expect("waits");
    let cmd = |reason: &str| Command::PromoteOverride {
        service: "checkout".into(),
        stage: "prod".into(),
        artifact: "1.0.0".into(),
        reason: reason.into(),
    };
    // Rejections change nothing (the harness checks the state).
    let e = h.cmd(&alice(), cmd("  ")).expect_err("no reason");
    assert_eq!(e.kind, RejectionKind::Invalid);
    assert!(e.message.contains("reason"), "{e}");
    let e = h
        .cmd(&dev(), cmd("hotfix"))
        .expect_err("dev lacks the role");
    assert_eq!(e.kind, RejectionKind::Forbidden);
    assert!(e.message.contains("release-manager"), "{e}");
    let out = h
        .cmd(&bob(), cmd("hotfix for INC-7"))
        .expect("bob overrides");
    assert_eq!(out.deployment.as_ref(), Some(&d));
    let overridden = out.events.iter().find_map(|e| match &e.kind {
        EventKind::FreezeOverridden { freezes, .. } => Some((e, freezes.clone())),
        _ => None,
    });
    let (event, freezes) = overridden.expect("the override is an event");
    assert_eq!(event.actor.name(), "bob");
    assert_eq!(event.reason, "hotfix for INC-7");
    assert_eq!(freezes, vec!["year-end".to_string()]);
    assert!(
        out.effects.iter().any(
            |e| matches!(e, Effect::Notify(n) if n.kind == NotificationKind::FreezeOverridden)
        ),
        "the override is notified"
    );
    assert_eq!(h.stage("checkout", "prod").active.as_ref(), Some(&d));
}

#[test]
fn an_override_of_a_new_promotion_starts_it_without_a_frozen_wait() {
    let mut h = Harness::new(frozen_config(0, 10_000_000));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    h.register("checkout", "1.1.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let out = h
        .cmd(
            &bob(),
            Command::PromoteOverride {
                service: "checkout".into(),
                stage: "prod".into(),
                artifact: "1.0.0".into(),
                reason: "pin the known-good one".into(),
            },
        )
        .expect("override");
    let kinds = Harness::kinds(&out);
    let created = kinds.iter().position(|k| *k == "deployment_created");
    let overridden = kinds.iter().position(|k| *k == "freeze_overridden");
    assert!(created < overridden, "{kinds:?}");
    assert!(!kinds.contains(&"deployment_frozen"), "{kinds:?}");
    assert!(h.running("checkout", "prod").is_some());
}

#[test]
fn adhoc_freeze_and_unfreeze() {
    let mut h = Harness::new(config_with(Gate::Auto));
    let until = h.now + 10_000_000;
    let freeze = |by: &Principal, h: &mut Harness, until: i64, reason: &str| {
        h.cmd(
            by,
            Command::Freeze {
                stage: "prod".into(),
                service: Some("checkout".into()),
                until,
                reason: reason.into(),
            },
        )
    };
    let viewer = user("eve", &["viewer"]);
    assert_eq!(
        freeze(&viewer, &mut h, until, "x").unwrap_err().kind,
        RejectionKind::Forbidden
    );
    assert_eq!(
        freeze(&dev(), &mut h, until, "").unwrap_err().kind,
        RejectionKind::Invalid
    );
    assert_eq!(
        freeze(&dev(), &mut h, 0, "past").unwrap_err().kind,
        RejectionKind::Invalid
    );
    let e = h
        .cmd(
            &dev(),
            Command::Freeze {
                stage: "nope".into(),
                service: None,
                until,
                reason: "r".into(),
            },
        )
        .unwrap_err();
    assert_eq!(e.kind, RejectionKind::NotFound);
    freeze(&dev(), &mut h, until, "db migration").expect("freeze");
    assert_eq!(
        freezes_at(h.engine.config(), h.state(), "checkout", "prod", h.now).len(),
        1
    );
    assert!(freezes_at(h.engine.config(), h.state(), "search", "prod", h.now).is_empty());
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").expect("waits");
    let b = blocked(h.engine.config(), h.state(), "checkout", "prod").expect("blocked");
    assert_eq!(b.reason, BlockedReason::Frozen);
    assert!(b.who.contains(&"dev".to_string()) || b.who.is_empty());
    // Unfreezing what is not frozen by hand is refused.
    let e = h
        .cmd(
            &dev(),
            Command::Unfreeze {
                stage: "prod".into(),
                service: None,
                reason: None,
            },
        )
        .unwrap_err();
    assert_eq!(e.kind, RejectionKind::Conflict);
    let out = h
        .cmd(
            &dev(),
            Command::Unfreeze {
                stage: "prod".into(),
                service: Some("checkout".into()),
                reason: Some("migration done".into()),
            },
        )
        .expect("unfreeze");
    let kinds = Harness::kinds(&out);
    assert_eq!(kinds.first(), Some(&"stage_unfrozen"), "{kinds:?}");
    assert!(kinds.contains(&"deployment_started"), "{kinds:?}");
    assert_eq!(h.stage("checkout", "prod").active.as_ref(), Some(&d));
    h.restart().expect("recover");
}

#[test]
fn a_cancelled_waiting_promotion_leaves_no_deadline() {
    let mut h = Harness::new(frozen_config(0, 5_000_000));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").expect("waits");
    assert!(h.engine.next_deadline().is_some());
    h.cmd(&dev(), Command::Cancel { deployment: d })
        .expect("cancel");
    assert_eq!(h.engine.next_deadline(), None);
    assert!(h.state().freeze.frozen.is_empty());
    assert!(h.tick(5_000_000).events.is_empty());
}

// ------------------------------------------------------------- property

#[derive(Debug, Clone)]
enum FreezeOp {
    Base(Op),
    /// The clock moves to the next multiple of 10 s and ticks.
    Tick,
    Freeze {
        service: Option<usize>,
        secs: i64,
    },
    Unfreeze {
        service: Option<usize>,
    },
    Override {
        service: usize,
        artifact: usize,
    },
}

fn freeze_op() -> impl Strategy<Value = FreezeOp> {
    prop_oneof![
        12 => op().prop_map(FreezeOp::Base),
        3 => Just(FreezeOp::Tick),
        1 => (proptest::option::of(0..2usize), 1..60i64).prop_map(|(service, secs)| FreezeOp::Freeze { service, secs }),
        1 => proptest::option::of(0..2usize).prop_map(|service| FreezeOp::Unfreeze { service }),
        1 => (0..2usize, 0..6usize).prop_map(|(service, artifact)| FreezeOp::Override { service, artifact }),
    ]
}

/// The window the property's config freezes prod (every service) in.
const WINDOW: (i64, i64) = (20_000, 60_000);

fn apply_freeze_op(h: &mut Harness, op: &FreezeOp, counter: &mut u32) {
    let _ = match op {
        FreezeOp::Base(op) => {
            apply_op(h, op, counter);
            Ok(Output::default())
        }
        FreezeOp::Tick => {
            let next = (h.now / 10_000 + 1) * 10_000 + 1_000;
            Ok(h.tick(next))
        }
        FreezeOp::Freeze { service, secs } => h.cmd(
            &dev(),
            Command::Freeze {
                stage: "prod".into(),
                service: service.map(|s| SERVICES[s].to_string()),
                until: h.now + 1_000 + secs * 1_000,
                reason: "random".into(),
            },
        ),
        FreezeOp::Unfreeze { service } => h.cmd(
            &dev(),
            Command::Unfreeze {
                stage: "prod".into(),
                service: service.map(|s| SERVICES[s].to_string()),
                reason: None,
            },
        ),
        FreezeOp::Override { service, artifact } => h.cmd(
            &bob(),
            Command::PromoteOverride {
                service: SERVICES[*service].into(),
                stage: "prod".into(),
                artifact: format!("a-{}", artifact + 1),
                reason: "break glass".into(),
            },
        ),
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn no_deployment_starts_inside_a_freeze_except_rollbacks_and_overrides(
        ops in proptest::collection::vec(freeze_op(), 1..90),
    ) {
        let config = frozen_config(WINDOW.0, WINDOW.1);
        let mut h = Harness::new(config.clone());
        let mut counter = 0;
        for op in &ops {
            let seen = h.log.len();
            apply_freeze_op(&mut h, op, &mut counter);
            let state = h.state().clone();
            for e in &h.log[seen..] {
                if let EventKind::DeploymentStarted { deployment } = &e.kind {
                    let d = &state.deployments[deployment];
                    let frozen = !freezes_at(&config, &state, &d.service, &d.stage, e.at).is_empty();
                    let overridden = h.log.iter().any(|x| matches!(&x.kind,
                        EventKind::FreezeOverridden { deployment: o, .. } if o == deployment));
                    prop_assert!(
                        !frozen || d.kind == DeploymentKind::Rollback || overridden,
                        "{} ({}) started in frozen {}/{} at {}", d.id, d.kind.as_str(), d.service, d.stage, e.at
                    );
                }
            }
            // After a tick, nothing due waits in a free stage it could run in.
            if matches!(op, FreezeOp::Tick) {
                for (id, w) in &state.freeze.frozen {
                    let d = &state.deployments[id];
                    let st = state.stage(&d.service, &d.stage).unwrap();
                    prop_assert!(
                        w.until > h.now || st.active.is_some() || st.held.is_some()
                            || state.is_quarantined(&d.artifact)
                            || d.status != DeploymentStatus::Queued,
                        "{} still waits for a window that closed at {} (now {})", id, w.until, h.now
                    );
                }
            }
        }
        // The freeze state is a fold of the events, too.
        let rebuilt = Engine::from_events(config.clone(), h.log.iter());
        prop_assert_eq!(rebuilt.state(), h.state());
        // Past every window, ticking starts whatever waited (and then
        // nothing is owed a deadline).
        let late = h.now.max(WINDOW.1) + 120_000;
        h.tick(late);
        for s in SERVICES { for st in STAGES {
            let stage = h.stage(s, st);
            if stage.active.is_none() && stage.held.is_none() {
                for id in &stage.queue {
                    let d = &h.state().deployments[id];
                    prop_assert!(
                        d.status != DeploymentStatus::Queued || h.state().is_quarantined(&d.artifact),
                        "{} is queued in a free {}/{} after every window", id, s, st
                    );
                }
            }
        }}
        prop_assert!(h.engine.next_deadline().is_none_or(|t| t > late));
    }
}
