//! Who may lift a quarantine: the roles `[safety] quarantine_lift_roles`
//! names (deployer by default), and four-eyes when the config asks.

use super::*;
use crate::config::{SafetyConfig, UserConfig};

fn lift(h: &mut Harness, by: &Principal, artifact: &str, add: bool) -> Result<Output, Rejection> {
    h.cmd(
        by,
        Command::Quarantine {
            artifact: artifact.into(),
            reason: "checked".into(),
            add,
        },
    )
}

fn configured(roles: &[&str], allow_self: bool) -> Arc<Config> {
    let mut config = (*config_with(approval(1))).clone();
    let person = |name: &str, roles: &[&str], authors: &[&str]| UserConfig {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        token_sha256: "0".repeat(64),
        authors: authors.iter().map(|a| a.to_string()).collect(),
    };
    config.users = vec![
        person("dev", &["deployer"], &[]),
        person(
            "alice",
            &["release-manager", "deployer"],
            &["Alice Liddell"],
        ),
        person("bob", &["release-manager"], &[]),
    ];
    config.safety = SafetyConfig {
        quarantine_lift_roles: roles.iter().map(|r| r.to_string()).collect(),
        quarantine_lift_allow_self: allow_self,
    };
    Arc::new(config)
}

#[test]
fn by_default_a_deployer_lifts_and_an_approver_alone_may_not() {
    let mut h = Harness::new(configured(&["deployer"], true));
    let a = h.register("checkout", "1.0.0");
    lift(&mut h, &dev(), &a, true).expect("add");
    let err = lift(&mut h, &bob(), &a, false).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Forbidden);
    assert!(
        err.message.contains("needs the role deployer"),
        "{}",
        err.message
    );
    // Without four-eyes, the one who added it may lift it.
    lift(&mut h, &dev(), &a, false).expect("lift");
    assert!(!h.state().is_quarantined(&a));
}

#[test]
fn the_roles_the_config_names_replace_deployer() {
    let mut h = Harness::new(configured(&["release-manager"], true));
    let a = h.register("checkout", "1.0.0");
    lift(&mut h, &dev(), &a, true).expect("add (still deployer)");
    let err = lift(&mut h, &dev(), &a, false).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Forbidden);
    assert!(err.message.contains("release-manager"), "{}", err.message);
    assert!(h.state().is_quarantined(&a), "nothing changed");
    lift(&mut h, &bob(), &a, false).expect("bob is a release manager");
    assert!(!h.state().is_quarantined(&a));
}

#[test]
fn four_eyes_the_one_who_quarantined_may_not_lift_under_any_spelling() {
    let mut h = Harness::new(configured(&["deployer", "release-manager"], false));
    let a = h.register("checkout", "1.0.0");
    lift(&mut h, &alice(), &a, true).expect("add");
    let before = h.log.len();
    for name in ["alice", "ALICE", " Alice ", "Alice Liddell"] {
        let err = lift(&mut h, &user(name, &["deployer"]), &a, false).unwrap_err();
        assert_eq!(err.kind, RejectionKind::Forbidden, "{name}");
        assert!(err.message.contains("four-eyes"), "{}", err.message);
    }
    assert_eq!(h.log.len(), before, "a refusal changes nothing");
    lift(&mut h, &bob(), &a, false).expect("another person lifts it");
    let q = &h.state().quarantine[&a];
    assert_eq!(q.history.last().map(|c| c.by.name()), Some("bob"));
}

#[test]
fn four_eyes_covers_the_manual_rollback_that_quarantined_it_but_not_ferry() {
    let mut h = Harness::new(configured(&["deployer", "release-manager"], false));
    h.release("1.0.0");
    let bad = h.release("1.1.0");
    h.rollback(&dev(), "prod", None).expect("rollback");
    h.pass_stage("checkout", "prod");
    assert!(h.state().is_quarantined(&bad));
    let err = lift(&mut h, &dev(), &bad, false).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Forbidden);
    lift(&mut h, &alice(), &bad, false).expect("alice did not roll it back");

    // An automatic rollback's quarantine is ferry's: anyone with the role lifts it.
    let d = h.waiting_at_prod("1.2.0");
    h.approve(&alice(), &d).unwrap();
    h.fail_at("checkout", "prod", "health");
    h.pass_stage("checkout", "prod");
    let a = h.state().deployments[&d].artifact.clone();
    assert!(h.state().is_quarantined(&a));
    lift(&mut h, &dev(), &a, false).expect("ferry quarantined it");
}

#[test]
fn a_lift_or_add_without_a_reason_is_invalid_and_names_it() {
    let mut h = Harness::new(configured(&["deployer"], true));
    let a = h.register("checkout", "1.0.0");
    for add in [true, false] {
        let err = h
            .cmd(
                &dev(),
                Command::Quarantine {
                    artifact: a.clone(),
                    reason: "  ".into(),
                    add,
                },
            )
            .unwrap_err();
        assert_eq!(err.kind, RejectionKind::Invalid);
        assert!(err.message.contains("reason"), "{}", err.message);
        if add {
            lift(&mut h, &dev(), &a, true).expect("add");
        }
    }
}
